"""Unit tests of scrubbing, pseudonyms and detectors: pure functions, no server."""

from datetime import UTC, datetime

import pytest
from bson import ObjectId

from snu_assets.core.privacy.audit import audit_ops, audit_state
from snu_assets.core.privacy.detectors import MAX_CATEGORY_LENGTH, findings, kinds_of_personal_data
from snu_assets.core.privacy.pseudonym import MissingPseudonymKey, Pseudonymizer
from snu_assets.core.privacy.scrub import (
    Rejection,
    ScrubbedPatch,
    author_role,
    scrub_document,
    scrub_patch,
)

P = Pseudonymizer("unit-test-key-0123456789")
REF = ObjectId("65a0f0f0f0f0f0f0f0f0f0f0")


def doc(ops, **extra):
    base = {
        "_id": ObjectId("65a0f0f0f0f0f0f0f0f0f0f1"),
        "__v": 0,
        "ref": REF,
        "modelName": "young",
        "date": datetime(2025, 3, 1, 23, 30),
        "ops": ops,
    }
    return base | extra


def test_pseudonyms_are_stable_keyed_and_namespaced():
    assert P("young", REF) == P("young", str(REF)) == P("young", str(REF).upper())
    assert P("young", REF) != P("application", REF)
    assert P("young", REF) != Pseudonymizer("another-key-0123456789")("young", REF)
    assert len(P("young", REF)) == 32 and str(REF) not in P("young", REF)
    assert "unit-test-key" not in repr(P) and "unit-test-key" not in str(P)
    with pytest.raises(MissingPseudonymKey):
        Pseudonymizer("short")


def test_only_allow_listed_paths_survive_nested_and_arrays_included():
    result = scrub_patch(
        doc(
            [
                {
                    "op": "replace",
                    "path": "/status",
                    "value": "VALIDATED",
                    "originalValue": "WAITING_VALIDATION",
                },
                {
                    "op": "replace",
                    "path": "/email",
                    "value": "lea.martin@gmail.com",
                    "originalValue": "x@y.fr",
                },
                {"op": "replace", "path": "/location/lat", "value": 48.85, "originalValue": 45.1},
                {"op": "add", "path": "/files/cniFiles/1", "value": {"name": "martin_cni.pdf"}},
                {"op": "remove", "path": "/parent1Phone", "originalValue": "06 12 34 56 78"},
                {"op": "remove", "path": "/grade", "originalValue": "3eme"},
            ]
        ),
        "young",
        P,
    )
    assert isinstance(result, ScrubbedPatch)
    assert result.ops == [
        {
            "op": "replace",
            "path": "/status",
            "value": "VALIDATED",
            "originalValue": "WAITING_VALIDATION",
        },
        {"op": "remove", "path": "/grade", "originalValue": "3eme"},
    ]
    assert result.dropped_ops == 4
    assert result.record_id == result.young_id == P("young", REF)
    assert result.patch_id == P("patch", "65a0f0f0f0f0f0f0f0f0f0f1")
    assert result.occurred_at == datetime(2025, 3, 1, 23, 30, tzinfo=UTC)


def test_missing_value_and_original_value():
    ok = scrub_patch(doc([{"op": "add", "path": "/cohort", "value": "Juillet 2025"}]), "young", P)
    assert ok.ops == [{"op": "add", "path": "/cohort", "value": "Juillet 2025"}]
    bad = scrub_patch(doc([{"op": "replace", "path": "/status"}]), "young", P)
    assert isinstance(bad, Rejection) and "no value" in bad.reason


def test_birth_date_generalised_to_month_and_ids_pseudonymised():
    cohort_id = ObjectId()
    result = scrub_patch(
        doc(
            [
                {"op": "add", "path": "/birthdateAt", "value": "2009-04-17T00:00:00.000Z"},
                {
                    "op": "replace",
                    "path": "/cohortId",
                    "value": str(cohort_id),
                    "originalValue": "nope",
                },
            ]
        ),
        "young",
        P,
    )
    assert result.ops[0]["value"] == "2009-04"
    assert result.ops[1]["value"] == P("cohort", cohort_id)
    assert result.ops[1]["originalValue"] == "[redacted]" and result.redacted_values == 1


def test_personal_looking_values_on_allow_listed_fields_are_redacted():
    result = scrub_patch(
        doc(
            [
                {
                    "op": "replace",
                    "path": "/grade",
                    "value": "lea.martin@gmail.com",
                    "originalValue": "3eme",
                },
                {
                    "op": "replace",
                    "path": "/situation",
                    "value": {"nested": "object"},
                    "originalValue": None,
                },
                {
                    "op": "replace",
                    "path": "/cohort",
                    "value": "x" * 500,
                    "originalValue": "Juillet 2025",
                },
            ]
        ),
        "young",
        P,
    )
    assert [op["value"] for op in result.ops] == ["[redacted]"] * 3
    assert result.redacted_values == 3


@pytest.mark.parametrize(
    "patch,reason",
    [
        (doc([], ref=None), "no ref"),
        (doc([], ref="not-an-id"), "not an ObjectId"),
        (doc([], date=None), "date"),
        (doc([], date="yesterday"), "date"),
        (doc("ops"), "not an array"),
        (doc([{"op": "replace"}]), "malformed"),
        (doc([{"op": "replace", "path": "status", "value": 1}]), "JSON pointer"),
        (doc([{"op": "move", "from": "/status", "path": "/statusPhase1"}]), "'move'"),
        (doc([{"op": "frobnicate", "path": "/status", "value": 1}]), "unknown op"),
        (doc([], modelName="mission"), "modelName"),
    ],
)
def test_rejections_have_reasons_without_values(patch, reason):
    result = scrub_patch(patch, "young", P)
    assert isinstance(result, Rejection)
    assert reason in result.reason


def test_harmless_ops_kept_or_dropped():
    result = scrub_patch(
        doc(
            [
                {"op": "test", "path": "/status", "value": "X"},
                {"op": "move", "from": "/firstName", "path": "/lastName"},
                {"op": "destroy", "path": "/", "value": "deleted"},
            ],
        ),
        "young",
        P,
    )
    assert isinstance(result, ScrubbedPatch)
    assert result.ops == [{"op": "destroy", "path": "/"}]


def test_a_date_that_is_not_a_bson_date_is_rejected_naming_its_type_only():
    """Issue #21: an ISO string a script wrote, null, a number, no date: quarantined on the
    day of the patch's _id, the reason naming the kind of value, never the value."""
    for date, reason in [
        ("2025-03-01T10:00:00.000Z", "date is a string, not a BSON date"),
        (None, "date is null"),
        (1741770000000, "date is a number, not a BSON date"),
        ({"$date": "x"}, "date is a document, not a BSON date"),
    ]:
        result = scrub_patch(doc([], date=date), "young", P)
        assert isinstance(result, Rejection)
        assert result.reason == f"{reason}: placed on the day of its _id"
        assert result.occurred_at is None
    missing = doc([])
    del missing["date"]
    result = scrub_patch(missing, "young", P)
    assert isinstance(result, Rejection)
    assert result.reason == "date is missing: placed on the day of its _id"


def test_author_keeps_only_a_role():
    assert author_role({"_id": "x", "firstName": "Cron deleteLegalRepresentatives"}) == "script"
    assert author_role(None) == "system"
    assert (
        author_role(
            {
                "role": "admin",
                "email": "a@b.fr",
                "firstName": "A",
                "lastName": "B",
                "impersonatedBy": {"role": "admin"},
            }
        )
        == "admin"
    )
    assert (
        author_role({"firstName": "Léa", "lastName": "M", "email": "l@m.fr", "model": "young"})
        == "young"
    )
    assert author_role({"role": "<script>", "firstName": "x"}) == "other"


def test_application_patch_joins_to_its_young():
    young = ObjectId()
    result = scrub_patch(
        doc(
            [
                {"op": "add", "path": "/youngFirstName", "value": "Léa"},
                {"op": "add", "path": "/status", "value": "WAITING_VALIDATION"},
            ],
            modelName="application",
        ),
        "application",
        P,
        young_ref=str(young),
    )
    assert result.young_id == P("young", young)
    assert result.record_id == P("application", REF)
    assert result.ops == [{"op": "add", "path": "/status", "value": "WAITING_VALIDATION"}]


def test_scrub_document_keeps_allow_listed_state():
    state = scrub_document(
        "young",
        {
            "_id": REF,
            "firstName": "Léa",
            "status": "VALIDATED",
            "birthdateAt": datetime(2009, 4, 17),
            "qpv": "false",
            "createdAt": datetime(2025, 1, 6, 9, 12, 33, 120000),
        },
        P,
        2025,
    )
    assert state == {
        "status": "VALIDATED",
        "birthdateAt": "2009-04",
        "qpv": "false",
        "createdAt": "2025-01-06T09:12:33.120Z",
    }


@pytest.mark.parametrize(
    "value,kind",
    [
        ("Je veux servir mon pays et aider les autres " * 4, "free text"),
        ("lea.martin@gmail.com", "email"),
        ("06 12 34 56 78", "phone"),
        ("+33612345678", "phone"),
        ("12 rue de la Paix", "street address"),
        ("1 85 05 78 006 084 36", "social-security number"),
        ("65a0f0f0f0f0f0f0f0f0f0f0", "MongoDB id"),
        ("2009-04-17", "exact birth date"),
        ("17/04/2009", "exact birth date"),
    ],
)
def test_detectors_find_each_kind(value, kind):
    assert kind in kinds_of_personal_data(value, reference_year=2025)


@pytest.mark.parametrize(
    "value",
    [
        "VALIDATED",
        "Juillet 2025",
        "Île-de-France",
        "2009-04",
        "2025-01-06T09:12:33.120Z",
        "0612345678" + "ab" * 11,
        P("young", REF),
    ],
)
def test_detectors_leave_statistics_and_pseudonyms_alone(value):
    assert kinds_of_personal_data(value, reference_year=2025) == ()


@pytest.mark.parametrize(
    "value,kinds",
    [
        ("2025-01-06T09:12:33.120Z", ()),
        ("2025-01-06T09:12", ()),
        # the phone detector used to see "06.827036-05" in the seconds of this instant
        ("2024-08-31T13:36:06.827036-05:00", ()),
        ("2009-04-17T00:00:00.000Z", ("exact birth date",)),
        ("2009-04-17T00:00:00+02:00", ("exact birth date",)),
    ],
)
def test_an_iso_instant_is_personal_only_through_an_old_date(value, kinds):
    assert kinds_of_personal_data(value, reference_year=2025) == kinds


def test_audit_flags_paths_and_values():
    assert audit_ops("young", [{"op": "replace", "path": "/status", "value": "X"}], 2025) == []
    problems = audit_ops("young", [{"op": "replace", "path": "/email", "value": "a@b.fr"}], 2025)
    assert ("/0/path", "path outside the allow-list") in problems
    assert ("/0/value", "email") in problems
    assert audit_state("young", {"status": "X", "firstName": "Léa"}, 2025) == [
        ("/firstName", "field outside the allow-list")
    ]


def test_pseudonym_key_is_required_outside_the_embedded_demo(tmp_path, monkeypatch):
    from snu_assets.defs.resources import PostgresResource, PseudonymResource

    real = PostgresResource(url="postgresql://writer@db.example:5432/analytics")
    with pytest.raises(MissingPseudonymKey, match="SNU_PSEUDONYM_KEY"):
        PseudonymResource(key=None).pseudonymizer(real)
    monkeypatch.setenv("SNU_STATE_DIR", str(tmp_path))
    # (verify=False: which key, not whether the schema agrees; the integration tests do that)
    demo = PseudonymResource(key=None).pseudonymizer(PostgresResource(url=None), verify=False)
    again = PseudonymResource(key=None).pseudonymizer(PostgresResource(), verify=False)
    assert demo("young", REF) == again("young", REF)
    assert demo.fingerprint == again.fingerprint
    assert demo.fingerprint != Pseudonymizer("another-key-0123456789").fingerprint
    assert (tmp_path / "pseudonym.key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    "value",
    [
        "a" * 1_000_000,
        "7" * 1_000_000,
        "a.a-a@a." * 100_000,
        "w" * 999_999 + "@",
        # under the length cap: the greedy "plain text" pattern backtracked exponentially here
        "a" + "." * (MAX_CATEGORY_LENGTH - 2) + "1",
        "a-" * (MAX_CATEGORY_LENGTH // 2),
        "a" + " " * (MAX_CATEGORY_LENGTH - 2) + "1",
    ],
)
def test_adversarial_values_are_judged_by_length_or_possessive_patterns(value):
    """Each of these hung the detectors (quadratic or exponential backtracking); a value over
    the cap is free text and nothing else, judged before any pattern runs."""
    kinds = kinds_of_personal_data(value, reference_year=2025)
    assert kinds == (("free text",) if len(value) > MAX_CATEGORY_LENGTH else kinds)
    result = scrub_patch(doc([{"op": "replace", "path": "/cohort", "value": value}]), "young", P)
    expected = "[redacted]" if kinds else value
    assert result.ops[0]["value"] == expected


def test_writes_inside_a_statistical_field_redact_it_once():
    result = scrub_patch(
        doc(
            [{"op": "add", "path": f"/cohort/{i}", "value": "x"} for i in range(1000)]
            + [{"op": "replace", "path": "/status", "value": "VALIDATED"}]
        ),
        "young",
        P,
    )
    assert result.ops == [
        {"op": "replace", "path": "/cohort", "value": "[redacted]", "originalValue": "[redacted]"},
        {"op": "replace", "path": "/status", "value": "VALIDATED"},
    ]
    assert result.redactions == {"write inside a statistical field": 1000}


def test_redactions_are_counted_by_reason():
    result = scrub_patch(
        doc(
            [
                {"op": "replace", "path": "/grade", "value": "x" * 500, "originalValue": "a@b.fr"},
                {"op": "replace", "path": "/cohortId", "value": "nope"},
                {"op": "replace", "path": "/birthdateAt", "value": "1" * 10_000},
                {"op": "replace", "path": "/situation", "value": {"deep": ["object"]}},
            ]
        ),
        "young",
        P,
    )
    assert result.redactions == {
        "free text": 1,
        "email": 1,
        "not an id": 1,
        "not a date": 1,
        "not a scalar": 1,
    }
    assert result.redacted_values == 5


def test_findings_never_quote_a_key_and_cost_no_recursion():
    deep = "leaf"
    for level in range(5_000):  # far deeper than MongoDB's 100 levels, no RecursionError
        deep = {"jean.dupont@exemple.fr" if level % 2 else f"k{level}": deep}
    found = findings({"status": deep}, 2025)
    assert found[0] == ("/status/~", "email") and found[1][0] == "/status/~/k4998/~"
    assert len(found) == 2_500
    assert all("dupont" not in pointer for pointer, _ in found)
    assert audit_state("young", {"lea@x.fr": "a"}, 2025)[0] == (
        "/~",
        "field outside the allow-list",
    )


@pytest.mark.parametrize(
    "stored,month",
    [
        ("2009-12-31T23:00:00.000Z", "2010-01"),  # Paris midnight of New Year's Day (CET)
        ("2010-01-01T00:00:00.000Z", "2010-01"),  # UTC midnight of the same day
        ("2009-03-31T22:00:00.000Z", "2009-04"),  # Paris midnight of 1 April (CEST)
        ("2009-04-30T00:00:00.000Z", "2009-04"),
    ],
)
def test_birth_month_is_the_day_picked_in_france(stored, month):
    result = scrub_patch(doc([{"op": "add", "path": "/birthdateAt", "value": stored}]), "young", P)
    assert result.ops[0]["value"] == month


def test_impersonation_keeps_both_roles_and_nothing_else():
    admin = {"_id": ObjectId(), "role": "admin", "firstName": "Ada", "email": "ada@x.fr"}
    user = {"role": "referent_department", "firstName": "Léa", "impersonatedBy": admin}
    result = scrub_patch(
        doc([{"op": "replace", "path": "/status", "value": "VALIDATED"}], user=user), "young", P
    )
    assert (result.author_role, result.impersonator_role) == ("referent_department", "admin")
    plain = scrub_patch(doc([], user={"role": "admin"}), "young", P)
    assert (plain.author_role, plain.impersonator_role) == ("admin", None)


@pytest.mark.parametrize(
    "value",
    [612345678, 1850578006084, 612345678.0, 1.85e20, "612345678", "+33612345678", "tel 0612345678"],
)
def test_phone_or_nir_typed_without_separators_or_as_a_number_is_redacted(value):
    result = scrub_patch(doc([{"op": "replace", "path": "/academy", "value": value}]), "young", P)
    assert result.ops[0]["value"] == "[redacted]"
    assert findings({"academy": value}, 2025)  # and the audit sees it too


@pytest.mark.parametrize("value", [0, 17, 2025, 99_999_999, 3.5, True, "20250106"])
def test_small_numbers_stay(value):
    result = scrub_patch(doc([{"op": "replace", "path": "/academy", "value": value}]), "young", P)
    assert result.ops[0]["value"] == value and not findings({"academy": value}, 2025)
