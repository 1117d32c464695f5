"""Hand-written patch logs through the real assets: bad input is quarantined with a reason,
and re-extracting a day after patches were rewritten converges to the new truth."""

import uuid
from datetime import datetime, timedelta

import jsonpatch
import pytest
from bson import ObjectId
from dagster import DagsterInstance, materialize

from snu_assets.core.privacy.pseudonym import Pseudonymizer
from snu_assets.defs.assets import DAILY_ASSETS
from snu_assets.defs.resources import MongoResource
from snu_assets_tests.conftest import TEST_KEY, drop_schema, make_postgres

P = Pseudonymizer(TEST_KEY)
DAY = "2025-03-12"
T = datetime(2025, 3, 12, 9, 0)  # naive UTC, as pymongo stores dates
CREATED = {
    "status": "IN_PROGRESS",
    "statusPhase1": "WAITING_AFFECTATION",
    "cohort": "Juillet 2025",
    "gender": "male",
    "department": "Ain",
    "firstName": "Hugo",
    "email": "hugo@exemple.fr",
    "createdAt": "2025-03-12T09:00:00.000Z",
}


def plugin_ops(before, after):
    ops = jsonpatch.JsonPatch.from_diff(before, after, dumps=None).patch
    for op in ops:
        if op["op"] != "add":
            op["originalValue"] = jsonpatch.JsonPointer(op["path"]).resolve(before)
    return ops


def patch_doc(ref, when, ops, **extra):
    return {
        "_id": ObjectId.from_datetime(when) if "_id" not in extra else extra.pop("_id"),
        "__v": 0,
        "ref": ref,
        "modelName": "young",
        "date": when,
        "user": {"firstName": "Cron x"},
        "ops": ops,
    } | extra


@pytest.fixture()
def world(embedded_servers, postgres_url, pseudonyms):
    mongo = MongoResource(uri=embedded_servers.uri, database=f"snu_bad_{uuid.uuid4().hex[:6]}")
    postgres = make_postgres(postgres_url, f"snu_bad_{uuid.uuid4().hex[:6]}")
    yield mongo, postgres, {"mongo": mongo, "postgres": postgres, "pseudonyms": pseudonyms}
    mongo.client().drop_database(mongo.database)
    drop_schema(postgres)


def run_day(resources, day=DAY):
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            DAILY_ASSETS, partition_key=day, resources=resources, instance=instance
        )
    assert result.success
    return {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
    }


def q(postgres, sql, params=None):
    with postgres.connect() as conn:
        return conn.execute(sql.replace("{s}", f'"{postgres.schema}"'), params).fetchall()


def test_bad_patches_are_quarantined_and_the_day_still_materialises(world):
    mongo, postgres, resources = world
    db = mongo.db()
    young = ObjectId()
    good = dict(CREATED, status="WAITING_VALIDATION")
    db.youngs.insert_one({"_id": young, **good})
    docs = [
        patch_doc(young, T, plugin_ops({}, CREATED)),
        patch_doc(young, T + timedelta(minutes=5), plugin_ops(CREATED, good)),
        patch_doc(
            None, T + timedelta(minutes=6), [], _id=ObjectId.from_datetime(T + timedelta(minutes=6))
        ),
        patch_doc("nope", T + timedelta(minutes=7), []),
        patch_doc(young, T + timedelta(minutes=8), "not a list"),
        patch_doc(
            young, T + timedelta(minutes=9), [{"op": "move", "from": "/status", "path": "/x"}]
        ),
        patch_doc(
            young, T + timedelta(minutes=10), [{"op": "replace", "path": "status", "value": 1}]
        ),
        patch_doc(
            young,
            T + timedelta(minutes=11),
            [{"op": "replace", "path": "/grade", "value": {"huge": "x" * 1_000_000}}],
        ),
        patch_doc(young, T + timedelta(minutes=12), [], modelName="mission"),
        # a date stored as a string by a script: found through its _id, quarantined there
        # (issue #21: a patch whose date is not a BSON date is not used)
        patch_doc(
            young,
            "2025-03-12T10:00:00.000Z",
            [],
            _id=ObjectId.from_datetime(T + timedelta(hours=1)),
        ),
    ]
    db.young_patches.insert_many(docs)
    checks = run_day(resources)
    rejected = dict(q(postgres, "select reason, count(*) from {s}.rejected_patches group by 1"))
    assert rejected == {
        "patch has no ref": 1,
        "ref is not an ObjectId": 1,
        "ops is not an array": 1,
        "op #0 is a 'move' touching an allow-listed path": 1,
        "op #0 path: op path is not a JSON pointer": 1,
        "modelName does not match the collection's model": 1,
        "date is a string, not a BSON date: placed on the day of its _id": 1,
    }
    raw = q(postgres, "select count(*), sum(redacted_values) from {s}.raw_patches")[0]
    assert raw == (3, 1)  # the huge object under an allow-listed field is redacted, not kept
    assert checks[("raw_patches", "complete")].passed
    assert checks[("raw_patches", "no_personal_data")].passed
    rate = checks[("raw_patches", "rejection_rate")]
    assert not rate.passed and rate.metadata["rejection_rate"].value == 0.7
    names = [
        r[0]
        for r in q(postgres, "select event_name from {s}.reconstructed_events order by occurred_at")
    ]
    assert names == ["young.created", "young.status.WAITING_VALIDATION"]


def test_reextracting_a_rewritten_day_converges(world):
    mongo, postgres, resources = world
    db = mongo.db()
    young = ObjectId()
    s1 = dict(CREATED, status="WAITING_VALIDATION")
    s2 = dict(s1, status="VALIDATED")
    docs = [
        patch_doc(young, T, plugin_ops({}, CREATED)),
        patch_doc(young, T + timedelta(hours=1), plugin_ops(CREATED, s1)),
        patch_doc(young, T + timedelta(hours=2), plugin_ops(s1, s2)),
    ]
    db.young_patches.insert_many(docs)
    db.youngs.insert_one({"_id": young, **s2})
    run_day(resources)
    before = q(postgres, "select event_name from {s}.reconstructed_events order by occurred_at")
    assert [r[0] for r in before] == [
        "young.created",
        "young.status.WAITING_VALIDATION",
        "young.status.VALIDATED",
    ]
    # the young is deleted: document gone, patches cut down to statistical fields, the
    # validation patch (say) emptied and removed, then a destroy written by another writer
    db.youngs.delete_one({"_id": young})
    db.young_patches.delete_one({"_id": docs[2]["_id"]})
    for doc in docs[:2]:
        kept = [op for op in doc["ops"] if op["path"] not in ("/firstName", "/email")]
        db.young_patches.update_one({"_id": doc["_id"]}, {"$set": {"ops": kept}})
    db.young_patches.insert_one(
        patch_doc(
            young, T + timedelta(hours=3), [{"op": "destroy", "path": "/", "value": "deleted"}]
        )
    )
    checks = run_day(resources)
    assert checks[("raw_patches", "complete")].passed
    after = q(
        postgres,
        "select event_name, before ->> 'status', after ->> 'status' "
        "from {s}.reconstructed_events order by occurred_at",
    )
    assert after == [
        ("young.created", None, "IN_PROGRESS"),
        ("young.status.WAITING_VALIDATION", "IN_PROGRESS", "WAITING_VALIDATION"),
        ("young.deleted", "WAITING_VALIDATION", None),
    ]
    assert q(postgres, "select count(*) from {s}.raw_patches")[0][0] == 3
    assert P("patch", docs[2]["_id"]) not in {
        r[0] for r in q(postgres, "select patch_id from {s}.raw_patches")
    }
