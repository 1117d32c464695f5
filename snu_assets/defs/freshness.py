"""Freshness policies: the UI flags the daily layers or the weekly views when they are late,
whatever made them late (the nightly run failed, the daemon was down, the schedule is off).

- ``enriched_events`` must have been materialised in the 24 hours before
  ``SNU_DAILY_DEADLINE_CRON`` (default 07:00 in ``SNU_TIMEZONE``; the nightly run starts at
  02:00);
- ``weekly_funnel_national`` in the week before ``SNU_WEEKLY_DEADLINE_CRON`` (default Monday
  09:00).

Dagster's ``FreshnessPolicy`` (evaluated by the daemon when ``freshness: enabled`` is set in
``dagster.yaml``, as it is here): no run and no step of its own. Dagster's older time-partition
freshness *checks* were tried and left: they join every run and backfill of the asset they
check (one more step each, one more Celery task), and need a sensor that launches runs. The
policy judges the asset, not each partition: a backfill of old days also counts as fresh.
The late-data sensor stays hand-written: nothing in Dagster re-runs an old day whose patches
changed afterwards.
"""

from datetime import timedelta

from dagster import FreshnessPolicy

from snu_assets.settings import current

_SETTINGS = current()

DAILY_FRESHNESS = FreshnessPolicy.cron(
    deadline_cron=_SETTINGS.daily_deadline_cron,
    lower_bound_delta=timedelta(hours=24),
    timezone=_SETTINGS.timezone,
)
WEEKLY_FRESHNESS = FreshnessPolicy.cron(
    deadline_cron=_SETTINGS.weekly_deadline_cron,
    lower_bound_delta=timedelta(days=7),
    timezone=_SETTINGS.timezone,
)
