"""Unit and property tests of the reconstruction: pure functions, no server."""

from datetime import UTC, date, datetime, timedelta

import jsonpatch
import jsonpointer
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snu_assets.core.reconstruction import Patch, events_of, reconstruct_record

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def patch(n, ops, seconds=None, order=None, model="young"):
    return Patch(
        patch_id=f"p{n}",
        model=model,
        record_id="r1",
        occurred_at=T0 + timedelta(seconds=n * 60 if seconds is None else seconds),
        order=order or f"{n:024x}",
        ops=ops,
        young_id="y1" if model == "young" else None,
    )


def diff(before, after):
    """Ops as mongoose-patch-history writes them: a JSON Patch with originalValue."""
    ops = jsonpatch.JsonPatch.from_diff(before, after, dumps=None).patch
    out = []
    for op in ops:
        assert op["op"] in ("add", "remove", "replace"), op
        if op["op"] != "add":
            op["originalValue"] = jsonpointer.resolve_pointer(before, op["path"])
        out.append(op)
    return out


def names(report):
    return [e.event_name for s in report.states for e in events_of(s)]


CREATED = {
    "status": "IN_PROGRESS",
    "statusPhase1": "WAITING_AFFECTATION",
    "cohort": "Juillet 2025",
    "createdAt": "2025-03-01T09:00:00.000Z",
}


def test_creation_then_status_changes():
    s1 = dict(CREATED, status="WAITING_VALIDATION")
    s2 = dict(s1, status="VALIDATED")
    patches = [patch(0, diff({}, CREATED)), patch(1, diff(CREATED, s1)), patch(2, diff(s1, s2))]
    report = reconstruct_record(patches, current=s2)
    assert names(report) == [
        "young.created",
        "young.status.WAITING_VALIDATION",
        "young.status.VALIDATED",
    ]
    assert report.states[0].before is None and report.states[0].after == CREATED
    assert report.states[1].before == CREATED and report.states[1].after == s1
    assert report.states[2].before == s1 and report.states[2].after == s2
    assert report.disagreements == 0


def test_two_tracked_fields_in_one_patch_give_two_events():
    s1 = dict(CREATED, status="VALIDATED", cohort="Février 2026")
    report = reconstruct_record([patch(0, diff({}, CREATED)), patch(1, diff(CREATED, s1))], s1)
    assert names(report) == ["young.created", "young.status.VALIDATED", "young.cohort.Février 2026"]
    ids = {e.event_id for s in report.states for e in events_of(s)}
    assert len(ids) == 3


def test_out_of_order_storage_and_same_second_ties():
    s1 = dict(CREATED, status="WAITING_VALIDATION")
    s2 = dict(s1, status="WAITING_CORRECTION")
    s3 = dict(s2, status="WAITING_VALIDATION")
    # stored in the wrong order; p2 and p3 in the same second, ordered by their ObjectId
    patches = [
        patch(3, diff(s2, s3), seconds=120, order="c"),
        patch(0, diff({}, CREATED), order="a"),
        patch(2, diff(s1, s2), seconds=120, order="b"),
        patch(1, diff(CREATED, s1), order="a1"),
    ]
    report = reconstruct_record(patches, s3)
    assert [s.patch.patch_id for s in report.states] == ["p0", "p1", "p2", "p3"]
    assert names(report)[1:] == [
        "young.status.WAITING_VALIDATION",
        "young.status.WAITING_CORRECTION",
        "young.status.WAITING_VALIDATION",
    ]
    assert report.states[2].before["status"] == "WAITING_VALIDATION"


def test_pre_log_record_gets_untouched_fields_from_current_document():
    # created before the log started: no creation patch; gender never patched
    current = {"status": "VALIDATED", "gender": "female", "department": "Paris"}
    p = patch(
        1,
        [
            {
                "op": "replace",
                "path": "/status",
                "value": "VALIDATED",
                "originalValue": "WAITING_VALIDATION",
            }
        ],
    )
    report = reconstruct_record([p], current)
    assert names(report) == ["young.status.VALIDATED"]
    assert report.states[0].before == {
        "status": "WAITING_VALIDATION",
        "gender": "female",
        "department": "Paris",
    }


def test_gap_after_a_patch_is_counted_and_does_not_rewrite_history():
    s1 = dict(CREATED, status="VALIDATED")
    migrated = dict(s1, status="WITHDRAWN")  # a migration wrote without a patch
    report = reconstruct_record(
        [patch(0, diff({}, CREATED)), patch(1, diff(CREATED, s1))], migrated
    )
    assert report.states[1].after["status"] == "VALIDATED"
    assert names(report) == ["young.created", "young.status.VALIDATED"]
    assert report.disagreements == 1


def test_gap_between_patches_uses_original_value():
    s1 = dict(CREATED, status="WAITING_VALIDATION")
    migrated = dict(s1, cohort="Avril 2025")  # no patch for this
    s2 = dict(migrated, status="VALIDATED")
    report = reconstruct_record(
        [patch(0, diff({}, CREATED)), patch(1, diff(CREATED, s1)), patch(2, diff(migrated, s2))], s2
    )
    assert report.states[2].before == migrated
    assert report.states[2].after == s2
    assert names(report)[-1] == "young.status.VALIDATED"


def test_remove_op_and_nested_and_array_paths():
    s0 = {
        "status": "IN_PROGRESS",
        "cohort": {"name": "A", "tags": ["x"]},
        "grade": "3eme",
        "createdAt": "2025-03-01T09:00:00.000Z",
    }
    s1 = {
        "status": "IN_PROGRESS",
        "cohort": {"name": "B", "tags": ["x", "y"]},
        "createdAt": "2025-03-01T09:00:00.000Z",
    }
    patches = [patch(0, diff({}, s0)), patch(1, diff(s0, s1))]
    ops = patches[1].ops
    assert any(o["op"] == "remove" for o in ops) and any("/tags/1" in o["path"] for o in ops)
    report = reconstruct_record(patches, s1)
    assert report.states[1].before == s0
    assert report.states[1].after == s1


def test_destroy_after_deletion_uses_the_log():
    s1 = dict(CREATED, status="WAITING_VALIDATION")
    patches = [
        patch(0, diff({}, CREATED)),
        patch(1, diff(CREATED, s1)),
        patch(2, [{"op": "destroy", "path": "/"}]),
    ]
    report = reconstruct_record(patches, current=None)
    assert names(report) == ["young.created", "young.status.WAITING_VALIDATION", "young.deleted"]
    assert report.states[2].before == s1 and report.states[2].after is None
    assert report.states[1].before == CREATED


def test_deleted_record_without_document_replays_forward():
    s1 = dict(CREATED, status="WITHDRAWN")
    report = reconstruct_record([patch(0, diff({}, CREATED)), patch(1, diff(CREATED, s1))], None)
    assert report.states[1].after == s1 and report.states[1].before == CREATED


def test_missing_original_value_falls_back_to_forward_replay():
    s1 = dict(CREATED, status="WAITING_VALIDATION")
    ops = [{"op": "replace", "path": "/status", "value": "WAITING_VALIDATION"}]  # no originalValue
    report = reconstruct_record([patch(0, diff({}, CREATED)), patch(1, ops)], s1)
    assert report.states[1].before["status"] == "IN_PROGRESS"
    assert report.missing_original_values == 1


def test_application_events():
    created = {
        "status": "WAITING_VALIDATION",
        "youngId": "yy",
        "createdAt": "2025-03-01T09:00:00.000Z",
    }
    s1 = dict(created, status="REFUSED")
    report = reconstruct_record(
        [
            patch(0, diff({}, created), model="application"),
            patch(1, diff(created, s1), model="application"),
        ],
        s1,
    )
    events = [e for s in report.states for e in events_of(s)]
    assert [e.event_name for e in events] == ["application.created", "application.status.REFUSED"]
    assert all(e.young_id == "yy" for e in events)


def test_first_patch_of_only_adds_is_the_creation_without_created_at():
    initial = {"status": "IN_PROGRESS", "cohort": "Juillet 2025"}
    report = reconstruct_record([patch(0, diff({}, initial))], initial)
    assert names(report) == ["young.created"]


# ------------------------------------------------------------------ property-based tests

STATUSES = [
    "IN_PROGRESS",
    "WAITING_VALIDATION",
    "WAITING_CORRECTION",
    "VALIDATED",
    "REFUSED",
    "WITHDRAWN",
]
state_strategy = st.fixed_dictionaries(
    {"status": st.sampled_from(STATUSES)},
    optional={
        "statusPhase1": st.sampled_from(["WAITING_AFFECTATION", "AFFECTED", "DONE"]),
        "cohort": st.sampled_from(["Juillet 2025", "Février 2026"]),
        "grade": st.sampled_from(["3eme", "2ndeGT"]),
        "qpv": st.sampled_from(["true", "false"]),
        "department": st.sampled_from(["Paris", "Ain"]),
    },
)


@settings(max_examples=200, deadline=None)
@given(
    states=st.lists(state_strategy, min_size=1, max_size=8),
    created_in_log=st.booleans(),
    shuffle=st.randoms(use_true_random=False),
)
def test_rebuilt_states_equal_the_states_the_record_went_through(states, created_in_log, shuffle):
    created = dict(states[0], createdAt="2025-03-01T09:00:00.000Z")
    history = [created] + [dict(s, createdAt=created["createdAt"]) for s in states[1:]]
    patches, truth = [], []
    previous = {} if created_in_log else history[0]
    for n, state in enumerate(history if created_in_log else history[1:]):
        patches.append(
            patch(n, diff(previous, state), seconds=(n // 2) * 60)
        )  # pairs share a minute
        truth.append((previous if (n or not created_in_log) else None, state))
        previous = state
    stored = patches[:]
    shuffle.shuffle(stored)
    report = reconstruct_record(stored, current=history[-1])
    assert [(s.before, s.after) for s in report.states] == truth
    assert report.disagreements == 0
    expected = []
    for before, after in truth:
        if before is None:
            expected.append("young.created")
            continue
        for name in ("status", "statusPhase1", "statusPhase2", "statusPhase3", "cohort"):
            if after.get(name) is not None and after.get(name) != before.get(name):
                expected.append(f"young.{name}.{after[name]}")
    assert names(report) == expected


@pytest.mark.parametrize(
    "stored",
    [
        datetime(2009, 12, 31, 23, 0),
        "2009-12-31T23:00:00.000Z",
        datetime(2010, 1, 1),
        "2010-01-01T00:00:00.000Z",
    ],
)
def test_ages_count_in_the_calendar_of_snu_timezone(stored):
    """Paris-midnight and UTC-midnight stored birth dates are both 1 January 2010: 15 on New
    Year's Eve 2025, 16 the next day (a UTC reading of the first made them a year older)."""
    from snu_assets.daily_load.rebuild import age_at, birth_day

    assert birth_day(stored) == date(2010, 1, 1)
    assert age_at(birth_day(stored), date(2025, 12, 31)) == 15
    assert age_at(birth_day(stored), date(2026, 1, 1)) == 16
    assert age_at("2010-01", date(2026, 1, 1)) == 16


def test_a_young_state_at_any_moment_for_its_applications():
    """An application's event reads its young's state at that moment: after the young's last
    patch up to then, before its first patch, or the current document without a log."""
    from snu_assets.daily_load.rebuild import YoungHistory

    s1 = dict(CREATED, status="WAITING_VALIDATION", department="Ain")
    s2 = dict(s1, department="Rhône")  # moved: a change with no event of its own
    report = reconstruct_record(
        [patch(0, diff({}, CREATED)), patch(1, diff(CREATED, s1)), patch(2, diff(s1, s2))], s2
    )
    history = YoungHistory([s.patch.occurred_at for s in report.states], report.states, s2)
    t = report.states[1].patch.occurred_at
    assert history.at(t - timedelta(seconds=1))["status"] == "IN_PROGRESS"
    assert history.at(t)["department"] == "Ain"
    assert (
        history.at(report.states[2].patch.occurred_at + timedelta(days=9))["department"] == "Rhône"
    )
    assert history.at(report.states[0].patch.occurred_at - timedelta(days=1)) is None  # unborn
    assert YoungHistory([], [], s2).at(t) == s2
