"""Unit tests of the synthetic data generator (no server needed)."""

from __future__ import annotations

import collections
import datetime as dt
import re
from zoneinfo import ZoneInfo

import jsonpatch
import pytest
from bson import ObjectId

from snu_assets.ops.demo_data import SeedStats, generate, generate_all
from snu_assets.ops.demo_data.contract import (
    APPLICATION_EXCLUDES,
    DEFAULT_START,
    STATISTICS_FIELDS,
    YOUNG_EXCLUDES,
    _is_private,
    _resolve,
    _top,
    iso,
    legacy_until,
    plugin_ops,
    plugin_view,
    to_json,
    young_excludes,
)

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
PARIS = ZoneInfo("Europe/Paris")
SECRETS = ("/tokenEmailValidation", "/forgotPasswordResetToken")


@pytest.fixture(scope="module")
def data():
    return generate_all(seed=3, youngs=500)


@pytest.fixture(scope="module")
def patches(data):
    """Every patch document by hex id, with its model."""
    return {str(p["_id"]): p for p in (*data.young_patches, *data.application_patches)}


def excludes_of(truth):
    return young_excludes(truth.date) if truth.model == "young" else APPLICATION_EXCLUDES


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_documents():
    one, two = generate_all(seed=11, youngs=60), generate_all(seed=11, youngs=60)
    for name in ("youngs", "young_patches", "applications", "application_patches",
                 "inscriptiongoals", "cohorts"):  # fmt: skip
        assert getattr(one, name) == getattr(two, name), name
    assert one.truth.personal_values == two.truth.personal_values


def test_other_seed_other_documents():
    one, two = generate_all(seed=11, youngs=30), generate_all(seed=12, youngs=30)
    assert one.youngs != two.youngs
    assert one.young_patches != two.young_patches


def test_streaming_without_truth_gives_the_same_documents():
    with_truth = generate_all(seed=5, youngs=40)
    streamed = list(generate(seed=5, youngs=40, collect_truth=False))
    assert [p for b in streamed for p in b.young_patches] == with_truth.young_patches
    assert [y for b in streamed for y in b.youngs] == with_truth.youngs
    assert all(not b.truth and not b.personal_values for b in streamed)
    stats = SeedStats()
    for batch in streamed:
        stats.absorb(batch)
    assert stats.young_patches == with_truth.truth.young_patches
    assert stats.youngs_generated == 40


# --------------------------------------------------------------------------- patch shape


def test_patch_document_shape(data):
    young_ids = {y["_id"] for y in data.youngs}
    for patch in data.young_patches:
        assert {"_id", "__v", "ref", "modelName", "date", "ops"} <= set(patch)
        assert set(patch) <= {"_id", "__v", "ref", "modelName", "date", "cohortId", "user", "ops"}
        assert patch["modelName"] == "young" and patch["__v"] == 0
        assert isinstance(patch["_id"], ObjectId) and isinstance(patch["ref"], ObjectId)
        assert patch["date"].tzinfo is not None and patch["date"].microsecond % 1000 == 0
        user = patch.get("user")
        if user is not None and user.get("model") == "young":
            assert user["_id"] == patch["ref"] and "role" not in user
        elif user is not None and "model" not in user:
            assert set(user) == {"firstName"}  # scripts and crons
    refs = {p["ref"] for p in data.young_patches}
    assert refs & young_ids
    for patch in data.application_patches:
        assert patch["modelName"] == "application" and "cohortId" not in patch


def test_creation_patch_has_one_add_per_field_with_defaults(data, patches):
    creations = [t for t in data.truth.patches
                 if t.is_creation and t.model == "young" and not t.rewritten]  # fmt: skip
    assert creations
    for truth in creations:
        ops = patches[truth.patch_id]["ops"]
        assert all(op["op"] == "add" and "originalValue" not in op for op in ops)
        added = {op["path"]: op["value"] for op in ops}
        assert len(added) == len(ops)
        assert set(added) == {"/" + k for k in plugin_view(truth.after, excludes_of(truth))} | {
            p for p in SECRETS if p in added
        }
        assert added["/status"] == "IN_PROGRESS"
        assert added["/statusPhase1"] == "WAITING_AFFECTATION"
        assert added["/statusPhase2"] == added["/statusPhase3"] == "WAITING_REALISATION"
        assert added["/phase"] == "INSCRIPTION"
        assert added["/createdAt"] == iso(truth.date)
        assert "/updatedAt" not in added and "/password" not in added and "/_id" not in added
        assert patches[truth.patch_id]["date"] == truth.date


def test_application_creation(data, patches):
    young_ids = {str(y["_id"]) for y in data.youngs}
    creations = [t for t in data.truth.patches if t.is_creation and t.model == "application"]
    assert creations
    for truth in creations:
        added = {op["path"]: op["value"] for op in patches[truth.patch_id]["ops"]}
        assert added["/status"] in ("WAITING_VALIDATION", "WAITING_ACCEPTATION")
        assert added["/youngId"] in young_ids
    statuses = {a["status"] for a in data.applications}
    assert {"VALIDATED", "REFUSED"} & statuses


def test_only_add_remove_replace_and_original_values(data, patches):
    """Every non-add op carries originalValue = the before value at its path."""
    seen = collections.Counter()
    for truth in data.truth.patches:
        for op in patches[truth.patch_id]["ops"]:
            seen[op["op"]] += 1
            if op["op"] == "destroy":
                assert truth.is_destroy and op == {"op": "destroy", "path": "/", "value": "deleted"}
            elif op["op"] == "add":
                assert "originalValue" not in op
            else:
                assert op["op"] in ("remove", "replace")
                assert op["originalValue"] == _resolve(truth.before, op["path"])
    assert seen["replace"] and seen["remove"] and seen["add"]
    assert not {"move", "copy", "test"} & set(seen)


def test_applying_ops_to_before_gives_after(data, patches):
    checked = 0
    for truth in data.truth.patches:
        if truth.rewritten or truth.is_destroy:
            continue
        excludes = YOUNG_EXCLUDES if truth.model == "young" else APPLICATION_EXCLUDES
        applied = jsonpatch.apply_patch(truth.before or {}, patches[truth.patch_id]["ops"])
        assert plugin_view(applied, excludes) == plugin_view(truth.after, excludes)
        checked += 1
    assert checked > 1000


def test_restricted_diff_equals_full_diff(data, patches):
    """The generator diffs the touched keys only: same ops as diffing whole documents."""
    for truth in data.truth.patches[:1500]:
        if truth.rewritten or truth.is_destroy:
            continue
        full = plugin_ops(truth.before or {}, truth.after, excludes_of(truth))
        assert full == patches[truth.patch_id]["ops"]


def test_nested_and_array_paths(data):
    paths = {op["path"] for p in data.young_patches for op in p["ops"]}
    assert any(re.fullmatch(r"/files/cniFiles/[1-9]\d*", p) for p in paths)
    assert any(re.fullmatch(r"/location/(lat|lon)", p) for p in paths)
    assert any(re.fullmatch(r"/correctionRequests/\d+/status", p) for p in paths)


def test_dates_and_ids_are_json_in_ops(data):
    dates = ("/createdAt", "/lastStatusAt", "/birthdateAt", "/inscriptionDoneDate")
    values = [op["value"] for p in data.young_patches for op in p["ops"]
              if op["path"] in dates and "value" in op]  # fmt: skip
    assert values and all(isinstance(v, str) and ISO.match(v) for v in values)
    for patch in (*data.young_patches, *data.application_patches):
        for op in patch["ops"]:
            for key in ("value", "originalValue"):
                if key in op:
                    assert to_json(op[key]) == op[key]  # no datetime, no ObjectId inside


def test_ids_carry_the_date_second(data):
    skewed = 0
    for patch in data.young_patches:
        drift = abs(patch["_id"].generation_time.timestamp() - int(patch["date"].timestamp()))
        if drift:
            assert 3600 <= drift <= 6 * 3600 + 1  # clock skew by hours
            skewed += 1
    assert 0 < skewed < len(data.young_patches) / 50
    for young in data.youngs:
        assert young["_id"].generation_time == young["createdAt"].replace(microsecond=0)


# --------------------------------------------------------------------------- truth


def test_truth_covers_exactly_the_log(data, patches):
    assert {t.patch_id for t in data.truth.patches} == set(patches)
    assert data.truth.young_patches == len(data.young_patches)
    assert data.truth.final_youngs == len(data.youngs) == len(data.truth.young_ids)
    for truth in data.truth.patches:
        patch = patches[truth.patch_id]
        assert truth.ref == str(patch["ref"]) and truth.date == patch["date"]
        assert truth.model == patch["modelName"]


def test_truth_chain_is_continuous_without_gaps(data):
    """Without gaps the after of a patch is the before of the next one (auth fields and
    updatedAt aside: saves that only touch them leave no patch)."""
    stripped = {t.ref for t in data.truth.patches if t.rewritten}
    checked = 0
    for ref in data.truth.young_ids - data.truth.gap_young_ids - stripped:
        chain = data.truth.of(ref)
        for previous, current in zip(chain, chain[1:]):
            if previous.model == "young":
                assert plugin_view(previous.after) == plugin_view(current.before)
                checked += 1
    assert checked > 500


def test_gaps_change_documents_without_patches(data):
    assert data.truth.gaps > 0 and data.truth.gap_young_ids
    differing = 0
    for ref in data.truth.gap_young_ids:
        chain = [t for t in data.truth.of(ref) if t.model == "young"]
        differing += any(
            plugin_view(a.after) != plugin_view(b.before) for a, b in zip(chain, chain[1:])
        )
    final = {str(y["_id"]): to_json(y) for y in data.youngs}
    for ref in data.truth.gap_young_ids & set(final):
        chain = [t for t in data.truth.of(ref) if t.model == "young"]
        if chain and plugin_view(chain[-1].after) != plugin_view(final[ref]):
            differing += 1
    assert differing > 0


def test_pre_log_youngs_have_no_creation_in_the_log(data):
    assert data.truth.pre_log_youngs > 0
    creations = {t.ref for t in data.truth.patches if t.is_creation}
    assert not creations & data.truth.pre_log_young_ids
    chains = [data.truth.of(ref) for ref in data.truth.pre_log_young_ids]
    first = [chain[0] for chain in chains if chain]
    assert first and all(t.before is not None and not t.is_creation for t in first)
    start = dt.datetime(2025, 1, 5, 23, tzinfo=dt.UTC)  # Paris midnight of start
    assert all(p["date"] >= start for p in data.young_patches)


def test_deleted_youngs_keep_statistical_fields_only(data):
    assert data.truth.deleted > 0
    final = {str(y["_id"]) for y in data.youngs}
    assert not data.truth.deleted_young_ids & final
    for patch in data.young_patches:
        if str(patch["ref"]) in data.truth.deleted_young_ids:
            assert patch["ops"]
            for op in patch["ops"]:
                assert op["op"] == "destroy" or _top(op["path"]) in STATISTICS_FIELDS


def test_destroy_patches(data):
    destroys = [t for t in data.truth.patches if t.is_destroy]
    assert len(destroys) == data.truth.destroy_patches
    for truth in destroys:
        assert truth.ref in data.truth.deleted_young_ids and truth.after is None


def test_cron_strips_parents_from_older_patches(data):
    cron = [p for p in data.young_patches
            if p.get("user") == {"firstName": "Cron deleteLegalRepresentatives"}]  # fmt: skip
    assert cron
    by_ref = collections.defaultdict(list)
    for patch in data.young_patches:
        by_ref[patch["ref"]].append(patch)
    for patch in cron:
        assert all(op["op"] == "remove" and "originalValue" in op for op in patch["ops"])
        for older in by_ref[patch["ref"]]:
            if older["date"] < patch["date"]:
                assert not any(_top(op["path"]).startswith(("parent1", "parent2"))
                               for op in older["ops"])  # fmt: skip


def test_secrets_in_clear_only_in_older_patches(data):
    with_secrets = [p for p in data.young_patches
                    if any(op["path"] in SECRETS for op in p["ops"])]  # fmt: skip
    assert with_secrets
    assert all(p["date"] < legacy_until() for p in with_secrets)
    paths = {op["path"] for p in data.young_patches for op in p["ops"]}
    assert "/password" not in paths and "/updatedAt" not in paths


def test_out_of_order_and_same_second(data):
    by_ref = collections.defaultdict(list)
    for patch in data.young_patches:
        by_ref[patch["ref"]].append(patch["date"])
    assert any(dates != sorted(dates) for dates in by_ref.values())
    same_second = sum(
        1
        for dates in by_ref.values()
        for a, b in zip(sorted(dates), sorted(dates)[1:])
        if a.replace(microsecond=0) == b.replace(microsecond=0)
    )
    assert same_second > 10


def test_paris_days(data):
    """Patches between 22:00 and 24:00 UTC belong to the next Paris day (at 23:00 UTC in
    winter), some creations happen between 00:00 and 01:00 and 23:00 and 24:00 Paris."""
    late_utc = [p["date"] for p in data.young_patches if p["date"].hour >= 22]
    assert late_utc
    assert any(d.astimezone(PARIS).date() != d.date() for d in late_utc)
    created = [t.date.astimezone(PARIS).hour for t in data.truth.patches if t.is_creation]
    assert 0 in created and 23 in created


def test_status_lifecycle_is_plausible(data):
    counts = collections.Counter(y["status"] for y in data.youngs)
    for status in ("IN_PROGRESS", "WAITING_VALIDATION", "VALIDATED", "REFUSED",
                   "WAITING_CORRECTION", "WITHDRAWN", "ABANDONED"):  # fmt: skip
        assert counts[status], status
    assert counts["VALIDATED"] > counts["REFUSED"]
    phase1 = collections.Counter(y["statusPhase1"] for y in data.youngs)
    assert phase1["AFFECTED"] and phase1["DONE"]
    events = collections.Counter(
        op["value"] for p in data.young_patches for op in p["ops"] if op["path"] == "/status"
    )
    assert events["WAITING_VALIDATION"] > events["VALIDATED"] > events["REFUSED"] > 0
    assert events["REINSCRIPTION"] and events["WAITING_LIST"]
    cohort_changes = [op for p in data.young_patches for op in p["ops"] if op["path"] == "/cohort"
                      and op["op"] == "replace"]  # fmt: skip
    assert cohort_changes


def test_young_documents(data):
    for young in data.youngs:
        assert young["gender"] in ("male", "female")
        assert young["source"] in ("VOLONTAIRE", "CLE")
        for flag in ("qpv", "isRegionRural", "schooled"):
            assert young[flag] in ("true", "false")
        age = (young["createdAt"] - young["birthdateAt"]).days / 365.25
        assert 13.9 < age < 19.1
        assert young["cohortId"] in {str(c["_id"]) for c in data.cohorts}
    departments = collections.Counter(y["department"] for y in data.youngs)
    assert departments.most_common(1)[0][1] > 5 * min(departments.values())


def test_inscription_goals_and_cohorts(data):
    current = [c for c in data.cohorts if c["inscriptionStartDate"] >= dt.datetime(
        2025, 1, 5, tzinfo=dt.UTC)]  # fmt: skip
    assert [c["name"] for c in current] == [
        "Février 2025 - C",
        "Avril 2025 - A",
        "Juin 2025 - B",
        "Juillet 2025",
    ]
    departments = {g["department"] for g in data.inscriptiongoals}
    assert len(data.inscriptiongoals) == len(departments) * len(current)
    for goal in data.inscriptiongoals:
        assert goal["max"] >= 1 and goal["cohortId"] in {str(c["_id"]) for c in current}
    for cohort in current:
        assert cohort["inscriptionStartDate"] < cohort["inscriptionEndDate"] < cohort["dateStart"]
        assert cohort["inscriptionEndDate"] <= dt.datetime(2025, 4, 6, tzinfo=dt.UTC)


def test_personal_values(data):
    values = data.truth.personal_values
    assert values
    assert {y["email"] for y in data.youngs} <= values
    # values that are also public words (a young named "Paris") are left out on purpose
    assert {y["lastName"] for y in data.youngs if _is_private(y["lastName"])} <= values
    # the day picked in France, whether stored as Paris or as UTC midnight
    assert {y["birthdateAt"].astimezone(PARIS).date().isoformat() for y in data.youngs} <= values
    assert {y["parent1Email"] for y in data.youngs if "parent1Email" in y} <= values
    assert {y["motivations"] for y in data.youngs if "motivations" in y} <= values
    assert {a["tutorName"] for a in data.applications} <= values
    assert not values & {"true", "false", "VALIDATED", "Paris", "Nord", data.youngs[0]["cohort"]}


def test_default_start_and_period():
    assert DEFAULT_START == dt.date(2025, 1, 6)
    one = generate_all(seed=2, youngs=20, days=10, applications=False)
    end = dt.datetime(2025, 1, 15, 23, tzinfo=dt.UTC)
    assert all(p["date"] < end for p in one.young_patches)
    assert not one.applications
