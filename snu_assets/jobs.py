"""Jobs the automation launches: the daily layers for day partitions, the weekly views."""

from dagster import AssetSelection, define_asset_job

from snu_assets.assets import DAILY_ASSETS, REFERENCE_ASSETS, WEEKLY_ASSETS
from snu_assets.partitions import daily_partitions, weekly_partitions

DAILY_SELECTION = AssetSelection.assets(*DAILY_ASSETS)
WEEKLY_SELECTION = AssetSelection.assets(*WEEKLY_ASSETS)

daily_job = define_asset_job(
    "daily_layers",
    selection=DAILY_SELECTION,
    partitions_def=daily_partitions,
    description="raw_patches → reconstructed_events → enriched_events (with their checks) "
                "for day partitions.",
)

weekly_job = define_asset_job(
    "weekly_views",
    selection=AssetSelection.assets(*REFERENCE_ASSETS) | WEEKLY_SELECTION,
    partitions_def=weekly_partitions,
    description="Objectives, cohort calendar, weekly_funnel, weekly_funnel_national and the "
                "weekly report for one week.",
)
