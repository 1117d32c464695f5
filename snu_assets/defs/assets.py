"""The asset graph, one module per layer, in the order the pipeline runs:
extract (raw_patches) → reconstruct (reconstructed_events) → enrich (enriched_events)
→ views (inscription_goals, weekly_funnel, weekly_funnel_national) → weekly_report_public,
weekly_report_restricted."""

from snu_assets.defs.daily.enriched_events import enriched_events
from snu_assets.defs.daily.extract_and_reconstruct import extract_and_reconstruct
from snu_assets.defs.report.weekly_report import weekly_report_public, weekly_report_restricted
from snu_assets.defs.weekly.reference import cohorts, inscription_goals
from snu_assets.defs.weekly.weekly_views import weekly_funnel, weekly_funnel_national

#: raw_patches and reconstructed_events are the two outputs of one step that reads
#: MongoDB once (extract_and_reconstruct); each can still be materialised alone
DAILY_ASSETS = [extract_and_reconstruct, enriched_events]
REFERENCE_ASSETS = [inscription_goals, cohorts]
WEEKLY_ASSETS = [
    weekly_funnel,
    weekly_funnel_national,
    weekly_report_public,
    weekly_report_restricted,
]
ALL_ASSETS = DAILY_ASSETS + REFERENCE_ASSETS + WEEKLY_ASSETS
