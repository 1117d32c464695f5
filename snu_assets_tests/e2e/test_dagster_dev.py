"""Issue 4 acceptance, end to end through Dagster's own machinery: `dagster dev` (webserver,
daemon, code server, run workers as subprocesses) driven through its GraphQL API only.

One `dagster dev` serves the whole module, with an isolated instance (fresh DAGSTER_HOME,
fresh PostgreSQL database for the runs), a fresh MongoDB database seeded here (60 youngs
over the two-to-three weeks ending yesterday) and a fresh analytics schema:

1. an asset backfill launched as the UI's backfill dialog does (`launchPartitionBackfill`)
   completes in ranged runs of the backfill policy, and lands exactly the generator's
   patches and events per Paris day;
2. the nightly schedule (cron every minute here) materialises yesterday through the daemon;
3. the same backfill launched again leaves every daily table identical;
4. patches inserted late into an already materialised day are picked up by the late-data
   sensor, whose run lands them;
5. the weekly views sensor materialises a week once its seven days are.
"""

from __future__ import annotations

import math
import os
import shutil
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import psycopg
import pytest
from bson import ObjectId

from snu_assets import settings
from snu_assets.core.privacy.pseudonym import Pseudonymizer
from snu_assets.defs.resources import MongoResource, PostgresResource
from snu_assets.io import embedded
from snu_assets.ops.backfill import BACKFILL, LAUNCH_BACKFILL
from snu_assets.ops.demo_data import seed_mongo
from snu_assets_testing.tables import DAILY_TABLES
from snu_assets_tests.conftest import TEST_KEY
from snu_assets_tests.e2e.dagster_dev import DagsterDev
from snu_assets_tests.truth import expected_events

pytestmark = pytest.mark.e2e

PROJECT = Path(__file__).resolve().parents[2]
LOCATION = "snu_assets"
DAILY_ASSETS = ("raw_patches", "reconstructed_events", "enriched_events")
BACKFILL_DAYS = 9
DAYS_PER_RUN = 7
IN_FLIGHT = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"]
P = Pseudonymizer(TEST_KEY)

# ------------------------------------------------------------------------------ GraphQL

WORKSPACE = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on PythonError { message stack }
          ... on RepositoryLocation { repositories { name } }
        }
      }
    }
    ... on PythonError { message }
  }
}"""

RUNS = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    __typename
    ... on Runs {
      results { runId jobName status creationTime startTime endTime tags { key value } }
    }
    ... on Error { message }
  }
}"""

RUN_ERRORS = """
query RunLogs($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message level }
        ... on ErrorEvent { error { message } }
      }
    }
  }
}"""

SENSOR = """
query Sensor($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor {
      sensorState { status ticks(limit: 20) { status timestamp cursor error { message } } }
    }
    ... on Error { message }
  }
}"""


# ------------------------------------------------------------------------------ fixtures


def paris_day(moment: datetime) -> date:
    return moment.astimezone(settings.timezone()).date()


@dataclass
class E2E:
    dev: DagsterDev
    truth: object
    mongo: MongoResource
    postgres: PostgresResource
    start: date  # first seeded day, a Monday, = SNU_START_DATE
    yesterday: date  # last seeded day (Paris)
    repository: str = "__repository__"
    timings: dict = field(default_factory=dict)

    @property
    def backfill_days(self) -> list[str]:
        return [(self.start + timedelta(days=n)).isoformat() for n in range(BACKFILL_DAYS)]

    # ---------------------------------------------------------------- GraphQL helpers

    def runs(
        self, tags: dict[str, str] | None = None, statuses: list[str] | None = None
    ) -> list[dict]:
        run_filter = {}
        if tags:
            run_filter["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        if statuses:
            run_filter["statuses"] = statuses
        result = self.dev.graphql(RUNS, {"filter": run_filter})["runsOrError"]
        assert result["__typename"] == "Runs", result
        for run in result["results"]:
            run["tags"] = {t["key"]: t["value"] for t in run["tags"]}
        return result["results"]

    def launch_backfill(self, days: list[str]) -> str:
        # exactly what the UI's "Launch backfill" dialog sends for a selection of assets
        params = {
            "partitionNames": days,
            "assetSelection": [{"path": [name]} for name in DAILY_ASSETS],
            "fromFailure": False,
            "tags": [],
            "title": None,
            "description": None,
        }
        result = self.dev.graphql(LAUNCH_BACKFILL, {"backfillParams": params})
        launched = result["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        return launched["backfillId"]

    def backfill(self, backfill_id: str) -> dict:
        result = self.dev.graphql(BACKFILL, {"backfillId": backfill_id})["partitionBackfillOrError"]
        assert result["__typename"] == "PartitionBackfill", result
        return result

    def wait_backfill(self, backfill_id: str, timeout: float) -> dict:
        def done():
            backfill = self.backfill(backfill_id)
            return (
                backfill
                if backfill["status"] not in ("REQUESTED", "CANCELING", "FAILING")
                else None
            )

        return self.dev.wait_for(f"backfill {backfill_id} to finish", done, timeout)

    def wait_idle(self, timeout: float) -> None:
        self.dev.wait_for(
            "no run in flight", lambda: not self.runs(statuses=IN_FLIGHT) or None, timeout
        )

    def sensor_ticks(self, name: str) -> list[dict]:
        selector = {
            "repositoryName": self.repository,
            "repositoryLocationName": LOCATION,
            "sensorName": name,
        }
        result = self.dev.graphql(SENSOR, {"selector": selector})["sensorOrError"]
        assert result["__typename"] == "Sensor", result
        return result["sensorState"]["ticks"]

    # --------------------------------------------------------------- PostgreSQL helpers

    def rows(self, sql: str, params=None) -> list[tuple]:
        with self.postgres.connect() as conn:
            return conn.execute(sql.replace("{s}", f'"{self.postgres.schema}"'), params).fetchall()

    def snapshot(self) -> dict[str, list[str]]:
        return {
            t: [r[0] for r in self.rows(f"select t::text from {{s}}.{t} t order by 1")]
            for t in DAILY_TABLES
        }

    def run_errors(self, run_id: str) -> list[str]:
        """The error and warning messages of a run's event log."""
        logs = self.dev.graphql(RUN_ERRORS, {"runId": run_id})["logsForRun"]
        found = []
        for event in logs.get("events", []):
            if event.get("error"):
                found.append(f"{event['__typename']}: {event['error']['message'].strip()}")
            elif event.get("level") in ("ERROR", "CRITICAL", "WARNING"):
                found.append(f"{event['__typename']}: {event.get('message')}")
        return found

    def fail(self, message: str, runs: list[dict] = ()) -> str:
        """An assertion message: ``message``, the errors of the runs that did not succeed and
        the tail of the dagster dev log."""
        details = [
            f"run {r['runId']} ({r['jobName']}, {r['status']}): "
            + " | ".join(self.run_errors(r["runId"])[-5:])
            for r in runs
            if r["status"] != "SUCCESS"
        ]
        return "\n".join(
            [message, *details, f"--- tail of {self.dev.log_path} ---", self.dev.log_tail()]
        )


def _child_env(
    home: Path, dagster_url: str, mongo: MongoResource, schema: str, start: date
) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SNU_", "DAGSTER_", "PYTEST_"))
        or k in ("SNU_STATE_DIR", "SNU_REPORTS_DIR")
    }
    env.update(
        {
            "DAGSTER_HOME": str(home),
            "SNU_DAGSTER_POSTGRES_URL": dagster_url,
            "SNU_MONGO_URI": mongo.uri,
            "SNU_MONGO_DB": mongo.database,
            "SNU_POSTGRES_URL": embedded.postgres_uri(),
            "SNU_POSTGRES_SCHEMA": schema,
            "SNU_PSEUDONYM_KEY": TEST_KEY,
            "SNU_TIMEZONE": settings.timezone_name(),
            "SNU_START_DATE": start.isoformat(),
            "SNU_NIGHTLY_CRON": "* * * * *",
            "SNU_LATE_DATA_INTERVAL_S": "5",
            "SNU_WEEKLY_SENSOR_INTERVAL_S": "5",
            "SNU_BACKFILL_DAYS_PER_RUN": str(DAYS_PER_RUN),
        }
    )
    return env


@pytest.fixture(scope="module")
def e2e(embedded_servers, tmp_path_factory):
    tag = uuid.uuid4().hex[:8]
    tmp = tmp_path_factory.mktemp("dagster_dev")
    yesterday = datetime.now(settings.timezone()).date() - timedelta(days=1)
    first = yesterday - timedelta(days=13)
    start = first - timedelta(days=first.weekday())  # the Monday on or before
    mongo = MongoResource(uri=embedded_servers.uri, database=f"snu_e2e_{tag}")
    postgres = PostgresResource(url=embedded.postgres_uri(), schema_name=f"snu_e2e_{tag}")
    dagster_db = f"dagster_e2e_{tag}"
    admin = embedded.postgres_uri("postgres")
    dev = None
    try:
        truth = seed_mongo(
            mongo.db(),
            seed=2024,
            youngs=60,
            days=(yesterday - start).days + 1,
            start=start,
            progress=False,
            collect_truth=True,
        )
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'create database "{dagster_db}"')
        dagster_url = embedded.postgres_uri(dagster_db).replace(
            "postgresql://", "postgresql+psycopg2://", 1
        )
        home = tmp / "dagster_home"
        home.mkdir()
        shutil.copy(PROJECT / "dagster.yaml", home / "dagster.yaml")
        env = _child_env(home, dagster_url, mongo, postgres.schema, start)
        dev = DagsterDev(PROJECT / "workspace.yaml", env, tmp / "dagster-dev.log")
        began = time.monotonic()
        dev.start()
        repository = dev.wait_for(
            "the webserver and the snu_assets code location",
            lambda: _loaded_repository(dev),
            timeout=120,
        )
        context = E2E(dev, truth, mongo, postgres, start, yesterday, repository)
        context.timings["startup_s"] = round(time.monotonic() - began, 1)
        print(
            f"\ndagster dev on port {dev.port}, log {dev.log_path}; seed {start}..{yesterday}, "
            f"{len(truth.patches)} patches; ready in {context.timings['startup_s']}s"
        )
        yield context
        print(f"\ne2e timings: {context.timings}")
    finally:
        if dev is not None:
            dev.stop()
            stray = dev.stray_pids()
            assert not stray, f"dagster processes survived the stop: {stray}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{dagster_db}" with (force)')
        with postgres.connect() as conn:
            conn.execute(f'drop schema if exists "{postgres.schema}" cascade')
        postgres.engine().dispose()
        mongo.client().drop_database(mongo.database)
        mongo.client().close()


def _loaded_repository(dev: DagsterDev) -> str | None:
    workspace = dev.graphql(WORKSPACE, timeout=10)["workspaceOrError"]
    assert workspace["__typename"] == "Workspace", workspace
    for entry in workspace["locationEntries"]:
        if entry["name"] != LOCATION or entry["loadStatus"] != "LOADED":
            continue
        location = entry["locationOrLoadError"]
        assert location["__typename"] == "RepositoryLocation", (
            f"the code location failed to load: {location}"
        )
        return location["repositories"][0]["name"]
    return None


# --------------------------------------------------------------------------------- tests


def test_startup_prints_no_false_warning(e2e):
    """Started as `snu-assets dev` starts it (in DAGSTER_HOME, which holds the dagster.yaml it
    reads), dagster dev does not warn that a dagster.yaml "will not be used"."""
    log = e2e.dev.log_path.read_text(errors="replace")
    assert "Launching Dagster services" in log
    assert "will not be used" not in log, e2e.dev.log_tail()


def _truth_by_day(truth) -> Counter:
    return Counter(paris_day(p.date) for p in truth.patches)


def test_backfill_lands_the_truth_in_ranged_runs(e2e):
    days = e2e.backfill_days
    began = time.monotonic()
    backfill_id = e2e.launch_backfill(days)
    backfill = e2e.wait_backfill(backfill_id, timeout=420)
    e2e.timings["backfill_1_s"] = round(time.monotonic() - began, 1)
    runs = e2e.runs({"dagster/backfill": backfill_id})
    e2e.timings["backfill_1_runs"] = len(runs)
    assert backfill["status"] in ("COMPLETED_SUCCESS", "COMPLETED"), e2e.fail(str(backfill), runs)
    assert backfill["partitionNames"] == days
    assert sorted(k["path"][0] for k in backfill["assetSelection"]) == sorted(DAILY_ASSETS)
    assert [r["status"] for r in runs] == ["SUCCESS"] * len(runs), e2e.fail(str(runs), runs)
    # the backfill policy: ranged runs of at most DAYS_PER_RUN days, each with every layer
    assert len(runs) == math.ceil(BACKFILL_DAYS / DAYS_PER_RUN), runs
    ranges = sorted(
        (
            r["tags"]["dagster/asset_partition_range_start"],
            r["tags"]["dagster/asset_partition_range_end"],
        )
        for r in runs
    )
    assert ranges == [(days[0], days[DAYS_PER_RUN - 1]), (days[DAYS_PER_RUN], days[-1])]

    window = (e2e.start, e2e.start + timedelta(days=BACKFILL_DAYS))
    truth_days = {d: n for d, n in _truth_by_day(e2e.truth).items() if window[0] <= d < window[1]}
    # the synthetic data has patches on (nearly) every day of the window: a quiet day of a
    # small seed is possible, and lands as an empty day
    assert len(truth_days) >= BACKFILL_DAYS - 2 and all(truth_days.values()), truth_days
    landed = dict(
        e2e.rows(
            "select partition_date, count(*) from {s}.raw_patches "
            "where partition_date >= %s and partition_date < %s group by 1",
            window,
        )
    )
    assert landed == truth_days
    ids = {
        r[0]
        for r in e2e.rows(
            "select patch_id from {s}.raw_patches "
            "where partition_date >= %s and partition_date < %s",
            window,
        )
    }
    assert ids == {
        P("patch", p.patch_id)
        for p in e2e.truth.patches
        if window[0] <= paris_day(p.date) < window[1]
    }

    expected = Counter(
        (name, paris_day(p.date))
        for p in e2e.truth.patches
        for name in expected_events(p)
        if window[0] <= paris_day(p.date) < window[1]
    )
    events = Counter(
        {
            (name, day): n
            for name, day, n in e2e.rows(
                "select event_name, partition_date, count(*) from {s}.reconstructed_events "
                "where partition_date >= %s and partition_date < %s group by 1, 2",
                window,
            )
        }
    )
    assert events == expected
    assert {day for _, day in events} == set(truth_days)
    enriched = dict(
        e2e.rows(
            "select partition_date, count(*) from {s}.enriched_events "
            "where partition_date >= %s and partition_date < %s group by 1",
            window,
        )
    )
    assert set(enriched) == set(truth_days)


def test_nightly_schedule_materialises_yesterday(e2e):
    yesterday = e2e.yesterday.isoformat()

    def nightly_success():
        runs = e2e.runs({"snu/trigger": "nightly", "dagster/partition": yesterday})
        return [r for r in runs if r["status"] == "SUCCESS"]

    runs = e2e.dev.wait_for(
        f"a successful nightly run for {yesterday}", nightly_success, timeout=420
    )
    assert all(r["jobName"] == "daily_layers" for r in runs)
    assert runs[0]["tags"].get("dagster/schedule_name") == "nightly_schedule"
    nightly = e2e.runs({"snu/trigger": "nightly"})
    e2e.timings["nightly_partitions"] = sorted(r["tags"]["dagster/partition"] for r in nightly)
    assert not [r for r in nightly if r["status"] in ("FAILURE", "CANCELED")], e2e.fail(
        "a nightly run failed", nightly
    )
    # yesterday plus only catch-up days of the previous week. Yesterday is requested again at
    # every tick: Dagster dedupes a schedule's run_key only within one scheduled execution
    # time, so with this every-minute cron it may have several nightly runs.
    week_ago = (e2e.yesterday - timedelta(days=6)).isoformat()
    assert all(week_ago <= r["tags"]["dagster/partition"] <= yesterday for r in nightly)
    landed = e2e.rows(
        "select count(*) from {s}.raw_patches where partition_date = %s", (e2e.yesterday,)
    )[0][0]
    assert landed == _truth_by_day(e2e.truth)[e2e.yesterday] > 0


def test_same_backfill_again_changes_nothing(e2e):
    # every first materialisation (nightly catch-up, weekly views) done before the snapshot
    e2e.wait_idle(timeout=300)
    before = e2e.snapshot()
    assert all(before[t] for t in ("raw_patches", "reconstructed_events", "enriched_events"))
    began = time.monotonic()
    backfill_id = e2e.launch_backfill(e2e.backfill_days)
    backfill = e2e.wait_backfill(backfill_id, timeout=420)
    e2e.timings["backfill_2_s"] = round(time.monotonic() - began, 1)
    runs = e2e.runs({"dagster/backfill": backfill_id})
    assert backfill["status"] in ("COMPLETED_SUCCESS", "COMPLETED"), e2e.fail(str(backfill), runs)
    assert len(runs) == math.ceil(BACKFILL_DAYS / DAYS_PER_RUN)
    assert all(r["status"] == "SUCCESS" for r in runs), e2e.fail(str(runs), runs)
    after = e2e.snapshot()
    for table in DAILY_TABLES:
        assert after[table] == before[table], f"{table} changed when the backfill was re-run"


def test_late_patches_are_picked_up_by_the_sensor(e2e):
    day = e2e.start + timedelta(days=1)  # materialised by the backfill
    # the sensor watches _ids above the cursor it set on its first tick: wait for that tick
    e2e.dev.wait_for(
        "a first tick of late_patches_sensor",
        lambda: [t for t in e2e.sensor_ticks("late_patches_sensor") if t["cursor"]],
        timeout=60,
    )
    before = {r["runId"] for r in e2e.runs({"snu/trigger": "late-data"})}
    young = next(
        p.ref for p in e2e.truth.patches if p.model == "young" and p.ref in e2e.truth.young_ids
    )
    noon = datetime.combine(day, dtime(12), tzinfo=settings.timezone())
    late = [ObjectId(), ObjectId()]
    e2e.mongo.db()["young_patches"].insert_many(
        [
            {
                "_id": oid,
                "ref": ObjectId(young),
                "modelName": "young",
                "date": noon + timedelta(minutes=n),
                "ops": [
                    {
                        "op": "replace",
                        "path": "/statusPhase1",
                        "value": "AFFECTED",
                        "originalValue": "WAITING_AFFECTATION",
                    }
                ],
            }
            for n, oid in enumerate(late)
        ]
    )
    inserted = time.monotonic()

    def late_run_done():
        runs = [
            r
            for r in e2e.runs({"snu/trigger": "late-data", "dagster/partition": day.isoformat()})
            if r["runId"] not in before
        ]
        assert not [r for r in runs if r["status"] in ("FAILURE", "CANCELED")], e2e.fail(
            "a late-data run failed", runs
        )
        return [r for r in runs if r["status"] == "SUCCESS"]

    runs = e2e.dev.wait_for(f"a successful late-data run for {day}", late_run_done, timeout=420)
    e2e.timings["late_data_s"] = round(time.monotonic() - inserted, 1)
    e2e.timings["late_data_reason"] = runs[0]["tags"]["snu/late-reason"]
    assert runs[0]["tags"]["snu/late-reason"] in ("new patches", "count differs")
    assert runs[0]["tags"].get("dagster/sensor_name") == "late_patches_sensor"
    wanted = {P("patch", str(oid)) for oid in late}
    found = e2e.rows(
        "select patch_id, partition_date, young_id from {s}.raw_patches where patch_id = any(%s)",
        (list(wanted),),
    )
    assert {r[0] for r in found} == wanted
    assert {(r[1], r[2]) for r in found} == {(day, P("young", young))}
    landed = e2e.rows("select count(*) from {s}.raw_patches where partition_date = %s", (day,))[0][
        0
    ]
    assert landed == _truth_by_day(e2e.truth)[day] + len(late)


def test_weekly_views_follow_a_complete_week(e2e):
    week = e2e.start.isoformat()  # its seven days were in the backfill

    def weekly_done():
        runs = e2e.runs({"snu/trigger": "weekly-views", "dagster/partition": week})
        assert not [r for r in runs if r["status"] in ("FAILURE", "CANCELED")], e2e.fail(
            "a weekly_views run failed", runs
        )
        return [r for r in runs if r["status"] == "SUCCESS"]

    runs = e2e.dev.wait_for(f"a successful weekly_views run for {week}", weekly_done, timeout=420)
    assert all(r["jobName"] == "weekly_views" for r in runs)
    created = sum(
        1
        for p in e2e.truth.patches
        if p.model == "young"
        and p.is_creation
        and e2e.start <= paris_day(p.date) < e2e.start + timedelta(days=7)
    )
    found = e2e.rows(
        "select count(*), sum(created) from {s}.weekly_funnel_national where week = %s",
        (e2e.start,),
    )[0]
    assert found[0] > 0 and found[1] == created > 0
    # no half week: the current week never got a weekly run
    all_weekly = e2e.runs({"snu/trigger": "weekly-views"})
    assert all(
        r["tags"]["dagster/partition"] <= (e2e.yesterday - timedelta(days=6)).isoformat()
        for r in all_weekly
    )
    e2e.timings["weekly_runs"] = len(all_weekly)
    e2e.wait_idle(timeout=240)
    failed = e2e.runs(statuses=["FAILURE", "CANCELED"])
    assert not failed, e2e.fail("runs failed", failed)
