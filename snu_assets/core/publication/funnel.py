"""The weekly funnel's publication: the five measures of one cohort for one week, protected
one by one (:mod:`snu_assets.core.publication.series`), as rows (pure: no I/O)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from snu_assets.core.publication.grain import COLUMNS, MEASURES, Grain, Key
from snu_assets.core.publication.series import (
    CUMULATED,
    WEEKLY,
    Block,
    PublishedWeek,
    Rules,
    publish,
)


@dataclass
class FunnelWeek:
    """One cohort's week as published: exact value of every column at every key with a row,
    and the status of each hidden value (``(column, key)``)."""

    exact: dict[Key, dict[str, int]] = field(default_factory=dict)
    hidden: dict[tuple[str, Key], str] = field(default_factory=dict)

    def measure(self, measure: str) -> PublishedWeek:
        cumulated = f"{measure}_cumulated"
        week = PublishedWeek(
            {k: v[measure] for k, v in self.exact.items() if v.get(measure)},
            {k: v[cumulated] for k, v in self.exact.items() if v.get(cumulated)},
        )
        for (column, key), status in self.hidden.items():
            if column == measure:
                week.hidden[(WEEKLY, key)] = status
            elif column == cumulated:
                week.hidden[(CUMULATED, key)] = status
        return week

    def published(self, key: Key) -> dict[str, int | None]:
        exact = self.exact.get(key, {})
        return {c: None if (c, key) in self.hidden else exact.get(c, 0) for c in COLUMNS}

    def statuses(self, key: Key) -> dict[str, str]:
        return {c: self.hidden[(c, key)] for c in COLUMNS if (c, key) in self.hidden}


def publish_cohort_week(
    grain: Grain,
    cumulated: Mapping[Key, Sequence[int]],
    boundary: FunnelWeek | None,
    weeks: Sequence[FunnelWeek],
    rules: Rules,
    *,
    audit: bool = True,
) -> tuple[FunnelWeek, Counter]:
    """The next week of a cohort's block: ``cumulated[finest key]`` = the five counts
    cumulated since the cohort opened (:data:`MEASURES` order), exact as of today;
    ``boundary`` the last week of the block before (``None`` at the cohort's start) and
    ``weeks`` the block's weeks already published."""
    out = FunnelWeek()
    stats: Counter = Counter()
    for m, measure in enumerate(MEASURES):
        expanded = grain.expand({key: counts[m] for key, counts in cumulated.items()})
        block = Block(
            None if boundary is None else boundary.measure(measure),
            [w.measure(measure) for w in weeks],
        )
        outcome = publish(grain, block, expanded, rules, audit=audit)
        stats.update(outcome.stats)
        week = outcome.week
        for key in week.rows():
            values = out.exact.setdefault(key, dict.fromkeys(COLUMNS, 0))
            values[measure] = week.weekly.get(key, 0)
            values[f"{measure}_cumulated"] = week.cumulated.get(key, 0)
        for (kind, key), status in week.hidden.items():
            column = measure if kind == WEEKLY else f"{measure}_cumulated"
            out.hidden[(column, key)] = status
    return out, stats
