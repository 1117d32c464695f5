"""The code location: one ``Definitions`` object assembling assets, checks, jobs,
schedules, sensors and resources (extract → reconstruct → enrich → views)."""

from dagster import Definitions

from snu_assets.assets import ALL_ASSETS
from snu_assets.distributed import executor_from_env
from snu_assets.jobs import daily_job, weekly_job
from snu_assets.resources import build_resources
from snu_assets.schedules import nightly_schedule
from snu_assets.sensors import failed_runs_sensor, late_patches_sensor, weekly_views_sensor

defs = Definitions(
    assets=ALL_ASSETS,
    jobs=[daily_job, weekly_job],
    schedules=[nightly_schedule],
    sensors=[late_patches_sensor, weekly_views_sensor, failed_runs_sensor],
    resources=build_resources(),
    # None (Dagster's default) unless SNU_EXECUTOR=celery: steps on Celery workers
    executor=executor_from_env(),
)
