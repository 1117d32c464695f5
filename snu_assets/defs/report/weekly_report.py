"""Layer 5 — the weekly report: for one week, a self-contained HTML page (inline CSS, chart
embedded as a base64 PNG) of the national and regional funnel, and a PDF of it when headless
Chromium is installed.

It reads aggregated tables only (``enriched_events`` counted per day, ``weekly_funnel_national``,
``weekly_funnel``, ``inscription_goals``): no personal data can reach it. The queries are in
``sql/report_*.sql``, the page in ``template.html`` beside this module, the chart in
:mod:`snu_assets.defs.report.charts`.

Files: ``<reports dir>/weekly_report_<monday>.html`` (and ``.pdf``), where the reports dir
is ``SNU_REPORTS_DIR`` or ``<state dir>/reports`` (read at run time). Both are replaced
atomically: a reader never sees half a file.
"""

import base64
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import jinja2
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from snu_assets import settings
from snu_assets.defs.partitions import weekly_partitions
from snu_assets.defs.policies import OWNERS
from snu_assets.defs.report.i18n import Formatter, check_language
from snu_assets.defs.report.progress import chart_markdown, progress_chart, query
from snu_assets.defs.report.render import (
    chromium_binary,
    render_with_chromium,
    reports_dir,
    write_atomically,
)
from snu_assets.defs.resources import PostgresResource

TEMPLATE = Path(__file__).parent / "template.html"
FUNNEL = ("created", "completed", "processed", "validated", "refused")
NNBSP = "\u202f"  # narrow no-break space: after the ≥ of a hidden cell's published part


# ------------------------------------------------------------------------------ data


# ------------------------------------------------------------------------------ formatting


def words(language: str | None = None) -> Formatter:
    """The report's words and formats in ``language`` (default ``SNU_REPORT_LANGUAGE``)."""
    return Formatter(language or settings.current().report_language)


def _ratio(part, whole) -> float | None:
    if part is None or not whole:
        return None
    return float(part) / float(whole)


def _raw(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


@dataclass
class Cell:
    """One figure of the page: ``raw`` goes to ``data-value``, ``text`` is displayed."""

    col: str
    raw: str
    text: str
    hidden: bool | None = None  # None: exact table; True/False: published (suppressible) cell
    title: str | None = None
    bar: float | None = None  # progress bar (ratio) drawn after the text


def count_cell(col: str, value, hidden: bool | None = None, fmt: Formatter | None = None) -> Cell:
    fmt = fmt or words()
    if hidden:
        text = "s" if not value else f"≥{NNBSP}{fmt.integer(value)}"
        return Cell(col, _raw(value), text, True, title=fmt.message("hidden_title"))
    return Cell(col, _raw(value), fmt.integer(value), hidden)


def ratio_cell(
    col: str,
    ratio: float | None,
    hidden: bool | None = None,
    bar: bool = True,
    fmt: Formatter | None = None,
) -> Cell:
    fmt = fmt or words()
    if hidden:
        text = "s" if not ratio else f"≥{NNBSP}{fmt.percent(ratio)}"
    else:
        text = fmt.percent(ratio)
    return Cell(col, _raw(ratio), text, hidden, bar=ratio if bar else None)


def projection_cell(value, hidden: bool | None = None, fmt: Formatter | None = None) -> Cell:
    fmt = fmt or words()
    if hidden:
        text = "s" if not value else f"≥{NNBSP}{fmt.rounded(value)}"
        return Cell("projection", _raw(value), text, True)
    return Cell("projection", _raw(value), fmt.rounded(value), hidden)


def build_report(postgres: PostgresResource, week: date, language: str | None = None) -> dict:
    """Everything the page shows for ``week`` (its Monday), read from the aggregated tables,
    in ``language`` (``fr`` / ``en``; default ``SNU_REPORT_LANGUAGE``)."""
    fmt = words(language)
    params = {"week": week, "week_end": week + timedelta(days=7)}
    daily = query(postgres, "report_daily.sql", params)
    national = query(postgres, "report_national.sql", params)
    regional = query(postgres, "report_regional.sql", params)

    def count(col: str, value, hidden: bool | None = None) -> Cell:
        return count_cell(col, value, hidden, fmt)

    def ratio(col: str, value, hidden: bool | None = None, bar: bool = True) -> Cell:
        return ratio_cell(col, value, hidden, bar, fmt)

    week_totals = {c: sum(int(r[c]) for r in daily) for c in FUNNEL}
    daily_rows = [
        {
            "key": r["day"].isoformat(),
            "label": fmt.day_short(r["day"]),
            "cells": [count(c, r[c]) for c in FUNNEL],
        }
        for r in daily
    ]
    daily_total = {"key": "total", "cells": [count(c, week_totals[c]) for c in FUNNEL]}

    national_rows = []
    for r in national:
        progress = _ratio(r["validated_cumulated"], r["objective"])
        projected = _ratio(r["projection"], r["objective"])
        national_rows.append(
            {
                "key": r["cohort"],
                "label": r["cohort"],
                "cells": [
                    *(count(c, r[c]) for c in FUNNEL),
                    count("validated_cumulated", r["validated_cumulated"]),
                    count("objective", r["objective"]),
                    ratio("progress", progress),
                    projection_cell(r["projection"], fmt=fmt),
                    ratio("projected_progress", projected, bar=False),
                ],
            }
        )
    with_goal = [r for r in national if r["objective"]]
    objective = sum(int(r["objective"]) for r in with_goal)
    validated_cumulated = sum(int(r["validated_cumulated"]) for r in national)
    validated_with_goal = sum(int(r["validated_cumulated"]) for r in with_goal)
    projections = [r["projection"] for r in with_goal if r["projection"] is not None]
    projection = sum(projections) if projections else None
    total_cells = [
        *(count(c, sum(int(r[c]) for r in national)) for c in FUNNEL),
        count("validated_cumulated", validated_cumulated),
        count("objective", objective or None),
        ratio("progress", _ratio(validated_with_goal, objective)),
        projection_cell(projection, fmt=fmt),
        ratio("projected_progress", _ratio(projection, objective), bar=False),
    ]
    for cell in total_cells[-3:]:
        cell.title = fmt.message("with_goal_only")
    national_total = {"key": "total", "cells": total_cells}

    groups: dict[str, list] = {}
    hidden_cells = 0
    projected_cohorts = {r["cohort"] for r in national if r["projection"] is not None}
    for r in regional:
        hidden_cum = r["validated_cumulated_hidden"]
        if not r["has_rows"] and r["cohort"] in projected_cohorts:
            r["projection"] = Decimal(0)  # nothing validated yet: nothing projected
        cells = [
            *(count(c, r[c], r[f"{c}_hidden"]) for c in FUNNEL),
            count("validated_cumulated", r["validated_cumulated"], hidden_cum),
            count("objective", r["objective"], False),
            ratio("progress", _ratio(r["validated_cumulated"], r["objective"]), hidden_cum),
            projection_cell(r["projection"], hidden_cum, fmt),
        ]
        hidden_cells += sum(1 for c in cells if c.hidden)
        groups.setdefault(r["cohort"], []).append(
            {"key": f"{r['cohort']}|{r['region']}", "label": r["region"], "cells": cells}
        )

    kpis = [
        {
            "col": c,
            "label": fmt.message(c),
            "text": fmt.integer(week_totals[c]),
            "sub": fmt.message("kpi_week"),
        }
        for c in FUNNEL
    ]
    kpis.append(
        {
            "col": "progress",
            "label": fmt.message("kpi_progress"),
            "text": fmt.percent(_ratio(validated_with_goal, objective)),
            "sub": fmt.text(
                "kpi_of", part=fmt.integer(validated_with_goal), whole=fmt.integer(objective)
            ),
        }
    )
    k = settings.current().small_cell_k
    return {
        "week": week,
        "language": fmt.language,
        "week_totals": week_totals,
        "daily": daily,
        "national": national,
        "regional": regional,
        "hidden_cells": hidden_cells,
        "validated_cumulated": validated_cumulated,
        "objective": objective,
        "validated_with_goal": validated_with_goal,
        "projection": projection,
        "context": {
            "lang": fmt.language,
            "t": fmt.messages(
                week=fmt.date_long(week),
                first=fmt.date_long(week),
                last=fmt.date_long(week + timedelta(days=6)),
                timezone=settings.timezone_name(),
                schema=postgres.schema,
                k_1=k - 1,
                part=fmt.integer(validated_with_goal),
                whole=fmt.integer(objective),
            ),
            "kpis": kpis,
            "funnel_columns": [{"col": c, "label": fmt.message(c)} for c in FUNNEL],
            "daily": daily_rows,
            "daily_total": daily_total,
            "national": national_rows,
            "national_total": national_total,
            "regional": [{"cohort": cohort, "rows": rows} for cohort, rows in groups.items()],
        },
    }


def render_html(context: dict, chart_png: bytes) -> str:
    environment = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=False, lstrip_blocks=False
    )
    template = environment.from_string(TEMPLATE.read_text(encoding="utf-8"))
    return template.render(**context, chart_b64=base64.b64encode(chart_png).decode("ascii"))


def national_markdown(report: dict) -> MetadataValue:
    fmt = words(report["language"])
    columns = ["cohort", *FUNNEL, "validated_cumulated", "objective", "progress", "projection"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in report["national"]:
        progress = fmt.percent(_ratio(r["validated_cumulated"], r["objective"]))
        cells = [
            r["cohort"],
            *(str(r[c]) for c in FUNNEL),
            str(r["validated_cumulated"]),
            fmt.integer(r["objective"]),
            progress,
            fmt.rounded(r["projection"]),
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    totals = report["week_totals"]
    lines.append(
        f"| **{fmt.message('all_cohorts')}** | "
        + " | ".join(str(totals[c]) for c in FUNNEL)
        + f" | {report['validated_cumulated']} | {fmt.integer(report['objective'] or None)}"
        f" | {fmt.percent(_ratio(report['validated_with_goal'], report['objective']))}"
        f" | {fmt.rounded(report['projection'])} |"
    )
    return MetadataValue.md("\n".join(lines))


class WeeklyReportConfig(Config):
    language: str = Field(
        default=settings.current().report_language,
        description="Language of the page, its chart and its number and date formats: fr "
        "(French, the ministry's) or en (SNU_REPORT_LANGUAGE).",
    )


# ------------------------------------------------------------------------------ asset


@asset(
    partitions_def=weekly_partitions,
    deps=["weekly_funnel_national", "weekly_funnel", "enriched_events", "inscription_goals"],
    group_name="views",
    owners=OWNERS,
    kinds={"postgres", "html"},
    check_specs=[
        AssetCheckSpec(
            "daily_sums_equal_national_view",
            asset="weekly_report",
            description="The report's seven daily counts (from enriched_events) add up to the "
            "week's national funnel (weekly_funnel_national), category by category.",
        )
    ],
    description="Weekly report of the national and regional funnel for one week: a "
    "self-contained HTML page (inline CSS, chart embedded) written to "
    "`SNU_REPORTS_DIR` (default: `reports/` in the state dir, `.snu`) as "
    "`weekly_report_YYYY-MM-DD.html` (the Monday), and a PDF of it when headless "
    "Chromium is installed. Daily national counts "
    "(exact), the week's national funnel per cohort, progress against the annual "
    "objectives and projections, the published regional funnel (small cells shown "
    "as hidden). Aggregated tables only: no personal data. In French by default, "
    "English as an option (run config `language`, default SNU_REPORT_LANGUAGE): words, "
    "numbers (1 234), percentages (12,5 %) and dates (2 décembre 2026).",
)
def weekly_report(
    context: AssetExecutionContext, config: WeeklyReportConfig, postgres: PostgresResource
) -> MaterializeResult:
    window = context.partition_time_window
    week = window.start.date()
    language = check_language(config.language)
    report = build_report(postgres, week, language)
    chart = progress_chart(postgres, week, language)
    html = render_html(report["context"], chart)

    folder = reports_dir()
    html_path = folder / f"weekly_report_{week.isoformat()}.html"
    write_atomically(html_path, html.encode("utf-8"))
    metadata: dict = {
        "path": MetadataValue.path(str(html_path)),
        "week": week.isoformat(),
        "language": language,
    }

    pdf_path = html_path.with_suffix(".pdf")
    if chromium_binary():
        render_with_chromium(html_path, pdf=pdf_path)
        metadata["pdf"] = MetadataValue.path(str(pdf_path))
        metadata["pdf_status"] = "rendered by headless chromium"
    else:
        pdf_path.unlink(missing_ok=True)  # a PDF of an older page would mislead
        metadata["pdf_status"] = "skipped: no PDF renderer (install Debian's chromium package)"
        context.log.warning(f"weekly_report: chromium not found, PDF of {week} skipped")

    national_totals = {c: sum(int(r[c]) for r in report["national"]) for c in FUNNEL}
    passed = national_totals == report["week_totals"]
    metadata.update(
        {
            "national": national_markdown(report),
            "progress_chart": chart_markdown(chart),
            **{c: report["week_totals"][c] for c in FUNNEL},
            "validated_cumulated": report["validated_cumulated"],
            "objective": report["objective"],
            "progress_pct": round(
                100 * (_ratio(report["validated_with_goal"], report["objective"]) or 0), 1
            ),
            "cohorts": len(report["national"]),
            "regional_rows": len(report["regional"]),
            "regional_hidden_cells": report["hidden_cells"],
            "html_bytes": len(html.encode("utf-8")),
        }
    )
    check = AssetCheckResult(
        check_name="daily_sums_equal_national_view",
        passed=passed,
        metadata={f"daily_{c}": report["week_totals"][c] for c in FUNNEL}
        | {f"national_{c}": national_totals[c] for c in FUNNEL},
    )
    return MaterializeResult(metadata=metadata, check_results=[check])
