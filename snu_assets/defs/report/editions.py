"""The weekly report's two editions, as page contexts for ``template.html`` (pure: rows in,
cells out; no Dagster, no I/O).

* **public** — built only from what the role ``snu_public`` reads (``weekly_funnel``,
  ``inscription_goals``): every figure it prints is a published value, or a sum or ratio of
  shown ones; a hidden value prints ``s`` and carries no number, not even in its
  ``data-value``. It may leave the ministry.
* **restricted** — exact figures (``weekly_funnel_national``, the days' events, the regional
  totals with their hidden values put back), marked *Diffusion restreinte* in its title, its
  file name, on every printed page and in its metadata. A figure hidden in the public edition
  is marked ``s`` beside its exact value.

Percentages are computed from the figures as printed (a projection printed 40 gives 40 /
objective) and rounded half up (:meth:`Formatter.percent`). Regions are sorted the French way,
the overseas collectivities after the regions, and the regions without any inscription grouped
on one line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from snu_assets.core.reference.geography import overseas_collectivities
from snu_assets.defs.report.i18n import Formatter, collation_key

FUNNEL = ("created", "completed", "processed", "validated", "refused")
COUNTS = (*FUNNEL, "validated_cumulated")
UNKNOWN = "unknown"

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Edition:
    """One edition of the report: who may read it and how its file is named."""

    name: str  # public | restricted
    label_fr: str
    restricted: bool

    def file_name(self, week: date, suffix: str) -> str:
        tail = "diffusion_restreinte" if self.restricted else "edition_publique"
        return f"rapport_hebdomadaire_{week.isoformat()}_{tail}.{suffix}"


PUBLIC = Edition("public", "édition publique", restricted=False)
RESTRICTED = Edition("restricted", "diffusion restreinte", restricted=True)


@dataclass
class Cell:
    """One figure of the page: ``raw`` goes to ``data-value`` (empty for a value the edition
    does not print), ``text`` is displayed. ``hidden``: None for a figure that is never
    hidden (exact tables, objectives), else whether it is hidden in the public edition."""

    col: str
    raw: str
    text: str
    hidden: bool | None = None
    title: str | None = None
    bar: float | None = None  # progress bar (ratio) drawn after the text


@dataclass(frozen=True)
class WeekFigures:
    """What one edition reads for one week. Counts are ints, or None where the public
    edition's value is hidden; the restricted edition's regional rows carry ``<col>_hidden``
    flags (hidden in the public edition) beside exact values."""

    week: date
    edition: Edition
    national: Sequence[Row]
    regional: Sequence[Row]
    daily: Sequence[Row] = field(default_factory=tuple)  # restricted only


def ratio(part: int | Decimal | None, whole: int | Decimal | None) -> Decimal | None:
    if part is None or not whole:
        return None
    return Decimal(part) / Decimal(whole)


def shown_whole(value: int | Decimal | float | None) -> int | None:
    """A projection as printed: a whole number, rounded half up."""
    if value is None:
        return None
    return int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _raw(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return str(value)


class Cells:
    """The cells of one edition in one language."""

    def __init__(self, fmt: Formatter, edition: Edition) -> None:
        self.fmt, self.edition = fmt, edition

    def hidden(self, col: str) -> Cell:
        """A value the public edition does not print."""
        return Cell(col, "", "s", True, title=self.fmt.message("hidden_title"))

    def count(self, col: str, value: int | None, hidden: bool | None = None) -> Cell:
        if value is None and hidden:
            return self.hidden(col)
        title = self.fmt.message("hidden_in_public_title") if hidden else None
        return Cell(col, _raw(value), self.fmt.integer(value), hidden, title=title)

    def percent(self, col: str, value: Decimal | None, hidden: bool | None = None) -> Cell:
        if hidden and not self.edition.restricted:
            return self.hidden(col)
        bar = float(value) if value is not None and col == "progress" else None
        return Cell(col, _raw(value), self.fmt.percent(value), hidden, bar=bar)

    def whole(self, col: str, value: int | None, hidden: bool | None = None) -> Cell:
        if hidden and not self.edition.restricted:
            return self.hidden(col)
        if value is None:  # nothing to print, nothing to mark
            hidden = None
        return Cell(col, _raw(value), self.fmt.integer(value), hidden)


def cohort_label(cohort: str, fmt: Formatter) -> str:
    """A cohort as a reader reads it: an application without cohort is "not given"."""
    return fmt.message("unknown_cohort") if cohort == UNKNOWN else cohort


def _national_row(cells: Cells, key: str, label: str, r: Row, public: bool) -> dict:
    vc = r["validated_cumulated"]
    vc_hidden = (vc is None) if public else None
    projection = None if vc_hidden else shown_whole(r["projection"])
    return {
        "key": key,
        "label": label,
        "cells": [
            *(cells.count(c, r[c], (r[c] is None) if public else None) for c in FUNNEL),
            cells.count("validated_cumulated", vc, vc_hidden),
            cells.count("objective", r["objective"]),
            cells.percent("progress", ratio(vc, r["objective"]), vc_hidden),
            cells.whole("projection", projection, vc_hidden),
            cells.percent("projected_progress", ratio(projection, r["objective"]), vc_hidden),
        ],
    }


def _sum(values: Iterable[int | None]) -> int | None:
    """The sum of shown values; None (not printable) when one of them is hidden."""
    total = 0
    for value in values:
        if value is None:
            return None
        total += int(value)
    return total


def national_totals(national: Sequence[Row]) -> dict[str, Any]:
    """The all-cohorts row: each sum only when every term is shown; progress and projection
    over the cohorts that have an objective."""
    with_goal = [r for r in national if r["objective"]]
    projections = [shown_whole(r["projection"]) for r in with_goal]
    hidden_goal = any(r["validated_cumulated"] is None for r in with_goal)
    return {
        **{c: _sum(r[c] for r in national) for c in COUNTS},
        "objective": sum(int(r["objective"]) for r in with_goal) or None,
        "validated_with_goal": _sum(r["validated_cumulated"] for r in with_goal),
        "projection": None
        if hidden_goal or all(p is None for p in projections)
        else sum(p for p in projections if p is not None),
        "hidden_goal": hidden_goal,
    }


def _regional_rows(cells: Cells, rows: Sequence[Row], projected: set[str]) -> dict[str, Any]:
    """One cohort's regions: active regions (French order, unknown last), then the active
    overseas collectivities, then one line naming the regions without any inscription."""
    public = not cells.edition.restricted
    fmt = cells.fmt
    collectivities = overseas_collectivities()
    active: list[dict[str, Any]] = []
    overseas: list[dict[str, Any]] = []
    inactive: list[str] = []
    hidden_cells = 0
    for r in rows:
        flags = {c: (r[c] is None) if public else bool(r.get(f"{c}_hidden")) for c in COUNTS}
        values = [r[c] for c in COUNTS]
        if not any(flags.values()) and not any(values):
            inactive.append(r["region"])
            continue
        projection = r["projection"]
        if not r["has_rows"] and r["cohort"] in projected:
            projection = 0  # nothing validated yet: nothing projected
        vc_hidden = flags["validated_cumulated"]
        row_cells = [
            *(cells.count(c, r[c], flags[c]) for c in FUNNEL),
            cells.count("validated_cumulated", r["validated_cumulated"], vc_hidden),
            cells.count("objective", r["objective"]),
            cells.percent("progress", ratio(r["validated_cumulated"], r["objective"]), vc_hidden),
            cells.whole("projection", shown_whole(projection), vc_hidden),
        ]
        hidden_cells += sum(1 for c in row_cells if c.hidden)
        label = fmt.message("unknown_region") if r["region"] == UNKNOWN else r["region"]
        row = {"key": f"{r['cohort']}|{r['region']}", "label": label, "cells": row_cells}
        (overseas if r["region"] in collectivities else active).append(row)

    def order(row: dict) -> tuple:
        return (row["label"] == fmt.message("unknown_region"), collation_key(row["label"]))

    names = sorted((n for n in inactive if n != UNKNOWN), key=collation_key)
    return {
        "rows": sorted(active, key=order),
        "overseas": sorted(overseas, key=order),
        "inactive": fmt.text("inactive", names=", ".join(names)) if names else None,
        "inactive_regions": names,
        "hidden_cells": hidden_cells,
    }


def build_page(figures: WeekFigures, fmt: Formatter, k: int) -> dict[str, Any]:
    """The page context of one edition for one week, and the figures its metadata shows."""
    edition, week = figures.edition, figures.week
    public = not edition.restricted
    cells = Cells(fmt, edition)
    national = list(figures.national)  # in the cohorts' calendar order (the queries')
    cohort_order = {r["cohort"]: i for i, r in enumerate(national)}
    national_rows = [
        _national_row(cells, r["cohort"], cohort_label(r["cohort"], fmt), r, public)
        for r in national
    ]
    totals = national_totals(national)
    total_hidden = {c: public and totals[c] is None for c in COUNTS}
    goal_hidden = public and totals["hidden_goal"]
    total_cells = [
        *(cells.count(c, totals[c], total_hidden[c] or None) for c in COUNTS),
        cells.count("objective", totals["objective"]),
        cells.percent(
            "progress", ratio(totals["validated_with_goal"], totals["objective"]), goal_hidden
        ),
        cells.whole("projection", totals["projection"], goal_hidden),
        cells.percent(
            "projected_progress", ratio(totals["projection"], totals["objective"]), goal_hidden
        ),
    ]
    for cell in total_cells[-3:]:
        cell.title = cell.title or fmt.message("with_goal_only")

    daily_rows: list[dict] = []
    week_totals: dict[str, int | None] = {c: totals[c] for c in FUNNEL}
    if edition.restricted:
        daily_rows = [
            {
                "key": r["day"].isoformat(),
                "label": fmt.day_short(r["day"]),
                "cells": [cells.count(c, r[c]) for c in FUNNEL],
            }
            for r in figures.daily
        ]
        week_totals = {c: sum(int(r[c]) for r in figures.daily) for c in FUNNEL}
    daily_total = {"key": "total", "cells": [cells.count(c, week_totals[c]) for c in FUNNEL]}

    projected = {r["cohort"] for r in national if r["projection"] is not None}
    by_cohort: dict[str, list[Row]] = {}
    for r in figures.regional:
        by_cohort.setdefault(r["cohort"], []).append(r)
    regional = [
        {
            "cohort": cohort,
            "label": cohort_label(cohort, fmt),
            **_regional_rows(cells, rows, projected),
        }
        for cohort, rows in sorted(
            by_cohort.items(),
            key=lambda item: (cohort_order.get(item[0], len(cohort_order)), item[0]),
        )
    ]

    progress = ratio(totals["validated_with_goal"], totals["objective"])
    kpis = [
        {
            "col": c,
            "label": fmt.message(c),
            "text": "s" if week_totals[c] is None else fmt.integer(week_totals[c]),
            "sub": fmt.message("kpi_hidden" if week_totals[c] is None else "kpi_week"),
        }
        for c in FUNNEL
    ]
    kpis.append(
        {
            "col": "progress",
            "label": fmt.message("kpi_progress"),
            "text": "s" if goal_hidden else fmt.percent(progress),
            "sub": fmt.message("kpi_hidden")
            if goal_hidden
            else fmt.text(
                "kpi_of",
                part=fmt.integer(totals["validated_with_goal"]),
                whole=fmt.integer(totals["objective"]),
            ),
        }
    )
    return {
        "lang": fmt.language,
        "restricted": edition.restricted,
        "t": fmt.messages(
            week=fmt.date_long(week),
            first=fmt.date_long(week),
            last=fmt.date_long(week + timedelta(days=6)),
            k_1=k - 1,
        ),
        "kpis": kpis,
        "funnel_columns": [{"col": c, "label": fmt.message(c)} for c in FUNNEL],
        "daily": daily_rows,
        "daily_total": daily_total,
        "national": national_rows,
        "national_total": {"key": "total", "cells": total_cells},
        "regional": regional,
        # for the metadata and the checks, not the page
        "national_figures": national,
        "week_totals": week_totals,
        "totals": totals,
        "hidden_cells": sum(g["hidden_cells"] for g in regional)
        + sum(1 for row in national_rows for c in row["cells"] if c.hidden)
        + sum(1 for c in total_cells if c.hidden),
    }


def printed_cells(context: Mapping[str, Any]) -> list[tuple[str, str, Cell]]:
    """Every figure cell of a page context: (table, key, cell)."""
    out = [("daily", r["key"], c) for r in context["daily"] for c in r["cells"]]
    if context["daily"]:
        out += [("daily", "total", c) for c in context["daily_total"]["cells"]]
    out += [("national", r["key"], c) for r in context["national"] for c in r["cells"]]
    if context["national"]:
        out += [("national", "total", c) for c in context["national_total"]["cells"]]
    for group in context["regional"]:
        for row in (*group["rows"], *group["overseas"]):
            out += [("regional", row["key"], c) for c in row["cells"]]
    return out


def unpublished_figures(
    context: Mapping[str, Any], published: Mapping[tuple[str, str], Row]
) -> list[str]:
    """What the public page prints that is not a published value: ``published`` maps
    ``(cohort, region or 'all')`` to the week's published total row (NULL: hidden). A count
    must equal its published cell, a hidden one print no number, an all-cohorts sum be
    printed only when all its terms are shown. Empty when the page is sound."""
    wrong = []
    for table, key, cell in printed_cells(context):
        if cell.col not in COUNTS or table == "daily":
            if table == "daily":
                wrong.append(f"{table}/{key}/{cell.col}: a daily figure is not published")
            continue
        if key == "total":
            terms = [row.get(cell.col) for (_, region), row in published.items() if region == "all"]
            expected = _sum(terms)
        else:
            cohort, _, region = key.partition("|")
            row = published.get((cohort, region or "all"))
            if row is None:  # a region without published row: zeros (as the reader reads it)
                expected = 0
            else:
                expected = row.get(cell.col)
        printed = None if cell.raw == "" else int(cell.raw)
        if printed != expected:
            wrong.append(
                f"{table}/{key}/{cell.col}: printed {cell.raw or 's'}, published "
                f"{'s' if expected is None else expected}"
            )
    return wrong
