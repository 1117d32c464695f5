"""Partitions, declared once for every asset.

Days and weeks are counted in ``SNU_TIMEZONE`` (Europe/Paris by default: the regulator's days,
not UTC's): a patch at 00:30 in Paris belongs to that Paris day. Every daily asset shares the
same start date (dagster#19625: ranged backfills split oddly otherwise).
"""

from __future__ import annotations

from datetime import date, timedelta

from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    DailyPartitionsDefinition,
    WeeklyPartitionsDefinition,
)

from snu_assets import settings


def _first_monday(day: str) -> str:
    start = date.fromisoformat(day)
    return (start - timedelta(days=start.weekday())).isoformat()


#: days start on the Monday of SNU_START_DATE's week, like the weeks: the first week of a
#: history that starts mid-week then has all its days as partitions (Dagster refuses a
#: weekly partition whose days do not exist), and is published like any other
daily_partitions = DailyPartitionsDefinition(
    start_date=_first_monday(settings.start_date()), timezone=settings.timezone_name()
)

#: weeks start on Monday (day_offset counts from Sunday); keys are the Monday's date
weekly_partitions = WeeklyPartitionsDefinition(
    start_date=_first_monday(settings.start_date()),
    day_offset=1,
    timezone=settings.timezone_name(),
)

#: How a backfill of many days runs. By default one ranged run (``single_run``): the daily
#: assets handle any range, and `dagster asset materialize --partition-range` requires it.
#: ``SNU_BACKFILL_DAYS_PER_RUN=N`` switches to ranged runs of at most N days (``multi_run``),
#: for year-long histories on production volumes: smaller runs, each retried on its own.
DAYS_PER_RUN = settings.current().backfill_days_per_run or None
daily_backfill_policy = (
    BackfillPolicy.multi_run(max_partitions_per_run=DAYS_PER_RUN)
    if DAYS_PER_RUN
    else BackfillPolicy.single_run()
)


def run_weeks(context: AssetExecutionContext) -> list[date]:
    """The Mondays of a weekly asset's run: one, or each week of a ranged run."""
    window = context.partition_time_window
    week, end = window.start.date(), window.end.date()
    weeks = []
    while week < end:
        weeks.append(week)
        week += timedelta(days=7)
    return weeks
