"""Issue #21, item 3: every patch accounted for. A patch whose ``date`` is not a BSON date
(an ISO string a script wrote, ``null``, missing, a number) is found through the ``_id``
index and quarantined in ``rejected_patches`` on the day of its ObjectId (in
``SNU_TIMEZONE``), with the reason; the ``reconciliation`` job compares, over the
whole history, MongoDB's patches per day with the rows landed plus quarantined, and names
each day that differs."""

import uuid
from datetime import datetime, timedelta

import pytest
from bson import ObjectId
from dagster import DagsterInstance, materialize

from snu_assets.defs.assets import DAILY_ASSETS
from snu_assets.defs.automation.jobs import reconciliation_job
from snu_assets.defs.automation.sensors import _day_of
from snu_assets.defs.resources import MongoResource
from snu_assets_tests.conftest import drop_schema, make_postgres
from snu_assets_tests.integration.test_rewrites_and_bad_input import (
    CREATED,
    patch_doc,
    plugin_ops,
)

T = datetime(2025, 3, 12, 9, 0)  # naive UTC, as pymongo stores dates
LATE_EVENING = datetime(2025, 3, 12, 23, 30)  # UTC: 00:30 on 13 March in Paris
PLACED = "placed on the day of its _id"


@pytest.fixture()
def world(embedded_servers, postgres_url, pseudonyms):
    mongo = MongoResource(uri=embedded_servers.uri, database=f"snu_acc_{uuid.uuid4().hex[:6]}")
    postgres = make_postgres(postgres_url, f"snu_acc_{uuid.uuid4().hex[:6]}")
    yield mongo, postgres, {"mongo": mongo, "postgres": postgres, "pseudonyms": pseudonyms}
    mongo.client().drop_database(mongo.database)
    drop_schema(postgres)


def at(moment: datetime) -> ObjectId:
    return ObjectId.from_datetime(moment)


def run(resources, day):
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            DAILY_ASSETS, partition_key=day, resources=resources, instance=instance
        )
    assert result.success


def reconciliation(resources) -> tuple[bool, str, dict]:
    """(passed, what it says, the metadata it records on raw_patches)."""
    with DagsterInstance.ephemeral() as instance:
        result = reconciliation_job.execute_in_process(
            resources={"mongo": resources["mongo"], "postgres": resources["postgres"]},
            instance=instance,
            raise_on_error=False,
        )
    [observation] = result.get_asset_observation_events()
    metadata = {
        k: v.value for k, v in observation.asset_observation_data.asset_observation.metadata.items()
    }
    if result.success:
        return True, metadata["summary"], metadata
    [failure] = result.get_step_failure_events()
    return False, failure.step_failure_data.user_failure_data.description, metadata


def rows(postgres, sql):
    with postgres.connect() as conn:
        return conn.execute(sql.replace("{s}", f'"{postgres.schema}"')).fetchall()


def test_patches_without_a_date_are_quarantined_on_their_id_day_and_reconciled(world):
    mongo, postgres, resources = world
    db = mongo.db()
    young = ObjectId()
    done = dict(CREATED, status="WAITING_VALIDATION")
    db.youngs.insert_one({"_id": young, **done})
    string_dated = patch_doc(young, "2025-03-14T10:00:00.000Z", [], _id=at(T + timedelta(hours=1)))
    db.young_patches.insert_many(
        [
            patch_doc(young, T, plugin_ops({}, CREATED)),
            patch_doc(young, T + timedelta(minutes=5), plugin_ops(CREATED, done)),
            # an ISO string written by a fix-up script, dated two days later
            string_dated,
            patch_doc(young, None, [], _id=at(T + timedelta(hours=2))),
            patch_doc(young, 1741770000000, [], _id=at(T + timedelta(hours=3))),
            {
                k: v
                for k, v in patch_doc(young, T, [], _id=at(T + timedelta(hours=4))).items()
                if k != "date"
            },
            # no date, created at 00:30 in Paris on 13 March: that Paris day
            {k: v for k, v in patch_doc(young, T, [], _id=at(LATE_EVENING)).items() if k != "date"},
        ]
    )
    assert _day_of(string_dated) == "2025-03-12"  # the late-data sensor looks where it lands
    for day in ("2025-03-12", "2025-03-13", "2025-03-14"):
        run(resources, day)
    quarantined = rows(
        postgres,
        "select partition_date::text, reason, occurred_at from {s}.rejected_patches order by 1, 2",
    )
    assert quarantined == [
        ("2025-03-12", f"date is a number, not a BSON date: {PLACED}", None),
        ("2025-03-12", f"date is a string, not a BSON date: {PLACED}", None),
        ("2025-03-12", f"date is missing: {PLACED}", None),
        ("2025-03-12", f"date is null: {PLACED}", None),
        ("2025-03-13", f"date is missing: {PLACED}", None),
    ]
    landed = rows(postgres, "select partition_date::text, count(*) from {s}.raw_patches group by 1")
    assert landed == [("2025-03-12", 2)]

    passed, said, metadata = reconciliation(resources)
    assert passed, said
    assert metadata["patches_in_mongodb"] == 7
    assert metadata["rows_raw_plus_rejected"] == 7

    # a patch written after 12 March was loaded (a migration, a restore): unaccounted
    db.young_patches.insert_one(
        patch_doc(young, T + timedelta(hours=5), [], _id=at(T + timedelta(hours=5)))
    )
    # and a date-less patch on a day never loaded
    db.young_patches.insert_one(
        {
            k: v
            for k, v in patch_doc(young, T, [], _id=at(T + timedelta(days=8))).items()
            if k != "date"
        }
    )
    passed, said, metadata = reconciliation(resources)
    assert not passed
    assert "2 day(s) differ: 2025-03-12: 7 in MongoDB, 6 landed + quarantined; " in said
    assert "2025-03-20: 1 in MongoDB, 0 landed + quarantined" in said
    assert set(metadata["days_that_differ"]) == {"2025-03-12", "2025-03-20"}

    run(resources, "2025-03-12")
    run(resources, "2025-03-20")
    assert reconciliation(resources)[0]
