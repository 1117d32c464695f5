"""Load: several partition runs at once on the same tables, as a backfill with a pool of
4 runs does, each in a process of its own.

Three different days plus a second run of the first day (two runs of the SAME partition)
start together; each run stages its rows, then waits until every run has staged its rows
before taking the first lock of each step's swap (so that the swaps of all four really
contend: on raw_patches, whose transaction then also locks reconstructed_events and
rejected_patches, and on enriched_events). Asserts: no deadlock (all finish within the
timeout), every partition equals the generator's truth (patches per day, events per name and
day), no duplicate id, and the tables equal those of sequential runs on a fresh schema.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter

import pytest

from snu_assets_tests.reliability.helpers import (
    DAILY_TABLES,
    child_command,
    clean_snapshot,
    fetch,
    paris_day,
    read_json,
    reap,
    snapshot,
    spawn,
    wait_for,
)
from snu_assets_tests.reliability.run_partition import BARRIER_TABLES
from snu_assets_tests.truth import expected_events

TIMEOUT = 420


def test_concurrent_partition_runs_on_the_same_tables(source, postgres_url, schema, tmp_path):
    url, mongo = postgres_url, source.mongo
    days = source.busiest(3)
    jobs = [(day, f"day{i}") for i, day in enumerate(days)] + [(days[0], "day0-again")]
    go = tmp_path / "go"
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = {}
    began = time.monotonic()
    try:
        for day, name in jobs:
            procs[name] = spawn(
                child_command(
                    mongo.uri,
                    mongo.database,
                    url,
                    schema,
                    day.isoformat(),
                    go_file=go,
                    barrier_dir=barrier,
                    barrier_count=len(jobs),
                    name=name,
                    result=tmp_path / f"{name}.json",
                ),
                tmp_path / f"{name}.log",
            )
        wait_for(
            lambda: (
                len(list(tmp_path.glob("go.ready.*"))) == len(jobs)
                or any(p.poll() is not None for p in procs.values())
            ),
            90,
            "the runs to be ready",
        )
        go.touch()
        started = time.monotonic()
        for name, proc in procs.items():
            try:
                proc.wait(max(TIMEOUT - (time.monotonic() - started), 1))
            except subprocess.TimeoutExpired:
                activity = fetch(
                    url,
                    "select pid, state, wait_event_type, left(query, 80) "
                    "from pg_stat_activity where application_name = 'snu-assets'",
                )
                pytest.fail(f"run {name} still running after {TIMEOUT}s (deadlock?): {activity}")
        elapsed = time.monotonic() - started
    finally:
        for proc in procs.values():
            reap(proc)
    logs = {name: (tmp_path / f"{name}.log").read_text()[-3000:] for name in procs}
    results = {name: read_json(tmp_path / f"{name}.json") for name in procs}
    for name, proc in procs.items():
        assert proc.returncode == 0 and results[name]["success"], logs[name]
    # the runs overlapped: each waited until all of them had staged their rows
    for name, result in results.items():
        assert result["barriers"] == {t: len(jobs) for t in BARRIER_TABLES}, name

    # every partition equals the truth
    truth = [p for p in source.truth.patches if paris_day(p.date) in days]
    landed = Counter()
    for table in ("raw_patches", "rejected_patches"):
        for day, count in fetch(
            url, f'select partition_date, count(*) from "{schema}".{table} group by 1'
        ):
            landed[day] += count
    assert landed == Counter(paris_day(p.date) for p in truth)
    events = Counter(
        {
            (name, day): n
            for name, day, n in fetch(
                url,
                f'select event_name, partition_date, count(*) from "{schema}".reconstructed_events '
                "group by 1, 2",
            )
        }
    )
    assert events == Counter(
        (name, paris_day(p.date)) for p in truth for name in expected_events(p)
    )
    enriched = dict(
        fetch(url, f'select partition_date, count(*) from "{schema}".enriched_events group by 1')
    )
    assert enriched == {day: sum(n for (_, d), n in events.items() if d == day) for day in days}
    for table, key in (
        ("raw_patches", "patch_id"),
        ("rejected_patches", "patch_id"),
        ("reconstructed_events", "event_id"),
        ("enriched_events", "event_id"),
    ):
        assert fetch(url, f'select count(*) - count(distinct {key}) from "{schema}".{table}') == [
            (0,)
        ], table

    # and the same rows as sequential runs on a fresh schema
    concurrent = snapshot(url, schema)
    sequential = {t: [] for t in DAILY_TABLES}
    for day in days:
        for table, rows in clean_snapshot(mongo, url, day.isoformat()).items():
            sequential[table].extend(rows)
    assert {t: sorted(rows) for t, rows in concurrent.items()} == {
        t: sorted(rows) for t, rows in sequential.items()
    }
    spans = sorted((r["began"], r["ended"]) for r in results.values())
    print(
        f"\nRELIABILITY concurrent on {'system' if '127.0.0.1' in url else 'embedded'}: "
        f"{len(jobs)} runs ({', '.join(d.isoformat() for d in days)} + {days[0]} again), "
        f"{sum(landed.values())} patches, {sum(events.values())} events; all done in "
        f"{elapsed:.1f}s after go (setup {started - began:.1f}s); runs overlapped "
        f"{max(0.0, min(e for _, e in spans) - max(b for b, _ in spans)):.1f}s"
    )
