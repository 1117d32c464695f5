"""The measured steps, each run in its own process by ``bench/run.py --worker STEP JSON
OUT``: seeding, the floor (bare pymongo + COPY) and the project's ranged run."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from runner.common import FLOOR_BATCH, FLOOR_PROJECTION, PSEUDONYM_KEY, SAMPLE_YOUNGS

# ============================================================================ workers
# Each runs in its own process (``--worker STEP JSON OUT``) and writes its JSON to OUT.


class MongoCommandCounter:
    """pymongo command monitoring: round trips per command and the time spent waiting for
    the server's answers (as the client sees it). Register before any client is created."""

    def __init__(self):
        from pymongo import monitoring

        self.counts: dict[str, int] = {}
        self.wait_s = 0.0
        counter = self

        class Listener(monitoring.CommandListener):
            def started(self, event):
                pass

            def succeeded(self, event):
                counter.counts[event.command_name] = counter.counts.get(event.command_name, 0) + 1
                counter.wait_s += event.duration_micros / 1e6

            def failed(self, event):
                self.succeeded(event)

        monitoring.register(Listener())

    def summary(self) -> dict:
        skip = {"ping", "hello", "isMaster", "ismaster", "endSessions", "buildInfo"}
        return {
            "mongo_commands": {k: v for k, v in sorted(self.counts.items()) if k not in skip},
            "mongo_wait_s": round(self.wait_s, 2),
        }


def worker_seed(a: dict) -> dict:
    """Calibrate youngs on a sample, then seed (range or peak)."""
    import pymongo

    from snu_assets.ops.demo_data import generate, seed_mongo

    start = dt.date.fromisoformat(a["start"])
    sample = min(SAMPLE_YOUNGS, max(200, a["patches"] // 5))
    patches = 0
    for batch in generate(a["seed"] + 1000, sample, a["days"], start, True, False):
        patches += len(batch.young_patches) + len(batch.application_patches)
    per_young = patches / sample
    youngs = max(1, math.ceil(a["patches"] / per_young))
    client = pymongo.MongoClient(a["mongo_uri"])
    began = time.perf_counter()
    stats = seed_mongo(
        client[a["db"]],
        seed=a["seed"],
        youngs=youngs,
        days=a["days"],
        start=start,
        progress=False,
        collect_truth=False,
        drop=a["drop"],
        collections=a.get("collections"),
    )
    seconds = time.perf_counter() - began
    client.close()
    return {
        "seconds": seconds,
        "youngs": youngs,
        "patches_per_young_sample": round(per_young, 3),
        "young_patches": stats.young_patches,
        "application_patches": stats.application_patches,
        "generated_patches": stats.total_patches,
        "final_youngs": stats.final_youngs,
        "applications": stats.applications,
    }


def worker_floor(a: dict) -> dict:
    """Bare pymongo -> bare psycopg COPY into a scratch table of raw_patches' shape."""
    import orjson
    import psycopg
    import pymongo

    zone = ZoneInfo(a["timezone"])
    start, end = dt.datetime.fromisoformat(a["start"]), dt.datetime.fromisoformat(a["end"])
    table = f'"{a["schema"]}"."{a["table"]}"'
    commands = MongoCommandCounter()
    client = pymongo.MongoClient(a["mongo_uri"], tz_aware=True)
    db = client[a["db"]]
    with psycopg.connect(a["pg_url"]) as conn:
        conn.execute(f'create schema if not exists "{a["schema"]}"')
        conn.execute(f"drop table if exists {table}")
        conn.execute(
            f"create table {table} (patch_id text, model text, record_id text, "
            "young_id text, occurred_at timestamptz, partition_date date, ops jsonb, "
            "author_role text)"
        )
        conn.commit()
        read_s = 0.0
        rows = 0
        began = time.perf_counter()
        with conn.cursor().copy(
            f"copy {table} (patch_id, model, record_id, young_id, occurred_at, "
            "partition_date, ops, author_role) from stdin"
        ) as copy:
            for model, collection in a["collections"].items():
                cursor = db[collection].find(
                    {"date": {"$gte": start, "$lt": end}}, FLOOR_PROJECTION, batch_size=FLOOR_BATCH
                )
                while True:
                    t0 = time.perf_counter()
                    doc = next(cursor, None)
                    read_s += time.perf_counter() - t0
                    if doc is None:
                        break
                    ref = str(doc.get("ref"))
                    when = doc["date"]
                    copy.write_row(
                        (
                            str(doc["_id"]),
                            model,
                            ref,
                            ref if model == "young" else None,
                            when,
                            when.astimezone(zone).date(),
                            orjson.dumps(doc.get("ops"), default=str).decode(),
                            (doc.get("user") or {}).get("role"),
                        )
                    )
                    rows += 1
        conn.commit()
        seconds = time.perf_counter() - began
        landed = conn.execute(f"select count(*) from {table}").fetchone()[0]
    client.close()
    return {
        "seconds": seconds,
        "rows": landed,
        "rows_streamed": rows,
        "mongo_read_s": round(read_s, 3),
        "other_s": round(seconds - read_s, 3),
        **commands.summary(),
    }


def worker_project(a: dict) -> dict:
    """One ``materialize(DAILY_ASSETS)``: a ranged run (``first != last``) or one partition."""
    from dagster import DagsterEventType, DagsterInstance, materialize

    from snu_assets.defs.assets import DAILY_ASSETS
    from snu_assets.defs.resources import MongoResource, PostgresResource, PseudonymResource

    commands = MongoCommandCounter()
    resources = {
        "mongo": MongoResource(uri=a["mongo_uri"], database=a["db"]),
        "postgres": PostgresResource(url=a["pg_url"], schema_name=a["schema"]),
        "pseudonyms": PseudonymResource(key=PSEUDONYM_KEY),
    }
    instance = DagsterInstance.ephemeral()
    if a["first"] == a["last"]:
        kwargs = {"partition_key": a["first"]}
    else:
        kwargs = {
            "tags": {
                "dagster/asset_partition_range_start": a["first"],
                "dagster/asset_partition_range_end": a["last"],
            }
        }
    profiler = None
    if a.get("profile"):
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.005)
        profiler.start()
    began = time.perf_counter()
    result = materialize(
        DAILY_ASSETS, resources=resources, instance=instance, raise_on_error=False, **kwargs
    )
    seconds = time.perf_counter() - began
    out = {
        "seconds": seconds,
        "success": result.success,
        "run_id": result.run_id,
        **commands.summary(),
    }
    if profiler is not None:
        profiler.stop()
        out["profile"] = profile_summary(profiler, a["profile"])
    # per-asset step durations, from the run's own event log
    steps: dict[str, dict] = {}
    for entry in instance.all_logs(result.run_id):
        event = entry.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            steps.setdefault(event.step_key, {})["start"] = entry.timestamp
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            steps.setdefault(event.step_key, {})["end"] = entry.timestamp
    out["steps_s"] = {
        k: round(v["end"] - v["start"], 3) for k, v in steps.items() if "start" in v and "end" in v
    }
    with contextlib.suppress(Exception):
        checks = result.get_asset_check_evaluations()
        out["checks_failed"] = sorted(
            f"{c.asset_key.to_user_string()}:{c.check_name}" for c in checks if not c.passed
        )
    if not result.success:
        failures = [
            str(e.event_specific_data.error.message)[:500] for e in result.get_step_failure_events()
        ]
        out["error"] = "; ".join(failures) or "run failed"
    import psycopg

    with psycopg.connect(a["pg_url"]) as conn:
        counts = {}
        for table in ("raw_patches", "rejected_patches", "reconstructed_events", "enriched_events"):
            with contextlib.suppress(Exception):
                counts[table] = conn.execute(
                    f'select count(*) from "{a["schema"]}".{table}'
                ).fetchone()[0]
    out["rows"] = counts
    return out


def profile_summary(profiler, text_path: str, top: int = 10) -> dict:
    """Top functions by own time (pyinstrument's ``[self]`` frames folded into their
    function), own time per file, and the project's functions by inclusive time (a recursive
    function counted once per stack)."""
    session = profiler.last_session
    root = session.root_frame()
    own: dict[str, float] = {}
    by_file: dict[str, float] = {}
    inclusive: dict[str, float] = {}

    def label(frame) -> str:
        return (
            f"{frame.function} ({frame.file_path_short or frame.file_path or '?'}:{frame.line_no})"
        )

    def walk(frame, on_stack: frozenset):
        if frame.is_synthetic:
            return  # its time is in the parent's total_self_time
        name = label(frame)
        own[name] = own.get(name, 0.0) + frame.total_self_time
        path = frame.file_path_short or frame.file_path or "?"
        by_file[path] = by_file.get(path, 0.0) + frame.total_self_time
        if name not in on_stack and "snu_assets" in (frame.file_path or ""):
            inclusive[name] = inclusive.get(name, 0.0) + frame.time
        for child in frame.children:
            walk(child, on_stack | {name})

    if root is not None:
        walk(root, frozenset())
    Path(text_path).write_text(profiler.output_text(unicode=False, color=False))
    with contextlib.suppress(Exception):
        Path(text_path).with_suffix(".html").write_text(profiler.output_html())
    duration = session.duration or 1e-9

    def ranked(table: dict[str, float], key: str) -> list[dict]:
        return [
            {key: k, "seconds": round(v, 2), "share": round(v / duration, 3)}
            for k, v in sorted(table.items(), key=lambda kv: -kv[1])[:top]
        ]

    return {
        "duration_s": round(duration, 2),
        "text": text_path,
        "top_self": ranked(own, "function"),
        "top_files": ranked(by_file, "file"),
        "top_project_inclusive": ranked(inclusive, "function"),
    }


def vmhwm_kib() -> int | None:
    """Peak resident set of this process since its exec (``VmHWM``), in KiB."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


WORKERS = {"seed": worker_seed, "floor": worker_floor, "project": worker_project}
