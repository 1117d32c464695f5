"""Hostile input through the real assets (issue #11): long adversarial values in every
allow-listed field, in ``user``, in ``ref``, as keys of nested objects, writes inside a
statistical field and patches of many ops. Each such patch is used with its value redacted
or quarantined with a reason, nothing of it lands in PostgreSQL, and the day's checks pass.

(The cost of these values is measured by ``bench/adversarial.py``, not timed here; a
super-linear detector would make this test run for hours instead of seconds.)"""

from datetime import timedelta

from bson import ObjectId

from snu_assets.core.privacy.allowlist import APPLICATION_FIELDS, YOUNG_FIELDS
from snu_assets_testing import adversarial
from snu_assets_testing.adversarial import nested
from snu_assets_tests.integration.test_rewrites_and_bad_input import (
    CREATED,
    DAY,
    P,
    T,
    patch_doc,
    plugin_ops,
    q,
    run_day,
)
from snu_assets_tests.integration.test_rewrites_and_bad_input import (
    world as world,  # the fixture
)

SIZE = 64 * 1024


def hostile(index: int, n: int = SIZE) -> str:
    return adversarial.hostile(index, n)


def test_a_hostile_day_is_used_redacted_or_quarantined(world):
    mongo, postgres, resources = world
    db = mongo.db()
    young, app = ObjectId(), ObjectId()
    good = dict(CREATED, status="WAITING_VALIDATION")
    # the current document is hostile too (it anchors the reconstruction)
    db.youngs.insert_one({"_id": young, **good, "grade": hostile(0), "situation": nested(100, 200)})
    db.applications.insert_one({"_id": app, "youngId": young, "status": "WAITING_VALIDATION"})
    when = iter(T + timedelta(seconds=s) for s in range(10_000))
    docs = [
        patch_doc(young, next(when), plugin_ops({}, CREATED)),
        patch_doc(young, next(when), plugin_ops(CREATED, good)),
    ]
    used = []  # patches that must land in raw_patches, their value redacted
    for index, name in enumerate(YOUNG_FIELDS):
        used.append(
            patch_doc(
                young,
                next(when),
                [
                    {
                        "op": "replace",
                        "path": f"/{name}",
                        "value": hostile(index),
                        "originalValue": hostile(index + 1),
                    }
                ],
            )
        )
    for index, name in enumerate(APPLICATION_FIELDS):
        used.append(
            patch_doc(
                app,
                next(when),
                [{"op": "replace", "path": f"/{name}", "value": hostile(index)}],
                modelName="application",
            )
        )
    used += [
        # adversarial keys (not only values) of nested objects, 100 levels deep
        patch_doc(young, next(when), [{"op": "add", "path": "/qpv", "value": nested(100, 500)}]),
        # writes inside a statistical field, many of them in one patch
        patch_doc(
            young,
            next(when),
            [{"op": "add", "path": f"/cohort/{i}", "value": hostile(i, 64)} for i in range(20_000)],
        ),
        # the author's fields: only a role ever survives
        patch_doc(
            young,
            next(when),
            [{"op": "replace", "path": "/grade", "value": "3eme"}],
            user={
                "role": hostile(2),
                "firstName": hostile(3),
                hostile(4, 1000): hostile(5),
                "impersonatedBy": nested(100, 100),
            },
        ),
    ]
    quarantined = [
        patch_doc(hostile(0), next(when), []),  # ref: a long string
        patch_doc({hostile(1, 300): hostile(2)}, next(when), []),  # ref: an object
        patch_doc(young, next(when), [{"op": "replace", "path": "/" + hostile(3), "value": 1}]),
    ]
    db.young_patches.insert_many(
        [d for d in docs + used + quarantined if d["modelName"] == "young"]
    )
    db.application_patches.insert_many([d for d in used if d["modelName"] == "application"])

    checks = run_day(resources, DAY)

    # every check passes but two warnings this day earns: 3 of 39 patches rejected, and the
    # hostile patches wrote values that the current documents contradict
    failed = {key for key, check in checks.items() if not check.passed}
    assert failed == {
        ("raw_patches", "rejection_rate"),
        ("reconstructed_events", "consistent_with_documents"),
    }, failed
    rejected = dict(q(postgres, "select reason, count(*) from {s}.rejected_patches group by 1"))
    assert rejected == {"ref is not an ObjectId": 2, "op #0 path: op path is not a JSON pointer": 1}
    raw = q(
        postgres,
        "select count(*), count(*) filter (where redacted_values > 0), "
        "max(length(ops::text)) from {s}.raw_patches",
    )[0]
    assert raw[0] == len(docs) + len(used)
    # every hostile value was redacted: the author patch keeps "3eme" and redacts nothing
    assert raw[1] == len(used) - 1
    assert raw[2] < 2_000  # no long value kept anywhere (20,000 inner writes → one op)
    assert q(
        postgres,
        "select author_role from {s}.raw_patches where ops @> %s::jsonb",
        ('[{"value": "3eme"}]',),
    ) == [("other",)]
    # the longest string in any table is far shorter than any hostile value
    for table, column in (
        ("raw_patches", "ops"),
        ("reconstructed_events", "before"),
        ("reconstructed_events", "after"),
        ("enriched_events", "after"),
        ("rejected_patches", "reason"),
    ):
        longest = q(postgres, f"select coalesce(max(length({column}::text)), 0) from {{s}}.{table}")
        assert longest[0][0] < 2_000, (table, column)
    states = q(
        postgres,
        "select after from {s}.reconstructed_events where event_name = "
        "'young.status.WAITING_VALIDATION'",
    )
    assert states and states[0][0]["grade"] == "[redacted]"  # anchored on the current document
    assert states[0][0]["situation"] == "[redacted]"
    names = {r[0] for r in q(postgres, "select event_name from {s}.reconstructed_events")}
    assert {"young.created", "young.status.WAITING_VALIDATION"} <= names
    # the application's rows still join to their young
    assert q(
        postgres, "select distinct young_id from {s}.raw_patches where model = 'application'"
    ) == [(P("young", young),)]
    assert max(map(len, names)) < 60  # a redacted status names its event with [redacted]
