"""The freshness policies the UI judges the layers by: on the assets that end each cadence,
with the deadlines and the calendar of the settings."""

from datetime import timedelta

from dagster import AssetKey

from snu_assets.definitions import defs
from snu_assets.settings import current


def policy_of(key: str):
    return defs.get_repository_def().asset_graph.get(AssetKey(key)).freshness_policy


def test_the_day_is_late_at_seven_and_the_week_on_monday_morning():
    daily, weekly = policy_of("enriched_events"), policy_of("weekly_funnel_national")
    assert (daily.deadline_cron, daily.lower_bound_delta) == ("0 7 * * *", timedelta(hours=24))
    assert (weekly.deadline_cron, weekly.lower_bound_delta) == ("0 9 * * 1", timedelta(days=7))
    assert daily.timezone == weekly.timezone == current().timezone == "Europe/Paris"
    # the intermediate layers are judged through the last one of their cadence
    assert policy_of("raw_patches") is None and policy_of("weekly_funnel") is None
