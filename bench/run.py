#!/usr/bin/env python
"""Benchmark of snu-assets against a floor and a peer, on the same servers and the same data.

    .venv/bin/python bench/run.py                      # the issue's scale (long: see README)
    .venv/bin/python bench/run.py --patches 50000 --days 20 --peak-patches 20000 \
        --scaling 1,2 --base-patches 25000             # a small run, a few minutes

One run does, in order:

1. data: the project's own generator (``snu_assets.ops.demo_data.seed_mongo``) writes ``--patches``
   patches over ``--days`` days into the MongoDB database ``bench_main``, then a peak day
   (``--peak-patches`` patches seeded with ``days=1``, one week after the range) into the same
   collections (``drop=False``; its cohorts and goals go to ``bench_peak_*`` collections so the
   range's are not doubled). The generator gives ~4.7 (1 day) to ~7.8 (60 days) patches per
   young: the number of youngs is calibrated on a sample, and every figure reported is the
   number of patches actually present in the window (counted in MongoDB with the project's
   own window filter). ``--reuse-data`` skips seeding when ``bench_main`` already holds this
   exact request (a ``bench_meta`` document records it, with a hash of the generator).
2. lines, each in a fresh subprocess (peak RSS = that process's ``ru_maxrss`` from
   ``wait4``; CPU of the embedded servers from psutil when they are local):
   - ``floor``: bare pymongo (batch_size 20,000, projection of the fields the project reads)
     streaming into bare psycopg 3 ``COPY`` into a scratch table shaped as ``raw_patches``;
   - ``dlt``: ``bench/dlt_load.py`` in its own venv (``bench/.venv-dlt``), merge on ``_id``;
   - ``project``: ``dagster.materialize(DAILY_ASSETS)`` as ONE ranged run over the range (an
     ephemeral Dagster instance, a ``bench_snu`` schema dropped before each run), then the
     peak day alone (one partition), each preceded by its floor and dlt lines.
3. scaling: the project's ranged run on ``--base-patches`` x 1, 2, 4 ... over the same days
   (databases ``bench_scale_<k>x``).
4. day selection: the time to select one day's patches by ``date`` without index, by an
   ``_id`` range confirmed with ``date`` (the project's ``SNU_DAY_SELECTION=id``), and by
   ``date`` with an index (created, measured, dropped).
5. ``--profile``: the project's ranged run under pyinstrument (not timed in the table).

Results: printed, and written to ``bench/results/latest.json`` and ``latest.md``; worker logs in
``bench/results/logs/``. PostgreSQL schemas ``bench_*`` are dropped at the end; the MongoDB
``bench_*`` databases are kept for ``--reuse-data`` (``--drop-data`` drops them).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
LOG_DIR = RESULTS_DIR / "logs"
DLT_VENV = BENCH_DIR / ".venv-dlt"
DLT_REQUIREMENTS = BENCH_DIR / "requirements-dlt.txt"

MAIN_DB = "bench_main"
PROJECT_SCHEMA = "bench_snu"
FLOOR_SCHEMA = "bench_floor"
DLT_DATASET = "bench_dlt"
PSEUDONYM_KEY = "bench-key-0123456789abcdef"
#: what snu-assets reads of a patch (core/privacy/scrub.py: _id, ref, date, modelName, ops, user)
FLOOR_PROJECTION = {"_id": 1, "ref": 1, "date": 1, "modelName": 1, "ops": 1, "user.role": 1}
FLOOR_BATCH = 20_000
PEAK_GAP_DAYS = 7
SAMPLE_YOUNGS = 2_000

if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))


# ============================================================================ helpers


def tz() -> ZoneInfo:
    from snu_assets.settings import timezone

    return timezone()


def day_window(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """``[first 00:00, last+1 00:00)`` in SNU_TIMEZONE, as aware UTC datetimes."""
    zone = tz()
    start = dt.datetime(first.year, first.month, first.day, tzinfo=zone)
    end_day = last + dt.timedelta(days=1)
    end = dt.datetime(end_day.year, end_day.month, end_day.day, tzinfo=zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def patch_collections() -> dict[str, str]:
    from snu_assets.settings import MODELS

    return {model: names[1] for model, names in MODELS.items()}


def generator_fingerprint() -> str:
    """A hash of the generator's modules (the whole ``demo_data`` package)."""
    from snu_assets.ops import demo_data

    digest = hashlib.sha256()
    for module in sorted(Path(demo_data.__file__).parent.glob("*.py")):
        digest.update(module.read_bytes())
    return digest.hexdigest()[:16]


def mib(kib: float | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


def fmt(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# ============================================================================ servers


class Servers:
    """Where everything runs: SNU_MONGO_URI / SNU_POSTGRES_URL, else the embedded servers."""

    def __init__(self):
        from snu_assets.io import embedded

        self.mongo_embedded = not os.environ.get("SNU_MONGO_URI")
        self.pg_embedded = not os.environ.get("SNU_POSTGRES_URL")
        if self.mongo_embedded:
            running = embedded.ensure_mongo()
            self.mongo_uri, self.mongo_pid = running.uri, running.pid
        else:
            self.mongo_uri, self.mongo_pid = os.environ["SNU_MONGO_URI"], None
        if self.pg_embedded:
            self.pg_url = embedded.postgres_uri()
            self.pg_pid = embedded._postmaster_pid()
        else:
            import re

            self.pg_url = re.sub(
                r"^postgres(ql)?(\+\w+)?://", "postgresql://", os.environ["SNU_POSTGRES_URL"]
            )
            self.pg_pid = None

    def mongo(self):
        import pymongo

        return pymongo.MongoClient(self.mongo_uri, tz_aware=True, serverSelectionTimeoutMS=10_000)

    def pg(self):
        import psycopg

        return psycopg.connect(self.pg_url, autocommit=True)

    def describe(self) -> dict:
        info = {
            "mongo": "embedded SecantusDB" if self.mongo_embedded else "SNU_MONGO_URI",
            "postgres": "embedded PostgreSQL" if self.pg_embedded else "SNU_POSTGRES_URL",
        }
        with contextlib.suppress(Exception), self.mongo() as client:
            build = client.admin.command("buildInfo")
            info["mongo_version"] = build.get("version")
        with contextlib.suppress(Exception), self.pg() as conn:
            info["postgres_version"] = conn.execute("show server_version").fetchone()[0]
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            info["secantusdb_package"] = version("SecantusDB")
        return info

    def drop_pg_schemas(self, *names: str) -> None:
        with self.pg() as conn:
            for name in names:
                assert name.startswith("bench_"), name
                conn.execute(f'drop schema if exists "{name}" cascade')


class ServerMeter:
    """CPU seconds of the embedded servers during a step (MongoDB: the SecantusDB process;
    PostgreSQL: the postmaster's whole tree, exited backends included) and the MongoDB
    server's peak RSS (sampled every 0.25 s). Nothing when the servers are remote."""

    def __init__(self, servers: Servers):
        self.mongo_pid, self.pg_pid = servers.mongo_pid, servers.pg_pid
        self._stop = threading.Event()
        self._thread = None
        self.mongo_rss_peak = 0
        self.child_pid = None
        self.child_rss_peak = 0

    @staticmethod
    def _proc(pid):
        try:
            import psutil

            return psutil.Process(pid) if pid else None
        except Exception:
            return None

    def _mongo_cpu(self):
        proc = self._proc(self.mongo_pid)
        if proc is None:
            return None
        with contextlib.suppress(Exception):
            t = proc.cpu_times()
            return t.user + t.system
        return None

    def _pg_cpu(self):
        proc = self._proc(self.pg_pid)
        if proc is None:
            return None
        with contextlib.suppress(Exception):
            t = proc.cpu_times()
            total = t.user + t.system + t.children_user + t.children_system
            for child in proc.children(recursive=True):
                with contextlib.suppress(Exception):
                    c = child.cpu_times()
                    total += c.user + c.system
            return total
        return None

    def _sample(self):
        mongo = self._proc(self.mongo_pid)
        child = None
        while not self._stop.wait(0.2):
            if mongo is not None:
                with contextlib.suppress(Exception):
                    self.mongo_rss_peak = max(self.mongo_rss_peak, mongo.memory_info().rss)
            if child is None and self.child_pid:
                child = self._proc(self.child_pid)
            if child is not None:
                with contextlib.suppress(Exception):
                    tree = [child, *child.children(recursive=True)]
                    rss = sum(p.memory_info().rss for p in tree)
                    self.child_rss_peak = max(self.child_rss_peak, rss)

    def __enter__(self):
        self.before = (self._mongo_cpu(), self._pg_cpu())
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        after = (self._mongo_cpu(), self._pg_cpu())
        self.mongo_cpu = None if None in (self.before[0], after[0]) else after[0] - self.before[0]
        self.pg_cpu = None if None in (self.before[1], after[1]) else after[1] - self.before[1]


def machine_busy_cpu() -> float | None:
    """Busy CPU seconds of the whole machine so far (``/proc/stat``, all cores)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    return None


#: wait before each measured step until the 1-minute load average is under this (the servers
#: are shared: other sessions' test suites skew timings); 0 disables; see --quiet-load
QUIET = {"load": 1.5, "max_wait_s": 120.0}


def wait_for_quiet() -> float:
    """Sleep until the 1-minute load average drops under ``QUIET['load']`` (at most
    ``QUIET['max_wait_s']``); returns the seconds waited."""
    if not QUIET["load"]:
        return 0.0
    began = time.monotonic()
    while os.getloadavg()[0] > QUIET["load"] and time.monotonic() - began < QUIET["max_wait_s"]:
        time.sleep(5)
    return round(time.monotonic() - began, 1)


def run_measured(name: str, argv: list[str], servers: Servers, env: dict | None = None) -> dict:
    """Run ``argv`` as a fresh subprocess; its JSON result (written to a file whose path is the
    last argument) plus wall time, peak RSS and CPU of that process (``wait4``), and the
    servers' CPU during the step."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    out = LOG_DIR / f"{name}.json"
    out.unlink(missing_ok=True)
    log = LOG_DIR / f"{name}.log"
    waited = wait_for_quiet()
    print(
        f"  · {name} ..."
        + (f" (waited {waited:.0f}s for a quieter machine)" if waited > 1 else ""),
        end="",
        flush=True,
    )
    load_before = os.getloadavg()
    busy_before = machine_busy_cpu()
    began = time.perf_counter()
    with open(log, "wb") as handle, ServerMeter(servers) as meter:
        proc = subprocess.Popen(
            [*argv, str(out)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=PROJECT_ROOT,
            env={**os.environ, **(env or {})},
        )
        meter.child_pid = proc.pid
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - began
    busy_after = machine_busy_cpu()
    # ru_maxrss of a child started by fork/vfork + exec counts the PARENT's RSS at exec time
    # (Linux keeps the old mm's high-water mark): kept for the record, but the peak reported
    # is the worker's own VmHWM (read in the worker at its end), else the polled tree RSS
    result = {
        "name": name,
        "exit_code": proc.returncode,
        "process_wall_s": round(wall, 3),
        "peak_rss_mib": None,
        "rusage_maxrss_mib": mib(usage.ru_maxrss),
        "polled_rss_peak_mib": round(meter.child_rss_peak / 2**20, 1) or None,
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "mongo_server_cpu_s": None if meter.mongo_cpu is None else round(meter.mongo_cpu, 2),
        "pg_server_cpu_s": None if meter.pg_cpu is None else round(meter.pg_cpu, 2),
        "mongo_server_rss_peak_mib": round(meter.mongo_rss_peak / 2**20, 1) or None,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "waited_for_quiet_s": waited,
        "log": str(log),
    }
    if busy_before is not None and busy_after is not None:
        # CPU the machine spent on anything else during the step (other sessions, tests...)
        ours = (
            result["cpu_s"] + (result["mongo_server_cpu_s"] or 0) + (result["pg_server_cpu_s"] or 0)
        )
        result["other_cpu_s"] = round(max(0.0, busy_after - busy_before - ours), 1)
    if proc.returncode == 0 and out.exists():
        result.update(json.loads(out.read_text()))
    result["peak_rss_mib"] = (
        mib(result.get("vmhwm_kib")) or result["polled_rss_peak_mib"] or result["rusage_maxrss_mib"]
    )
    if proc.returncode == 0 and out.exists():
        print(f" {result.get('seconds', wall):.1f}s, peak RSS {result['peak_rss_mib']} MiB")
    else:
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        result["error"] = "\n".join(tail)
        print(f" FAILED (exit {proc.returncode}), see {log}")
    return result


def worker_argv(step: str, **kwargs) -> list[str]:
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        step,
        json.dumps(kwargs, default=str),
    ]


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


# ============================================================================ data sets


def window_count(db, start: dt.datetime, end: dt.datetime) -> dict[str, int]:
    """The patches the project selects for ``[start, end)``: its own window filters (by
    ``date``, plus the undated ones placed by their ``_id``), both patch collections."""
    from snu_assets.io.mongo import window_filters

    return {
        model: sum(db[coll].count_documents(q) for q in window_filters(start, end, "date"))
        for model, coll in patch_collections().items()
    }


def prepare_data(
    servers: Servers,
    *,
    db_name: str,
    patches: int,
    days: int,
    start: dt.date,
    seed: int,
    peak_patches: int,
    peak_day: dt.date | None,
    reuse: bool,
) -> dict:
    """Seed ``db_name`` (unless ``reuse`` and it already holds this request); return the
    request, the seeding figures and the patches present in the range and the peak day."""
    assert db_name.startswith("bench_")
    request = {
        "patches": patches,
        "days": days,
        "start": start.isoformat(),
        "seed": seed,
        "peak_patches": peak_patches,
        "peak_day": peak_day.isoformat() if peak_day else None,
        "generator": generator_fingerprint(),
        "collections": patch_collections(),
    }
    with servers.mongo() as client:
        meta = client[db_name]["bench_meta"].find_one({"_id": "meta"})
    if reuse and meta and meta.get("request") == request:
        print(
            f"  · {db_name}: reusing the data set ({meta['range_patches']:,} patches"
            + (f", peak day {meta['peak_patches_present']:,}" if peak_day else "")
            + ")"
        )
        return {k: v for k, v in meta.items() if k != "_id"} | {"reused": True}
    if reuse:
        print(f"  · {db_name}: no matching data set to reuse, seeding")
    with servers.mongo() as client:
        client.drop_database(db_name)  # bench_* only: a fresh database, extra collections too
    seeds = []
    common = {"mongo_uri": servers.mongo_uri, "db": db_name}
    seeds.append(
        run_measured(
            f"seed_{db_name}",
            worker_argv(
                "seed",
                **common,
                seed=seed,
                patches=patches,
                days=days,
                start=start.isoformat(),
                drop=True,
            ),
            servers,
        )
    )
    if peak_day and peak_patches:
        # same patch and document collections (drop=False): the peak day is selected out of a
        # collection that also holds the range; its cohorts/goals do not double the range's
        seeds.append(
            run_measured(
                f"seed_{db_name}_peak",
                worker_argv(
                    "seed",
                    **common,
                    seed=seed + 1,
                    patches=peak_patches,
                    days=1,
                    start=peak_day.isoformat(),
                    drop=False,
                    collections={
                        "cohorts": "bench_peak_cohorts",
                        "inscriptiongoals": "bench_peak_inscriptiongoals",
                    },
                ),
                servers,
            )
        )
    for s in seeds:
        if s.get("error"):
            raise SystemExit(f"seeding failed: {s['error']}")
    with servers.mongo() as client:
        db = client[db_name]
        rng = window_count(db, *day_window(start, start + dt.timedelta(days=days - 1)))
        meta = {
            "request": request,
            "seeding": seeds,
            "range_patches_by_model": rng,
            "range_patches": sum(rng.values()),
        }
        if peak_day:
            peak = window_count(db, *day_window(peak_day, peak_day))
            meta |= {"peak_patches_by_model": peak, "peak_patches_present": sum(peak.values())}
        db["bench_meta"].replace_one({"_id": "meta"}, {"_id": "meta", **meta}, upsert=True)
    return meta | {"reused": False}


def scale_db(k: int) -> str:
    """The database of the scaling series' ``k``× line."""
    return f"bench_scale_{k}x"


def scale_data(servers: Servers, args, k: int, first: dt.date) -> dict:
    """The data set of the scaling series' ``k``× line (:func:`scale_db`)."""
    return prepare_data(
        servers,
        db_name=scale_db(k),
        patches=args.base_patches * k,
        days=args.days,
        start=first,
        seed=args.seed + 10 * k,
        peak_patches=0,
        peak_day=None,
        reuse=args.reuse_data,
    )


def warm_up(servers: Servers, db_name: str, start: dt.datetime, end: dt.datetime) -> float:
    """An untimed read of the window, so that no measured line pays a cold cache alone."""
    began = time.perf_counter()
    with servers.mongo() as client:
        for coll in patch_collections().values():
            for _ in client[db_name][coll].find(
                {"date": {"$gte": start, "$lt": end}}, FLOOR_PROJECTION, batch_size=FLOOR_BATCH
            ):
                pass
    return time.perf_counter() - began


# ============================================================================ lines


def ensure_dlt_venv() -> Path:
    """``bench/.venv-dlt`` from ``requirements-dlt.txt`` (re-installed when it changes)."""
    python = DLT_VENV / "bin" / "python"
    stamp = DLT_VENV / ".installed"
    wanted = hashlib.sha256(DLT_REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"  · creating {DLT_VENV.relative_to(PROJECT_ROOT)} (dlt, separate from .venv) ...")
    base = getattr(sys, "_base_executable", None) or sys.executable
    subprocess.check_call([base, "-m", "venv", str(DLT_VENV)])
    subprocess.check_call([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    subprocess.check_call(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(DLT_REQUIREMENTS)]
    )
    stamp.write_text(wanted)
    return python


def line_floor(servers, label, db_name, window, patches) -> dict:
    start, end = window
    r = run_measured(
        label.replace(" ", "_"),
        worker_argv(
            "floor",
            mongo_uri=servers.mongo_uri,
            db=db_name,
            start=start.isoformat(),
            end=end.isoformat(),
            pg_url=servers.pg_url,
            schema=FLOOR_SCHEMA,
            table="raw_patches_floor",
            collections=patch_collections(),
            timezone=tz().key,
        ),
        servers,
    )
    return r | {"line": label, "kind": "floor", "patches": patches}


def line_dlt(servers, label, db_name, window, patches, dlt_python, file_format=None) -> dict:
    start, end = window
    argv = [
        str(dlt_python),
        str(BENCH_DIR / "dlt_load.py"),
        "--mongo-uri",
        servers.mongo_uri,
        "--db",
        db_name,
        "--start",
        start.isoformat(),
        "--end",
        end.isoformat(),
        "--postgres",
        servers.pg_url,
        "--dataset",
        DLT_DATASET,
    ]
    if file_format:
        argv += ["--file-format", file_format]
    r = run_measured(
        label.replace(" ", "_").replace("(", "").replace(")", ""), argv + ["--out"], servers
    )
    return r | {"line": label, "kind": "dlt", "patches": patches}


def line_project(
    servers, label, db_name, first: dt.date, last: dt.date, patches, profile: str | None = None
) -> dict:
    servers.drop_pg_schemas(PROJECT_SCHEMA)
    r = run_measured(
        label.replace(" ", "_").replace("×", "x"),
        worker_argv(
            "project",
            mongo_uri=servers.mongo_uri,
            db=db_name,
            pg_url=servers.pg_url,
            schema=PROJECT_SCHEMA,
            first=first.isoformat(),
            last=last.isoformat(),
            profile=profile,
        ),
        servers,
    )
    landed = (r.get("rows") or {}).get("raw_patches", 0) + (r.get("rows") or {}).get(
        "rejected_patches", 0
    )
    if r.get("rows") and landed != patches:
        r["warning"] = f"raw_patches + rejected_patches = {landed:,}, MongoDB holds {patches:,}"
    if r.get("success") is False:
        r.setdefault("error", "run failed")
    return r | {"line": label, "kind": "project", "patches": patches}


def add_rates(line: dict) -> dict:
    seconds = line.get("seconds")
    ok = seconds and not line.get("error")
    line["patches_per_s"] = round(line["patches"] / seconds) if ok else None
    return line


# ============================================================================ day selection


def plan_of(db, collection: str, query: dict) -> str:
    """The server's winning plan for ``query`` (``IXSCAN date_1``, ``COLLSCAN`` ...)."""
    try:
        plan = db.command(
            "explain", {"find": collection, "filter": query}, verbosity="queryPlanner"
        )["queryPlanner"]["winningPlan"]
    except Exception as exc:  # a server without explain
        return f"? ({type(exc).__name__})"
    stages = []
    while plan:
        stage = plan.get("stage", "?")
        if stage == "IXSCAN":
            stage += f" {plan.get('indexName', '')}".rstrip()
        stages.append(stage)
        plan = plan.get("inputStage")
    return " < ".join(stages)


def day_selection(
    servers: Servers, db_name: str, days: list[tuple[str, dt.date]], repeat: int = 1
) -> list[dict]:
    """Select one day's patches (both collections, ``_id`` and ``date`` only) three ways:
    (a) the project's ``date`` filter, no index (production's indexes: ``_id``, ``ref``);
    (b) the project's ``SNU_DAY_SELECTION=id`` filter: an ``_id`` range widened by
    ``SNU_ID_SLACK_HOURS`` and confirmed with ``date``; (c) (a) with an index on ``date``
    (created here, dropped right after). Median of ``repeat`` reads; the plan is the server's
    ``explain`` for ``young_patches``."""
    from snu_assets.io.mongo import id_slack, window_filters

    rows = []
    with servers.mongo() as client:
        db = client[db_name]
        colls = list(patch_collections().values())

        def timed(label, day, method, query, **extra):
            wait_for_quiet()
            runs, count = [], 0
            for _ in range(repeat):
                began = time.perf_counter()
                count = 0
                for coll in colls:
                    for _doc in db[coll].find(query, {"_id": 1, "date": 1}, batch_size=FLOOR_BATCH):
                        count += 1
                runs.append(time.perf_counter() - began)
            row = {
                "day": day.isoformat(),
                "which": label,
                "method": method,
                "seconds": round(statistics.median(runs), 3),
                "patches": count,
                "plan": plan_of(db, colls[0], query),
                **extra,
            }
            print(f"  · {day} {method}: {row['seconds']:.2f}s, {count:,} patches, {row['plan']}")
            rows.append(row)

        slack = f"±{id_slack().total_seconds() / 3600:g} h"
        for label, day in days:
            start, end = day_window(day, day)
            timed(label, day, "(a) date range, no index", window_filters(start, end, "date")[0])
            timed(
                label, day, f"(b) _id range ({slack}) + date", window_filters(start, end, "id")[0]
            )
        began = time.perf_counter()
        for coll in colls:
            db[coll].create_index("date", name="bench_date_idx")
        index_s = round(time.perf_counter() - began, 2)
        try:
            for label, day in days:
                start, end = day_window(day, day)
                timed(
                    label,
                    day,
                    "(c) date range, index on date",
                    window_filters(start, end, "date")[0],
                    index_build_s=index_s,
                )
        finally:
            for coll in colls:
                with contextlib.suppress(Exception):
                    db[coll].drop_index("bench_date_idx")
        total = sum(db[c].estimated_document_count() for c in colls)
    for row in rows:
        row["collection_patches"] = total
    return rows


# ============================================================================ report


def machine() -> dict:
    info = {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    with contextlib.suppress(Exception):
        info["memory_gib"] = round(
            os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1
        )
    with contextlib.suppress(Exception):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(Exception):
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "snu_assets"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        info["git"] = head + (" (snu_assets/ has uncommitted changes)" if dirty else "")
    return info


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return round(a / b, 2)


def own_cpu_us(line: dict) -> float | None:
    """The line's own CPU per patch in µs: its worker process (user + system, interpreter
    start and imports included) plus the PostgreSQL server during the step. What stays of a
    line's cost against a MongoDB that answers at once (SecantusDB's CPU is not in it)."""
    if line.get("error") or not line.get("patches") or line.get("cpu_s") is None:
        return None
    return (line["cpu_s"] + (line.get("pg_server_cpu_s") or 0)) / line["patches"] * 1e6


def own_cpu_notes(lines: list[dict]) -> list[str]:
    """The project's own CPU per patch against the floor's and the best dlt loader's, per
    window (``range`` / ``peak day``: the suffix of the line names)."""
    notes = []
    for window in ("range", "peak day"):
        mine = [ln for ln in lines if ln["line"].endswith(f"({window})")]
        own = {ln.get("kind"): own_cpu_us(ln) for ln in mine if ln.get("kind") != "dlt"}
        dlt = [v for ln in mine if ln.get("kind") == "dlt" and (v := own_cpu_us(ln))]
        project, floor = own.get("project"), own.get("floor")
        if not project:
            continue
        parts = [f"own CPU per patch ({window}): project {project:,.0f} µs"]
        if floor:
            parts.append(f"{project / floor:.2f}× the floor's {floor:,.0f}")
        if dlt:
            parts.append(f"{project / min(dlt):.2f}× dlt's best {min(dlt):,.0f}")
        notes.append(", ".join(parts))
    return notes


def main_table(lines: list[dict]) -> tuple[list[str], list[list[str]]]:
    head = [
        "line",
        "patches",
        "seconds",
        "patches/s",
        "peak RSS MiB",
        "worker CPU s",
        "mongo srv CPU s",
        "pg CPU s",
        "own CPU µs/patch",
        "other CPU s",
        "project/floor",
        "project/dlt",
    ]
    rows = []
    for ln in lines:
        rows.append(
            [
                ln["line"],
                fmt(ln["patches"]),
                "FAILED" if ln.get("error") else fmt(ln.get("seconds")),
                fmt(ln.get("patches_per_s")),
                fmt(ln.get("peak_rss_mib")),
                fmt(ln.get("cpu_s")),
                fmt(ln.get("mongo_server_cpu_s")),
                fmt(ln.get("pg_server_cpu_s")),
                fmt(own_cpu_us(ln), 0),
                fmt(ln.get("other_cpu_s")),
                fmt(ln.get("vs_floor"), 2) if ln.get("vs_floor") else "",
                fmt(ln.get("vs_dlt"), 2) if ln.get("vs_dlt") else "",
            ]
        )
    return head, rows


def scaling_table(series: list[dict]) -> tuple[list[str], list[list[str]]]:
    head = [
        "scale",
        "patches",
        "seconds",
        "patches/s",
        "peak RSS MiB",
        "time vs 1×",
        "RSS vs 1×",
        "extract+reconstruct / enriched s",
        "worker CPU s",
        "pg CPU s",
        "own CPU µs/patch",
        "mongo srv CPU s",
        "other CPU s",
    ]
    rows = []
    base = series[0] if series else {}
    for s in series:
        steps = s.get("steps_s") or {}
        rows.append(
            [
                s["line"],
                fmt(s["patches"]),
                "FAILED" if s.get("error") else fmt(s.get("seconds")),
                fmt(s.get("patches_per_s")),
                fmt(s.get("peak_rss_mib")),
                fmt(ratio(s.get("seconds"), base.get("seconds")), 2),
                fmt(ratio(s.get("peak_rss_mib"), base.get("peak_rss_mib")), 2),
                " / ".join(
                    fmt(steps.get(k)) for k in ("extract_and_reconstruct", "enriched_events")
                ),
                fmt(s.get("cpu_s")),
                fmt(s.get("pg_server_cpu_s")),
                fmt(own_cpu_us(s), 0),
                fmt(s.get("mongo_server_cpu_s")),
                fmt(s.get("other_cpu_s")),
            ]
        )
    return head, rows


def selection_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    head = ["day", "method", "patches found", "seconds", "plan (young_patches)", "index build s"]
    return head, [
        [
            f"{r['day']} ({r['which']})",
            r["method"],
            fmt(r["patches"]),
            fmt(r["seconds"], 3),
            r.get("plan", ""),
            fmt(r.get("index_build_s"), 2) if "index_build_s" in r else "",
        ]
        for r in rows
    ]


def render(head, rows, markdown: bool) -> str:
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(out)
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)
    ]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths)), "  ".join("-" * w for w in widths)]
    out += [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in rows
    ]
    return "\n".join(out)


def report(results: dict, markdown: bool) -> str:
    m, s = results["machine"], results["scale"]
    parts = []
    title = "# snu-assets benchmark" if markdown else "snu-assets benchmark"
    parts.append(title)
    parts.append(
        f"{results['finished_at']} — {m.get('cores')} cores, {m.get('memory_gib')} GiB, "
        f"{m.get('cpu', '?')}; {results['servers'].get('mongo')} "
        f"{results['servers'].get('secantusdb_package', results['servers'].get('mongo_version', ''))}"
        f", PostgreSQL {results['servers'].get('postgres_version', '?')}; git {m.get('git', '?')}"
    )
    peak = (
        f", peak day {s['peak_day']} ({s.get('peak_patches_present', 0):,} patches present "
        f"for {s['peak_patches_requested']:,} requested, seeded with days=1)"
        if s.get("peak_day")
        else ""
    )
    parts.append(
        f"Scale: range {s['first_day']} .. {s['last_day']} ({s['days']} days, "
        f"{s['range_patches']:,} patches present for {s['patches_requested']:,} requested)"
        + peak
        + "; "
        + (
            "data set reused."
            if s.get("reused")
            else f"seeding took {s.get('seeding_s') or 0:.0f}s."
        )
    )
    h2 = (lambda t: f"## {t}") if markdown else (lambda t: f"\n{t}\n" + "=" * len(t))
    parts.append(h2("Floor, peer (dlt) and snu-assets, same servers and data"))
    parts.append(render(*main_table(results["lines"]), markdown))
    notes = []
    for ln in results["lines"]:
        if ln.get("kind") == "project" and ln.get("steps_s"):
            notes.append(
                f"{ln['line']}: " + ", ".join(f"{k} {v:.1f}s" for k, v in ln["steps_s"].items())
            )
        if ln.get("mongo_commands"):
            notes.append(
                f"{ln['line']}: MongoDB round trips "
                + ", ".join(f"{k} {v:,}" for k, v in ln["mongo_commands"].items())
                + f"; {ln['mongo_wait_s']:.1f}s waiting for MongoDB's answers"
            )
        if ln.get("kind") == "floor" and ln.get("mongo_read_s") is not None:
            notes.append(
                f"{ln['line']}: MongoDB reads {ln['mongo_read_s']:.1f}s, "
                f"row building + COPY {ln['other_s']:.1f}s"
            )
        if ln.get("kind") == "dlt" and ln.get("phases"):
            notes.append(
                f"{ln['line']} ({ln.get('file_format')}, dlt {ln.get('dlt_version')}): "
                + ", ".join(f"{k} {v:.1f}s" for k, v in ln["phases"].items())
            )
        for key in ("warning", "error"):
            if ln.get(key):
                notes.append(f"{ln['line']}: {key.upper()}: {ln[key]}")
        if ln.get("checks_failed"):
            notes.append(f"{ln['line']}: failed checks: {', '.join(ln['checks_failed'])}")
    notes = own_cpu_notes(results["lines"]) + notes
    if notes:
        parts.append("\n".join(("- " if markdown else "  ") + n for n in notes))
    if results.get("scaling"):
        parts.append(h2(f"Scaling: the project's ranged run over {s['days']} days"))
        parts.append(render(*scaling_table(results["scaling"]), markdown))
    if results.get("day_selection"):
        total = results["day_selection"][0].get("collection_patches")
        parts.append(
            h2(f"Selecting one day's patches (both patch collections, {total:,} patches in them)")
        )
        parts.append(render(*selection_table(results["day_selection"]), markdown))
    if results.get("profile"):
        p = results["profile"]
        parts.append(
            h2(
                f"Profile of the ranged run ({p.get('scale')}; pyinstrument, "
                f"{p.get('duration_s')}s profiled): top functions by own time"
            )
        )
        head = ["function", "own s", "share"]
        rows = [[t["function"], fmt(t["seconds"], 2), f"{t['share']:.0%}"] for t in p["top_self"]]
        parts.append(render(head, rows, markdown))
        parts.append("Own time per file:" if markdown else "own time per file:")
        rows = [[t["file"], fmt(t["seconds"], 2), f"{t['share']:.0%}"] for t in p["top_files"]]
        parts.append(render(["file", "own s", "share"], rows, markdown))
        parts.append(
            "snu_assets functions by inclusive time:"
            if markdown
            else "snu_assets functions by inclusive time:"
        )
        rows = [
            [t["function"], fmt(t["seconds"], 2), f"{t['share']:.0%}"]
            for t in p["top_project_inclusive"]
        ]
        parts.append(render(["function", "incl. s", "share"], rows, markdown))
    parts.append(
        ("" if markdown else "\n")
        + (
            "Seconds: the work inside the step's process (imports and interpreter start excluded); "
            "peak RSS: that process's VmHWM (its own high-water mark; ru_maxrss would include the parent's RSS at fork); worker CPU: its user+system; mongo srv / pg CPU: "
            "the embedded servers during the step; own CPU µs/patch: (worker CPU + pg CPU) / "
            "patches, what a line costs against a MongoDB that answers at once; "
            "other CPU: what the machine spent on anything "
            "else meanwhile (other sessions' tests on the shared servers: a noise gauge, out of "
            f"{results['machine'].get('cores')} cores x seconds). project/floor and project/dlt: "
            "time ratios on the same window."
            + (
                f" Bench wall time {results['bench_wall_s']:,.0f}s ("
                + ", ".join(f"{k} {v:,.0f}s" for k, v in results.get("phases_s", {}).items())
                + ")."
                if results.get("bench_wall_s")
                else ""
            )
        )
    )
    return "\n\n".join(parts) + "\n"


# ============================================================================ main


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--patches", type=int, default=1_000_000, help="patches over the range")
    p.add_argument("--days", type=int, default=60, help="days of the range")
    p.add_argument(
        "--peak-patches",
        type=int,
        default=300_000,
        help="patches of the single peak day (0: no peak day)",
    )
    p.add_argument(
        "--scaling",
        default="1,2,4",
        help="multiples of --base-patches for the scaling series ('' or 0: none)",
    )
    p.add_argument(
        "--base-patches",
        type=int,
        default=250_000,
        help="base size of the scaling series (default: 4x = 1,000,000)",
    )
    p.add_argument("--start", default="2025-01-06", help="first day of the range")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--db",
        default=MAIN_DB,
        help="MongoDB database of the range and peak day (bench_*): keeps data sets of "
        "several scales side by side",
    )
    p.add_argument("--skip-dlt", action="store_true", help="no dlt lines")
    p.add_argument(
        "--dlt-formats",
        default="default",
        help="comma-separated dlt loader_file_format values, one dlt line each "
        "('default' = dlt's own choice for postgres, insert_values; 'csv' = COPY)",
    )
    p.add_argument(
        "--reuse-data",
        action="store_true",
        help="do not re-seed a bench database that already holds the requested scale",
    )
    p.add_argument("--skip-day-selection", action="store_true")
    p.add_argument(
        "--seed-only",
        action="store_true",
        help="seed (or check) every data set of the request, measure nothing",
    )
    p.add_argument(
        "--selection-repeat",
        type=int,
        default=1,
        help="reads per day-selection method (the median is reported)",
    )
    p.add_argument(
        "--quiet-load",
        type=float,
        default=QUIET["load"],
        help="before each measured step, wait (at most --quiet-wait s) until the "
        "1-minute load average is under this; 0: do not wait",
    )
    p.add_argument("--quiet-wait", type=float, default=QUIET["max_wait_s"])
    p.add_argument(
        "--profile",
        action="store_true",
        help="also run the project's ranged run on the smallest data set under "
        "pyinstrument (bench/results/profile.txt, not timed in the table)",
    )
    p.add_argument(
        "--drop-data", action="store_true", help="drop the bench_* MongoDB databases at the end"
    )
    p.add_argument(
        "--clean",
        action="store_true",
        help="only drop every bench_* MongoDB database and PostgreSQL schema, then exit",
    )
    p.add_argument(
        "--results",
        default=str(RESULTS_DIR / "latest"),
        help="results path without extension (.json and .md are written)",
    )
    p.add_argument("--worker", nargs=3, metavar=("STEP", "JSON", "OUT"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        step, payload, out = args.worker
        result = WORKERS[step](json.loads(payload))
        result["vmhwm_kib"] = vmhwm_kib()
        Path(out).write_text(json.dumps(result, indent=2, default=str))
        return 0

    began = time.perf_counter()
    QUIET.update(load=args.quiet_load, max_wait_s=args.quiet_wait)
    phases: dict[str, float] = {}
    mark = [time.perf_counter()]

    def phase(name: str) -> None:
        now = time.perf_counter()
        phases[name] = round(now - mark[0], 1)
        mark[0] = now

    if args.clean:
        servers = Servers()
        with servers.mongo() as client:
            dropped = [n for n in client.list_database_names() if n.startswith("bench_")]
            for name in dropped:
                client.drop_database(name)
        with servers.pg() as conn:
            schemas = [
                r[0]
                for r in conn.execute(
                    "select nspname from pg_namespace where nspname like 'bench\\_%'"
                )
            ]
        servers.drop_pg_schemas(*schemas)
        print(
            f"dropped MongoDB databases {dropped or 'none'}, PostgreSQL schemas {schemas or 'none'}"
        )
        return 0

    first = dt.date.fromisoformat(args.start)
    last = first + dt.timedelta(days=args.days - 1)
    peak_day = last + dt.timedelta(days=PEAK_GAP_DAYS + 1) if args.peak_patches else None
    scaling = [int(x) for x in args.scaling.replace(" ", "").split(",") if x and int(x) > 0]
    print(
        f"snu-assets bench: {args.patches:,} patches over {args.days} days from {first}"
        + (f", peak day {peak_day} with {args.peak_patches:,}" if peak_day else "")
        + (f", scaling {scaling} x {args.base_patches:,}" if scaling else "")
    )
    servers = Servers()
    print(
        f"  servers: MongoDB {'embedded' if servers.mongo_embedded else 'SNU_MONGO_URI'}, "
        f"PostgreSQL {'embedded' if servers.pg_embedded else 'SNU_POSTGRES_URL'}"
    )
    dlt_python = None if args.skip_dlt else ensure_dlt_venv()

    print("data:")
    data = prepare_data(
        servers,
        db_name=args.db,
        patches=args.patches,
        days=args.days,
        start=first,
        seed=args.seed,
        peak_patches=args.peak_patches,
        peak_day=peak_day,
        reuse=args.reuse_data,
    )
    if args.seed_only:
        for k in scaling:
            scale_data(servers, args, k, first)
        return 0
    range_window = day_window(first, last)
    range_patches = data["range_patches"]
    peak_patches = data.get("peak_patches_present", 0)
    seeding_s = sum(s.get("seconds") or 0 for s in data.get("seeding", []))
    results = {
        "finished_at": None,
        "machine": machine(),
        "servers": servers.describe(),
        "scale": {
            "patches_requested": args.patches,
            "days": args.days,
            "first_day": first.isoformat(),
            "last_day": last.isoformat(),
            "range_patches": range_patches,
            "range_patches_by_model": data.get("range_patches_by_model"),
            "peak_day": peak_day.isoformat() if peak_day else None,
            "peak_patches_requested": args.peak_patches,
            "peak_patches_present": peak_patches,
            "peak_patches_by_model": data.get("peak_patches_by_model"),
            "seeding_s": round(seeding_s, 1),
            "reused": data.get("reused"),
            "seeding": data.get("seeding"),
            "seed": args.seed,
        },
        "lines": [],
        "scaling": [],
        "day_selection": [],
    }
    print(
        f"  · range holds {range_patches:,} patches"
        + (f", peak day {peak_patches:,}" if peak_day else "")
    )
    print(
        f"  · warm-up read of the range: {warm_up(servers, args.db, *range_window):.1f}s (untimed)"
    )

    formats = [None if f in ("", "default") else f for f in args.dlt_formats.split(",")]
    groups = [("range", range_window, range_patches, first, last)]
    if peak_day:
        groups.append(
            ("peak day", day_window(peak_day, peak_day), peak_patches, peak_day, peak_day)
        )
    phase("data")
    print("lines:")
    for label, window, patches, day1, day2 in groups:
        group = [line_floor(servers, f"floor ({label})", args.db, window, patches)]
        if dlt_python:
            for f in formats:
                name = f"dlt ({label})" if f is None else f"dlt {f} ({label})"
                group.append(line_dlt(servers, name, args.db, window, patches, dlt_python, f))
        servers.drop_pg_schemas(DLT_DATASET, DLT_DATASET + "_staging", FLOOR_SCHEMA)
        kind = "ranged run" if day1 != day2 else "one partition"
        group.append(
            line_project(servers, f"snu-assets {kind} ({label})", args.db, day1, day2, patches)
        )
        for ln in group:
            add_rates(ln)
        floor = next(ln for ln in group if ln["kind"] == "floor")
        dlt_line = next((ln for ln in group if ln["kind"] == "dlt"), None)
        for ln in group:
            if ln["kind"] == "project" and not ln.get("error"):
                ln["vs_floor"] = ratio(
                    ln.get("seconds"), None if floor.get("error") else floor.get("seconds")
                )
                if dlt_line and not dlt_line.get("error"):
                    ln["vs_dlt"] = ratio(ln.get("seconds"), dlt_line.get("seconds"))
        results["lines"].extend(group)

    phase("lines")
    smallest = (args.db, first, last, range_patches, f"range, {range_patches:,} patches")
    if scaling:
        print("scaling:")
        for k in scaling:
            db_name = scale_db(k)
            meta = scale_data(servers, args, k, first)
            warm_up(servers, db_name, *range_window)
            ln = add_rates(
                line_project(servers, f"{k}×", db_name, first, last, meta["range_patches"])
            )
            ln["db"] = db_name
            results["scaling"].append(ln)
            if k == min(scaling) and meta["range_patches"] < smallest[3]:
                smallest = (
                    db_name,
                    first,
                    last,
                    meta["range_patches"],
                    f"{k}× scaling data set, {meta['range_patches']:,} patches",
                )

    phase("scaling")
    if args.profile:
        print("profile:")
        db_name, day1, day2, patches, scale = smallest
        text = str(RESULTS_DIR / "profile.txt")
        p = line_project(servers, "profile", db_name, day1, day2, patches, profile=text)
        results["profile"] = (p.get("profile") or {}) | {
            "scale": scale,
            "seconds_under_profiler": p.get("seconds"),
        }

    phase("profile")
    if not args.skip_day_selection:
        print("day selection:")
        days = [("mid-range day", first + dt.timedelta(days=args.days // 2))]
        if peak_day:
            days.append(("peak day", peak_day))
        results["day_selection"] = day_selection(servers, args.db, days, args.selection_repeat)

    phase("day selection")
    servers.drop_pg_schemas(PROJECT_SCHEMA, FLOOR_SCHEMA, DLT_DATASET, DLT_DATASET + "_staging")
    if args.drop_data:
        with servers.mongo() as client:
            for name in [args.db, *(scale_db(k) for k in scaling)]:
                client.drop_database(name)
    results["finished_at"] = dt.datetime.now().isoformat(timespec="seconds")
    results["bench_wall_s"] = round(time.perf_counter() - began, 1)
    results["phases_s"] = {k: v for k, v in phases.items() if v >= 0.5}
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str))
    out.with_suffix(".md").write_text(report(results, markdown=True))
    print()
    print(report(results, markdown=False))
    print(
        f"written: {out.with_suffix('.json')}, {out.with_suffix('.md')} "
        f"(bench wall time {results['bench_wall_s']:.0f}s)"
    )
    return 1 if any(ln.get("error") for ln in results["lines"] + results["scaling"]) else 0


if __name__ == "__main__":
    sys.exit(main())
