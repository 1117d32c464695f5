#!/usr/bin/env python
"""Scale-out measurement: the same history backfill on 1, 2 and 4 Celery workers.

    sudo .venv/bin/python bench/scale_out.py --youngs 3000 --days 24 --days-per-run 3 \
        --workers 1,2,4

Each configuration runs in the lab of the distributed tests
(``snu_assets_tests/distributed/lab.py``): N workers, each the project's worker command (one
Celery process, one step at a time) in its own network namespace, a dedicated SecantusDB server (the same data for every
configuration: seeded once into ``--data``), the machine's PostgreSQL and RabbitMQ through
the relay, `dagster dev` with a fresh instance. The backfill is the documented parallel
procedure: two asset backfills of ranged runs (``--days-per-run`` days, N runs at once,
`mongodb` pool = N): ``raw_patches`` + ``reconstructed_events``, then ``enriched_events``.
A single-process line (one ranged run, in-process executor, same servers) comes first.

Reported per line: wall seconds per pass, patches/s, the sum of step seconds (extract /
enrich) from the event log, the longest wait of a run in the queue, and where the CPU went
(``/proc``: the SecantusDB server, the worker namespaces, every PostgreSQL process of the
machine, everything else: dagster dev, run orchestrators, other sessions), how busy the
machine was and its load average (start / mean / max, sampled every 5 s), and a run's fixed
cost (launch to end, minus its steps' time).
Results: ``bench/results/scale-out.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from snu_assets_tests.distributed.lab import PG_ADMIN, Lab, max_overlap, prerequisites  # noqa: E402

RESULTS = ROOT / "bench" / "results"
KEY = "snu-assets-bench-pseudonym-key-0123456789"
START = date(2025, 3, 3)
TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pids) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        except (OSError, ValueError, IndexError):
            pass
    return total / TICK


def machine_cpu() -> float:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    busy = sum(int(x) for x in fields) - int(fields[3]) - int(fields[4])  # minus idle, iowait
    return busy / TICK


def postgres_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def namespace_pids(lab) -> list[int]:
    pids = []
    for worker in lab.workers:
        out = subprocess.run(
            ["ip", "netns", "pids", worker.netns], capture_output=True, text=True
        ).stdout
        pids += [int(p) for p in out.split()]
    return pids


class Meter:
    """CPU seconds per component between start() and stop(), and the machine's 1-minute load
    average sampled every 5 s meanwhile (other sessions share the machine: the load says how
    quiet it was)."""

    def __init__(self, lab=None, mongo_pid=None):
        self.lab, self.mongo_pid = lab, mongo_pid
        self.loads: list[float] = []
        self._stop = None

    def _sample_load(self) -> None:
        while not self._stop.wait(5):
            self.loads.append(os.getloadavg()[0])

    def sample(self) -> dict:
        # no lab: the steps run in this process (the single-process line)
        own = os.times()
        return {
            "machine": machine_cpu(),
            "mongo": cpu_of([self.mongo_pid]) if self.mongo_pid else 0.0,
            "workers": cpu_of(namespace_pids(self.lab))
            if self.lab
            else own.user + own.system + own.children_user + own.children_system,
            "postgres": cpu_of(postgres_pids()),
        }

    def start(self):
        import threading

        self.loads = [os.getloadavg()[0]]
        self._stop = threading.Event()
        threading.Thread(target=self._sample_load, daemon=True).start()
        self.began, self.t0 = self.sample(), time.monotonic()

    def stop(self) -> dict:
        self._stop.set()
        self.loads.append(os.getloadavg()[0])
        end = self.sample()
        cpu = {k: round(end[k] - self.began[k], 1) for k in end}
        cpu["other"] = round(cpu["machine"] - cpu["mongo"] - cpu["workers"] - cpu["postgres"], 1)
        cpu["wall"] = round(time.monotonic() - self.t0, 1)
        cpu["busy_pct"] = round(100 * cpu["machine"] / (cpu["wall"] * (os.cpu_count() or 1)))
        cpu["load_start"] = round(self.loads[0], 2)
        cpu["load_mean"] = round(sum(self.loads) / len(self.loads), 2)
        cpu["load_max"] = round(max(self.loads), 2)
        return cpu


def seed(data: Path, youngs: int, days: int) -> int:
    """Seed once into ``data`` (a SecantusDB storage folder) and return the patch count."""
    from snu_assets.defs.resources import MongoResource
    from snu_assets.ops.demo_data import seed_mongo

    marker = data / "bench-scale-out.json"
    request = {"youngs": youngs, "days": days, "start": START.isoformat(), "seed": 5}
    if marker.exists() and json.loads(marker.read_text())["request"] == request:
        return json.loads(marker.read_text())["patches"]
    lab = Lab(data.parent / "seed-lab", workers_count=0, mongo_dir=data)
    try:
        lab.start(key=KEY)
        db = MongoResource(uri=lab.mongo_uri, database=lab.mongo_db).db()
        seed_mongo(
            db, seed=5, youngs=youngs, days=days, start=START, progress=True, collect_truth=False
        )
        patches = db["young_patches"].count_documents({}) + db[
            "application_patches"
        ].count_documents({})
        db.client.close()
    finally:
        lab.close()
    marker.write_text(json.dumps({"request": request, "patches": patches, "db": lab.mongo_db}))
    return patches


def single_process(lab, mongo_db: str, days: list[str]) -> dict:
    from dagster import instance_for_test, materialize

    from snu_assets.defs.assets import DAILY_ASSETS
    from snu_assets.defs.resources import MongoResource, PostgresResource, PseudonymResource

    postgres = PostgresResource(url=PG_ADMIN, schema_name=f"bench_single_{lab.tag}")
    meter = Meter(None, lab.procs["secantus"].pid)
    meter.start()
    try:
        with instance_for_test() as instance:
            result = materialize(
                DAILY_ASSETS,
                instance=instance,
                resources={
                    "mongo": MongoResource(uri=lab.mongo_uri, database=mongo_db),
                    "postgres": postgres,
                    "pseudonyms": PseudonymResource(key=KEY),
                },
                tags={
                    "dagster/asset_partition_range_start": days[0],
                    "dagster/asset_partition_range_end": days[-1],
                },
            )
        assert result.success
        return meter.stop()
    finally:
        with postgres.connect() as conn:
            conn.execute(f'drop schema if exists "{postgres.schema}" cascade')
        postgres.engine().dispose()


def distributed(lab, days: list[str]) -> dict:
    from snu_assets_tests.distributed.test_celery_backfill import (
        PASSES,
        backfill_runs,
        check_backfill,
        launch_backfill,
        wait_backfill,
    )

    lab.days = days  # what check_backfill expects
    meter = Meter(lab, lab.procs["secantus"].pid)
    passes, run_ids = [], set()
    meter.start()
    for assets in PASSES:
        began = time.monotonic()
        backfill_id = launch_backfill(lab, days, assets)
        check_backfill(lab, backfill_id, wait_backfill(lab, backfill_id, timeout=7200))
        passes.append(round(time.monotonic() - began, 1))
        run_ids |= {r["runId"] for r in backfill_runs(lab, backfill_id)}
    cpu = meter.stop()
    steps = {}
    for step in ("extract_and_reconstruct", "enriched_events"):
        spans = [s for s in lab.step_intervals(step) if s[0] in run_ids]
        steps[step] = {
            "runs": len(spans),
            "seconds": round(sum(e - b for _, b, e in spans), 1),
            "max_at_once": max_overlap(spans),
        }
    queue_wait = lab.events(
        "select max(s.ts - q.ts) from (select run_id, min(timestamp) ts from event_logs "
        "where dagster_event_type = 'PIPELINE_ENQUEUED' group by 1) q join (select run_id, "
        "min(timestamp) ts from event_logs where dagster_event_type = 'PIPELINE_START' "
        "group by 1) s using (run_id)"
    )[0][0]
    # a run's fixed cost: launch to end of the run, minus the time its steps ran
    # (run process start, plan, dispatch to a worker, the worker's plan, events, run end)
    spans = lab.events(
        "select run_id, extract(epoch from min(timestamp) filter (where dagster_event_type = "
        "'PIPELINE_STARTING')), extract(epoch from max(timestamp) filter (where "
        "dagster_event_type = 'PIPELINE_SUCCESS')) from event_logs group by 1"
    )
    step_time: dict[str, float] = {}
    for step in ("extract_and_reconstruct", "enriched_events"):
        for run_id, began, ended in lab.step_intervals(step):
            if run_id in run_ids and ended is not None:
                step_time[run_id] = step_time.get(run_id, 0.0) + ended - began
    overheads = [
        float(end) - float(start) - step_time.get(run_id, 0.0)
        for run_id, start, end in spans
        if run_id in run_ids and start is not None and end is not None
    ]
    takers = {}
    for _, _, name in lab.step_executions():
        takers[name] = takers.get(name, 0) + 1
    return {
        "passes_s": passes,
        "cpu": cpu,
        "steps": steps,
        "runs": len(run_ids),
        "max_queue_wait_s": round(queue_wait.total_seconds(), 1) if queue_wait else None,
        "steps_per_worker": sorted(takers.values()),
        "run_fixed_cost_s": round(sum(overheads) / len(overheads), 1) if overheads else None,
        "run_fixed_cost_max_s": round(max(overheads), 1) if overheads else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--youngs", type=int, default=3000)
    parser.add_argument("--days", type=int, default=24)
    parser.add_argument("--days-per-run", type=int, default=3)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--data", type=Path, default=Path("/tmp/snu-bench-scale-out/mongo"))
    args = parser.parse_args()
    reason = prerequisites()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    patches = seed(args.data, args.youngs, args.days)
    mongo_db = json.loads((args.data / "bench-scale-out.json").read_text())["db"]
    days = [(START + timedelta(days=n)).isoformat() for n in range(args.days)]
    lines = []
    for count in [0] + [int(n) for n in args.workers.split(",")]:
        lab = Lab(
            args.data.parent / f"lab-{count}",
            workers_count=max(count, 1),
            mongodb_pool=max(count, 1),
            max_runs=max(count, 1) * 2,
            backfill_runs=max(count, 1),
            days_per_run=args.days_per_run,
            start_date=START.isoformat(),
            mongo_dir=args.data,
            mongo_database=mongo_db,
        )
        try:
            lab.start(key=KEY)
            if count == 0:
                result = single_process(lab, mongo_db, days)
                line = {
                    "workers": 0,
                    "label": "single process (one ranged run, in-process)",
                    "seconds": result["wall"],
                    "cpu": result,
                }
            else:
                lab.start_dev()
                result = distributed(lab, days)
                line = {
                    "workers": count,
                    "label": f"{count} Celery worker(s), pool {count}, {count} runs at once",
                    "seconds": sum(result["passes_s"]),
                    **result,
                }
            line["patches_per_s"] = round(patches / line["seconds"], 1)
            lines.append(line)
            print(json.dumps(line), flush=True)
        finally:
            if count:
                with __import__("psycopg").connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute(f'drop schema if exists "{lab.schema}" cascade')
            lab.close()
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "patches": patches,
        "days": args.days,
        "days_per_run": args.days_per_run,
        "youngs": args.youngs,
        "lines": lines,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale-out.json").write_text(json.dumps(report, indent=2))
    (RESULTS / "scale-out.md").write_text(markdown(report))
    print(markdown(report))
    return 0


def markdown(report: dict) -> str:
    base = report["lines"][0]["seconds"]
    one = next((line["seconds"] for line in report["lines"] if line["workers"] == 1), None)
    rows = [
        "| line | seconds | patches/s | vs single process | vs 1 worker | passes s "
        "(extract / enrich) | step s extract / enrich | MongoDB steps at once | "
        "CPU s: SecantusDB / workers / PostgreSQL / other | machine busy | load avg "
        "start / mean / max | fixed cost per run s (mean / max) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for line in report["lines"]:
        cpu = line["cpu"]
        steps = line.get("steps", {})
        extract, enrich = steps.get("extract_and_reconstruct", {}), steps.get("enriched_events", {})
        rows.append(
            f"| {line['label']} | {line['seconds']} | {line['patches_per_s']:,} | "
            f"{base / line['seconds']:.2f}× | "
            f"{(one / line['seconds']) if one and line['workers'] else 0:.2f}× | "
            f"{' / '.join(str(p) for p in line.get('passes_s', [])) or '-'} | "
            f"{extract.get('seconds', '-')} / {enrich.get('seconds', '-')} | "
            f"{extract.get('max_at_once', '-')} | "
            f"{cpu['mongo']} / {cpu['workers']} / {cpu['postgres']} / {cpu['other']} | "
            f"{cpu.get('busy_pct', '-')} % | "
            f"{cpu.get('load_start', '-')} / {cpu.get('load_mean', '-')} / "
            f"{cpu.get('load_max', '-')} | "
            f"{line.get('run_fixed_cost_s', '-')} / {line.get('run_fixed_cost_max_s', '-')} |"
        )
    return (
        f"# Scale-out: 1, 2, 4 Celery workers\n\n{report['when']} — {report['cores']} cores, "
        f"Python {report['python']}; {report['patches']:,} patches ({report['youngs']} "
        f"youngs over {report['days']} days), ranged runs of {report['days_per_run']} days; "
        "embedded SecantusDB (dedicated server), system PostgreSQL 15, RabbitMQ; workers "
        "in network namespaces (bench/scale_out.py).\n\n" + "\n".join(rows) + "\n"
    )


if __name__ == "__main__":
    sys.exit(main())
