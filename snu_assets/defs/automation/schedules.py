"""The nightly schedule: yesterday's day partition of the daily layers, plus any day of the
last week that is still missing (a night the daemon was down is caught up, not skipped).

The tick runs at ``SNU_NIGHTLY_CRON`` (default 02:00) in ``SNU_TIMEZONE``: partitions are
the regulator's (Paris) days, so "yesterday" is computed in that calendar, across DST
changes included.
"""

from datetime import datetime, timedelta

from dagster import (
    AssetKey,
    DagsterRunStatus,
    DefaultScheduleStatus,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from snu_assets.defs.automation.jobs import daily_job, reconciliation_job
from snu_assets.defs.partitions import daily_partitions
from snu_assets.settings import current, timezone, timezone_name

#: SNU_AUTOMATION_DEFAULT_STATUS
DEFAULT_STATUS = DefaultScheduleStatus(current().automation_default_status.upper())
NIGHTLY_CRON = current().nightly_cron
CATCH_UP_DAYS = current().catch_up_days
#: a day counts as done once the last daily layer has materialised it
LAST_DAILY_ASSET = AssetKey("enriched_events")
#: a day whose run is still queued or running is not requested again by the next tick
IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def nightly_partitions(tick: datetime, materialized: set[str]) -> list[str]:
    """Day partitions a tick at ``tick`` requests: the days of the last ``CATCH_UP_DAYS``
    (yesterday included) that were never materialised, oldest first. A day already
    materialised is left to the late-data sensor."""
    today = tick.astimezone(timezone()).date()
    valid = set(daily_partitions.get_partition_keys(current_time=tick))
    days = [(today - timedelta(days=n)).isoformat() for n in range(CATCH_UP_DAYS, 0, -1)]
    return [d for d in days if d in valid and d not in materialized]


@schedule(
    cron_schedule=NIGHTLY_CRON,
    execution_timezone=timezone_name(),
    job=daily_job,
    default_status=DEFAULT_STATUS,
    description="Chaque nuit : la partition de la veille des couches quotidiennes et leurs "
    "contrôles, plus tout jour de la dernière semaine jamais matérialisé.",
)
def nightly_schedule(context: ScheduleEvaluationContext) -> SkipReason | list[RunRequest]:
    tick = context.scheduled_execution_time
    materialized = context.instance.get_materialized_partitions(LAST_DAILY_ASSET)
    busy = {
        run.tags.get("dagster/partition")
        for run in context.instance.get_runs(
            RunsFilter(job_name=daily_job.name, statuses=IN_FLIGHT)
        )
    }
    keys = [key for key in nightly_partitions(tick, materialized) if key not in busy]
    if not keys:
        return SkipReason("no day partition to materialise")
    tick_day = tick.astimezone(timezone()).date().isoformat()
    return [
        RunRequest(
            run_key=f"nightly:{key}:{tick_day}", partition_key=key, tags={"snu/trigger": "nightly"}
        )
        for key in keys
    ]


#: the reconciliation of the whole history, after the night's loads (SNU_RECONCILIATION_CRON)
reconciliation_schedule = ScheduleDefinition(
    name="reconciliation_schedule",
    job=reconciliation_job,
    cron_schedule=current().reconciliation_cron,
    execution_timezone=timezone_name(),
    default_status=DEFAULT_STATUS,
    description="Lance le job reconciliation : chaque patch de MongoDB retrouvé dans "
    "raw_patches + rejected_patches, jour par jour, sur tout l'historique.",
)
