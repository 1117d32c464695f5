"""Issue #21, item 2: a run never shrinks a partition by accident. Through the real daily
step (Dagster ``materialize``) on real servers: a run against an empty or another source is
refused before it swaps anything in, naming the day, both counts or both sources, and the
run config that confirms; a GDPR deletion done the way production does it still passes; a
purge passes once confirmed."""

import uuid
from datetime import datetime, timedelta

import pytest
from bson import ObjectId
from dagster import DagsterInstance, materialize

from snu_assets.defs.assets import DAILY_ASSETS
from snu_assets.defs.resources import MongoResource
from snu_assets.io.mongo import source_fingerprint
from snu_assets_tests.conftest import drop_schema, make_postgres
from snu_assets_tests.integration.test_rewrites_and_bad_input import (
    CREATED,
    patch_doc,
    plugin_ops,
)

DAY = "2025-03-12"
T = datetime(2025, 3, 12, 9, 0)  # naive UTC, as pymongo stores dates
YOUNGS = 8
TABLES = ("raw_patches", "rejected_patches", "reconstructed_events", "partition_sources")


def new_mongo(embedded_servers) -> MongoResource:
    return MongoResource(uri=embedded_servers.uri, database=f"snu_guard_{uuid.uuid4().hex[:6]}")


@pytest.fixture()
def world(embedded_servers, postgres_url, pseudonyms):
    mongo = new_mongo(embedded_servers)
    postgres = make_postgres(postgres_url, f"snu_guard_{uuid.uuid4().hex[:6]}")
    others: list[MongoResource] = []
    yield mongo, postgres, pseudonyms, others
    for db in (mongo, *others):
        db.client().drop_database(db.database)
    drop_schema(postgres)


def seed_day(db) -> list[ObjectId]:
    """``YOUNGS`` youngs on DAY: created, completed, then an email change each (3 patches)."""
    youngs = []
    for n in range(YOUNGS):
        young = ObjectId()
        created = dict(CREATED, email=f"y{n}@exemple.fr")
        completed = dict(created, status="WAITING_VALIDATION")
        moved = dict(completed, email=f"new{n}@exemple.fr")
        at = T + timedelta(minutes=n)
        db.youngs.insert_one({"_id": young, **moved})
        db.young_patches.insert_many(
            [
                patch_doc(young, at, plugin_ops({}, created)),
                patch_doc(young, at + timedelta(hours=1), plugin_ops(created, completed)),
                patch_doc(young, at + timedelta(hours=2), plugin_ops(completed, moved)),
            ]
        )
        youngs.append(young)
    return youngs


STATISTICAL = {"/status", "/statusPhase1", "/cohort", "/gender", "/department", "/createdAt"}


def delete_young_like_production(db, young: ObjectId, when: datetime) -> None:
    """A GDPR deletion as production does it: the document goes, its patches are cut down to
    statistical fields and the emptied ones removed, another writer adds a ``destroy``."""
    db.youngs.delete_one({"_id": young})
    for doc in db.young_patches.find({"ref": young}):
        kept = [op for op in doc["ops"] if op["path"] in STATISTICAL]
        if kept:
            db.young_patches.update_one({"_id": doc["_id"]}, {"$set": {"ops": kept}})
        else:
            db.young_patches.delete_one({"_id": doc["_id"]})
    db.young_patches.insert_one(
        patch_doc(young, when, [{"op": "destroy", "path": "/", "value": "deleted"}])
    )


def run_day(mongo, postgres, pseudonyms, day=DAY, **config):
    resources = {"mongo": mongo, "postgres": postgres, "pseudonyms": pseudonyms}
    with DagsterInstance.ephemeral() as instance:
        return materialize(
            DAILY_ASSETS,
            partition_key=day,
            resources=resources,
            instance=instance,
            raise_on_error=False,
            run_config={"ops": {"extract_and_reconstruct": {"config": config}}} if config else None,
        )


def failure_of(result) -> str:
    assert not result.success
    [failure] = result.get_step_failure_events()
    data = failure.step_failure_data
    assert failure.step_key == "extract_and_reconstruct"
    return data.user_failure_data.description if data.user_failure_data else data.error.message


def snapshot(postgres) -> dict[str, list]:
    with postgres.connect() as conn:
        return {
            table: conn.execute(
                f'select * from "{postgres.schema}".{table} order by 1, 2'
            ).fetchall()
            for table in TABLES
        }


def counts(postgres) -> dict[str, int]:
    return {table: len(rows) for table, rows in snapshot(postgres).items()}


def test_an_empty_source_is_refused_without_changing_a_row(world, embedded_servers):
    mongo, postgres, pseudonyms, others = world
    seed_day(mongo.db())
    assert run_day(mongo, postgres, pseudonyms).success
    before = snapshot(postgres)
    assert len(before["raw_patches"]) == 3 * YOUNGS
    fingerprint = source_fingerprint(mongo.db())
    assert before["partition_sources"][0][1:3] == (mongo.database, fingerprint)

    # SNU_MONGO_URI forgotten: the embedded server's database, with nothing in it
    empty = new_mongo(embedded_servers)
    others.append(empty)
    message = failure_of(run_day(empty, postgres, pseudonyms))
    assert snapshot(postgres) == before
    assert f"partition(s) {DAY} were written from another MongoDB source" in message
    assert f"database '{mongo.database}' (source fingerprint {fingerprint})" in message
    assert f"database '{empty.database}'" in message and "source fingerprint empty" in message
    assert "confirm_source_change: true" in message

    # even told the source changed, an empty source does not empty a day
    message = failure_of(run_day(empty, postgres, pseudonyms, confirm_source_change=True))
    assert snapshot(postgres) == before
    assert f"partition {DAY}: raw_patches + rejected_patches hold {3 * YOUNGS} rows, " in message
    assert "this run would leave 0" in message
    assert "confirm_shrink: true" in message


def test_another_source_is_refused_naming_both(world, embedded_servers):
    mongo, postgres, pseudonyms, others = world
    seed_day(mongo.db())
    assert run_day(mongo, postgres, pseudonyms).success
    before = snapshot(postgres)
    other = new_mongo(embedded_servers)
    others.append(other)
    seed_day(other.db())  # another source with as many patches: the counts alone would pass
    message = failure_of(run_day(other, postgres, pseudonyms))
    assert snapshot(postgres) == before
    assert f"database '{mongo.database}' (source fingerprint {source_fingerprint(mongo.db())})" in (
        message
    )
    assert f"database '{other.database}'" in message
    assert source_fingerprint(other.db()) in message
    # a restore, confirmed by the operator: the day is replaced and the new source recorded
    assert run_day(other, postgres, pseudonyms, confirm_source_change=True).success
    after = snapshot(postgres)
    assert after["partition_sources"][0][1:3] == (other.database, source_fingerprint(other.db()))
    assert after["raw_patches"] != before["raw_patches"]


def test_a_gdpr_deletion_shrinks_a_day_legitimately(world):
    mongo, postgres, pseudonyms, _ = world
    db = mongo.db()
    youngs = seed_day(db)
    assert run_day(mongo, postgres, pseudonyms).success
    assert counts(postgres)["raw_patches"] == 3 * YOUNGS
    for n, young in enumerate(youngs[:2]):
        delete_young_like_production(db, young, T + timedelta(days=8, minutes=n))
    result = run_day(mongo, postgres, pseudonyms)
    assert result.success
    # each deleted young's email-only patch was emptied and removed
    assert counts(postgres)["raw_patches"] == 3 * YOUNGS - 2
    checks = {
        (e.asset_key.to_user_string(), e.check_name): e.passed
        for e in result.get_asset_check_evaluations()
    }
    assert checks[("raw_patches", "complete")]


def test_a_purge_needs_a_confirmation(world):
    mongo, postgres, pseudonyms, _ = world
    db = mongo.db()
    youngs = seed_day(db)
    assert run_day(mongo, postgres, pseudonyms).success
    before = snapshot(postgres)
    db.young_patches.delete_many({"ref": {"$in": youngs[2:]}})  # 6 of the 8 youngs' patches
    message = failure_of(run_day(mongo, postgres, pseudonyms))
    assert snapshot(postgres) == before
    assert f"partition {DAY}: raw_patches + rejected_patches hold {3 * YOUNGS} rows" in message
    assert "this run would leave 6" in message
    assert "max_shrink_rate=0.5" in message
    assert run_day(mongo, postgres, pseudonyms, confirm_shrink=True).success
    assert counts(postgres)["raw_patches"] == 6
