"""Issue 22 acceptance: Celery workers that behave like production services.

The workers of the lab are started by the project's worker command
(``python -m snu_assets.defs.automation.distributed worker``, which ``exec``s Celery with its
``threads`` pool), each in its network namespace and in a mount namespace where the code
location's ``DAGSTER_HOME`` is an empty tmpfs (another disk), with a ``DAGSTER_HOME`` of its
own. The instance's compute logs go to a shared folder (``compute_logs`` in the lab's
``dagster.yaml``, the shared volume of ``deploy/``).

1. Graceful stop: SIGTERM, twice, to the process group of the worker running a
   MongoDB-reading step: the worker finishes that step (warm shutdown), takes no other and
   exits 0, leaving no process behind; every run succeeds and the tables are identical to the
   single-process run.
2. The worker command as PID 1 of a PID namespace (a container without an init) exits within
   30 s of SIGTERM.
3. Two workers, the daemon and the webserver started at once on an empty instance database
   all come up: Dagster's tables are created once, under the storage's advisory lock (held
   by the test at first, to see all of them wait for it).
4. The compute logs of a step run on a worker, which cannot write under the code location's
   ``DAGSTER_HOME``, are read through the webserver (GraphQL ``capturedLogs``, what the UI's
   step log view calls).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
import requests

from snu_assets.ops.instance_storage import CREATION_LOCK
from snu_assets_tests.distributed.conftest import DAILY_TABLES, snapshot
from snu_assets_tests.distributed.lab import BIN, PG_ADMIN, Worker, _group_kill, _ip
from snu_assets_tests.distributed.test_celery_backfill import (
    EXTRACT,
    PASSES,
    backfill_runs,
    check_backfill,
    empty_tables,
    launch_backfill,
    wait_backfill,
    worker_logs,
)
from snu_assets_tests.e2e.dagster_dev import free_port

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(1800)]

LOGS_FOR_RUN = """
query Logs($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection { events { __typename ... on LogsCapturedEvent { fileKey stepKeys } } }
  }
}
"""
CAPTURED_LOGS = """
query Captured($logKey: [String!]!) { capturedLogs(logKey: $logKey) { stdout stderr } }
"""


def _pids_in(netns: str) -> list[int]:
    return [int(p) for p in _ip("netns", "pids", netns, check=False).stdout.split()]


def _wait(what: str, probe, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def test_sigterm_to_worker_group_mid_step_finishes_the_step(lab):
    empty_tables(lab)
    began = time.monotonic()
    backfill_id = launch_backfill(lab, lab.days, PASSES[0])

    def started():
        runs = {r["runId"] for r in backfill_runs(lab, backfill_id)}
        return next((s[0] for s in lab.step_intervals(EXTRACT) if s[0] in runs), None)

    victim_run = lab.dev.wait_for("an extract step to start", started, 300, interval=0.3)
    victim_name = next(
        name for run, step, name in lab.step_executions() if run == victim_run and step == EXTRACT
    )
    victim = next(w for w in lab.workers if w.name == victim_name)
    taken_before = sum(1 for *_, name in lab.step_executions() if name == victim_name)
    # what systemd (KillMode=control-group), `kill -- -pgid` or an init forwarding to the
    # group do: SIGTERM to every process of the worker; then a second one, as an impatient
    # operator or a supervisor would
    os.killpg(victim.proc.pid, signal.SIGTERM)
    time.sleep(1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(victim.proc.pid, signal.SIGTERM)
    finished = [s for s in lab.step_intervals(EXTRACT) if s[0] == victim_run and s[2] is not None]
    assert not finished, "the step ended before the signal: seed more data (SNU_DIST_TEST_YOUNGS)"

    # warm shutdown: the worker finishes its step, then exits cleanly, leaving nothing behind
    try:
        code = victim.proc.wait(timeout=900)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the worker did not stop\n{worker_logs(lab)}") from None
    lab.timings["sigterm_to_exit_s"] = round(time.monotonic() - began, 1)
    assert code == 0, worker_logs(lab)
    assert _pids_in(victim.netns) == [], "processes of the stopped worker are left behind"
    # it took no other step once signalled (its "Warm shutdown" line is not asserted: printed
    # while the step's compute log capture holds the process's stdout, it is in that log)
    taken_after = sum(1 for *_, name in lab.step_executions() if name == victim_name)
    assert taken_after == taken_before, (taken_before, taken_after)

    backfill = wait_backfill(lab, backfill_id)
    check_backfill(lab, backfill_id, backfill)
    second = launch_backfill(lab, lab.days, PASSES[1])
    check_backfill(lab, second, wait_backfill(lab, second))
    lab.timings["backfill_with_sigterm_s"] = round(time.monotonic() - began, 1)

    # the step ran once, where it started, and succeeded: finished, not interrupted
    takers = [n for run, step, n in lab.step_executions() if run == victim_run and step == EXTRACT]
    assert takers == [victim_name], takers
    spans = [s for s in lab.step_intervals(EXTRACT) if s[0] == victim_run]
    assert len(spans) == 1 and spans[0][2] is not None, spans
    failures = lab.events(
        "select count(*) from event_logs where run_id = %s and dagster_event_type = 'STEP_FAILURE'",
        (victim_run,),
    )
    assert failures == [(0,)]

    got = snapshot(lab.postgres)
    for table in DAILY_TABLES:
        assert got[table] == lab.reference[table], f"{table} differs after the SIGTERM"

    lab.start_worker(victim)
    lab.wait_worker_ready(victim)


def test_step_logs_readable_through_the_webserver(lab):
    """A step run on a worker whose disk is not the code location's: its stdout/stderr are
    in the shared compute log folder and the webserver serves them."""
    days = lab.days[: lab.days_per_run]
    backfill_id = launch_backfill(lab, days, PASSES[1])
    backfill = wait_backfill(lab, backfill_id)
    runs = backfill_runs(lab, backfill_id)
    assert [r["status"] for r in runs] == ["SUCCESS"], (backfill, runs, worker_logs(lab))
    run_id = runs[0]["runId"]
    taken = [n for run, step, n in lab.step_executions() if run == run_id]
    assert taken and set(taken) <= {w.name for w in lab.workers}, taken

    events = lab.dev.graphql(LOGS_FOR_RUN, {"runId": run_id})["logsForRun"]["events"]
    captured = [e for e in events if e["__typename"] == "LogsCapturedEvent"]
    assert [e["stepKeys"] for e in captured] == [["enriched_events"]], captured
    logs = lab.dev.graphql(
        CAPTURED_LOGS, {"logKey": [run_id, "compute_logs", captured[0]["fileKey"]]}
    )["capturedLogs"]
    text = (logs["stdout"] or "") + (logs["stderr"] or "")
    files = sorted(str(p.relative_to(lab.compute_logs)) for p in lab.compute_logs.rglob("*.*"))
    assert "enriched_events" in text and run_id[:8] in text, (logs, captured, run_id, files)
    # written by the worker to the shared folder, not under the code location's DAGSTER_HOME
    assert list((lab.compute_logs / run_id).rglob("*.err")), list(lab.compute_logs.rglob("*"))
    assert not (lab.home / "storage" / run_id).exists()


def test_worker_as_pid1_stops_within_30s(lab):
    """The worker command as PID 1 of its own PID namespace (a container without an init)."""
    host = lab.workers[0]
    worker = Worker(
        index=len(lab.workers) + 1,
        netns=host.netns,
        address=host.address,
        name=f"snu{lab.tag}pid1",
        log=lab.root / "worker-pid1.log",
    )
    proc = subprocess.Popen(
        lab.worker_argv(worker, pid_namespace=True),
        env=lab.worker_env(worker),
        stdout=open(worker.log, "ab"),  # noqa: SIM115 (the child holds it)
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=lab.root,
    )
    worker.proc = proc
    try:
        lab.wait_worker_ready(worker)
        # proc is `unshare --fork`; its child is PID 1 of the new namespace: the worker
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(children) == 1, children
        pid1 = int(children[0])
        status = Path(f"/proc/{pid1}/status").read_text()
        assert re.search(r"^NSpid:\s+\d+\s+1$", status, re.M), status
        assert "celery" in Path(f"/proc/{pid1}/cmdline").read_bytes().decode(errors="replace")
        signalled = time.monotonic()
        os.kill(pid1, signal.SIGTERM)  # what the container runtime / the kubelet sends
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                "the worker as PID 1 was still running 30 s after SIGTERM\n"
                + worker.log.read_text(errors="replace")[-3000:]
            ) from None
        lab.timings["pid1_sigterm_to_exit_s"] = round(time.monotonic() - signalled, 1)
        assert code == 0, worker.log.read_text(errors="replace")[-3000:]
        assert "Warm shutdown" in worker.log.read_text(errors="replace")
    finally:
        _group_kill(proc)
    assert host.alive  # the lab's worker of that namespace was not touched


def _daemon_types(url: str) -> set[str]:
    with contextlib.suppress(psycopg.Error), psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("select daemon_type from daemon_heartbeats")}
    return set()


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("select tablename from pg_tables where schemaname = 'public'")
        return {r[0] for r in rows}


def _lock_waiters(database: str) -> int:
    with psycopg.connect(PG_ADMIN) as conn:
        return conn.execute(
            "select count(*) from pg_locks l join pg_database d on d.oid = l.database "
            "where l.locktype = 'advisory' and not l.granted and l.objid = %s "
            "and d.datname = %s",
            (CREATION_LOCK, database),
        ).fetchone()[0]


def _webserver_up(port: int) -> bool:
    with contextlib.suppress(requests.RequestException):
        return requests.get(f"http://127.0.0.1:{port}/server_info", timeout=5).status_code == 200
    return False


@pytest.mark.parametrize("hold_lock", [True, False], ids=["lock-held-first", "free-start"])
def test_workers_daemon_webserver_start_together_on_new_instance_db(lab, hold_lock):
    database = f"dagster_start_{lab.tag}_{int(hold_lock)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'create database "{database}"')
    lab.created.append(("database", database))
    admin_url = f"postgresql://postgres@127.0.0.1:5432/{database}"
    home = lab.root / f"{database}_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((lab.home / "dagster.yaml").read_text())
    url = f"postgresql+psycopg2://postgres@{lab.host_ip}:5432/{database}"
    env = {**lab.env(), "DAGSTER_HOME": str(home), "SNU_DAGSTER_POSTGRES_URL": url}

    holder = psycopg.connect(admin_url, autocommit=True)
    if hold_lock:
        holder.execute("select pg_advisory_lock(%s)", (CREATION_LOCK,))
    procs: dict[str, subprocess.Popen] = {}
    workers = [
        Worker(
            index=10 + w.index + 2 * int(hold_lock),
            netns=w.netns,
            address=w.address,
            name=f"snu{lab.tag}s{int(hold_lock)}w{w.index}",
            log=lab.root / f"{database}-worker{w.index}.log",
        )
        for w in lab.workers
    ]
    port = free_port()
    commands = {
        **{
            w.name: (lab.worker_argv(w), {**lab.worker_env(w), **env, "DAGSTER_HOME": str(home)})
            for w in workers
        },
        "daemon": (
            [str(BIN / "dagster-daemon"), "run", "-w", str(lab.root / "workspace.yaml")],
            env,
        ),
        "webserver": (
            [str(BIN / "dagster-webserver"), "-w", str(lab.root / "workspace.yaml")]
            + ["-h", "127.0.0.1", "-p", str(port)],
            env,
        ),
    }
    logs = {name: lab.root / f"{database}-{name}.log" for name in commands}
    for w in workers:
        logs[w.name] = w.log

    def tails() -> str:
        return "\n".join(
            f"--- {p} ---\n{p.read_text(errors='replace')[-2000:]}" for p in logs.values()
        )

    try:
        for name, (cmd, cmd_env) in commands.items():  # all at once
            out = open(logs[name], "ab")  # noqa: SIM115
            procs[name] = subprocess.Popen(
                cmd,
                env=cmd_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=lab.root,
            )
            out.close()
        for w in workers:
            w.proc = procs[w.name]
        if hold_lock:
            # every one of them waits for the lock, and nothing was created meanwhile
            _wait("three processes waiting for the creation lock",
                  lambda: _lock_waiters(database) >= 3, 300)  # fmt: skip
            assert "event_logs" not in _tables(admin_url)
            assert all(p.poll() is None for p in procs.values()), tails()
            holder.execute("select pg_advisory_unlock(%s)", (CREATION_LOCK,))
        for w in workers:
            lab.wait_worker_ready(w, timeout=300)
        _wait("the daemon's heartbeats", lambda: _daemon_types(admin_url), 300)
        _wait("the webserver", lambda: _webserver_up(port), 300)
        exited = {n: p.returncode for n, p in procs.items() if p.poll() is not None}
        assert not exited, f"{exited}\n{tails()}"
        assert {"runs", "event_logs", "jobs", "daemon_heartbeats"} <= _tables(admin_url)
        text = tails()
        assert not re.search(r"DuplicateObject|UniqueViolation|DuplicateTable", text), text
        # and they stop cleanly
        for w in workers:
            os.kill(w.proc.pid, signal.SIGTERM)
        for w in workers:
            assert w.proc.wait(timeout=120) == 0, tails()
    finally:
        holder.close()
        for proc in procs.values():
            _group_kill(proc)
