"""The code location: one ``Definitions`` object assembling assets, checks, jobs,
schedules, sensors and resources (extract → reconstruct → enrich → views)."""

from dagster import Definitions

from snu_assets.defs.assets import ALL_ASSETS
from snu_assets.defs.automation.distributed import executor_from_env
from snu_assets.defs.automation.jobs import daily_job, reconciliation_job, weekly_job
from snu_assets.defs.automation.schedules import nightly_schedule, reconciliation_schedule
from snu_assets.defs.automation.sensors import (
    failed_runs_sensor,
    late_patches_sensor,
    weekly_views_sensor,
)
from snu_assets.defs.resources import build_resources

defs = Definitions(
    assets=ALL_ASSETS,
    jobs=[daily_job, weekly_job, reconciliation_job],
    schedules=[nightly_schedule, reconciliation_schedule],
    sensors=[late_patches_sensor, weekly_views_sensor, failed_runs_sensor],
    resources=build_resources(),
    # None (Dagster's default) unless SNU_EXECUTOR=celery: steps on Celery workers
    executor=executor_from_env(),
)
