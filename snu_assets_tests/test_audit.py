"""The audit where rows are produced (:class:`RowAudit`) judges as the re-read does."""

import itertools
from collections import Counter

import pytest

from snu_assets.core.privacy.audit import RowAudit, audit_ops, audit_state

YEAR = 2025
VALUES = [
    "VALIDATED",
    "lea.martin@gmail.com",
    "06 12 34 56 78",
    "12 rue de la Paix",
    "2009-03-13",
    "1990-01-01T00:00:00.000Z",
    "2025-01-07T16:26:27.797Z",
    123456789,
    123456789.0,
    12,
    True,
    None,
    "507f1f77bcf86cd799439011",
    {"a": "b@c.fr"},
    ["x", "0612345678"],
    1.5,
    "a" * 200,
]
KEYS = [
    "status",
    "cohort",
    "email",
    "lea@gmail.com",
    "birthdateAt",
    "firstName",
    "x y",
    "1990-01-01",
]


def kinds(problems) -> Counter:
    return Counter(kind for _, kind in problems)


@pytest.mark.parametrize("model", ["young", "application"])
def test_a_state_is_judged_as_the_re_read_judges_it(model):
    for key, value in itertools.product(KEYS, VALUES):
        audit = RowAudit("t")
        audit.state("row", "after", model, YEAR, {key: value})
        assert audit.report.problems == kinds(audit_state(model, {key: value}, YEAR)), (key, value)


@pytest.mark.parametrize("model", ["young", "application"])
def test_an_op_is_judged_as_the_re_read_judges_it(model):
    for key, value, kind, original in itertools.product(
        KEYS, VALUES, ["replace", "add", "destroy", "move"], ["x", "lea@gmail.com", 987654321]
    ):
        for path in ("/" + key, "/status", f"/{key}/0"):
            op = {"op": kind, "path": path, "value": value, "originalValue": original}
            audit = RowAudit("t")
            audit.ops("row", model, YEAR, [op])
            assert audit.report.problems == kinds(audit_ops(model, [op], YEAR)), op
    for bad in [
        None,
        "x",
        5,
        [1],
        {"op": "add"},
        {"op": "add", "path": "no-slash", "value": "a@b.fr"},
    ]:
        audit = RowAudit("t")
        audit.ops("row", model, YEAR, [bad])
        # a malformed path: the values are judged too (audit_ops stops at the path)
        assert kinds(audit_ops(model, [bad], YEAR)) <= audit.report.problems, bad
        assert audit.report.problems


def test_each_distinct_value_is_judged_once_but_every_field_and_row_is_covered():
    audit = RowAudit("reconstructed_events")
    for row in range(1_000):
        audit.row()
        audit.state(f"e{row}", "after", "young", YEAR, {"status": "VALIDATED", "cohort": "2025"})
    assert audit.report.passed and audit.report.rows == 1_000
    # the same value under another field, or in another year, is judged again
    audit.state("e-last", "after", "young", YEAR, {"email": "VALIDATED"})
    audit.state("e-last", "after", "young", 2040, {"birthdateAt": "2025-01-01"})
    assert audit.report.problems == {"field outside the allow-list": 1, "exact birth date": 1}
    assert any("(row e-last)" in example for example in audit.report.examples)
    audit.plain("r1", "author_role", YEAR, "lea@gmail.com")
    assert audit.report.problems["email"] == 1


def test_state_that_is_not_an_object_is_a_problem():
    audit = RowAudit("t")
    audit.state("row", "before", "young", YEAR, ["not", "an", "object"])
    assert audit.report.problems == {"state is not an object": 1}
