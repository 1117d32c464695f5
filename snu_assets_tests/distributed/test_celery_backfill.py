"""Issue 15 acceptance: a history backfill whose steps run on Celery workers in separate
network namespaces, launched as the UI's backfill dialog does, through `dagster dev`.

A parallel history backfill runs in two passes, each one asset backfill of ranged runs
(``SNU_BACKFILL_DAYS_PER_RUN`` days, 2 runs at once): ``raw_patches`` +
``reconstructed_events``, then ``enriched_events``. One pass would not do: an application's
event is enriched with its young's state as of the event (an as-of join over the young's
reconstructed events of *earlier* days), a dependency the graph declares day-to-day only;
ranged runs in parallel can enrich a later range before an earlier one is reconstructed,
and the application rows come out without their young's columns (seen here: one-pass
parallel backfill, enriched_events differed from the single-process run).

1. Both passes complete; every step ran on one of the two workers and both took some; the
   `mongodb` pool (1 here) kept the MongoDB-reading steps of all runs from overlapping; the
   four daily tables are identical, row for row, to the single-process run.
2. The same on emptied tables, with one worker killed (SIGKILL of all its processes: the
   host dies) in the middle of a MongoDB-reading step: the broker gives that step back, the
   other worker runs it, every run succeeds and the tables end identical again.
"""

from __future__ import annotations

import math
import time

import pytest

from snu_assets_tests.distributed.conftest import DAILY_TABLES, snapshot
from snu_assets_tests.distributed.lab import max_overlap
from snu_assets_tests.e2e.test_dagster_dev import BACKFILL, LAUNCH_BACKFILL, RUNS

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(1500)]

EXTRACT = "extract_and_reconstruct"
PASSES = (("raw_patches", "reconstructed_events"), ("enriched_events",))


def launch_backfill(lab, days: list[str], assets) -> str:
    params = {
        "partitionNames": days,
        "assetSelection": [{"path": [a]} for a in assets],
        "fromFailure": False,
        "tags": [],
        "title": None,
        "description": None,
    }
    launched = lab.dev.graphql(LAUNCH_BACKFILL, {"backfillParams": params})[
        "launchPartitionBackfill"
    ]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return launched["backfillId"]


def wait_backfill(lab, backfill_id: str, timeout: float = 900) -> dict:
    def done():
        found = lab.dev.graphql(BACKFILL, {"backfillId": backfill_id})["partitionBackfillOrError"]
        return found if found["status"] not in ("REQUESTED", "CANCELING", "FAILING") else None

    return lab.dev.wait_for(f"backfill {backfill_id}", done, timeout)


def backfill_runs(lab, backfill_id: str) -> list[dict]:
    result = lab.dev.graphql(
        RUNS, {"filter": {"tags": [{"key": "dagster/backfill", "value": backfill_id}]}}
    )["runsOrError"]
    return result["results"]


def worker_logs(lab) -> str:
    return "\n".join(
        f"--- {w.log} ---\n" + w.log.read_text(errors="replace")[-2500:] for w in lab.workers
    )


def check_backfill(lab, backfill_id: str, backfill: dict) -> list[dict]:
    runs = backfill_runs(lab, backfill_id)
    failure = f"{backfill}\n{runs}\n{lab.dev.log_tail()}\n{worker_logs(lab)}"
    assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), failure
    assert [r["status"] for r in runs] == ["SUCCESS"] * len(runs), failure
    assert len(runs) == math.ceil(len(lab.days) / lab.days_per_run), failure
    return runs


def empty_tables(lab) -> None:
    """Empty the daily tables (those that exist: a test run alone comes before any backfill)."""
    with lab.postgres.connect() as conn:
        for table in DAILY_TABLES:
            name = lab.postgres.table(table)
            if conn.execute("select to_regclass(%s)", (name,)).fetchone()[0] is not None:
                conn.execute(f"truncate {name}")


def test_distributed_backfill_matches_single_process(lab):
    began = time.monotonic()
    run_ids, steps = set(), []
    for assets, step in zip(PASSES, (EXTRACT, "enriched_events")):
        backfill_id = launch_backfill(lab, lab.days, assets)
        backfill = wait_backfill(lab, backfill_id)
        runs = check_backfill(lab, backfill_id, backfill)
        run_ids |= {r["runId"] for r in runs}
        steps += [(r["runId"], step) for r in runs]
    lab.timings["distributed_backfill_s"] = round(time.monotonic() - began, 1)

    executions = [e for e in lab.step_executions() if e[0] in run_ids]
    # every step of every run went through a Celery worker, and both workers took some
    assert sorted((run, step) for run, step, _ in executions) == sorted(steps), executions
    assert {name for _, _, name in executions} == {w.name for w in lab.workers}, executions

    # the mongodb pool (limit 1) held across runs and workers: MongoDB-reading steps never
    # overlapped, although two runs and two workers were available
    spans = [s for s in lab.step_intervals(EXTRACT) if s[0] in run_ids]
    assert len(spans) == len(steps) // 2 and all(end is not None for _, _, end in spans)
    assert max_overlap(spans) == lab.mongodb_pool, spans
    # ... while steps that do not read MongoDB ran side by side on the two workers
    lab.timings["enrich_steps_at_once"] = max_overlap(
        [s for s in lab.step_intervals("enriched_events") if s[0] in run_ids]
    )

    got = snapshot(lab.postgres)
    assert all(lab.reference[t] for t in ("raw_patches", "reconstructed_events", "enriched_events"))
    for table in DAILY_TABLES:
        assert got[table] == lab.reference[table], f"{table} differs from the single-process run"


def test_worker_killed_mid_step_loses_nothing(lab):
    empty_tables(lab)
    began = time.monotonic()
    backfill_id = launch_backfill(lab, lab.days, PASSES[0])

    # wait until a worker is inside a MongoDB-reading step of this backfill, then kill it
    def started():
        runs = {r["runId"] for r in backfill_runs(lab, backfill_id)}
        for run_id, _, _ in lab.step_intervals(EXTRACT):
            if run_id in runs:
                return run_id
        return None

    victim_run = lab.dev.wait_for("an extract step to start", started, 300, interval=0.3)
    time.sleep(0.5)
    victim_name = next(
        name
        for run_id, step, name in lab.step_executions()
        if run_id == victim_run and step == EXTRACT
    )
    victim = next(w for w in lab.workers if w.name == victim_name)
    lab.kill_worker(victim)
    killed_at = time.monotonic() - began
    finished = [s for s in lab.step_intervals(EXTRACT) if s[0] == victim_run and s[2] is not None]
    assert not finished, "the step ended before the kill: seed more data (SNU_DIST_TEST_YOUNGS)"

    backfill = wait_backfill(lab, backfill_id)
    lab.timings["killed_after_s"] = round(killed_at, 1)
    check_backfill(lab, backfill_id, backfill)
    backfill_id = launch_backfill(lab, lab.days, PASSES[1])
    check_backfill(lab, backfill_id, wait_backfill(lab, backfill_id))
    lab.timings["backfill_with_kill_s"] = round(time.monotonic() - began, 1)

    # the killed step was given back by the broker and run again by the surviving worker
    takers = [
        name
        for run_id, step, name in lab.step_executions()
        if run_id == victim_run and step == EXTRACT
    ]
    survivor = next(w.name for w in lab.workers if w.name != victim_name)
    assert takers == [victim_name, survivor], takers

    got = snapshot(lab.postgres)
    for table in DAILY_TABLES:
        assert got[table] == lab.reference[table], f"{table} differs after the kill"

    # bring the host back for whatever runs next
    lab.start_worker(victim)
    lab.wait_worker_ready(victim)
