"""The peer of the benchmark: the same patches loaded with dlt, the way a team would do it
with dlt instead of snu-assets (a pymongo cursor as a dlt resource, ``merge`` on ``_id``).

Runs in its OWN venv (``bench/.venv-dlt``, from ``bench/requirements-dlt.txt``), never in the
project's: ``bench/run.py`` starts it as a subprocess of that venv and measures it. It imports
nothing from ``snu_assets``.

    bench/.venv-dlt/bin/python bench/dlt_load.py --mongo-uri URI --db bench_main \
        --start 2025-01-05T23:00:00+00:00 --end 2025-03-06T23:00:00+00:00 \
        --postgres postgresql://postgres:@/snu?host=/path/to/socketdir --dataset bench_dlt \
        --out result.json

What it loads: both patch collections (``young_patches``, ``application_patches``), the
documents whose ``date`` lies in ``[start, end)``, with the projection of the fields
snu-assets reads (``_id, ref, date, modelName, ops, user.role``), ``ops`` kept as one JSON
column (``jsonb``) like ``raw_patches.ops``; ids become hex strings (dlt has no ObjectId
type). One table per collection in the dataset (schema) ``--dataset``, which is dropped
with its ``_staging`` twin before the run. No scrubbing, pseudonymising or reconstruction:
this is the load-only peer.

PostgreSQL on a Unix socket: dlt's postgres credentials require a ``host``, so a URL whose
socket directory sits in the query (``postgresql://postgres:@/snu?host=/dir``, what the
embedded server gives) is refused ("host missing"). :func:`dlt_credentials` moves the
directory into the netloc, percent-encoded (``postgresql://postgres:@%2Fdir/snu``), which
dlt accepts and psycopg2/libpq reads as a socket directory.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import datetime
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

PROJECTION = {"_id": 1, "ref": 1, "date": 1, "modelName": 1, "ops": 1, "user.role": 1}
COLLECTIONS = ("young_patches", "application_patches")


def dlt_credentials(url: str) -> str:
    """``postgresql://u:p@/db?host=/dir`` -> ``postgresql://u:p@%2Fdir/db`` (see module doc)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if parts.hostname or not query.get("host", "").startswith("/"):
        return url
    socket_dir = query.pop("host")
    userinfo, _, _ = parts.netloc.rpartition("@")
    netloc = (userinfo + "@" if userinfo else "") + quote(socket_dir, safe="")
    if query.get("port"):
        netloc += ":" + query.pop("port")
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), parts.fragment))


def vmhwm_kib() -> int | None:
    """Peak resident set of this process since its exec (``VmHWM``), in KiB (``ru_maxrss``
    would count the parent's RSS at fork/exec time too)."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mongo-uri", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--start", required=True, help="ISO datetime with offset (inclusive)")
    parser.add_argument("--end", required=True, help="ISO datetime with offset (exclusive)")
    parser.add_argument("--postgres", required=True, help="postgresql:// URL")
    parser.add_argument("--dataset", default="bench_dlt")
    parser.add_argument(
        "--file-format",
        default=None,
        help="dlt loader_file_format (default: dlt's own for postgres, "
        "insert_values; 'csv' loads through COPY)",
    )
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--out", required=True, help="where to write the JSON result")
    args = parser.parse_args()
    if not args.dataset.startswith("bench_"):
        raise SystemExit("--dataset must start with bench_ (it is dropped before the run)")

    import dlt
    import psycopg2
    from pymongo import MongoClient

    start, end = datetime.fromisoformat(args.start), datetime.fromisoformat(args.end)
    # drop the dataset and its staging twin: every run starts from nothing
    with psycopg2.connect(args.postgres.replace("postgresql+psycopg://", "postgresql://")) as conn:
        with conn.cursor() as cur:
            for schema in (args.dataset, args.dataset + "_staging"):
                cur.execute(f'drop schema if exists "{schema}" cascade')
    conn.close()

    client = MongoClient(args.mongo_uri, tz_aware=True)
    db = client[args.db]
    query = {"date": {"$gte": start, "$lt": end}}

    def patches(collection: str):
        for doc in db[collection].find(query, PROJECTION, batch_size=args.batch_size):
            doc["_id"] = str(doc["_id"])
            if doc.get("ref") is not None:
                doc["ref"] = str(doc["ref"])
            yield doc

    resources = [
        dlt.resource(
            patches(name),
            name=name,
            write_disposition="merge",
            primary_key="_id",
            columns={"ops": {"data_type": "json"}, "date": {"data_type": "timestamp"}},
        )
        for name in COLLECTIONS
    ]
    work_dir = tempfile.mkdtemp(prefix="bench_dlt_")
    try:
        pipeline = dlt.pipeline(
            pipeline_name="bench_snu_patches",
            pipelines_dir=work_dir,
            destination=dlt.destinations.postgres(credentials=dlt_credentials(args.postgres)),
            dataset_name=args.dataset,
            progress=None,
        )
        began = time.perf_counter()
        info = pipeline.run(resources, loader_file_format=args.file_format)
        seconds = time.perf_counter() - began
        info.raise_on_failed_jobs()
        phases = {}
        for step in pipeline.last_trace.steps:
            if step.started_at and step.finished_at:
                phases[step.step] = round((step.finished_at - step.started_at).total_seconds(), 3)
        rows = {}
        with pipeline.sql_client() as sql:
            for name in COLLECTIONS:
                try:
                    rows[name] = sql.execute_sql(f"select count(*) from {name}")[0][0]
                except Exception:  # a collection with no document in the window: no table
                    rows[name] = 0
        result = {
            "seconds": seconds,
            "rows": sum(rows.values()),
            "rows_per_table": rows,
            "phases": phases,
            "file_format": args.file_format or "default (insert_values)",
            "dlt_version": dlt.__version__,
            "vmhwm_kib": vmhwm_kib(),
        }
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
        client.close()
    with open(args.out, "w") as handle:
        json.dump(result, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
