"""Freshness checks: the UI shows a day or a week that is late, whatever made it late (the
nightly run failed, the daemon was down, the schedule is off).

- the daily layers: yesterday's ``enriched_events`` partition must exist by
  ``SNU_DAILY_DEADLINE_CRON`` (default 07:00 in ``SNU_TIMEZONE``: the nightly run starts at
  02:00);
- the weekly views: last week's ``weekly_funnel_national`` by ``SNU_WEEKLY_DEADLINE_CRON``
  (default Monday 09:00).

Dagster's own time-partition freshness checks, evaluated by their sensor
(``freshness_checks_sensor``, on by default; ``SNU_FRESHNESS_SENSOR=false`` leaves it off),
never inside the daily and weekly runs. Dagster 1.13 calls them superseded by
``FreshnessPolicy``, but that policy is judged per asset (any recent materialisation, a
backfill of an old day included, makes it fresh), not per partition, and it is off unless
``freshness: enabled`` is set: the checks say exactly "yesterday's partition is missing". The late-data sensor stays hand-written:
freshness says a partition is missing or late, nothing in Dagster re-runs an old day whose
patches changed afterwards.
"""

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    build_sensor_for_freshness_checks,
    build_time_partition_freshness_checks,
)

from snu_assets.settings import current

_SETTINGS = current()

freshness_checks = [
    *build_time_partition_freshness_checks(
        assets=[AssetKey("enriched_events")],
        deadline_cron=_SETTINGS.daily_deadline_cron,
        timezone=_SETTINGS.timezone,
    ),
    *build_time_partition_freshness_checks(
        assets=[AssetKey("weekly_funnel_national")],
        deadline_cron=_SETTINGS.weekly_deadline_cron,
        timezone=_SETTINGS.timezone,
    ),
]

freshness_sensor = build_sensor_for_freshness_checks(
    freshness_checks=freshness_checks,
    default_status=(
        DefaultSensorStatus.RUNNING if _SETTINGS.freshness_sensor else DefaultSensorStatus.STOPPED
    ),
)
