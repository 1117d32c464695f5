"""The lines of the comparison (floor, dlt, the project) and the day-selection
measurements."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import statistics
import subprocess
import sys
import time
from pathlib import Path

from runner.common import (
    BENCH_DIR,
    DLT_DATASET,
    DLT_REQUIREMENTS,
    DLT_VENV,
    FLOOR_BATCH,
    FLOOR_SCHEMA,
    PROJECT_ROOT,
    PROJECT_SCHEMA,
    day_window,
    patch_collections,
    tz,
    worker_argv,
)
from runner.measure import Servers, run_measured, wait_for_quiet
from runner.report import ratio

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


def compared_lines(
    servers, label, db_name, window, patches, days, dlt_python, formats
) -> list[dict]:
    """The floor, dlt (each format) and the project on one window, with their rates and the
    project's ratios to the floor and to dlt."""
    day1, day2 = days
    group = [line_floor(servers, f"floor ({label})", db_name, window, patches)]
    if dlt_python:
        for f in formats:
            name = f"dlt ({label})" if f is None else f"dlt {f} ({label})"
            group.append(line_dlt(servers, name, db_name, window, patches, dlt_python, f))
    servers.drop_pg_schemas(DLT_DATASET, DLT_DATASET + "_staging", FLOOR_SCHEMA)
    kind = "ranged run" if day1 != day2 else "one partition"
    group.append(
        line_project(servers, f"snu-assets {kind} ({label})", db_name, day1, day2, patches)
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
    return group
