"""The nightly schedule: yesterday's day partition of the daily layers, plus any day of the
last week that is still missing (a night the daemon was down is caught up, not skipped).

The tick runs at ``SNU_NIGHTLY_CRON`` (default 02:00) in ``SNU_TIMEZONE``: partitions are
the regulator's (Paris) days, so "yesterday" is computed in that calendar, across DST
changes included.
"""

import os
from datetime import datetime, timedelta

from dagster import (
    AssetKey,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from snu_assets.jobs import daily_job
from snu_assets.partitions import daily_partitions
from snu_assets.settings import timezone, timezone_name

NIGHTLY_CRON = os.environ.get("SNU_NIGHTLY_CRON", "0 2 * * *")
CATCH_UP_DAYS = int(os.environ.get("SNU_CATCH_UP_DAYS", "7"))
#: a day counts as done once the last daily layer has materialised it
LAST_DAILY_ASSET = AssetKey("enriched_events")


def nightly_partitions(tick: datetime, materialized: set[str]) -> list[str]:
    """Day partitions a tick at ``tick`` requests: yesterday, and the days of the previous
    ``CATCH_UP_DAYS`` that were never materialised, oldest first."""
    today = tick.astimezone(timezone()).date()
    valid = set(daily_partitions.get_partition_keys(current_time=tick))
    days = [(today - timedelta(days=n)).isoformat() for n in range(CATCH_UP_DAYS, 0, -1)]
    return [d for d in days if d in valid and (d not in materialized or d == days[-1])]


@schedule(
    cron_schedule=NIGHTLY_CRON,
    execution_timezone=timezone_name(),
    job=daily_job,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every night: yesterday's partition of the daily layers and their checks, "
                "plus any day of the last week never materialised.",
)
def nightly_schedule(context: ScheduleEvaluationContext):
    tick = context.scheduled_execution_time
    materialized = context.instance.get_materialized_partitions(LAST_DAILY_ASSET)
    keys = nightly_partitions(tick, materialized)
    if not keys:
        return SkipReason("no day partition to materialise")
    tick_day = tick.astimezone(timezone()).date().isoformat()
    return [RunRequest(run_key=f"nightly:{key}:{tick_day}", partition_key=key,
                       tags={"snu/trigger": "nightly"}) for key in keys]

