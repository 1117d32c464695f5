#!/usr/bin/env python
"""A day with hostile patches costs about what the same day costs without them (issue #11).

    .venv/bin/python bench/hostile_day.py [--youngs 400] [--mb 1] [--repeat 2]

Seeds one realistic day with the project's generator (embedded servers), materialises the
daily layers for it, then adds one patch per adversarial family, each holding a value of
``--mb`` MB in an allow-listed field (plus a value nested 100 levels deep with long keys,
and a patch of 20,000 writes inside a statistical field), and materialises the day again
in a fresh schema. Prints both times (best of ``--repeat``), their ratio, and what the
hostile patches became; writes ``bench/results/hostile-day.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import uuid
from pathlib import Path

from bson import ObjectId
from dagster import DagsterInstance, materialize

from snu_assets.defs.assets import DAILY_ASSETS
from snu_assets.defs.resources import MongoResource, PostgresResource, PseudonymResource
from snu_assets.io import embedded
from snu_assets.ops.demo_data import seed_mongo
from snu_assets_testing.adversarial import FAMILIES, nested

RESULTS = Path(__file__).resolve().parent / "results" / "hostile-day.md"
DAY = dt.date(2025, 3, 12)
FIELDS = ("cohort", "grade", "situation", "status", "department", "cohortId", "birthdateAt")


def hostile_patches(db, size: int) -> list[dict]:
    refs = [d["ref"] for d in db.young_patches.find({}, {"ref": 1}).limit(50)]
    when = dt.datetime.combine(DAY, dt.time(12))
    docs = []
    for index, (name, make) in enumerate(FAMILIES.items()):
        field = FIELDS[index % len(FIELDS)]
        at = when + dt.timedelta(seconds=index)
        docs.append(
            {
                "_id": ObjectId.from_datetime(at),
                "ref": refs[index],
                "modelName": "young",
                "date": at,
                "user": {"role": "admin", "firstName": make(1000)},
                "ops": [
                    {
                        "op": "replace",
                        "path": f"/{field}",
                        "value": make(size),
                        "originalValue": "x",
                    }
                ],
                "family": name,
            }
        )
    deep = nested(100, 1000)
    at = when + dt.timedelta(minutes=5)
    docs.append(
        {
            "_id": ObjectId.from_datetime(at),
            "ref": refs[-1],
            "modelName": "young",
            "date": at,
            "ops": [{"op": "add", "path": "/qpv", "value": deep}],
        }
    )
    at += dt.timedelta(seconds=1)
    docs.append(
        {
            "_id": ObjectId.from_datetime(at),
            "ref": refs[-2],
            "modelName": "young",
            "date": at,
            "ops": [
                {"op": "add", "path": f"/cohort/{i}", "value": "a" * 64} for i in range(20_000)
            ],
        }
    )
    return docs


def materialise(resources: dict) -> float:
    started = time.perf_counter()
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            DAILY_ASSETS,
            partition_key=DAY.isoformat(),
            resources=resources,
            instance=instance,
            raise_on_error=True,
        )
    assert result.success
    return time.perf_counter() - started


def best_of(repeat: int, mongo: MongoResource, url: str) -> tuple[float, PostgresResource]:
    times = []
    for _ in range(repeat):
        postgres = PostgresResource(url=url, schema_name=f"bench_hostile_{uuid.uuid4().hex[:6]}")
        times.append(
            materialise(
                {
                    "mongo": mongo,
                    "postgres": postgres,
                    "pseudonyms": PseudonymResource(key="bench-hostile-key-0123456789"),
                }
            )
        )
    return min(times), postgres


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--youngs", type=int, default=400)
    parser.add_argument("--mb", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    mongo_server = embedded.ensure_mongo()
    embedded.ensure_postgres()
    url = embedded.postgres_uri()
    mongo = MongoResource(uri=mongo_server.uri, database="bench_hostile")
    db = mongo.db()
    seed_mongo(
        db, seed=11, youngs=args.youngs, days=1, start=DAY, progress=False, collect_truth=False
    )
    patches = db.young_patches.count_documents({}) + db.application_patches.count_documents({})
    clean, _ = best_of(args.repeat, mongo, url)
    docs = hostile_patches(db, int(args.mb * 1024 * 1024))
    db.young_patches.insert_many(docs)
    hostile, postgres = best_of(args.repeat, mongo, url)
    with postgres.connect() as conn:
        s = postgres.schema
        raw = conn.execute(
            f"select count(*), count(*) filter (where redacted_values > 0), "
            f'max(length(ops::text)) from "{s}".raw_patches'
        ).fetchone()
        rejected = conn.execute(f'select count(*) from "{s}".rejected_patches').fetchone()[0]
        for schema in conn.execute(
            "select nspname from pg_namespace where nspname like 'bench_hostile_%'"
        ).fetchall():
            conn.execute(f'drop schema "{schema[0]}" cascade')
    mongo.client().drop_database("bench_hostile")
    lines = [
        f"# A day with hostile patches (bench/hostile_day.py, {dt.date.today()})",
        "",
        f"Day {DAY}: {patches} seeded patches ({args.youngs} youngs), then {len(docs)} hostile "
        f"patches ({len(FAMILIES)} families of {args.mb:g} MB in allow-listed fields, one value "
        "nested 100 levels with 1,000-character keys, one patch of 20,000 writes inside a "
        "statistical field). Daily layers, one partition, embedded SecantusDB + PostgreSQL 18, "
        f"best of {args.repeat}.",
        "",
        "| day | seconds |",
        "| --- | --- |",
        f"| without hostile patches | {clean:.2f} |",
        f"| with hostile patches | {hostile:.2f} |",
        f"| ratio | {hostile / clean:.2f} |",
        "",
        f"raw_patches: {raw[0]} rows, {raw[1]} with redacted values, longest ops "
        f"{raw[2]} characters; rejected_patches: {rejected}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
