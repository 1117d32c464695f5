"""The freshness checks flag a day (or a week) that is late, in SNU_TIMEZONE's calendar:
Dagster's own checks, evaluated on a test instance with a frozen clock."""

import datetime as dt

import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetSelection,
    AssetSpec,
    instance_for_test,
    materialize,
)
from dagster._core.test_utils import freeze_time

from snu_assets.freshness import freshness_checks
from snu_assets.partitions import daily_partitions, weekly_partitions

UTC = dt.UTC


def evaluate(instance, spec, checks) -> bool:
    result = materialize(
        [spec, checks],
        instance=instance,
        selection=AssetSelection.checks(checks),
        raise_on_error=False,
    )
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation.passed


def arrived(instance, key: str, partition: str) -> None:
    instance.report_runless_asset_event(AssetMaterialization(AssetKey(key), partition=partition))


@pytest.fixture()
def instance():
    with instance_for_test() as test_instance:
        yield test_instance


def test_yesterday_is_late_after_seven_in_paris(instance):
    spec, checks = (
        AssetSpec("enriched_events", partitions_def=daily_partitions),
        freshness_checks[0],
    )
    arrived(instance, "enriched_events", "2025-03-11")
    with freeze_time(dt.datetime(2025, 3, 13, 5, 30, tzinfo=UTC)):  # 06:30 Paris: not due yet
        assert evaluate(instance, spec, checks)
    with freeze_time(dt.datetime(2025, 3, 13, 6, 30, tzinfo=UTC)):  # 07:30 Paris: 12 March late
        assert not evaluate(instance, spec, checks)
        arrived(instance, "enriched_events", "2025-03-12")
        assert evaluate(instance, spec, checks)


def test_last_week_is_late_on_monday_morning(instance):
    spec = AssetSpec("weekly_funnel_national", partitions_def=weekly_partitions)
    checks = freshness_checks[1]
    arrived(instance, "weekly_funnel_national", "2025-03-03")
    with freeze_time(dt.datetime(2025, 3, 17, 9, 0, tzinfo=UTC)):  # Monday 10:00 Paris
        assert not evaluate(instance, spec, checks)  # the week of 10 March is missing
        arrived(instance, "weekly_funnel_national", "2025-03-10")
        assert evaluate(instance, spec, checks)
