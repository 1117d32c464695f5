"""The attacker of the published weekly funnel: given ONLY published rows (what the role
``snu_public`` reads, or the numbers a public document prints), every hidden value's feasible
interval by linear programming over every relation a reader knows. Written apart from the
protection's own bookkeeping: the structure is read back from the rows (a missing row reads
as zeros) and the relations from the published grain as documented:

* national = sum of regions, region = sum of its departments; every gender = sum of
  genders, every age band = sum of age bands; each relation only where its members are cells
  the publication has at their level: what each level publishes (gender x age band cells,
  margins only, or its total only) is read from the rows themselves;
* per week, cohort, measure, for the weekly and the cumulated columns alike;
* cumulated of a week = cumulated of the week before + the week's count (0 before the
  cohort's first published week when ``from_zero``, else an unknown count; a week missing
  between two published ones: an unknown count);
* every count >= 0.

Used by the tests, the benchmark and the audit of the public report.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from snu_assets.core.publication.intervals import feasible_intervals

ALL = "all"
MEASURES = ("created", "completed", "processed", "validated", "refused")

Cell = tuple  # (cohort, measure, kind, week, key)


def published_cells(rows: Iterable[Mapping[str, Any]]) -> tuple[dict, dict, tuple]:
    """``{cell: value or None}``, per cohort its weeks, and the structure (regions ->
    departments, genders, age bands) over all rows."""
    cells: dict[Cell, int | None] = {}
    weeks: dict[str, set] = defaultdict(set)
    regions: dict[str, set[str]] = defaultdict(set)
    genders: set[str] = set()
    bands: set[str] = set()
    #: per level, the number of breakdowns its rows show: 0 total, 1 margins, 2 cross
    detail: dict[str, int] = defaultdict(int)
    for row in rows:
        key = (row["region"], row["department"], row["gender"], row["age_band"])
        r, d, g, a = key
        level = "national" if r == ALL else "region" if d == ALL else "department"
        detail[level] = max(detail[level], (g != ALL) + (a != ALL))
        if r != ALL:
            regions[r]
            if d != ALL:
                regions[r].add(d)
        if g != ALL:
            genders.add(g)
        if a != ALL:
            bands.add(a)
        weeks[row["cohort"]].add(row["week"])
        for m in MEASURES:
            cells[(row["cohort"], m, "W", row["week"], key)] = row[m]
            cells[(row["cohort"], m, "C", row["week"], key)] = row[f"{m}_cumulated"]
    return cells, {c: sorted(w) for c, w in weeks.items()}, (regions, genders, bands, detail)


def _relations(cell: Cell, structure: tuple, weeks: Mapping[str, list]) -> list[tuple[Cell, list]]:
    """(total, parts) of every relation ``cell`` is in; a part may be ``("free", ...)`` for
    an unpublished week's unknown count."""
    regions, genders, bands, detail = structure
    cohort, m, kind, week, (r, d, g, a) = cell
    base = (cohort, m, kind, week)
    out = []

    def published(key: tuple) -> bool:
        level = "national" if key[0] == ALL else "region" if key[1] == ALL else "department"
        return (key[2] != ALL) + (key[3] != ALL) <= detail[level]

    def rel(total_key: tuple, dim: str) -> None:
        tr, td, tg, ta = total_key
        if dim == "geo":
            parts = (
                [(x, ALL, tg, ta) for x in regions]
                if tr == ALL
                else [(tr, x, tg, ta) for x in regions[tr]]
            )
        elif dim == "gender":
            parts = [(tr, td, x, ta) for x in genders]
        else:
            parts = [(tr, td, tg, x) for x in bands]
        if not all(published(p) for p in parts):
            return
        out.append((base + (total_key,), [base + (p,) for p in parts]))

    if d != ALL:
        rel((r, ALL, g, a), "geo")
    else:
        rel((r, d, g, a), "geo")
        if r != ALL:
            rel((ALL, ALL, g, a), "geo")
    rel((r, d, g, a) if g == ALL else (r, d, ALL, a), "gender")
    rel((r, d, g, a) if a == ALL else (r, d, g, ALL), "age")
    series = weeks[cohort]
    i = series.index(week)
    key = (r, d, g, a)
    for j in [i, i + 1] if kind == "C" else [i]:
        if j >= len(series):
            continue
        wk = series[j]
        parts = [(cohort, m, "W", wk, key)]
        if j > 0:
            parts.append((cohort, m, "C", series[j - 1], key))
            if (series[j] - series[j - 1]).days != 7:
                parts.append(("free", cohort, m, wk, key))
        else:
            parts.append(("free", cohort, m, wk, key))
        out.append(((cohort, m, "C", wk, key), parts))
    return out


def intervals(
    rows: Iterable[Mapping[str, Any]], *, from_zero: bool = True, width: float | None = None
) -> dict[Cell, tuple[float, float]]:
    """``{hidden cell: (lo, hi)}`` for every hidden value of ``rows`` (with ``width``: exact
    for the cells narrower than it, an attainable sub-interval for the others)."""
    cells, weeks, structure = published_cells(rows)
    hidden = [c for c, v in cells.items() if v is None]
    equations, seen = [], set()
    for cell in hidden:
        for total, parts in _relations(cell, structure, weeks):
            ident = (total, tuple(parts))
            if ident in seen:
                continue
            seen.add(ident)
            terms: dict = defaultdict(float)
            rhs = 0.0
            for member, coef in [(total, 1.0), *((p, -1.0) for p in parts)]:
                if member[0] == "free":
                    if from_zero and weeks[member[1]][0] == member[3]:
                        continue  # nothing before the first published week
                    terms[member] += coef
                    continue
                value = cells.get(member, 0)
                if value is None:
                    terms[member] += coef
                else:
                    rhs -= coef * value
            equations.append((dict(terms), rhs))
    found = feasible_intervals(equations, hidden, width=width)
    return {c: found[c] for c in hidden}


def narrower(interval: tuple[float, float], width: float) -> bool:
    """Whether the integers of ``interval`` span less than ``width`` (an LP bound of 4.5 is
    4 to a reader who knows counts are whole)."""
    lo, hi = interval
    if hi == float("inf"):
        return False
    return math.floor(hi + 1e-6) - math.ceil(lo - 1e-6) < width


def too_narrow(
    rows: Iterable[Mapping[str, Any]], width: float, *, from_zero: bool = True
) -> dict[Cell, tuple[float, float]]:
    """The hidden cells whose feasible interval is narrower than ``width``."""
    return {
        c: i
        for c, i in intervals(rows, from_zero=from_zero, width=width).items()
        if narrower(i, width)
    }
