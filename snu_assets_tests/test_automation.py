"""Schedule and sensor logic evaluated with Dagster's own context builders (no server)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterRun,
    DagsterRunStatus,
    RunRequest,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
    instance_for_test,
)

from snu_assets.definitions import defs
from snu_assets.defs.automation.schedules import nightly_partitions, nightly_schedule
from snu_assets.defs.automation.sensors import (
    audit_days,
    failed_partitions,
    weekly_views_sensor,
    weeks_to_refresh,
)

PARIS = ZoneInfo("Europe/Paris")


def test_nightly_requests_yesterday_in_paris_time():
    # 02:00 Paris on 2025-03-11 is 01:00 UTC: yesterday is the Paris 10th
    tick = datetime(2025, 3, 11, 2, 0, tzinfo=PARIS)
    done = {f"2025-03-{d:02d}" for d in range(1, 10)}
    assert nightly_partitions(tick, done) == ["2025-03-10"]
    assert nightly_partitions(tick, done | {"2025-03-10"}) == []  # late data: the sensor's job


def test_nightly_just_after_midnight_paris_is_still_the_previous_day_in_utc():
    tick = datetime(2025, 3, 10, 23, 30, tzinfo=ZoneInfo("UTC"))  # 00:30 Paris on the 11th
    assert nightly_partitions(tick, {f"2025-03-{d:02d}" for d in range(1, 10)}) == ["2025-03-10"]


def test_nightly_across_dst_changes():
    spring = datetime(2025, 3, 31, 2, 0, tzinfo=PARIS)  # the night after the 23-hour day
    autumn = datetime(2025, 10, 27, 2, 0, tzinfo=PARIS)  # the night after the 25-hour day

    def done(month, last):
        return {f"2025-{month:02d}-{d:02d}" for d in range(1, last)}

    assert nightly_partitions(spring, done(3, 30)) == ["2025-03-30"]
    assert nightly_partitions(autumn, done(10, 26)) == ["2025-10-26"]


def test_nightly_catches_up_missed_nights():
    tick = datetime(2025, 3, 11, 2, 0, tzinfo=PARIS)
    done = {"2025-03-04", "2025-03-05", "2025-03-06", "2025-03-09"}
    assert nightly_partitions(tick, done) == ["2025-03-07", "2025-03-08", "2025-03-10"]


def test_nightly_schedule_evaluates_against_an_instance():
    with instance_for_test() as instance:
        for day in range(4, 10):
            instance.report_runless_asset_event(
                AssetMaterialization(AssetKey("enriched_events"), partition=f"2025-03-{day:02d}")
            )
        context = build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2025, 3, 11, 2, tzinfo=PARIS),
            repository_def=defs.get_repository_def(),
        )
        requests = nightly_schedule(context)
        assert [r.partition_key for r in requests] == ["2025-03-10"]
        assert requests[0].run_key == "nightly:2025-03-10:2025-03-11"
        # the next tick, while that run is still going: nothing new is requested
        instance.add_run(
            DagsterRun(
                job_name="daily_layers",
                run_id="r" * 8,
                tags={"dagster/partition": "2025-03-10"},
                status=DagsterRunStatus.STARTED,
            )
        )
        again = nightly_schedule(context)
        assert isinstance(again, SkipReason)


def test_weeks_are_refreshed_only_when_complete_and_again_after_a_late_day():
    week = ["2025-03-03", "2025-03-04", "2025-03-05", "2025-03-06", "2025-03-07", "2025-03-08"]
    daily = {day: n for n, day in enumerate(week, start=1)}
    assert weeks_to_refresh(daily, {}, ["2025-03-03"]) == []  # Sunday missing: half a week
    daily["2025-03-09"] = 7
    assert weeks_to_refresh(daily, {}, ["2025-03-03"]) == [("2025-03-03", 7)]
    assert weeks_to_refresh(daily, {"2025-03-03": 8}, ["2025-03-03"]) == []
    # the next week depends on the previous one's days too (cumulated counts)
    for n in range(7):
        daily[f"2025-03-{10 + n}"] = 10 + n
    weekly = {"2025-03-03": 8, "2025-03-10": 20}
    daily["2025-03-05"] = 30  # a late patch re-materialised the Wednesday of week 1
    assert weeks_to_refresh(daily, weekly, ["2025-03-03", "2025-03-10"]) == [
        ("2025-03-03", 30),
        ("2025-03-10", 30),
    ]


def test_the_first_partial_week_of_a_history_is_refreshed():
    """A history that starts on a Thursday: its first week is due with its days from that
    Thursday (the days before it hold nothing), the next one with its seven days."""
    daily = {f"2025-03-{d:02d}": d for d in range(6, 17)}  # Thursday 6 .. Sunday 16
    weeks = ["2025-02-24", "2025-03-03", "2025-03-10"]
    assert weeks_to_refresh(daily, {}, weeks) == [("2025-03-03", 9), ("2025-03-10", 16)]
    del daily["2025-03-07"]  # a day of the first week missing: not due
    assert weeks_to_refresh(daily, {}, weeks) == [("2025-03-10", 16)]


# the sensor needs no resource: Dagster's warning that get_sensor_def leaves them unresolved
@pytest.mark.filterwarnings("ignore:Starting in dagster 1.11, get_sensor_def")
def test_the_weekly_sensor_publishes_the_first_partial_week_of_a_history():
    """Every week with data is published, the first one too: a history whose data starts on
    Thursday 2025-03-06, its days materialised from that Thursday through two more weeks. The
    weekly sensor of the code location (the object the daemon evaluates) requests the first,
    partial week with the full ones after it, then, once they are published, nothing until a
    day of that first week is materialised again."""
    sensor = defs.get_sensor_def("weekly_views_sensor")
    weeks = ["2025-03-03", "2025-03-10", "2025-03-17"]
    with instance_for_test() as instance:

        def materialise(asset: str, partition: str) -> None:
            instance.report_runless_asset_event(
                AssetMaterialization(AssetKey(asset), partition=partition)
            )

        def tick() -> list[str] | SkipReason:
            result = sensor(build_sensor_context(instance=instance, definitions=defs))
            if isinstance(result, SkipReason):
                return result
            assert all(isinstance(r, RunRequest) and r.run_key for r in result)
            return [r.partition_key for r in result]

        for day in range(6, 24):  # Thursday 6 .. Sunday 23
            materialise("enriched_events", f"2025-03-{day:02d}")
        assert tick() == weeks
        assert sensor.job_name == "weekly_views"
        for week in weeks:
            materialise("weekly_funnel_national", week)
        assert isinstance(tick(), SkipReason)
        # a late patch re-materialised the first Friday: that week again, and the weeks after
        # it (their cumulated figures count it)
        materialise("enriched_events", "2025-03-07")
        assert tick() == weeks


def test_weekly_sensor_skips_without_complete_weeks():
    with instance_for_test() as instance:
        result = weekly_views_sensor(build_sensor_context(instance=instance))
        assert isinstance(result, SkipReason)


def test_audit_days_rotate_through_materialised_days():
    days = {"2025-03-01", "2025-03-02", "2025-03-03"}
    assert audit_days(days, None, 2) == ["2025-03-01", "2025-03-02"]
    assert audit_days(days, "2025-03-02", 2) == ["2025-03-03", "2025-03-01"]
    assert audit_days(set(), None, 2) == []


def test_failed_partitions_names_ranges():
    assert failed_partitions({"dagster/partition": "2025-03-01"}) == "2025-03-01"
    assert (
        failed_partitions(
            {
                "dagster/asset_partition_range_start": "2025-01-01",
                "dagster/asset_partition_range_end": "2025-01-31",
            }
        )
        == "2025-01-01...2025-01-31"
    )
