"""Layer 4 — views: the weekly funnel (per
week x cohort x region x department x gender x age band, and national), with cumulated
counts, objectives and projections. Set-based SQL in ``sql/weekly_funnel*.sql``."""

from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
)

from snu_assets.core.publication.funnel import protect_funnel, published_rows
from snu_assets.core.publication.tables import COLUMNS, Structure
from snu_assets.defs.freshness import WEEKLY_FRESHNESS
from snu_assets.defs.metadata import definition_metadata, described_schema, table_metadata
from snu_assets.defs.partitions import weekly_partitions
from snu_assets.defs.policies import OWNERS
from snu_assets.defs.report.progress import progress_chart_metadata
from snu_assets.defs.resources import (
    PostgresResource,
    PublicationRules,
)
from snu_assets.io.postgres import Slice, scalar

SQL = Path(__file__).parent / "sql"

# --------------------------------------------------------------------------- weekly funnel

WEEK = "week = %(week)s"


#: frequency rule of the published funnel by default (the PublicationRules resource sets it):
#: a count of 1 .. k-1 is hidden (k <= 1: nothing hidden); every hidden value keeps a
#: feasible interval at least k wide for any reader of everything published
#: (snu_assets.core.publication.suppression)
SMALL_CELL_K = 5

KEY_COLUMNS = ("week", "cohort", "level", "region", "department", "gender", "age_band")


def _week_params(context: AssetExecutionContext, k: int) -> dict:
    window = context.partition_time_window
    return {"week": window.start.date(), "week_end": window.end.date(), "k": k}


def _funnel(postgres: PostgresResource, table: str, params: dict) -> int:
    text = postgres.sql(
        SQL / f"{table}.sql",
        funnel_events=SQL / "funnel_events.sql",
        projection=SQL / "projection.sql",
    )
    return postgres.replace_with_sql(table, text, WEEK, params)


def _funnel_metadata(
    postgres: PostgresResource, table: str, rows: int, params: dict, where: str = WEEK
) -> dict:
    preview_columns = [
        "cohort",
        "gender",
        "age_band",
        "created",
        "completed",
        "processed",
        "validated",
        "refused",
        "validated_cumulated",
        "objective",
        "projection",
    ]
    with postgres.connect() as conn:
        totals = (
            conn.execute(
                f"select coalesce(sum(created), 0), coalesce(sum(completed), 0), "
                f"coalesce(sum(processed), 0), coalesce(sum(validated), 0), coalesce(sum(refused), 0) "
                f'from "{postgres.schema}".{table} where {where}',
                params,
            ).fetchone()
            or ()
        )
    return {
        **table_metadata(
            postgres,
            table,
            preview_columns,
            where,
            params,
            "validated_cumulated desc nulls last, cohort",
        ),
        "dagster/row_count": rows,
        "week": str(params["week"]),
        **dict(
            zip(
                ("created", "completed", "processed", "validated", "refused"),
                (int(v) for v in totals),
            )
        ),
    }


def projection(
    validated_cumulated: int | None, start: date | None, end: date | None, week_end: date
) -> Decimal | None:
    """``projection.sql`` for one published value: validated expected at the cohort's close
    at the pace observed so far (NULL when the cumulated validated count is hidden)."""
    if validated_cumulated is None or start is None or end is None:
        return None
    if week_end >= end:
        return Decimal(validated_cumulated)
    if week_end <= start:
        return None
    value = Decimal(validated_cumulated) * (end - start).days / Decimal((week_end - start).days)
    return value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def publish_week(
    cells: list[tuple],
    history: dict,
    goals: dict,
    calendar: dict,
    week: date,
    k: int = SMALL_CELL_K,
    width: int = SMALL_CELL_K,
) -> tuple[list[tuple], list[tuple], dict]:
    """The published rows of ``week`` (``weekly_funnel``) and its hidden values
    (``weekly_funnel_hidden``), from the exact weekly ``cells`` of every week up to it
    (``(week, cohort, region, department, gender, age_band, created, completed, processed,
    validated, refused)``) and the ``history`` already published (``{cohort: {week:
    {(column, key): status}}}``). Pure: no database."""
    by_cohort: dict[str, dict[date, dict]] = defaultdict(lambda: defaultdict(dict))
    for w, cohort, region, department, gender, band, *counts in sorted(cells):
        by_cohort[cohort][w][(region, department, gender, band)] = counts
    week_end = week + timedelta(days=7)
    published, hidden = [], []
    stats: Counter[str] = Counter()
    for cohort in sorted(by_cohort):
        series = by_cohort[cohort]
        first = min(series)
        weeks = [first + timedelta(days=7 * i) for i in range((week - first).days // 7 + 1)]
        done = history.get(cohort, {})
        prefix = []
        for w in weeks[:-1]:
            if w not in done:
                break
            prefix.append(done[w])
        structure = Structure.of([key for w in weeks for key in series.get(w, {})])
        protected = protect_funnel(
            structure, [series.get(w, {}) for w in weeks], k, width, published=prefix
        )
        stats["recomputed_weeks"] += len(weeks) - len(prefix)
        start, end = calendar.get(cohort, (None, None))
        for key, values, statuses in published_rows(structure, protected, len(weeks) - 1):
            region, department, gender, band = key
            level = structure.level(key)
            objective = goals.get(
                (
                    cohort,
                    level,
                    region if level == "region" else department if level == "department" else None,
                )
            )
            published.append(
                (
                    week,
                    cohort,
                    level,
                    region,
                    department,
                    gender,
                    band,
                    *(values[c] for c in COLUMNS),
                    objective,
                    projection(values["validated_cumulated"], start, end, week_end),
                    bool(statuses),
                )
            )
            for column, status in statuses.items():
                exact = protected[column.removesuffix("_cumulated")].series.value(
                    (len(weeks) - 1, "C" if column.endswith("_cumulated") else "W", key)
                )
                hidden.append(
                    (week, cohort, level, region, department, gender, band, column, status, exact)
                )
                stats[status] += 1
            stats["cells"] += len(COLUMNS)
        stats["fallback_weeks"] += sum(p.fallbacks for p in protected.values())
    return published, hidden, dict(stats)


def _published_history(conn, schema: str, week: date) -> dict:
    """What earlier weeks published: ``{cohort: {week: {(column, key): status}}}`` (a week
    published with nothing hidden is an empty mapping)."""
    history: dict = defaultdict(dict)
    for cohort, w in conn.execute(
        f'select distinct cohort, week from "{schema}".weekly_funnel where week < %s', (week,)
    ):
        history[cohort][w] = {}
    for cohort, w, region, department, gender, band, column, status in conn.execute(
        "select cohort, week, region, department, gender, age_band, measure, suppression "
        f'from "{schema}".weekly_funnel_hidden where week < %s',
        (week,),
    ):
        history[cohort].setdefault(w, {})[(column, (region, department, gender, band))] = status
    return history


def _goals(conn, schema: str) -> dict:
    goals: dict = {}
    for cohort, department, region, objective in conn.execute(
        f'select cohort, department, region, objective from "{schema}".inscription_goals'
    ):
        goals[(cohort, "department", department)] = objective
        region = region or "unknown"
        goals[(cohort, "region", region)] = goals.get((cohort, "region", region), 0) + objective
        goals[(cohort, "national", None)] = goals.get((cohort, "national", None), 0) + objective
    return goals


@asset(
    partitions_def=weekly_partitions,
    deps=["enriched_events", "inscription_goals", "cohorts"],
    group_name="views",
    owners=OWNERS,
    kinds={"postgres"},
    metadata={
        **definition_metadata("weekly_funnel"),
        # the table the same step writes beside it (ministry only), not an asset of its own
        "weekly_funnel_hidden": MetadataValue.table_schema(
            described_schema("weekly_funnel_hidden")
        ),
    },
    description="Published weekly funnel (what snu_public reads), per week x cohort at three "
    "levels: national, region, department (`level`; `region`/`department` 'all' "
    "above), each by gender and age band with their margins ('all'): created, "
    "completed, processed, validated, refused in the week and cumulated since the "
    "cohort opened, objective, projection. Statistical disclosure control: counts "
    "of 1 to k-1 (SNU_SMALL_CELL_K, default 5) are hidden (NULL) and enough "
    "others besides that no hidden value can be narrowed to less than k by any "
    "reader of all weeks, levels, margins and columns (LP-audited). Statuses and "
    "exact values of hidden cells: weekly_funnel_hidden (ministry only); exact "
    "national figures: weekly_funnel_national.",
)
def weekly_funnel(
    context: AssetExecutionContext, postgres: PostgresResource, publication: PublicationRules
) -> MaterializeResult:
    params = _week_params(context, publication.small_cell_k)
    schema = postgres.schema
    with postgres.connect() as conn:
        cells = conn.execute(
            postgres.sql(SQL / "weekly_funnel_cells.sql", funnel_events=SQL / "funnel_events.sql"),
            params,
        ).fetchall()
        history = _published_history(conn, schema, params["week"])
        goals = _goals(conn, schema)
        calendar = {
            c: (s, e)
            for c, s, e in conn.execute(
                f'select cohort, inscription_start, inscription_end from "{schema}".cohorts'
            )
        }
    published, hidden, stats = publish_week(
        cells,
        history,
        goals,
        calendar,
        params["week"],
        k=publication.small_cell_k,
        width=publication.protection_width,
    )
    columns = (*KEY_COLUMNS, *COLUMNS, "objective", "projection", "suppressed")
    rows, _ = postgres.replace_slices(
        [
            Slice("weekly_funnel", columns, published, WEEK, params),
            Slice(
                "weekly_funnel_hidden",
                (*KEY_COLUMNS, "measure", "suppression", "exact_value"),
                hidden,
                WEEK,
                params,
            ),
        ]
    )
    metadata = _funnel_metadata(
        postgres,
        "weekly_funnel",
        rows,
        params,
        f"{WEEK} and level = 'national' and gender = 'all' and age_band = 'all'",
    )
    metadata.update(
        {
            "suppressed_rows": sum(1 for r in published if r[-1]),
            "small_cell_k": publication.small_cell_k,
            "protection_width": publication.protection_width,
            "published_cells": stats.get("cells", 0),
            "hidden_primary": stats.get("primary", 0),
            "hidden_secondary": stats.get("secondary", 0),
            "weeks_protected_in_this_run": stats.get("recomputed_weeks", 0),
            "fallback_weeks": stats.get("fallback_weeks", 0),
        }
    )
    return MaterializeResult(metadata=metadata)


@asset(
    partitions_def=weekly_partitions,
    freshness_policy=WEEKLY_FRESHNESS,
    deps=["enriched_events", "inscription_goals", "cohorts"],
    group_name="views",
    owners=OWNERS,
    kinds={"postgres"},
    metadata=definition_metadata("weekly_funnel_national"),
    check_specs=[
        AssetCheckSpec(
            "validated_equals_events",
            asset="weekly_funnel_national",
            blocking=True,
            description="The week's national validated count equals the number of "
            "young.status.VALIDATED events of the week's days.",
        )
    ],
    description="The weekly funnel without geography (per week x cohort x gender x age band), "
    "computed from the events directly so that national figures are exact; the "
    "objective is the cohort's national objective (repeated per row).",
)
def weekly_funnel_national(
    context: AssetExecutionContext, postgres: PostgresResource, publication: PublicationRules
) -> MaterializeResult:
    params = _week_params(context, publication.small_cell_k)
    rows = _funnel(postgres, "weekly_funnel_national", params)
    metadata = _funnel_metadata(postgres, "weekly_funnel_national", rows, params)
    metadata.update(progress_chart_metadata(postgres, params["week"]))
    with postgres.connect() as conn:
        events = scalar(
            conn,
            f'select count(*) from "{postgres.schema}".reconstructed_events '
            "where event_name = 'young.status.VALIDATED' "
            "and partition_date >= %(week)s and partition_date < %(week_end)s",
            params,
        )
    check = AssetCheckResult(
        check_name="validated_equals_events",
        passed=metadata["validated"] == events,
        metadata={"validated_in_view": metadata["validated"], "validated_events": events},
    )
    return MaterializeResult(metadata=metadata, check_results=[check])
