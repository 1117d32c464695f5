"""``snu-assets``: the command line of the project.

    snu-assets demo                  servers + seed + materialise everything + summary
    snu-assets seed --youngs N --days D [--seed S] [--start YYYY-MM-DD]
    snu-assets materialize --start YYYY-MM-DD --end YYYY-MM-DD   (daily layers, then views)
    snu-assets dev                   dagster dev (webserver + daemon) on the embedded servers
    snu-assets servers start|stop|status
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from snu_assets import embedded, settings


def configure_environment() -> dict[str, str]:
    """Point every unset setting at the embedded servers and the local Dagster home."""
    if not os.environ.get("SNU_MONGO_URI"):
        embedded.ensure_mongo()
    if not os.environ.get("SNU_POSTGRES_URL"):
        embedded.ensure_postgres()
    if not os.environ.get("SNU_DAGSTER_POSTGRES_URL"):
        if os.environ.get("SNU_POSTGRES_URL"):
            raise SystemExit("SNU_DAGSTER_POSTGRES_URL is unset: with SNU_POSTGRES_URL set, "
                             "tell the Dagster instance which database holds its runs.")
        # dagster-postgres speaks psycopg2; SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3
        os.environ["SNU_DAGSTER_POSTGRES_URL"] = embedded.postgres_uri(
            embedded.DAGSTER_DB).replace("postgresql://", "postgresql+psycopg2://", 1)
    home = settings.state_dir() / "dagster_home"
    home.mkdir(exist_ok=True)
    link = home / "dagster.yaml"
    if not link.exists():
        link.symlink_to(settings.PROJECT_ROOT / "dagster.yaml")
    os.environ.setdefault("DAGSTER_HOME", str(home))
    return dict(os.environ)


def _mongo_db():
    from snu_assets.resources import build_resources

    return build_resources()["mongo"].db()


# ----------------------------------------------------------------------------- commands


def cmd_servers(args) -> int:
    if args.action == "start":
        print("mongo:", embedded.ensure_mongo().uri)
        print("postgres:", embedded.postgres_uri())
    elif args.action == "stop":
        for name, stopped in embedded.stop_all().items():
            print(f"{name}: {'stopped' if stopped else 'was not running'}")
    else:
        for name, state in embedded.status().items():
            print(f"{name}: {state}")
    return 0


def cmd_seed(args) -> int:
    from snu_assets.seed import seed_mongo

    configure_environment()
    started = time.perf_counter()
    result = seed_mongo(_mongo_db(), seed=args.seed, youngs=args.youngs, days=args.days,
                        start=date.fromisoformat(args.start), progress=True, collect_truth=False)
    print(f"seeded in {time.perf_counter() - started:.1f}s: {result}")
    return 0


def materialize_range(start: str, end: str, *, resources=None, instance=None) -> dict:
    """Materialise the daily layers for [start, end] as one ranged run, then the views and
    every complete week. Returns timings per step."""
    from dagster import DagsterInstance, materialize

    from snu_assets.assets import DAILY_ASSETS, REFERENCE_ASSETS, WEEKLY_ASSETS
    from snu_assets.resources import build_resources

    instance = instance or DagsterInstance.get()
    resources = resources or build_resources()
    timings = {}

    def run(assets, **kwargs):
        name = " + ".join(a.key.to_user_string() for a in assets)
        began = time.perf_counter()
        result = materialize(assets, resources=resources, instance=instance, **kwargs)
        if not result.success:
            raise SystemExit(f"materialisation of {name} failed: see the Dagster run "
                             f"{result.run_id}")
        timings[name] = timings.get(name, 0) + time.perf_counter() - began

    run(DAILY_ASSETS, tags={"dagster/asset_partition_range_start": start,
              "dagster/asset_partition_range_end": end})
    run(REFERENCE_ASSETS)
    first = date.fromisoformat(start)
    monday = first - timedelta(days=first.weekday())
    last = date.fromisoformat(end)
    while monday + timedelta(days=6) <= last:
        run(WEEKLY_ASSETS, partition_key=monday.isoformat())
        monday += timedelta(days=7)
    return timings


def cmd_materialize(args) -> int:
    configure_environment()
    for step, seconds in materialize_range(args.start, args.end).items():
        print(f"{step}: {seconds:.1f}s")
    return 0


def cmd_demo(args) -> int:
    from snu_assets import summary
    from snu_assets.seed import seed_mongo

    began = time.perf_counter()
    configure_environment()
    end = date.today() - timedelta(days=1)
    start = end - timedelta(days=args.days - 1)
    print(f"seeding {args.youngs} youngs over {args.days} days ({start} .. {end}) ...")
    seed_mongo(_mongo_db(), seed=args.seed, youngs=args.youngs, days=args.days, start=start,
               progress=True, collect_truth=False)
    print("materialising the asset graph ...")
    timings = materialize_range(start.isoformat(), end.isoformat())
    summary.print_summary(start, end, timings, time.perf_counter() - began)
    return 0


def cmd_dev(args) -> int:
    env = configure_environment()
    return subprocess.call(
        [str(Path(sys.executable).parent / "dagster"), "dev", "-w",
         str(settings.PROJECT_ROOT / "workspace.yaml"), "-p", str(args.port)], env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="snu-assets", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("servers", help="start, stop or show the embedded servers")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.set_defaults(func=cmd_servers)

    for name, func, help_ in (("seed", cmd_seed, "write synthetic SNU data to MongoDB"),
                              ("demo", cmd_demo, "seed, materialise and print a summary")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--youngs", type=int, default=3000)
        p.add_argument("--days", type=int, default=120)
        p.add_argument("--seed", type=int, default=42)
        if name == "seed":
            p.add_argument("--start", default=(date.today() - timedelta(days=120)).isoformat())
        p.set_defaults(func=func)

    p = sub.add_parser("materialize", help="materialise the daily layers for a range, then views")
    p.add_argument("--start", required=True)
    p.add_argument("--end", required=True)
    p.set_defaults(func=cmd_materialize)

    p = sub.add_parser("dev", help="dagster dev on the embedded servers")
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(func=cmd_dev)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
