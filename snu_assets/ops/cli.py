"""``snu-assets``: the command line of the project.

snu-assets demo                  servers + seed + materialise everything + summary
snu-assets seed --youngs N --days D [--seed S] [--start YYYY-MM-DD]
snu-assets run --date YYYY-MM-DD                     one day, then the weeks it completes
snu-assets backfill --start YYYY-MM-DD --end YYYY-MM-DD   a Dagster backfill, then the views
snu-assets dev                   dagster dev (webserver + daemon) on the embedded servers
snu-assets roles [--reader snu_reader] [--public snu_public] [--writer snu_writer] [--print]
snu-assets servers start|stop|status
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType

from pymongo.database import Database

from snu_assets import settings
from snu_assets.io import embedded

#: (embedded servers) the first day of the demo's data, written by ``snu-assets demo``
DEMO_START_FILE = "demo-start-date"


def configure_environment() -> dict[str, str]:
    """Point every unset setting at the embedded servers and the local Dagster home; on the
    embedded servers, the daily partitions start on the demo data's first day (the UI then
    shows no year of "missing" days before it)."""
    if not os.environ.get("SNU_MONGO_URI"):
        embedded.ensure_mongo()
    if not os.environ.get("SNU_POSTGRES_URL"):
        embedded.ensure_postgres()
        demo_start = settings.state_dir() / DEMO_START_FILE
        if not os.environ.get("SNU_START_DATE") and demo_start.exists():
            os.environ["SNU_START_DATE"] = demo_start.read_text().strip()
            settings.reload()
    home = settings.state_dir() / "dagster_home"
    home.mkdir(exist_ok=True)
    link = home / "dagster.yaml"
    if not link.exists():
        link.symlink_to(settings.PROJECT_ROOT / "dagster.yaml")
    os.environ.setdefault("DAGSTER_HOME", str(home))
    return dict(os.environ)


def _demo_data() -> ModuleType:
    """:mod:`snu_assets.ops.demo_data`, imported on demand: it needs the ``demo`` extra."""
    try:
        from snu_assets.ops import demo_data
    except ModuleNotFoundError as missing:
        if missing.name not in ("faker", "tqdm"):
            raise
        raise SystemExit(
            f"the synthetic data needs the 'demo' extra ({missing.name} is not installed): "
            "pip install 'snu-assets[demo]' (make install does)"
        ) from None
    return demo_data


def _mongo_db() -> Database:
    from snu_assets.defs.resources import build_resources

    return build_resources()["mongo"].db()


# ----------------------------------------------------------------------------- commands


def cmd_servers(args: argparse.Namespace) -> int:
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


def cmd_seed(args: argparse.Namespace) -> int:
    seed_mongo = _demo_data().seed_mongo
    configure_environment()
    started = time.perf_counter()
    result = seed_mongo(
        _mongo_db(),
        seed=args.seed,
        youngs=args.youngs,
        days=args.days,
        start=date.fromisoformat(args.start),
        progress=True,
        collect_truth=False,
    )
    print(f"seeded in {time.perf_counter() - started:.1f}s: {result}")
    return 0


def cmd_materialize(args: argparse.Namespace) -> int:
    """``run`` and ``backfill``: Dagster asset backfills, carried out by the Dagster daemon
    (the running one, or one started for the command), shown on the UI's Backfills page."""
    from snu_assets.ops.backfill import BackfillFailed, backfill_range
    from snu_assets.ops.dagster_api import DagsterUnavailable

    configure_environment()
    end = args.end or args.start
    try:
        timings = backfill_range(args.start, end)
    except (BackfillFailed, DagsterUnavailable) as exc:
        raise SystemExit(str(exc)) from None
    for step, seconds in timings.items():
        print(f"{step}: {seconds:.1f}s")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from snu_assets.ops import summary

    seed_mongo = _demo_data().seed_mongo
    began = time.perf_counter()
    configure_environment()
    end = date.today() - timedelta(days=1)
    start = end - timedelta(days=args.days - 1)
    if not os.environ.get("SNU_POSTGRES_URL") and not os.environ.get("SNU_START_DATE"):
        (settings.state_dir() / DEMO_START_FILE).write_text(start.isoformat())
        os.environ["SNU_START_DATE"] = start.isoformat()  # before the partitions are built
        settings.reload()
    print(f"seeding {args.youngs} youngs over {args.days} days ({start} .. {end}) ...")
    seed_mongo(
        _mongo_db(),
        seed=args.seed,
        youngs=args.youngs,
        days=args.days,
        start=start,
        progress=True,
        collect_truth=False,
    )
    from snu_assets.ops.backfill import backfill_range

    print("materialising the asset graph (Dagster backfills, carried out by the daemon) ...")
    timings = backfill_range(start.isoformat(), end.isoformat())
    summary.print_summary(start, end, timings, time.perf_counter() - began)
    return 0


def cmd_roles(args: argparse.Namespace) -> int:
    """Create the read-only Metabase roles (ministry, public) and the pipeline's writer role."""
    import re as _re

    from snu_assets.defs.resources import build_resources

    for name in (args.reader, args.public, args.writer):
        if not _re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise SystemExit(f"role name {name!r} is not a plain lower-case identifier")
    configure_environment()
    postgres = build_resources()["postgres"]
    postgres.ensure_schema()
    text = (
        postgres.sql("roles.sql")
        .replace("{reader}", args.reader)
        .replace("{public}", args.public)
        .replace("{writer}", args.writer)
    )
    if args.print:
        print(text)
        return 0
    with postgres.connect() as conn:
        conn.execute(text)
    print(
        f"roles {args.reader} (read-only, exact and published tables), {args.public} "
        f"(read-only, protected aggregates) and {args.writer} (pipeline) "
        f"ready on schema {postgres.schema}; set their passwords with ALTER ROLE."
    )
    return 0


def dev_working_directory(env: Mapping[str, str]) -> Path:
    """Where ``dagster dev`` runs: in ``DAGSTER_HOME``, beside the ``dagster.yaml`` it reads.
    ``dagster dev`` warns that a ``dagster.yaml`` of its working directory "will not be used"
    unless that directory is ``DAGSTER_HOME``: started from the project's folder, whose
    ``dagster.yaml`` is the one ``.snu/dagster_home`` links to and Dagster does use, it would
    print that false warning."""
    return Path(env["DAGSTER_HOME"])


def cmd_dev(args: argparse.Namespace) -> int:
    env = configure_environment()
    dagster = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster"),
            "dev",
            "-w",
            str(settings.PROJECT_ROOT / "workspace.yaml"),
            "-p",
            str(args.port),
        ],
        env=env,
        cwd=dev_working_directory(env),
    )
    try:
        return dagster.wait()
    except KeyboardInterrupt:
        # Ctrl-C reached dagster dev as well (the terminal signals the whole process group):
        # let it stop its webserver, daemon and code server rather than kill it under them
        try:
            return dagster.wait(timeout=60)
        except (KeyboardInterrupt, subprocess.TimeoutExpired):
            dagster.terminate()
            return dagster.wait()


def cmd_rotate_key(args: argparse.Namespace) -> int:
    """Rebuild every table under SNU_NEW_PSEUDONYM_KEY, verify, swap (docs/operations.md)."""
    from dagster import DagsterInstance

    from snu_assets.defs.partitions import daily_partitions
    from snu_assets.defs.resources import build_resources
    from snu_assets.ops.rotation import RotationFailed, rotate_key

    configure_environment()
    current = settings.current()
    if not current.new_pseudonym_key:
        raise SystemExit("set SNU_NEW_PSEUDONYM_KEY to the new key (never on the command line)")
    resources = build_resources()
    pseudonyms, postgres = resources["pseudonyms"], resources["postgres"]
    old = pseudonyms.key or current.pseudonym_key
    if not old:  # the embedded demo's key
        from snu_assets.core.privacy.pseudonym import demo_key

        old = demo_key(settings.state_dir())
    end = args.end or daily_partitions.get_last_partition_key() or current.start_date
    try:
        report = rotate_key(
            postgres,
            old,
            current.new_pseudonym_key,
            args.start or current.start_date,
            end,
            DagsterInstance.get(),
        )
    except RotationFailed as exc:
        raise SystemExit(f"rotation stopped before the swap, nothing changed: {exc}") from None
    print(
        f"rebuild {report.rebuild_s:.0f}s, verification {report.verify_s:.0f}s, "
        f"swap {report.swap_s:.2f}s; published rows {report.published_rows}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="snu-assets", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("servers", help="start, stop or show the embedded servers")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.set_defaults(func=cmd_servers)

    # the demo shows the product at a size where every week is worth publishing
    for name, func, help_, youngs, days in (
        ("seed", cmd_seed, "write synthetic SNU data to MongoDB", 5000, 120),
        ("demo", cmd_demo, "seed, materialise and print a summary", 5000, 120),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--youngs", type=int, default=youngs)
        p.add_argument("--days", type=int, default=days)
        p.add_argument("--seed", type=int, default=42)
        if name == "seed":
            p.add_argument("--start", default=(date.today() - timedelta(days=120)).isoformat())
        p.set_defaults(func=func)

    p = sub.add_parser(
        "run", help="materialise one day (daily layers, then the views it completes)"
    )
    p.add_argument("--date", dest="start", required=True, metavar="YYYY-MM-DD")
    p.set_defaults(func=cmd_materialize, end=None)

    p = sub.add_parser(
        "backfill", help="a Dagster backfill of a range of days (ranged runs), then the views"
    )
    p.add_argument("--start", required=True, metavar="YYYY-MM-DD")
    p.add_argument("--end", required=True, metavar="YYYY-MM-DD")
    p.set_defaults(func=cmd_materialize)

    p = sub.add_parser("roles", help="create the read-only Metabase roles and the writer role")
    p.add_argument("--reader", default="snu_reader")
    p.add_argument("--public", default="snu_public")
    p.add_argument("--writer", default="snu_writer")
    p.add_argument("--print", action="store_true", help="print the SQL instead of running it")
    p.set_defaults(func=cmd_roles)

    p = sub.add_parser(
        "rotate-key",
        help="rebuild every table under SNU_NEW_PSEUDONYM_KEY, verify, swap atomically",
    )
    p.add_argument("--start", metavar="YYYY-MM-DD", help="first day (SNU_START_DATE)")
    p.add_argument("--end", metavar="YYYY-MM-DD", help="last day (yesterday)")
    p.set_defaults(func=cmd_rotate_key)

    p = sub.add_parser("dev", help="dagster dev on the embedded servers")
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(func=cmd_dev)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
