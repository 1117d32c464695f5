"""MongoDB unreachable for a while, on a SecantusDB daemon of this module's own (the shared
embedded one is never stopped); PostgreSQL is the shared embedded server.

- down when the run starts: the first attempt fails (the resource's ping names the server);
  a thread restarts the daemon 1 s after that failure (a few seconds of outage in all), the
  RetryPolicy retries the step 5 s after the failure and the run succeeds;
- lost in the middle of the extract (the first events of the day already streamed into the
  staging table, the application patches not read yet): the half-done load is rolled back, the
  daemon comes back 1 s after the failure, the step is retried.

Both end with exactly the rows of a clean run. The restart is timed from the failure, not
from the start, so that a slow machine cannot turn the outage into no outage at all. The
daemon kept down is in ``test_outages_kept_down.py``.
"""

from __future__ import annotations

import contextlib
import threading
import time

from dagster import DagsterEventType

from snu_assets.defs.resources import MongoResource
from snu_assets.io.postgres import ServerUnavailable
from snu_assets_tests.reliability.conftest import MONGO_TIMEOUT_MS
from snu_assets_tests.reliability.helpers import (
    clean_snapshot,
    drop_schema,
    event_types,
    fault_while_copying,
    resources_for,
    run_daily,
    snapshot,
    step_errors,
    unique,
)


@contextlib.contextmanager
def restart_after_first_unavailable(daemon, delay: float):
    """Restart ``daemon`` ``delay`` seconds after the resource first reports it unavailable."""
    timeline: dict[str, float] = {}
    timers: list[threading.Timer] = []
    original = MongoResource.client

    def restart():
        timeline["restarted"] = time.monotonic()
        daemon.start()

    def client(self):
        try:
            return original(self)
        except ServerUnavailable:
            if not timers:
                timeline["failed"] = time.monotonic()
                timers.append(threading.Timer(delay, restart))
                timers[0].start()
            raise

    MongoResource.client = client
    try:
        yield timeline
    finally:
        MongoResource.client = original
        for timer in timers:
            timer.join()


def test_mongo_down_at_start_then_back(own_mongo, embedded_url):
    daemon, url = own_mongo.daemon, embedded_url
    day = own_mongo.source.busiest(1)[0].isoformat()
    clean = clean_snapshot(own_mongo.resource(), url, day)
    schema = unique("snu_rel_mongo")
    try:
        resources = resources_for(own_mongo.resource(), url, schema)
        daemon.stop()
        began = time.monotonic()
        with restart_after_first_unavailable(daemon, 1.0) as timeline:
            result = run_daily(resources, day, raise_on_error=False)
        elapsed = time.monotonic() - began
        assert result.success, step_errors(result, DagsterEventType.STEP_FAILURE)
        assert timeline["restarted"] > timeline["failed"]
        types = event_types(result)
        assert types.count("STEP_UP_FOR_RETRY") == 1 and types.count("STEP_RESTARTED") == 1
        first_error = step_errors(result, DagsterEventType.STEP_UP_FOR_RETRY)[0]
        assert f"MongoDB at {daemon.uri} did not answer within {MONGO_TIMEOUT_MS} ms" in first_error
        assert "Check that the server runs" in first_error
        assert snapshot(url, schema) == clean
        print(
            f"\nRELIABILITY mongo down at start {day}: first attempt failed after "
            f"{timeline['failed'] - began:.1f}s, daemon back "
            f"{timeline['restarted'] - began:.1f}s in; retried once, success in "
            f"{elapsed:.1f}s, {len(clean['raw_patches'])} raw rows == clean run"
        )
    finally:
        drop_schema(url, schema)


def test_mongo_lost_mid_extract_then_back(own_mongo, embedded_url):
    daemon, url = own_mongo.daemon, embedded_url
    day = own_mongo.source.busiest(2)[0].isoformat()
    clean = clean_snapshot(own_mongo.resource(), url, day)
    schema = unique("snu_rel_mongo")
    timers, errors = [], []

    def back_soon(exc):
        errors.append(exc)
        timers.append(threading.Timer(1.0, daemon.start))
        timers[0].start()

    try:
        resources = resources_for(own_mongo.resource(), url, schema)
        began = time.monotonic()
        # the events stream while MongoDB is still read (the application patches come after
        # the young ones; the raw rows are loaded once the read is over): stop it at the first
        with fault_while_copying(
            "reconstructed_events", 1, daemon.stop, schema=schema, on_failure=back_soon
        ) as fired:
            result = run_daily(resources, day, raise_on_error=False)
        elapsed = time.monotonic() - began
        for timer in timers:
            timer.join()
        assert len(fired) == 2 and len(errors) == 1  # the fault, then the load's failure
        assert result.success, step_errors(result, DagsterEventType.STEP_FAILURE)
        types = event_types(result)
        assert types.count("STEP_UP_FOR_RETRY") == 1 and types.count("STEP_RESTARTED") == 1
        first_error = step_errors(result, DagsterEventType.STEP_UP_FOR_RETRY)[0]
        assert f"127.0.0.1:{daemon.port}" in first_error, first_error  # pymongo names the server
        assert snapshot(url, schema) == clean
        print(
            f"\nRELIABILITY mongo lost mid-extract (first of "
            f"{len(clean['reconstructed_events'])} event rows staged) {day}: load failed "
            f"{fired[1] - fired[0]:.1f}s later with {type(errors[0]).__name__}; retried once, "
            f"success in {elapsed:.1f}s, rows == clean run"
        )
    finally:
        drop_schema(url, schema)
