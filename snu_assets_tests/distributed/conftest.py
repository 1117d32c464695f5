"""The cluster of the distributed tests (``lab.py``), its data and the single-process
reference the distributed runs are compared with.

One lab serves the session (every module of this folder): 2 Celery workers in 2 network namespaces, a dedicated SecantusDB
server and a relay to PostgreSQL and RabbitMQ on the bridge address, `dagster dev` with an
isolated instance (fresh PostgreSQL database), a fresh analytics schema. Skipped, with the
reason, where namespaces, RabbitMQ, the system PostgreSQL or dagster-celery are missing.
"""

from __future__ import annotations

import os
import time
from datetime import date, timedelta

import pytest
from dagster import instance_for_test, materialize

from snu_assets.defs.assets import DAILY_ASSETS
from snu_assets.defs.resources import MongoResource, PostgresResource, PseudonymResource
from snu_assets.ops.demo_data import seed_mongo
from snu_assets_tests.conftest import TEST_KEY
from snu_assets_tests.distributed.lab import PG_ADMIN, Lab, prerequisites

DAILY_TABLES = ("raw_patches", "rejected_patches", "reconstructed_events", "enriched_events")
START = date(2025, 3, 3)  # a Monday
DAYS = int(os.environ.get("SNU_DIST_TEST_DAYS", "8"))
YOUNGS = int(os.environ.get("SNU_DIST_TEST_YOUNGS", "1200"))


def snapshot(postgres: PostgresResource) -> dict[str, list[str]]:
    """Every row of every daily table, as text, sorted."""
    with postgres.connect() as conn:
        return {
            t: [
                r[0]
                for r in conn.execute(
                    f"select t::text from {postgres.table(t)} t order by 1"
                ).fetchall()
            ]
            for t in DAILY_TABLES
        }


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    reason = prerequisites()
    if reason:
        pytest.skip(f"distributed lab unavailable: {reason}")
    cluster = Lab(
        tmp_path_factory.mktemp("lab"),
        workers_count=2,
        mongodb_pool=1,
        max_runs=4,
        backfill_runs=2,
        days_per_run=4,
        start_date=START.isoformat(),
    )
    reference = PostgresResource(url=PG_ADMIN, schema_name=f"snu_ref_{cluster.tag}")
    try:
        cluster.start(key=TEST_KEY)
        mongo = MongoResource(uri=cluster.mongo_uri, database=cluster.mongo_db)
        began = time.monotonic()
        seed_mongo(
            mongo.db(),
            seed=31,
            youngs=YOUNGS,
            days=DAYS,
            start=START,
            progress=False,
            collect_truth=False,
        )
        cluster.timings["seed_s"] = round(time.monotonic() - began, 1)
        cluster.days = [(START + timedelta(days=n)).isoformat() for n in range(DAYS)]
        # the single-process reference: one ranged run, in-process executor, same servers
        began = time.monotonic()
        with instance_for_test() as instance:
            result = materialize(
                DAILY_ASSETS,
                instance=instance,
                resources={
                    "mongo": mongo,
                    "postgres": reference,
                    "pseudonyms": PseudonymResource(key=TEST_KEY),
                },
                tags={
                    "dagster/asset_partition_range_start": cluster.days[0],
                    "dagster/asset_partition_range_end": cluster.days[-1],
                },
            )
        assert result.success
        cluster.timings["single_process_s"] = round(time.monotonic() - began, 1)
        cluster.reference = snapshot(reference)
        mongo.client().close()
        cluster.postgres = PostgresResource(url=PG_ADMIN, schema_name=cluster.schema)
        cluster.start_dev()
        print(
            f"\nlab {cluster.host_ip} tag {cluster.tag}: "
            f"{len(cluster.reference['raw_patches'])} patches over {DAYS} days; "
            f"logs in {cluster.root}"
        )
        yield cluster
        print(f"\ndistributed timings: {cluster.timings}")
    finally:
        cluster.close()
        for schema in (reference, PostgresResource(url=PG_ADMIN, schema_name=cluster.schema)):
            with schema.connect() as conn:
                conn.execute(f'drop schema if exists "{schema.schema}" cascade')
            schema.engine().dispose()
