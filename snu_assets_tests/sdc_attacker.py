"""The attacker of the published weekly funnel: given ONLY the published rows (what the role
``snu_public`` reads), every hidden cell's feasible interval by linear programming over every
relation a reader knows. Written independently of the suppression's own bookkeeping: the
structure is read back from the rows themselves (a missing row reads as zeros).

Relations: national = Σ regions, region = Σ its departments, all genders = Σ genders, all ages
= Σ age bands (per week, cohort, measure, weekly and cumulated alike); cumulated of a week =
cumulated of the week before + the week's count (before the first published week: 0 when
``from_zero``, else an unknown ≥ 0; a week missing between two published ones: an unknown
≥ 0 count); every count ≥ 0.
"""

import math
from collections import defaultdict

from snu_assets.core.publication.intervals import feasible_intervals

ALL = "all"
MEASURES = ("created", "completed", "processed", "validated", "refused")


def published_cells(rows):
    """{(cohort, measure, kind, week, key): value or None} and per cohort its weeks; the
    structure (regions → departments, genders, age bands) over all rows."""
    cells, weeks = {}, defaultdict(set)
    regions, genders, bands = defaultdict(set), set(), set()
    for row in rows:
        key = (row["region"], row["department"], row["gender"], row["age_band"])
        r, d, g, a = key
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
    return cells, {c: sorted(w) for c, w in weeks.items()}, (regions, genders, bands)


def _relations(cell, structure, weeks):
    """(total, parts) of every relation ``cell`` is in; a part may be ("free", ...) for an
    unpublished week's unknown count."""
    regions, genders, bands = structure
    cohort, m, kind, week, (r, d, g, a) = cell
    base = (cohort, m, kind, week)
    out = []

    def rel(total_key, dim):
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
        return (base + (total_key,), [base + (p,) for p in parts])

    if d != ALL:
        out.append(rel((r, ALL, g, a), "geo"))
    else:
        out.append(rel((r, d, g, a), "geo"))
        if r != ALL:
            out.append(rel((ALL, ALL, g, a), "geo"))
    out.append(rel((r, d, g, a) if g == ALL else (r, d, ALL, a), "gender"))
    out.append(rel((r, d, g, a) if a == ALL else (r, d, g, ALL), "age"))
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


def intervals(rows, *, from_zero=True, width=None) -> dict:
    """{hidden cell: (lo, hi)} for every hidden value of ``rows`` (with ``width``: exact for
    the cells narrower than it, an attainable sub-interval for the others)."""
    cells, weeks, structure = published_cells(rows)
    hidden = [c for c, v in cells.items() if v is None]
    equations, seen = [], set()
    for cell in hidden:
        for total, parts in _relations(cell, structure, weeks):
            ident = (total, tuple(parts))
            if ident in seen:
                continue
            seen.add(ident)
            terms, rhs = defaultdict(float), 0.0
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


def narrower(interval, width) -> bool:
    """Whether the integers of ``interval`` span less than ``width`` (an LP bound of 4.5 is
    4 to a reader who knows counts are whole)."""
    lo, hi = interval
    if hi == float("inf"):
        return False
    return math.floor(hi + 1e-6) - math.ceil(lo - 1e-6) < width


def too_narrow(rows, width, *, from_zero=True) -> dict:
    """The hidden cells whose feasible interval is narrower than ``width``."""
    return {
        c: i
        for c, i in intervals(rows, from_zero=from_zero, width=width).items()
        if narrower(i, width)
    }
