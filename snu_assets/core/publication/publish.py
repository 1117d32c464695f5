"""The weekly publication of every cohort (the use case behind ``weekly_funnel``): from the
exact cumulated counts of today and what the block's earlier weeks published, the week's
published rows, its hidden values and their statistics (pure: no I/O)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from snu_assets.core.publication.funnel import FunnelWeek, publish_cohort_week
from snu_assets.core.publication.grain import ALL, COLUMNS, Grain, Key
from snu_assets.core.publication.series import Rules

WEEK = timedelta(days=7)


class PublicationOrderError(ValueError):
    """A week asked before the weeks its protection builds on were published."""


@dataclass
class WeekPublication:
    """A week's rows as published (``weekly_funnel``), its hidden values with their exact
    value (``weekly_funnel_hidden``) and statistics."""

    published: list[tuple] = field(default_factory=list)
    hidden: list[tuple] = field(default_factory=list)
    stats: Counter = field(default_factory=Counter)


@dataclass
class History:
    """What earlier weeks published: each cohort's first published week, the weeks published
    (``weekly_funnel_log``) and, for the weeks the current blocks need, each cohort's rows."""

    first_week: dict[str, date] = field(default_factory=dict)
    published_weeks: set[date] = field(default_factory=set)
    weeks: dict[str, dict[date, FunnelWeek]] = field(default_factory=lambda: defaultdict(dict))

    def record(self, week: date, publication: WeekPublication) -> None:
        """Add what ``week`` published (as the tables hold it: a store kept in memory)."""
        self.published_weeks.add(week)
        for row in publication.published:
            cohort, key = row[1], tuple(row[3:7])
            self.first_week.setdefault(cohort, week)
            values = row[7 : 7 + len(COLUMNS)]
            fw = self.weeks[cohort].setdefault(week, FunnelWeek())
            fw.exact[key] = {c: v or 0 for c, v in zip(COLUMNS, values, strict=True)}
        for row in publication.hidden:
            cohort, key, column, status, exact = row[1], tuple(row[3:7]), *row[7:10]
            fw = self.weeks[cohort][week]
            fw.exact[key][column] = exact
            fw.hidden[(column, key)] = status


def history_start(week: date, block_weeks: int) -> date:
    """The earliest week any cohort's block (with its boundary) can need for ``week``."""
    return week - WEEK * block_weeks


def block_of(first_week: date, week: date, block_weeks: int) -> tuple[int, int]:
    """``(t, u0)``: the week's index in the cohort and its block's first index."""
    t = (week - first_week).days // 7
    return t, (t // block_weeks) * block_weeks


def projection(
    validated_cumulated: int | None, start: date | None, end: date | None, week_end: date
) -> Decimal | None:
    """Validated expected at the cohort's close at the pace observed so far (NULL when the
    cumulated validated count is hidden or the calendar unknown)."""
    if validated_cumulated is None or start is None or end is None:
        return None
    if week_end >= end:
        return Decimal(validated_cumulated)
    if week_end <= start:
        return None
    value = Decimal(validated_cumulated) * (end - start).days / Decimal((week_end - start).days)
    return value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _grain(
    finest: Mapping[Key, Sequence[int]], past: Sequence[FunnelWeek], detail: Mapping[str, str]
) -> Grain:
    regions: dict[str, set[str]] = defaultdict(set)
    genders, bands = set(), set()
    for w in past:
        for region, department, gender, band in w.exact:
            if region != ALL:
                regions[region]
                if department != ALL:
                    regions[region].add(department)
            if gender != ALL:
                genders.add(gender)
            if band != ALL:
                bands.add(band)
    return Grain.of(
        finest,
        regions=regions,
        genders=genders,
        age_bands=bands,
        detail=detail,
    )


def publish_week(
    cumulated: Mapping[str, Mapping[Key, Sequence[int]]],
    history: History,
    goals: Mapping[tuple, int],
    calendar: Mapping[str, tuple[date | None, date | None]],
    week: date,
    rules: Rules,
) -> WeekPublication:
    """Week ``week`` of every cohort: ``cumulated[cohort][finest key]`` the five counts
    cumulated up to the week's end, exact as of today. Raises
    :class:`PublicationOrderError` when a week the cohort's block needs is not published."""
    out = WeekPublication()
    week_end = week + WEEK
    for cohort in sorted(set(cumulated) | set(history.first_week)):
        first = min(history.first_week.get(cohort, week), week)
        t, u0 = block_of(first, week, rules.block_weeks)
        needed = [first + WEEK * i for i in range(max(u0 - 1, 0), t)]
        missing = [w for w in needed if w not in history.published_weeks]
        if missing:
            raise PublicationOrderError(
                f"cohort {cohort!r}: week {missing[0]} is not published yet, and the "
                f"publication of {week} builds on it. Publish the weeks in order "
                f"(materialise weekly_funnel for {missing[0]} first, or backfill the range)."
            )
        mine = history.weeks.get(cohort, {})
        past = [mine.get(w, FunnelWeek()) for w in needed]
        boundary = past[0] if u0 > 0 else None
        weeks = past[1:] if u0 > 0 else past
        finest = cumulated.get(cohort, {})
        grain = _grain(finest, past, dict(rules.detail))
        result, stats = publish_cohort_week(grain, finest, boundary, weeks, rules)
        out.stats.update(stats)
        out.stats["block_weeks_read"] += len(past)
        start, end = calendar.get(cohort, (None, None))
        for key in sorted(result.exact):
            region, department, gender, band = key
            level = grain.level(key)
            values = result.published(key)
            statuses = result.statuses(key)
            place = region if level == "region" else department if level == "department" else None
            out.published.append(
                (
                    week,
                    cohort,
                    level,
                    region,
                    department,
                    gender,
                    band,
                    *(values[c] for c in COLUMNS),
                    goals.get((cohort, level, place)),
                    projection(values["validated_cumulated"], start, end, week_end),
                    bool(statuses),
                )
            )
            for column, status in statuses.items():
                out.hidden.append(
                    (
                        week,
                        cohort,
                        level,
                        region,
                        department,
                        gender,
                        band,
                        column,
                        status,
                        result.exact[key][column],
                    )
                )
                out.stats[status] += 1
            out.stats["values"] += len(COLUMNS)
            out.stats["shown"] += sum(v is not None for v in values.values())
            if grain.shown_total(key) and level != "department":
                for column in COLUMNS:
                    passes = abs(result.exact[key][column]) >= rules.k
                    out.stats["totals_passing"] += passes
                    out.stats["totals_passing_hidden"] += passes and values[column] is None
    return out
