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
import datetime as dt
import json
import sys
import time
from pathlib import Path

from runner.common import (
    DLT_DATASET,
    FLOOR_SCHEMA,
    MAIN_DB,
    PEAK_GAP_DAYS,
    PROJECT_SCHEMA,
    RESULTS_DIR,
    day_window,
)
from runner.dataset import drop_bench_data, prepare_data, scale_data, scale_db, warm_up
from runner.lines import (
    add_rates,
    compared_lines,
    day_selection,
    ensure_dlt_venv,
    line_project,
)
from runner.measure import QUIET, Servers
from runner.report import machine, report
from runner.workers import WORKERS, vmhwm_kib

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


def scaling_lines(servers, args, scaling: list[int], first, last, smallest: tuple):
    """The project's ranged run on each scaling data set; the lines, and the smallest data
    set measured so far (the one the profile runs on)."""
    found = []
    for k in scaling:
        db_name = scale_db(k)
        meta = scale_data(servers, args, k, first)
        warm_up(servers, db_name, *day_window(first, last))
        ln = add_rates(line_project(servers, f"{k}×", db_name, first, last, meta["range_patches"]))
        ln["db"] = db_name
        found.append(ln)
        if k == min(scaling) and meta["range_patches"] < smallest[3]:
            smallest = (
                db_name,
                first,
                last,
                meta["range_patches"],
                f"{k}× scaling data set, {meta['range_patches']:,} patches",
            )
    return found, smallest


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
        drop_bench_data(Servers())
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
        results["lines"].extend(
            compared_lines(
                servers, label, args.db, window, patches, (day1, day2), dlt_python, formats
            )
        )

    phase("lines")
    smallest = (args.db, first, last, range_patches, f"range, {range_patches:,} patches")
    if scaling:
        print("scaling:")
        results["scaling"], smallest = scaling_lines(servers, args, scaling, first, last, smallest)

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
