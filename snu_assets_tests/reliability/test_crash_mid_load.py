"""A run worker SIGKILLed while it loads a partition that already holds rows.

The day (or a two-day range) is materialised once (the previous content), its MongoDB data is
then changed (patches added and removed), and the materialisation is started again in a
separate process (``run_partition.py``) that freezes at a known point of
``PostgresResource.replace_slices``: in the middle of the ``COPY`` into the staging table, or
after the window was deleted and the staged rows inserted, before the commit. The test checks
what PostgreSQL shows the process doing, SIGKILLs it, and asserts:

- the tables hold exactly the previous content of the partition (snapshot equality), also
  for a reader looking while the killed run was frozen: never a partial partition;
- the killed process leaves no backend and no lock behind (PostgreSQL ends them);
- a re-run gives exactly what a clean run gives on a fresh schema.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from snu_assets_tests.reliability.helpers import (
    DAILY_TABLES,
    STEP_ORDER,
    STEP_TABLES,
    change_day,
    child_command,
    clean_snapshot,
    fetch,
    read_json,
    reap,
    resources_for,
    run_daily,
    snapshot,
    spawn,
    step_of,
    wait_for,
)

#: (server, asset frozen, where, days): every point on the embedded PostgreSQL 18; the most
#: delicate one (window deleted, new rows inserted, not committed) on the system PostgreSQL too
CASES = [
    pytest.param("embedded", "raw_patches", "copy", 1, id="embedded-raw_patches-mid-COPY-day"),
    pytest.param(
        "embedded", "raw_patches", "swap", 1, id="embedded-raw_patches-after-delete-insert-day"
    ),
    pytest.param(
        "embedded",
        "reconstructed_events",
        "copy",
        2,
        id="embedded-reconstructed_events-mid-COPY-range",
    ),
    pytest.param(
        "system", "raw_patches", "swap", 1, id="system-raw_patches-after-delete-insert-day"
    ),
]
NEW_YOUNGS, REMOVED = 30, 4


def window_rows(snap: dict, table: str) -> int:
    return len(snap[table])


@pytest.mark.parametrize("server, held, phase, days", CASES)
def test_sigkill_mid_load_keeps_the_previous_partition(
    server, held, phase, days, fresh_source, pick_server, new_schema, tmp_path
):
    mongo, url = fresh_source.mongo, pick_server(server)
    schema = new_schema(url)
    window = fresh_source.busiest_run(days)
    first, last = window[0].isoformat(), window[-1].isoformat()

    # 1. the previous content
    resources = resources_for(mongo, url, schema)
    assert run_daily(resources, first, last).success
    resources["postgres"].teardown_after_execution(None)
    previous = snapshot(url, schema)
    assert window_rows(previous, "raw_patches") > 50

    # 2. MongoDB changes for the first day; what a clean run now gives
    delta = change_day(mongo.db(), window[0], NEW_YOUNGS, REMOVED)
    clean = clean_snapshot(mongo, url, first, last)
    landed = lambda snap: len(snap["raw_patches"]) + len(snap["rejected_patches"])  # noqa: E731
    assert landed(clean) == landed(previous) + delta
    for table in DAILY_TABLES[:1] + DAILY_TABLES[2:]:
        assert clean[table] != previous[table], table

    # 3. the run in another process, frozen in the middle of the load of `held`
    hold_after = window_rows(clean, held) // 2
    marker = tmp_path / "marker.json"
    log = tmp_path / "child.log"
    proc = spawn(
        child_command(
            mongo.uri,
            mongo.database,
            url,
            schema,
            first,
            last if days > 1 else None,
            hold_table=held,
            hold_phase=phase,
            hold_after=hold_after,
            marker=marker,
        ),
        log,
    )
    done = STEP_ORDER[: STEP_ORDER.index(step_of(held))]  # steps committed before `held`'s
    expected = {
        t: clean[t] if any(t in STEP_TABLES[step] for step in done) else previous[t]
        for t in DAILY_TABLES
    }
    qualified = f'"{schema}"."{held}"'
    try:
        info = wait_for(
            lambda: read_json(marker) or proc.poll() is not None,
            120,
            "the child to reach the hold point",
        )
        assert isinstance(info, dict), f"the child ended early:\n{log.read_text()[-3000:]}"
        backends = info["backends"]
        assert info["pid"] == proc.pid and backends
        activity = fetch(
            url, "select pid, state, query from pg_stat_activity where pid = any(%s)", (backends,)
        )
        if phase == "copy":  # streaming into the temporary staging table
            assert any(
                state == "active" and query.startswith("copy _stage")
                for _, state, query in activity
            ), activity
        else:  # window deleted, new rows inserted, not committed: the lock is held
            assert any(
                state == "idle in transaction" and query.startswith("insert into")
                for _, state, query in activity
            ), activity
            assert fetch(url, "select pg_try_advisory_xact_lock(hashtext(%s))", (qualified,)) == [
                (False,)
            ]
        # a reader meanwhile sees the previous partition, whole
        assert snapshot(url, schema) == expected

        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
        killed = time.monotonic()
        wait_for(
            lambda: (
                not fetch(url, "select 1 from pg_stat_activity where pid = any(%s)", (backends,))
            ),
            30,
            "PostgreSQL to end the killed run's backends",
        )
        ended_after = time.monotonic() - killed
    finally:
        reap(proc)

    assert fetch(url, "select count(*) from pg_locks where pid = any(%s)", (backends,)) == [(0,)]
    for table in STEP_TABLES[step_of(held)]:
        assert fetch(
            url, "select pg_try_advisory_xact_lock(hashtext(%s))", (f'"{schema}"."{table}"',)
        ) == [(True,)]
    leftover = fetch(
        url,
        "select count(*) from pg_stat_activity where state = "
        "'idle in transaction' and query like %s",
        (f'%"{schema}"%',),
    )
    assert leftover == [(0,)]
    after_kill = snapshot(url, schema)
    assert after_kill == expected  # exactly the previous content: never a partial partition

    # 4. the re-run converges to a clean run's rows
    assert run_daily(resources, first, last).success
    resources["postgres"].teardown_after_execution(None)
    assert snapshot(url, schema) == clean
    print(
        f"\nRELIABILITY sigkill {held}/{phase} {first}..{last} on {server}: previous "
        f"{landed(previous)} patches/{len(previous['reconstructed_events'])} events, new "
        f"{landed(clean)}/{len(clean['reconstructed_events'])}; held after {hold_after} rows; "
        f"backends {backends} gone {ended_after:.2f}s after SIGKILL"
    )
