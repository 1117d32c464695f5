"""The weekly funnel's publication: the five measures of a cohort protected together
(:func:`protect_funnel`) and a week's rows as published (:func:`published_rows`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from snu_assets.core.publication.suppression import Protected, protect
from snu_assets.core.publication.tables import CUMULATED, MEASURES, WEEKLY, Key, Series, Structure


def protect_funnel(
    structure: Structure,
    weeks: Sequence[Mapping[Key, Sequence[int]]],
    k: int = 5,
    width: int | None = None,
    *,
    audit: bool = True,
    published: Sequence[Mapping[tuple[str, Key], str]] = (),
) -> dict[str, Protected]:
    """All five measures of one cohort: ``weeks[t][finest key]`` = the five weekly counts
    (:data:`MEASURES` order). Returns ``{measure: Protected}``. ``published[t]``: what was
    already published for week ``t``, ``{(column, key): status}`` of its hidden values
    (column: a measure or ``<measure>_cumulated``)."""
    out = {}
    for m, measure in enumerate(MEASURES):
        series = Series.from_finest(
            structure, [{key: counts[m] for key, counts in week.items()} for week in weeks]
        )
        mine = [
            {
                (CUMULATED if column.endswith("_cumulated") else WEEKLY, key): status
                for (column, key), status in week.items()
                if column in (measure, f"{measure}_cumulated")
            }
            for week in published
        ]
        out[measure] = protect(series, k, width, audit=audit, published=mine)
    return out


def published_rows(
    structure: Structure, protected: Mapping[str, Protected], t: int
) -> list[tuple[Key, dict[str, int | None], dict[str, str]]]:
    """Week ``t`` as rows: ``(key, {column: value or None}, {column: status of hidden})``
    for every key with a count that is not 0 or is hidden (a missing row reads as zeros)."""
    rows = []
    keys: set[Key] = set()
    for p in protected.values():
        keys |= set(p.series.cumulated[t]) | set(p.series.weekly[t])
        keys |= {v[2] for v in p.hidden if v[0] == t}
    for key in sorted(keys):
        values, statuses = {}, {}
        for measure in MEASURES:
            p = protected[measure]
            for column, kind in ((measure, WEEKLY), (f"{measure}_cumulated", CUMULATED)):
                var = (t, kind, key)
                values[column] = p.published(var)
                if var in p.hidden:
                    statuses[column] = p.hidden[var]
        rows.append((key, values, statuses))
    return rows
