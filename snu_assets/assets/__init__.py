"""The asset graph, one module per layer, in the order the pipeline runs:
extract (raw_patches) → reconstruct (reconstructed_events) → enrich (enriched_events)
→ views (inscription_goals, weekly_funnel, weekly_funnel_national) → weekly_report."""

from snu_assets.assets.enriched_events import enriched_events
from snu_assets.assets.raw_patches import raw_patches
from snu_assets.assets.reconstructed_events import reconstructed_events
from snu_assets.assets.weekly_views import (
    cohorts,
    inscription_goals,
    weekly_funnel,
    weekly_funnel_national,
)
from snu_assets.assets.weekly_report import weekly_report

DAILY_ASSETS = [raw_patches, reconstructed_events, enriched_events]
REFERENCE_ASSETS = [inscription_goals, cohorts]
WEEKLY_ASSETS = [weekly_funnel, weekly_funnel_national, weekly_report]
ALL_ASSETS = DAILY_ASSETS + REFERENCE_ASSETS + WEEKLY_ASSETS
