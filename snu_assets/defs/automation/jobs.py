"""Jobs the automation launches: the daily layers for day partitions, the weekly views.

Runs of the daily job (nightly schedule, late-data sensor, launchpad) carry Dagster's
``dagster/max_runtime`` tag: run monitoring (``dagster.yaml``) fails a run still going after
``SNU_DAILY_MAX_RUNTIME_S`` seconds (default 4 h), which frees its run slot and
its pool slot, and the failure sensor names it. Weekly runs and asset backfills carry no
ceiling unless given the tag (e.g. in the backfill dialog).
"""

from dagster import AssetSelection, define_asset_job, job

from snu_assets import settings
from snu_assets.defs.assets import DAILY_ASSETS, REFERENCE_ASSETS, WEEKLY_ASSETS
from snu_assets.defs.daily.reconciliation import reconcile_patches
from snu_assets.defs.partitions import daily_partitions, weekly_partitions

#: Dagster's run tag read by run monitoring (``dagster._core.storage.tags.MAX_RUNTIME_SECONDS_TAG``)
MAX_RUNTIME_TAG = "dagster/max_runtime"
DAILY_MAX_RUNTIME_S = settings.current().daily_max_runtime_s
#: the run tag that dagster.yaml limits to one run at a time
WEEKLY_SERIAL_TAG = "snu/weekly-views"

DAILY_SELECTION = AssetSelection.assets(*DAILY_ASSETS)
WEEKLY_SELECTION = AssetSelection.assets(*WEEKLY_ASSETS)

daily_job = define_asset_job(
    "daily_layers",
    selection=DAILY_SELECTION,
    partitions_def=daily_partitions,
    # definition tags shown in the UI and, since run_tags is unset, put on every run
    tags={MAX_RUNTIME_TAG: str(DAILY_MAX_RUNTIME_S)},
    description="raw_patches → reconstructed_events → enriched_events (avec leurs "
    "contrôles) pour des partitions journalières.",
)

weekly_job = define_asset_job(
    "weekly_views",
    selection=AssetSelection.assets(*REFERENCE_ASSETS) | WEEKLY_SELECTION,
    partitions_def=weekly_partitions,
    # one week at a time, in submission order (dagster.yaml's tag concurrency limit): a
    # week's disclosure control reads the weeks published before it
    tags={WEEKLY_SERIAL_TAG: "1"},
    description="Objectifs, calendrier des cohortes, weekly_funnel, weekly_funnel_national et "
    "les deux éditions du rapport hebdomadaire (weekly_report_public, "
    "weekly_report_restricted) d'une semaine.",
)


@job(
    name="reconciliation",
    description="Chaque patch comptabilisé, sur tout l'historique : les patchs de MongoDB, jour "
    "par jour, comparés à raw_patches + rejected_patches ; échoue en nommant chaque jour qui "
    "diffère.",
)
def reconciliation_job() -> None:
    reconcile_patches()
