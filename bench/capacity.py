#!/usr/bin/env python
"""Capacity model of a history rebuild, from the measured per-patch costs.

    .venv/bin/python bench/capacity.py            # prints the table of docs/scale-out.md

Inputs, measured (``bench/results/latest.json``, the project's ranged run over 197,380
patches on this machine; ``bench/results/scale-out.json`` for the cost of a run):
- ``c_w``: CPU of the step process per patch (scrub, reconstruct, COPY streaming): the
  rate of one worker process, one core, when MongoDB answers faster than it consumes;
- ``c_pg``: PostgreSQL CPU per patch (COPY, partition swap, checks, enrich SQL);
- ``o``: fixed cost of one ranged run (launch, plan, step dispatch, checks' own queries),
  from the scale-out lab; on Kubernetes, add a pod's start (~10-30 s).

Model, for P patches, N workers, a MongoDB serving R patch documents/s in total (the
aggregate read rate of the patch projections, for all concurrent readers), K PostgreSQL
cores, ranged runs of D days over a history of H days, and f the read amplification of the
read mode (records mode: each record's whole log is read once per range it has a patch in;
f = 1.5 below, about right for ranges of one to two weeks and logs spanning a cohort's
months; walk mode on ranges of 14+ days reads the whole log in every run: f = H / D, avoid
it for multi-run backfills: SNU_LOG_READ=records):

    X = min(N / c_w, R / f, K / c_pg)             patches rebuilt per second
    T = P / X + ceil((H / D) / N) * o             seconds

The bottleneck is the smallest of the three terms: workers until N / c_w passes R / f
(MongoDB) or K / c_pg (PostgreSQL); past that, more workers only add load on the source.
The `mongodb` pool should be set to about R / f * c_w slots (workers MongoDB can feed).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def measured() -> dict:
    latest = json.loads((RESULTS / "latest.json").read_text())
    line = next(
        entry
        for entry in latest["lines"]
        if entry["kind"] == "project" and "range" in entry["line"]
    )
    costs = {
        "patches": line["patches"],
        "c_w": line["cpu_s"] / line["patches"],
        "c_pg": line["pg_server_cpu_s"] / line["patches"],
        "c_mongo_secantus": line["mongo_server_cpu_s"] / line["patches"],
        "seconds": line["seconds"],
        "o": 20.0,
        "o_source": "assumed",
    }
    scale = RESULTS / "scale-out.json"
    if scale.exists():
        report = json.loads(scale.read_text())
        one = next((x for x in report["lines"] if x["workers"] == 1), None)
        if one:
            # one worker, one run at a time: the wall time not spent inside steps is the runs'
            # fixed cost (the daemon's dequeue and launch, the run process's start and plan,
            # the dispatch to a worker and its plan, the run's end)
            runs = one["runs"]
            in_steps = sum(step["seconds"] for step in one["steps"].values())
            costs["o"] = max(0.0, (one["seconds"] - in_steps) / runs)
            costs["o_source"] = (
                f"scale-out lab, 1 worker: ({one['seconds']} s wall - "
                f"{in_steps:.0f} s in steps) / {runs} runs"
            )
            if one.get("run_fixed_cost_s") is not None:
                # of which inside the run (launch to end, minus its steps)
                costs["o_in_run"] = one["run_fixed_cost_s"]
                costs["o_source"] += (
                    f", {one['run_fixed_cost_s']} s of it inside the run; load average "
                    f"{one['cpu']['load_mean']} on {report['cores']} cores"
                )
    return costs


def rebuild_seconds(
    patches: float,
    workers: int,
    mongo_rate: float,
    pg_cores: int,
    costs: dict,
    days: int = 730,
    days_per_run: int = 10,
    amplification: float = 1.5,
) -> tuple[float, str]:
    rates = {
        "workers": workers / costs["c_w"],
        "MongoDB": mongo_rate / amplification,
        "PostgreSQL": pg_cores / costs["c_pg"],
    }
    bottleneck = min(rates, key=rates.get)
    runs = math.ceil(days / days_per_run)
    return patches / rates[bottleneck] + math.ceil(runs / workers) * costs["o"], bottleneck


def table(costs: dict) -> str:
    rows = [
        "| MongoDB reads/s | PostgreSQL cores | workers | 10 M patches | 50 M patches | "
        "bottleneck |",
        "|---|---|---|---|---|---|",
    ]
    for mongo_rate, pg_cores in ((5_000, 4), (20_000, 4), (50_000, 4), (50_000, 16)):
        for workers in (1, 2, 4, 8, 16):
            t10, neck = rebuild_seconds(10e6, workers, mongo_rate, pg_cores, costs)
            t50, _ = rebuild_seconds(50e6, workers, mongo_rate, pg_cores, costs)
            rows.append(
                f"| {mongo_rate:,} | {pg_cores} | {workers} | {_hm(t10)} | {_hm(t50)} | {neck} |"
            )
    return "\n".join(rows)


def _hm(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d}" if minutes >= 60 else f"{minutes} min"


if __name__ == "__main__":
    costs = measured()
    print(
        f"c_w = {costs['c_w'] * 1e3:.3f} ms/patch (one worker: {1 / costs['c_w']:,.0f} "
        f"patches/s), c_pg = {costs['c_pg'] * 1e3:.3f} ms/patch ({1 / costs['c_pg']:,.0f} "
        f"patches/s per PostgreSQL core), SecantusDB {costs['c_mongo_secantus'] * 1e3:.3f} "
        f"ms/patch; o = {costs['o']:.1f} s per run ({costs['o_source']})"
    )
    if "c_w_lab" in costs:
        print(
            f"(in the scale-out lab, a worker spent {costs['c_w_lab'] * 1e3:.3f} ms of CPU per "
            "patch: records mode of short ranges, plus the worker's per-step plan)"
        )
    print(
        "history of 730 days in ranged runs of 10 days (73 runs: below SNU_WALK_MIN_DAYS, so "
        "records mode, f = 1.5)\n"
    )
    print(table(costs))
