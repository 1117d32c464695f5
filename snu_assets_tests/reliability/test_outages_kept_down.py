"""A server that stays down: the run fails, after the RetryPolicy's retries, with an error
that names the server (password hidden), and the partition keeps its previous rows.

Two outages, each on a server of this module's own:

- PostgreSQL stopped (fast shutdown) in the middle of the ``COPY`` of ``raw_patches`` into
  the staging table, and kept down (the shared embedded MongoDB is the source);
- the SecantusDB daemon stopped before the run and kept down, after the day's MongoDB data
  was changed (so a successful run would change rows); the resource's URI carries a
  password (PostgreSQL: the shared embedded server).

The policy waits 5 + 15 + 35 s between attempts (``Backoff.EXPONENTIAL``: delay x (2^n - 1)),
so both runs go at once, in two threads, to keep the module short.
"""

from __future__ import annotations

import threading
import time

from dagster import DagsterEventType

from snu_assets.defs.policies import MONGO_RETRY
from snu_assets_tests.reliability.conftest import MONGO_TIMEOUT_MS
from snu_assets_tests.reliability.helpers import (
    all_event_text,
    change_day,
    drop_schema,
    event_types,
    fault_while_copying,
    resources_for,
    run_daily,
    snapshot,
    step_errors,
    unique,
)

PASSWORD = "s3cret-never-logged"


def landed(snap) -> int:
    return len(snap["raw_patches"]) + len(snap["rejected_patches"])


def started_steps(result) -> set[str]:
    return {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}


def test_servers_kept_down_fail_clearly_and_change_nothing(source, pg, own_mongo, embedded_url):
    # PostgreSQL side: the private server, the shared MongoDB source
    pg_day = source.busiest(1)[0].isoformat()
    pg_url = pg.url.replace("postgres@", f"postgres:{PASSWORD}@", 1)
    pg_schema = unique("snu_rel_pgdown")
    pg_resources = resources_for(source.mongo, pg_url, pg_schema)
    assert run_daily(pg_resources, pg_day).success
    pg_previous = snapshot(pg_url, pg_schema)

    # MongoDB side: the private daemon, the shared embedded PostgreSQL
    daemon = own_mongo.daemon
    mongo_day = own_mongo.source.busiest(3)[0]
    mongo_schema = unique("snu_rel_mongodown")
    try:
        assert run_daily(
            resources_for(own_mongo.resource(), embedded_url, mongo_schema), mongo_day.isoformat()
        ).success
        mongo_previous = snapshot(embedded_url, mongo_schema)
        delta = change_day(own_mongo.resource().db(), mongo_day, new_youngs=10, removed=2)
        daemon.stop()
        secret_uri = daemon.uri.replace("mongodb://", f"mongodb://snu_reader:{PASSWORD}@", 1)
        mongo_resources = resources_for(own_mongo.resource(secret_uri), embedded_url, mongo_schema)

        results, seconds = {}, {}

        def run(name, resources, day):
            began = time.monotonic()
            results[name] = run_daily(resources, day, raise_on_error=False)
            seconds[name] = time.monotonic() - began

        threads = [
            threading.Thread(target=run, args=("postgres", pg_resources, pg_day)),
            threading.Thread(target=run, args=("mongo", mongo_resources, mongo_day.isoformat())),
        ]
        with fault_while_copying(
            "raw_patches", len(pg_previous["raw_patches"]) // 2, pg.stop, schema=pg_schema
        ) as fired:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(180)
        assert fired and not any(t.is_alive() for t in threads)

        for name, result in results.items():
            assert not result.success, name
            assert event_types(result).count("STEP_UP_FOR_RETRY") == MONGO_RETRY.max_retries, name
            assert started_steps(result) == {"extract_and_reconstruct"}, name  # nothing downstream
            assert PASSWORD not in all_event_text(result), name

        # PostgreSQL: the last attempt could not connect; the error names the server's socket
        (pg_error,) = step_errors(results["postgres"], DagsterEventType.STEP_FAILURE)
        assert f'"{pg.pgdata}/.s.PGSQL.5432" failed' in pg_error, pg_error
        # MongoDB: the resource names the server, password hidden, and what to check
        (mongo_error,) = step_errors(results["mongo"], DagsterEventType.STEP_FAILURE)
        redacted = daemon.uri.replace("mongodb://", "mongodb://snu_reader:***@", 1)
        assert (
            f"MongoDB at {redacted} did not answer within {MONGO_TIMEOUT_MS} ms" in mongo_error
        ), mongo_error
        assert "Check that the server runs and that SNU_MONGO_URI is right" in mongo_error

        # no row of either partition changed
        pg.start()
        daemon.start()
        assert snapshot(pg_url, pg_schema) == pg_previous
        assert snapshot(embedded_url, mongo_schema) == mongo_previous
        # ... though the changed MongoDB data does change them once the daemon is back
        assert run_daily(
            resources_for(own_mongo.resource(), embedded_url, mongo_schema), mongo_day.isoformat()
        ).success
        assert landed(snapshot(embedded_url, mongo_schema)) == landed(mongo_previous) + delta
        pg_line = next(line for line in pg_error.splitlines() if "PGSQL" in line)
        print(
            f"\nRELIABILITY kept down: postgres {pg_day} failed after "
            f"{MONGO_RETRY.max_retries} retries in {seconds['postgres']:.1f}s "
            f"({pg_line[:110]!r}); mongo {mongo_day} failed after "
            f"{MONGO_RETRY.max_retries} retries in {seconds['mongo']:.1f}s; partitions "
            f"unchanged ({landed(pg_previous)} and {landed(mongo_previous)} patches), "
            f"mongo day then re-run: {landed(mongo_previous) + delta}"
        )
    finally:
        drop_schema(embedded_url, mongo_schema)
