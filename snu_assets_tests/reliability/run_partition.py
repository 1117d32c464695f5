"""Materialise the daily assets of one day (or a range) in a process of its own, the way a
run worker does, for the crash and load tests.

    python run_partition.py --mongo-uri URI --mongo-db DB --postgres-url URL --schema S \
        --key KEY --start 2025-03-14 [--end 2025-03-15] [--assets raw_patches,...]
        [--hold-table raw_patches --hold-phase copy|swap --hold-after N --marker FILE]
        [--go-file FILE] [--barrier-dir DIR --barrier-count N] [--result FILE]

Test hooks, installed in this process only (product code is unchanged):

- ``--hold-*``: freeze the run inside ``PostgresResource.replace_slices`` so that the test can
  SIGKILL it at a known point: ``copy`` once ``--hold-after`` rows of ``--hold-table`` were
  handed to ``COPY`` into the staging table; ``swap`` right after the staged rows were
  inserted into the table (window deleted, not committed). ``--marker`` then receives a JSON
  ``{pid, phase, backends}`` (the PostgreSQL backend pids of the open connections).
- ``--go-file``: touch ``<go-file>.ready.<name>``, then wait for the go file before starting
  (runs launched together start together).
- ``--barrier-*``: before taking the first advisory lock of each step's swap (``raw_patches``
  for ``extract_and_reconstruct``, which then locks ``reconstructed_events`` and
  ``rejected_patches`` in the same transaction; ``enriched_events``), wait (120 s at most: a loaded machine) until
  every run has staged its rows, so that the swaps of all runs really contend.

Exit status 0 when the run succeeded; ``--result`` receives a JSON summary.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

#: the first table each step locks (extract_and_reconstruct, enriched_events)
BARRIER_TABLES = ("raw_patches", "enriched_events")


def write_json(path: str, payload: dict) -> None:
    tmp = Path(f"{path}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(payload))
    tmp.replace(path)


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mongo-uri", required=True)
    parser.add_argument("--mongo-db", required=True)
    parser.add_argument("--postgres-url", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--start", required=True, help="first day (partition key)")
    parser.add_argument("--end", help="last day of a ranged run")
    parser.add_argument("--assets", default="raw_patches,reconstructed_events,enriched_events")
    parser.add_argument("--hold-table")
    parser.add_argument("--hold-phase", choices=("copy", "swap"))
    parser.add_argument("--hold-after", type=int, default=20)
    parser.add_argument("--marker")
    parser.add_argument("--go-file")
    parser.add_argument("--barrier-dir")
    parser.add_argument("--barrier-count", type=int, default=0)
    parser.add_argument("--barrier-timeout", type=float, default=300.0)
    parser.add_argument("--name", default=str(os.getpid()))
    parser.add_argument("--result")
    return parser.parse_args(argv)


def install_hooks(args, barriers: dict) -> None:
    import psycopg

    from snu_assets.defs.resources import PostgresResource

    backends: list[int] = []
    original_connect = PostgresResource.connect

    @contextlib.contextmanager
    def connect(self):
        with original_connect(self) as conn:
            pid = conn.pgconn.backend_pid
            backends.append(pid)
            try:
                yield conn
            finally:
                backends.remove(pid)

    PostgresResource.connect = connect

    def hold(phase: str) -> None:
        write_json(
            args.marker,
            {"pid": os.getpid(), "phase": phase, "backends": list(backends), "at": time.time()},
        )
        time.sleep(3600)  # the test SIGKILLs us here

    if args.hold_table and args.hold_phase == "copy":
        original_replace = PostgresResource.replace_slices

        def held(rows):
            for count, row in enumerate(rows, 1):
                yield row
                if count == args.hold_after:
                    hold("copy")

        def replace_slices(self, slices, before_swap=None):
            return original_replace(
                self,
                [
                    dataclasses.replace(piece, rows=held(piece.rows))
                    if piece.table == args.hold_table
                    else piece
                    for piece in slices
                ],
                before_swap,
            )

        PostgresResource.replace_slices = replace_slices

    original_execute = psycopg.Connection.execute

    def execute(self, query, params=None, *rest, **kwargs):
        text = query if isinstance(query, str) else ""
        if (
            args.barrier_dir
            and text.startswith("select pg_advisory_xact_lock")
            and params
            and any(str(params[0]).endswith(f'."{t}"') for t in BARRIER_TABLES)
        ):
            table = str(params[0]).rsplit(".", 1)[1].strip('"')
            barriers[table] = rendezvous(args, table)
        cursor = original_execute(self, query, params, *rest, **kwargs)
        if (
            args.hold_table
            and args.hold_phase == "swap"
            and text.startswith(f'insert into "{args.schema}"."{args.hold_table}"')
        ):
            hold("swap")
        return cursor

    psycopg.Connection.execute = execute


def rendezvous(args, table: str) -> int:
    """Wait until ``--barrier-count`` runs reached this point for ``table`` (or the timeout);
    returns how many had arrived."""
    folder = Path(args.barrier_dir)
    (folder / f"{table}.{args.name}").touch()
    deadline = time.monotonic() + args.barrier_timeout
    while True:
        arrived = len(list(folder.glob(f"{table}.*")))
        if arrived >= args.barrier_count or time.monotonic() > deadline:
            return arrived
        time.sleep(0.02)


def main(argv=None) -> int:
    args = parse(argv)
    barriers: dict[str, int] = {}
    install_hooks(args, barriers)

    from dagster import DagsterEventType, DagsterInstance, materialize

    from snu_assets.defs.assets import DAILY_ASSETS
    from snu_assets.defs.resources import MongoResource, PostgresResource, PseudonymResource

    wanted = args.assets.split(",")
    resources = {
        "mongo": MongoResource(uri=args.mongo_uri, database=args.mongo_db),
        "postgres": PostgresResource(url=args.postgres_url, schema_name=args.schema),
        "pseudonyms": PseudonymResource(key=args.key),
    }
    if args.end and args.end != args.start:
        selection = {
            "tags": {
                "dagster/asset_partition_range_start": args.start,
                "dagster/asset_partition_range_end": args.end,
            }
        }
    else:
        selection = {"partition_key": args.start}
    if args.go_file:
        Path(f"{args.go_file}.ready.{args.name}").touch()
        deadline = time.monotonic() + 60
        while not os.path.exists(args.go_file) and time.monotonic() < deadline:
            time.sleep(0.01)
    began = time.time()
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            DAILY_ASSETS,
            resources=resources,
            instance=instance,
            selection=wanted,
            raise_on_error=False,
            **selection,
        )
        failures = [
            str(e.event_specific_data.error.to_string())
            for e in result.all_events
            if e.event_type == DagsterEventType.STEP_FAILURE
        ]
    if args.result:
        write_json(
            args.result,
            {
                "name": args.name,
                "success": result.success,
                "run_id": result.run_id,
                "began": began,
                "ended": time.time(),
                "barriers": barriers,
                "failures": failures,
            },
        )
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
