"""Issue #11, item 3: runs can always be stopped, on both PostgreSQL servers.

A day is materialised once (the previous content; a few of its rows are then deleted, so that
a load that went through would show), then loaded again and frozen at a known point of
``PostgresResource.replace_slices`` (``run_partition.py``'s hooks): in the ``COPY`` into the
staging table while MongoDB is still read (read-ahead thread running), in the swap holding
the advisory locks (window deleted, new rows inserted, not committed), or blocked in the
server on an advisory lock another session holds (a wait inside a C call). Then:

a. SIGTERM to the step process (here ``run_partition.py``, which runs the step in process):
   the process exits by itself within 30 s;
b. the run terminated as the UI's Terminate button does (GraphQL ``terminateRun`` against a
   workspace whose code server, run worker and step process are real processes): the run
   ends CANCELED within 30 s;
c. the run's ``dagster/max_runtime`` tag set to a few seconds: run monitoring's own iteration
   (what the daemon's monitoring thread runs) fails it; no run is left in flight, the pool
   slot is free, and the failure sensor reports the run, its partition and the ceiling.

Each time: the step process is gone, PostgreSQL has no backend, advisory lock or open
transaction of it left (temporary staging tables die with their session), the tables hold
exactly the previous content, and the step was not retried.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import time
from pathlib import Path

import psycopg
import pytest
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterRunStatus,
    RunsFilter,
    build_run_status_sensor_context,
)

from snu_assets import settings
from snu_assets_tests.conftest import TEST_KEY
from snu_assets_tests.reliability.helpers import (
    STEP_TABLES,
    child_command,
    drop_schema,
    fetch,
    read_json,
    reap,
    resources_for,
    run_daily,
    run_sql,
    snapshot,
    spawn,
    unique,
    wait_for,
)

HELD_LOCATION = Path(__file__).with_name("held_location.py")
STOP_CEILING_S = 30  # the promise
REACH_CEILING_S = 180  # a quiet run reaches its hold point in a few seconds; the host is busy
HOLD_AFTER = 20
MAX_RUNTIME_S = 5
SWAPPED = STEP_TABLES["extract_and_reconstruct"]
TIMINGS: dict[str, float] = {}
REPORTS: list = []  # what the failure sensor handed to the notifier (SNU_FAILURE_NOTIFIER)


def collect_report(report) -> None:
    """The notifier of the failure sensor in these tests."""
    REPORTS.append(report)


def server_name(url: str) -> str:
    return "system" if "127.0.0.1:5432" in url else "embedded"


# ------------------------------------------------------------------------------ fixtures


class Loaded:
    """A schema whose busiest day holds a known previous content."""

    def __init__(self, source, url: str):
        self.source, self.url = source, url
        self.schema = unique("snu_term")
        self.day = source.busiest(1)[0].isoformat()
        resources = resources_for(source.mongo, url, self.schema)
        # the content matters here, not the checks (whose rules other work may be changing)
        run_daily(resources, self.day, raise_on_error=False)
        resources["postgres"].teardown_after_execution(None)
        # rows a finished re-run would bring back: the previous content is told apart
        for table in ("raw_patches", "reconstructed_events"):
            run_sql(
                url,
                f'delete from "{self.schema}".{table} where ctid in (select ctid from '
                f'"{self.schema}".{table} where partition_date = %s limit 3)',
                (self.day,),
            )
        self.previous = snapshot(url, self.schema)
        assert len(self.previous["reconstructed_events"]) > 2 * HOLD_AFTER
        assert self.previous["raw_patches"] and self.previous["enriched_events"]

    def qualified(self, table: str) -> str:
        return f'"{self.schema}"."{table}"'

    def assert_clean(self, backends: list[int], what: str) -> float:
        """The stopped step's sessions are gone and left nothing behind; the tables hold the
        previous content. Returns how long PostgreSQL took to see the sessions end."""
        began = time.monotonic()
        wait_for(
            lambda: (
                not fetch(
                    self.url, "select 1 from pg_stat_activity where pid = any(%s)", (backends,)
                )
            ),
            STOP_CEILING_S,
            f"the backends of {what} to end",
        )
        gone = time.monotonic() - began
        assert fetch(
            self.url, "select count(*) from pg_locks where pid = any(%s)", (backends,)
        ) == [(0,)]
        for table in SWAPPED:  # nobody holds the swap's advisory locks
            assert fetch(
                self.url,
                "select pg_try_advisory_lock(hashtext(%s)), pg_advisory_unlock(hashtext(%s))",
                (self.qualified(table),) * 2,
            ) == [(True, True)], table
        assert fetch(
            self.url,
            "select count(*) from pg_stat_activity where state like "
            "'idle in transaction%%' and query like %s",
            (f'%"{self.schema}"%',),
        ) == [(0,)]
        assert snapshot(self.url, self.schema) == self.previous, (
            f"{what}: the partition lost its previous content"
        )
        return gone


@pytest.fixture(scope="module")
def loaded(source, postgres_url):
    state = Loaded(source, postgres_url)
    yield state
    drop_schema(postgres_url, state.schema)


@pytest.fixture(scope="module", autouse=True)
def print_timings():
    yield
    print("\nTERMINATION timings (s): " + ", ".join(f"{k} {v:.2f}" for k, v in TIMINGS.items()))


def process_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


# ------------------------------------------------------------- a. SIGTERM to the step


def blocked_behind(url: str, holder_pid: int) -> list[int]:
    return [
        r[0]
        for r in fetch(
            url,
            "select pid from pg_stat_activity where %s = any(pg_blocking_pids(pid))",
            (holder_pid,),
        )
    ]


@pytest.mark.parametrize("where", ["copy", "swap", "lock-wait"])
def test_sigterm_stops_the_step_process_wherever_it_is(where, loaded, tmp_path):
    url, source = loaded.url, loaded.source
    if where == "copy" and server_name(url) == "system":
        pytest.skip(
            "mid-COPY runs on the embedded server; the system one runs the swap and "
            "the lock wait (the suite stays short)"
        )
    marker, result, log = tmp_path / "marker.json", tmp_path / "result.json", tmp_path / "child.log"
    holder = None
    if where == "lock-wait":  # another session holds the first lock of the swap
        holder = psycopg.connect(url, autocommit=True)
        holder.execute("select pg_advisory_lock(hashtext(%s))", (loaded.qualified("raw_patches"),))
        options = {}
    elif where == "copy":  # mid-COPY of the events, MongoDB still read ahead
        options = {
            "hold_table": "reconstructed_events",
            "hold_phase": "copy",
            "hold_after": HOLD_AFTER,
            "marker": marker,
        }
    else:  # window deleted and new rows inserted, advisory locks held, not committed
        options = {"hold_table": "raw_patches", "hold_phase": "swap", "marker": marker}
    proc = spawn(
        child_command(
            source.mongo.uri,
            source.mongo.database,
            url,
            loaded.schema,
            loaded.day,
            result=result,
            **options,
        ),
        log,
    )
    try:
        if holder is not None:
            backends = wait_for(
                lambda: blocked_behind(url, holder.pgconn.backend_pid) or proc.poll() is not None,
                REACH_CEILING_S,
                "the step to wait for the advisory lock",
            )
        else:
            info = wait_for(
                lambda: read_json(marker) or proc.poll() is not None,
                REACH_CEILING_S,
                "the step to reach its hold point",
            )
            backends = info["backends"] if isinstance(info, dict) else info
        assert isinstance(backends, list) and backends, (
            f"the child ended early:\n{log.read_text()[-3000:]}"
        )
        if where == "swap":  # really holding the locks
            assert fetch(
                url,
                "select pg_try_advisory_xact_lock(hashtext(%s))",
                (loaded.qualified("raw_patches"),),
            ) == [(False,)]

        sent = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        try:
            code = proc.wait(STOP_CEILING_S)
        except Exception:
            raise AssertionError(
                f"SIGTERM did not stop the step within {STOP_CEILING_S}s "
                f"({where}):\n{log.read_text()[-3000:]}"
            ) from None
        stopped = time.monotonic() - sent
    finally:
        reap(proc)
        if holder is not None:
            holder.close()
    # a clean exit of a failed run: the interrupt was handled, not a kill by the signal
    assert code == 1, f"exit {code}:\n{log.read_text()[-3000:]}"
    outcome = read_json(result)
    assert outcome and not outcome["success"]
    assert len(outcome["failures"]) == 1 and "was interrupted" in outcome["failures"][0], outcome
    gone = loaded.assert_clean(backends, f"the SIGTERMed step ({where})")
    TIMINGS[f"{server_name(url)} sigterm {where}"] = stopped
    print(
        f"\nTERMINATION sigterm {where} on {server_name(url)}: exited {stopped:.2f}s after "
        f"SIGTERM, backends {backends} gone {gone:.2f}s later"
    )


# ----------------------------------------------------- b, c. real runs through Dagster


TERMINATE = """
mutation Terminate($runId: String!) {
  terminateRun(runId: $runId, terminatePolicy: SAFE_TERMINATE) {
    __typename
    ... on TerminateRunSuccess { run { runId } }
    ... on TerminateRunFailure { message }
    ... on PythonError { message stack }
  }
}"""


class Site:
    """A Dagster instance of its own (temporary, run monitoring on, pool limits on) and a
    workspace whose code location (``held_location.py``) is served by a code server process:
    runs go code server → run worker → step process, as in ``dagster dev``."""

    def __init__(self, loaded: Loaded, root: Path):
        from dagster._core.test_utils import instance_for_test
        from dagster_graphql.test.utils import define_out_of_process_context

        self.loaded, self.root = loaded, root
        self.marker = root / "marker.json"
        env = {
            "SNU_MONGO_URI": loaded.source.mongo.uri,
            "SNU_MONGO_DB": loaded.source.mongo.database,
            "SNU_POSTGRES_URL": loaded.url,
            "SNU_POSTGRES_SCHEMA": loaded.schema,
            "SNU_PSEUDONYM_KEY": TEST_KEY,
            "SNU_TEST_HOLD_TABLE": "reconstructed_events",
            "SNU_TEST_HOLD_PHASE": "copy",
            "SNU_TEST_HOLD_AFTER": str(HOLD_AFTER),
            "SNU_TEST_HOLD_MARKER": str(self.marker),
            "SNU_FAILURE_NOTIFIER": f"{__name__}:collect_report",
        }
        self.saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)  # inherited by the code server and the processes it starts
        settings.reload()  # the failure sensor, evaluated here, reads the notifier setting
        self.stack = []
        (root / "home").mkdir()
        instance_cm = instance_for_test(
            temp_dir=str(root / "home"),
            overrides={
                "run_monitoring": {
                    "enabled": True,
                    "start_timeout_seconds": 180,
                    "cancel_timeout_seconds": 60,
                    "max_runtime_seconds": 0,
                    "poll_interval_seconds": 1,
                    "max_resume_run_attempts": 0,
                },
                "concurrency": {"pools": {"default_limit": 2}},
                # runs launched at once (no queue daemon here); termination is the launcher's
                "run_coordinator": {
                    "module": "dagster._core.run_coordinator",
                    "class": "DefaultRunCoordinator",
                },
            },
        )
        self.instance = instance_cm.__enter__()
        self.stack.append(instance_cm)
        context_cm = define_out_of_process_context(str(HELD_LOCATION), "defs", self.instance)
        self.context = context_cm.__enter__()
        self.stack.append(context_cm)

    def close(self) -> None:
        """Stop what a failed test left running (the code server waits for its runs), then
        the code server and the instance."""
        for run in self.instance.get_runs(
            RunsFilter(
                statuses=[
                    DagsterRunStatus.STARTING,
                    DagsterRunStatus.STARTED,
                    DagsterRunStatus.CANCELING,
                ]
            )
        ):
            with contextlib.suppress(Exception):
                self.instance.run_launcher.terminate(run.run_id)
            with contextlib.suppress(AssertionError):
                self.wait_finished(run.run_id, STOP_CEILING_S)
            for pid in self.worker_pids(run.run_id):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        for cm in reversed(self.stack):
            cm.__exit__(None, None, None)
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        settings.reload()

    def graphql(self, query: str, variables: dict) -> dict:
        from dagster_graphql.test.utils import execute_dagster_graphql

        result = execute_dagster_graphql(self.context, query, variables)
        assert not result.errors, result.errors
        return result.data

    def launch(self, tags: dict[str, str]) -> str:
        """Launch the daily job for the day, as the launchpad does; returns the run id."""
        from dagster_graphql.client.query import LAUNCH_PIPELINE_EXECUTION_MUTATION
        from dagster_graphql.test.utils import infer_job_selector

        self.marker.unlink(missing_ok=True)
        all_tags = {"dagster/partition": self.loaded.day, **tags}
        data = self.graphql(
            LAUNCH_PIPELINE_EXECUTION_MUTATION,
            {
                "executionParams": {
                    "selector": infer_job_selector(self.context, "daily_layers"),
                    "executionMetadata": {
                        "tags": [{"key": k, "value": v} for k, v in all_tags.items()]
                    },
                }
            },
        )["launchPipelineExecution"]
        assert data["__typename"] == "LaunchRunSuccess", data
        return data["run"]["runId"]

    def run(self, run_id: str):
        return self.instance.get_run_by_id(run_id)

    def wait_held(self, run_id: str) -> dict:
        def held():
            if self.run(run_id).is_finished:
                return "finished"
            return read_json(self.marker)

        info = wait_for(held, REACH_CEILING_S, "the run's step to reach its hold point", 0.2)
        assert isinstance(info, dict), self.failure_text(run_id)
        return info

    def wait_finished(self, run_id: str, timeout: float, tick=None):
        def finished():
            if tick is not None:
                tick()
            run = self.run(run_id)
            return run if run.is_finished else None

        return wait_for(finished, timeout, f"run {run_id} to finish", 0.2)

    def failure_text(self, run_id: str) -> str:
        lines = [f"run {run_id}: {self.run(run_id).status}"]
        for entry in self.instance.all_logs(run_id):
            event = entry.dagster_event
            if event is not None and (
                event.is_failure
                or event.event_type in (DagsterEventType.ENGINE_EVENT, DagsterEventType.RUN_FAILURE)
            ):
                lines.append(f"{event.event_type_value}: {event.message}")
        return "\n".join(lines)

    def worker_pids(self, run_id: str) -> list[int]:
        """The run worker's and the step processes' pids, from the run's events."""
        pids = []
        for entry in self.instance.all_logs(run_id):
            event = entry.dagster_event
            found = (
                re.search(r"Started process for run \(pid: (\d+)\)", event.message or "")
                if event is not None
                else None
            )
            if found:
                pids.append(int(found.group(1)))
            if event is not None and event.event_type == DagsterEventType.STEP_WORKER_STARTED:
                pid = event.event_specific_data.metadata.get("pid")
                if pid is not None:
                    pids.append(int(pid.value))
        return pids

    def step_events(self, run_id: str) -> list[str]:
        return [
            e.dagster_event.event_type_value
            for e in self.instance.all_logs(run_id)
            if e.dagster_event is not None and e.dagster_event.step_key
        ]


@pytest.fixture(scope="module")
def site(loaded, tmp_path_factory):
    state = Site(loaded, tmp_path_factory.mktemp("termination"))
    try:
        yield state
    finally:
        state.close()


def assert_step_not_retried(site: Site, run_id: str) -> None:
    events = site.step_events(run_id)
    assert "STEP_UP_FOR_RETRY" not in events and events.count("STEP_START") == 1, events


def test_terminating_a_run_cancels_it_and_keeps_the_partition(site):
    run_id = site.launch({})
    assert site.run(run_id).tags.get("dagster/max_runtime") == "14400"  # the job's ceiling
    info = site.wait_held(run_id)
    sent = time.monotonic()
    data = site.graphql(TERMINATE, {"runId": run_id})["terminateRun"]
    assert data["__typename"] == "TerminateRunSuccess", data
    run = site.wait_finished(run_id, STOP_CEILING_S)
    stopped = time.monotonic() - sent
    assert run.status == DagsterRunStatus.CANCELED, site.failure_text(run_id)
    wait_for(lambda: process_gone(info["pid"]), STOP_CEILING_S, "the step process to exit")
    exited = time.monotonic() - sent
    assert_step_not_retried(site, run_id)
    gone = site.loaded.assert_clean(info["backends"], "the terminated run")
    TIMINGS[f"{server_name(site.loaded.url)} terminate"] = exited
    print(
        f"\nTERMINATION terminateRun on {server_name(site.loaded.url)}: CANCELED "
        f"{stopped:.2f}s after the request, step process gone after {exited:.2f}s; "
        f"backends gone {gone:.2f}s later"
    )


def test_a_run_past_its_max_runtime_fails_and_is_named(site):
    from dagster._daemon.monitoring.run_monitoring import execute_run_monitoring_iteration

    from snu_assets.defs.automation.sensors import failed_runs_sensor

    instance, logger = site.instance, logging.getLogger("run-monitoring-test")
    run_id = site.launch({"dagster/max_runtime": str(MAX_RUNTIME_S)})
    info = site.wait_held(run_id)
    assert site.run(run_id).status == DagsterRunStatus.STARTED
    # the held step occupies a slot of the mongodb pool
    assert instance.event_log_storage.get_concurrency_info("mongodb").active_run_ids == {run_id}

    def monitor():  # one pass of the daemon's run-monitoring thread
        for error in execute_run_monitoring_iteration(site.context.process_context, logger):
            assert error is None, error

    began = time.monotonic()
    run = site.wait_finished(run_id, MAX_RUNTIME_S + STOP_CEILING_S, tick=monitor)
    assert run.status == DagsterRunStatus.FAILURE, site.failure_text(run_id)
    record = instance.get_run_record_by_id(run_id)
    assert record.end_time - record.start_time >= MAX_RUNTIME_S
    wait_for(lambda: process_gone(info["pid"]), STOP_CEILING_S, "the step process to exit")
    ended = time.monotonic() - began  # from the hold (past the ceiling) to the process gone
    # its slots are free: no run in flight, no claimed slot of the mongodb pool
    assert not instance.get_runs(
        RunsFilter(
            statuses=[
                DagsterRunStatus.STARTED,
                DagsterRunStatus.STARTING,
                DagsterRunStatus.CANCELING,
            ]
        )
    )
    pool = instance.event_log_storage.get_concurrency_info("mongodb")
    assert pool.active_slot_count == 0 and pool.pending_step_count == 0, pool
    assert_step_not_retried(site, run_id)
    site.loaded.assert_clean(info["backends"], "the timed-out run")

    # the failure sensor names the run, its partition and the ceiling
    failure = instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)
    assert failure, site.failure_text(run_id)
    REPORTS.clear()
    context = build_run_status_sensor_context(
        sensor_name=failed_runs_sensor.name,
        dagster_event=failure[-1].dagster_event,
        dagster_instance=instance,
        dagster_run=run,
    ).for_run_failure()
    failed_runs_sensor(context)
    assert len(REPORTS) == 1, REPORTS
    report = REPORTS[0]
    assert (report.run_id, report.partitions, report.max_runtime_s) == (
        run_id,
        site.loaded.day,
        MAX_RUNTIME_S,
    )
    assert f"exceeded the maximum runtime of {MAX_RUNTIME_S} s" in report.message
    observed = instance.fetch_observations(AssetKey("raw_patches"), limit=5).records
    metadata = [r.asset_observation.metadata for r in observed]
    assert any(
        m["exécution_en_échec"].value == run_id
        and f"maximum runtime of {MAX_RUNTIME_S} s" in m["échec"].value
        for m in metadata
    )
    TIMINGS[f"{server_name(site.loaded.url)} max-runtime"] = ended
    print(
        f"\nTERMINATION max runtime {MAX_RUNTIME_S}s on {server_name(site.loaded.url)}: "
        f"FAILURE, step process gone {ended:.2f}s after the hold; sensor: {report.message}"
    )
