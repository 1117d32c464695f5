"""Issue #21, item 4: replacing the pseudonym key. On seeded data, materialised by Dagster
backfills: ``rotate_key`` rebuilds every table under a new key into a shadow schema, verifies
it and swaps it in. Every table's pseudonyms change, the published aggregates do not, no old
pseudonym is left in PostgreSQL or Dagster's storage, and readers querying throughout never
see an empty, missing or half-rotated table."""

import re
import threading
import time
import uuid
from datetime import date, datetime

import psycopg
import pytest
from bson import ObjectId
from dagster import (
    AssetObservation,
    DagsterInstance,
    OpExecutionContext,
    Output,
    job,
    op,
    serialize_value,
)

from snu_assets.core.privacy.pseudonym import key_fingerprint
from snu_assets.ops.demo_data import seed_mongo
from snu_assets.ops.rotation import PUBLISHED, rotate_key
from snu_assets_tests.backfills import backfill_through_dagster, environment
from snu_assets_tests.conftest import TEST_KEY, drop_schema, make_postgres

NEW_KEY = "the-new-pseudonym-key-after-a-leak-0123456789"
START, END = "2025-01-06", "2025-01-19"
ID_COLUMNS = {
    "raw_patches": ("patch_id", "record_id", "young_id"),
    "rejected_patches": ("patch_id",),
    "reconstructed_events": ("event_id", "patch_id", "record_id", "young_id"),
    "enriched_events": ("event_id", "young_id"),
}
#: each reader query gives one number, the same before and after the rotation: a gap (an
#: empty or missing table) or a half-rotated state (old events joined with new patches) shows
READER_QUERIES = {
    "events joined with their patches": "select count(*) from {s}.reconstructed_events e "
    "join {s}.raw_patches r using (patch_id)",
    "enriched joined with events": "select count(*) from {s}.enriched_events x "
    "join {s}.reconstructed_events e using (event_id, young_id)",
    "published funnel": "select count(*), sum(created_cumulated) from {s}.weekly_funnel_national",
}


@op(config_schema={"young": str})
def leak(context: OpExecutionContext):
    yield AssetObservation("raw_patches", metadata={"young_id": context.op_config["young"]})
    yield Output(None)


@job
def leak_job():
    leak()


@pytest.fixture()
def seeded(embedded_servers, postgres_url, tmp_path):
    from snu_assets.defs.resources import MongoResource

    mongo = MongoResource(uri=embedded_servers.uri, database=f"snu_rot_{uuid.uuid4().hex[:6]}")
    postgres = make_postgres(postgres_url, f"snu_rot_{uuid.uuid4().hex[:6]}")
    seed_mongo(
        mongo.db(), seed=11, youngs=40, days=14, start=date(2025, 1, 6), progress=False,
        collect_truth=False,
    )  # fmt: skip
    # a patch a script dated with a string: quarantined, its pseudonym rotated too
    moment = datetime(2025, 1, 8, 10, 0)
    mongo.db().young_patches.insert_one(
        {"_id": ObjectId.from_datetime(moment), "ref": ObjectId(), "modelName": "young",
         "date": moment.isoformat() + "Z", "ops": []}
    )  # fmt: skip
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with DagsterInstance.from_config(str(home)) as instance:
        backfill_through_dagster(
            START, END, mongo=mongo, postgres=postgres, instance=instance,
            pseudonym_key=TEST_KEY,
        )  # fmt: skip
        yield mongo, postgres, instance
    mongo.client().drop_database(mongo.database)
    drop_schema(postgres)


def ids(postgres) -> dict[str, set[str]]:
    with postgres.connect() as conn:
        return {
            f"{table}.{column}": {
                row[0]
                for row in conn.execute(
                    f'select "{column}" from "{postgres.schema}".{table} where "{column}" is not null'
                )
            }
            for table, columns in ID_COLUMNS.items()
            for column in columns
        }


def published(postgres) -> dict[str, list]:
    with postgres.connect() as conn:
        return {
            table: sorted(
                map(repr, conn.execute(f'select * from "{postgres.schema}".{table}').fetchall())
            )
            for table in PUBLISHED
        }


class Readers(threading.Thread):
    """Queries the schema without pause, each in its own statement (autocommit)."""

    def __init__(self, url: str, schema: str):
        super().__init__(daemon=True)
        self.url, self.schema = url, schema
        self.stop = threading.Event()
        self.seen: dict[str, set] = {name: set() for name in READER_QUERIES}
        self.errors: list[str] = []
        self.queries = 0

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                for name, query in READER_QUERIES.items():
                    try:
                        row = conn.execute(query.replace("{s}", f'"{self.schema}"')).fetchone()
                        self.seen[name].add(tuple(row))
                    except psycopg.Error as exc:
                        self.errors.append(f"{name}: {exc}")
                    self.queries += 1
                time.sleep(0.01)


def test_a_rotation_changes_every_pseudonym_and_no_aggregate(seeded):
    mongo, postgres, instance = seeded
    before_ids, before_published = ids(postgres), published(postgres)
    assert all(before_ids.values()), "the seeded tables hold pseudonyms"
    assert before_published["weekly_funnel_national"]
    # a run whose metadata holds an old pseudonym (the previews of raw rows would, with
    # allow-listed id fields): the rotation must leave none in Dagster's storage
    old_young = sorted(before_ids["raw_patches.young_id"])[0]
    leaky_run = leak_job.execute_in_process(
        instance=instance, run_config={"ops": {"leak": {"config": {"young": old_young}}}}
    ).run_id
    readers = Readers(postgres.resolved_url(), postgres.schema)
    readers.start()
    env = {
        "DAGSTER_HOME": str(instance.root_directory),
        "SNU_MONGO_URI": mongo.resolved_uri(),
        "SNU_MONGO_DB": mongo.database,
        "SNU_POSTGRES_URL": postgres.resolved_url(),
        "SNU_POSTGRES_SCHEMA": postgres.schema_name,
        "SNU_PSEUDONYM_KEY": TEST_KEY,
        "SNU_EXECUTOR": "in_process",
    }
    started = time.perf_counter()
    try:
        with environment(env):
            report = rotate_key(postgres, TEST_KEY, NEW_KEY, START, END, instance, log=print)
    finally:
        readers.stop.set()
        readers.join(30)
    print(f"rotation of {START}..{END}: {time.perf_counter() - started:.1f}s, {report}")

    after_ids = ids(postgres)
    for column, old in before_ids.items():
        assert after_ids[column], column
        assert not after_ids[column] & old, f"{column} kept old pseudonyms"
    everything_old = set().union(*before_ids.values())
    assert published(postgres) == before_published
    with postgres.connect() as conn:
        fingerprint = conn.execute(
            f'select fingerprint from "{postgres.schema}".pseudonym_key'
        ).fetchone()[0]
        schemas = {row[0] for row in conn.execute("select nspname from pg_namespace")}
    assert fingerprint == key_fingerprint(NEW_KEY)
    assert postgres.schema + "_rotation" not in schemas
    assert postgres.schema + "_retired" not in schemas
    # Dagster's storage: no run's logs or metadata hold an old pseudonym; the run that did is
    # gone
    assert report.runs_deleted == 1
    assert not instance.has_run(leaky_run)
    for record in instance.get_run_records():
        events = instance.all_logs(record.dagster_run.run_id)
        text = " ".join(serialize_value(e) for e in events)
        assert not set(re.findall(r"\b[0-9a-f]{32}\b", text)) & everything_old
    # readers saw one state throughout, never an error, an empty or a half-rotated table
    assert readers.queries > 10
    assert not readers.errors, readers.errors[:3]
    for name, values in readers.seen.items():
        assert len(values) == 1, (name, values)
        assert next(iter(values))[0] > 0, name
