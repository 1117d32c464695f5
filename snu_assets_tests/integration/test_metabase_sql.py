"""Every SQL block of docs/metabase.md, as a Metabase user pastes it, run on the seeded
pipeline (schema ``snu`` replaced by the test schema) and checked against the generator
truth and the tables; and run under the read-only Metabase role, which must suffice."""

import re
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import psycopg
import pytest

from snu_assets.settings import PROJECT_ROOT
from snu_assets_testing.roles import temporary_roles
from snu_assets_tests.integration.test_pipeline import rows
from snu_assets_tests.integration.test_weekly_report import funnel_truth

DOC = PROJECT_ROOT / "docs" / "metabase.md"  # in French, the users' language
DOC_EN = PROJECT_ROOT / "docs" / "metabase.en.md"  # the same questions in English
BY_GENDER = "Créés et validés par jour et par genre"
BY_AGE_BAND = "Créés et validés par jour et par tranche d’âge"
BY_REGION = "Créés et validés par jour et par région"
PROGRESS = "Avancement hebdomadaire par rapport aux objectifs, par cohorte"
DEPARTMENTS = "Validés par département par rapport à l’objectif"
REGIONS = "Entonnoir publié par région"
#: the English page's titles of the same questions, in the same order
ENGLISH = {
    BY_GENDER: "Daily created and validated by gender",
    BY_AGE_BAND: "Daily created and validated by age band",
    BY_REGION: "Daily created and validated by region",
    PROGRESS: "Weekly progress against objectives per cohort",
    DEPARTMENTS: "Validated per department vs objective",
    REGIONS: "Published funnel per region",
}
#: what each role of roles.sql reads
READABLE = {
    "snu_reader": {
        "enriched_events",
        "inscription_goals",
        "cohorts",
        "ref_departments",
        "weekly_funnel",
        "weekly_funnel_national",
        "weekly_funnel_hidden",
    },
    "snu_public": {"inscription_goals", "cohorts", "ref_departments", "weekly_funnel"},
}


def sql_blocks(doc=DOC, role_line=r"^\*\*Rôle[ \u00a0\u202f]?:\*\* `(\w+)`"):
    """{### title: the first ```sql block under it} of the page, and {title: its role}."""
    blocks, roles, title = {}, {}, None
    for part in re.split(r"^(### .+)$", doc.read_text(encoding="utf-8"), flags=re.M):
        if part.startswith("### "):
            title = part[4:].strip()
            continue
        found = re.findall(r"^```sql\n(.*?)^```", part, flags=re.M | re.S)
        if title is not None:
            assert len(found) == 1, f"{title!r}: one sql block expected, {len(found)} found"
            blocks[title] = found[0]
            role = re.findall(role_line, part, flags=re.M)
            assert len(role) == 1, f"{title!r}: one role line expected"
            roles[title] = role[0]
        else:
            assert not found, "an sql block without a ### title"
    return blocks, roles


BLOCKS, ROLES = sql_blocks()


def for_schema(sql: str, schema: str) -> str:
    assert re.search(r"\bsnu\.", sql), "the doc's queries name the schema snu"
    return re.sub(r"\bsnu\.", f'"{schema}".', sql)


def run(pipeline, title: str) -> list[dict]:
    with pipeline.connect() as conn:
        cursor = conn.execute(for_schema(BLOCKS[title], pipeline.schema))
        columns = [c.name for c in cursor.description]
        return [dict(zip(columns, r)) for r in cursor.fetchall()]


def state(patch) -> dict:
    return patch.after or patch.before or {}


def age_band(patch, day: date) -> str:
    birth = state(patch).get("birthdateAt")
    if not birth:
        return "unknown"
    birth = date.fromisoformat(birth[:10])
    age = day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
    return "<15" if age < 15 else "18+" if age >= 18 else str(age)


def expected_daily(truth, dimension) -> Counter:
    """{(day, value of the dimension, created|validated): count} from the truth."""
    counts = Counter()
    for day, category, patch in funnel_truth(truth):
        if category in ("created", "validated"):
            counts[(day, dimension(patch, day), category)] += 1
    return counts


def found_daily(result: list[dict], column: str) -> Counter:
    counts = Counter()
    for row in result:
        for category in ("created", "validated"):
            if row[category]:
                counts[(row["day"], row[column], category)] += row[category]
    return counts


# ------------------------------------------------------------------------------ the page


def test_the_page_holds_the_regulators_questions():
    assert set(BLOCKS) == {BY_GENDER, BY_AGE_BAND, BY_REGION, PROGRESS, DEPARTMENTS, REGIONS}
    # the English page asks the same questions with the same SQL, under the same roles
    blocks_en, roles_en = sql_blocks(DOC_EN, r"^\*\*Role:\*\* `(\w+)`")
    assert list(blocks_en) == [ENGLISH[title] for title in BLOCKS]
    for title, english in ENGLISH.items():
        assert blocks_en[english] == BLOCKS[title] and roles_en[english] == ROLES[title]
    assert {ROLES[DEPARTMENTS], ROLES[REGIONS]} == {"snu_public"}
    for title, sql in BLOCKS.items():
        tables = set(re.findall(r"\bsnu\.(\w+)", sql))
        readable = READABLE[ROLES[title]]
        assert tables and tables <= readable, f"{title} reads {tables - readable}"
        assert "{{" not in sql, "Metabase variables would not run as pasted"


@pytest.mark.parametrize("title", sorted(BLOCKS))
def test_every_block_runs_and_answers(pipeline, title):
    result = run(pipeline, title)
    assert result, f"{title}: no row"


# ------------------------------------------------------------------------------ daily


def test_daily_by_gender_equals_the_truth(pipeline, truth):
    result = run(pipeline, BY_GENDER)
    assert list(result[0]) == ["day", "gender", "created", "validated"]
    expected = expected_daily(truth, lambda p, day: state(p).get("gender") or "unknown")
    assert found_daily(result, "gender") == expected
    created = Counter(d for (d, _, c), n in expected.items() for _ in range(n) if c == "created")
    assert sum(created.values()) == sum(
        1 for p in truth.patches if p.model == "young" and p.is_creation
    )
    assert {g for _, g, _ in expected} >= {"male", "female"}


def test_daily_by_region_equals_the_truth(pipeline, truth):
    result = run(pipeline, BY_REGION)
    assert list(result[0]) == ["day", "region", "created", "validated"]
    expected = expected_daily(truth, lambda p, day: state(p).get("region") or "unknown")
    assert found_daily(result, "region") == expected
    assert len({r for _, r, _ in expected}) > 5


def test_daily_by_age_band_equals_the_truth(pipeline, truth):
    result = run(pipeline, BY_AGE_BAND)
    assert list(result[0]) == ["day", "age_band", "created", "validated"]
    found = found_daily(result, "age_band")
    # ages are exact for youngs still in MongoDB; a deleted young's birth date is gone with
    # its document, so its events may fall under 'unknown': compare per day, and per band
    # for the others
    deleted = truth.deleted_young_ids
    exact = Counter()
    for day, category, patch in funnel_truth(truth):
        if category in ("created", "validated") and patch.ref not in deleted:
            exact[(day, age_band(patch, day), category)] += 1
    for key, count in exact.items():
        assert found[key] >= count, key
    assert _sum_by_day(found) == _sum_by_day(expected_daily(truth, lambda p, day: ""))
    assert sum(found.values()) - sum(exact.values()) <= sum(
        1 for _, c, p in funnel_truth(truth) if c in ("created", "validated") and p.ref in deleted
    )
    assert {b for _, b, _ in found} >= {"15", "16", "17"}


def _sum_by_day(counts: Counter) -> Counter:
    out = Counter()
    for (day, _, category), count in counts.items():
        out[(day, category)] += count
    return out


# ------------------------------------------------------------------------------ objectives


def test_weekly_progress_per_cohort(pipeline, truth):
    result = run(pipeline, PROGRESS)
    assert list(result[0]) == [
        "week",
        "cohort",
        "validated",
        "validated_cumulated",
        "objective",
        "progress_pct",
        "projection",
        "projected_pct",
    ]
    validated = Counter()
    for day, category, patch in funnel_truth(truth):
        if category == "validated":
            validated[(day - timedelta(days=day.weekday()), state(patch).get("cohort"))] += 1
    goals = dict(
        rows(pipeline, "select cohort, sum(objective) from {s}.inscription_goals group by cohort")
    )
    national = {
        (w, c): (v, p)
        for w, c, v, p in rows(
            pipeline,
            "select week, cohort, sum(validated_cumulated), sum(projection) "
            "from {s}.weekly_funnel_national group by 1, 2",
        )
    }
    assert {(r["week"], r["cohort"]) for r in result} == set(national)
    cumulated = Counter()
    for row in sorted(result, key=lambda r: r["week"]):
        key = (row["week"], row["cohort"])
        assert row["validated"] == validated[key], key
        cumulated[row["cohort"]] += row["validated"]
        assert row["validated_cumulated"] == national[key][0]
        assert row["objective"] == goals.get(row["cohort"])
        assert row["projection"] == national[key][1]
        if row["objective"]:
            assert row["progress_pct"] == round(
                Decimal(100) * row["validated_cumulated"] / row["objective"], 1
            )
    # no validation before the seeded window: cumulated = the weeks' validated summed
    last = max(r["week"] for r in result)
    for cohort, total in cumulated.items():
        assert national[(last, cohort)][0] == total
    assert sum(validated.values()) == sum(r["validated"] for r in result) > 10
    assert any(r["projection"] is not None and r["objective"] for r in result)


def test_validated_per_department_vs_objective(pipeline, truth):
    result = run(pipeline, DEPARTMENTS)
    assert list(result[0]) == [
        "week",
        "cohort",
        "region",
        "department",
        "validated_cumulated",
        "suppressed",
        "objective",
        "progress_pct",
    ]
    [(week,)] = rows(pipeline, "select max(week) from {s}.weekly_funnel")
    assert {r["week"] for r in result} == {week}
    week_end = week + timedelta(days=7)
    exact = Counter()
    for day, category, patch in funnel_truth(truth):
        if category == "validated" and day < week_end:
            exact[(state(patch).get("cohort"), state(patch).get("department") or "unknown")] += 1
    goals = {
        (c, d): o
        for c, d, o in rows(
            pipeline, "select cohort, department, objective from {s}.inscription_goals"
        )
    }
    seen = set()
    for row in result:
        key = (row["cohort"], row["department"])
        assert key not in seen, key
        seen.add(key)
        assert row["objective"] == goals.get(key)
        if row["suppressed"]:  # hidden: nothing shown
            assert row["validated_cumulated"] is None and row["progress_pct"] is None
        else:
            assert row["validated_cumulated"] == exact[key], key
    assert set(goals) <= seen
    assert {k for k, n in exact.items() if n} <= seen
    assert any(r["suppressed"] for r in result)
    assert sum(r["objective"] or 0 for r in result) == sum(goals.values())


def test_published_funnel_per_region(pipeline, truth):
    result = run(pipeline, REGIONS)
    assert list(result[0]) == [
        "week",
        "cohort",
        "region",
        "created",
        "completed",
        "processed",
        "validated",
        "refused",
        "validated_cumulated",
        "objective",
        "progress_pct",
        "projection",
    ]
    [(week,)] = rows(pipeline, "select max(week) from {s}.weekly_funnel")
    week_end = week + timedelta(days=7)
    exact = Counter()
    for day, category, patch in funnel_truth(truth):
        region = state(patch).get("region") or "unknown"
        if week <= day < week_end:
            exact[(state(patch).get("cohort"), region, category)] += 1
        if category == "validated" and day < week_end:
            exact[(state(patch).get("cohort"), region, "validated_cumulated")] += 1
    goals = Counter()
    for cohort, region, objective in rows(
        pipeline, "select cohort, region, objective from {s}.inscription_goals"
    ):
        goals[(cohort, region or "unknown")] += objective
    shown = hidden = 0
    for row in result:
        assert row["week"] == week
        for column in (
            "created",
            "completed",
            "processed",
            "validated",
            "refused",
            "validated_cumulated",
        ):
            value = row[column]
            if value is None:
                hidden += 1
            else:
                shown += 1
                assert value == exact[(row["cohort"], row["region"], column)], (row, column)
                assert not 1 <= value <= 4
        assert row["objective"] == (goals.get((row["cohort"], row["region"])) or None)
    assert shown > hidden


# ------------------------------------------------------------------------------ Metabase roles


def test_each_block_runs_under_its_role(pipeline):
    with temporary_roles(pipeline) as names:
        for title, sql in BLOCKS.items():
            role = names[ROLES[title].removeprefix("snu_")]
            with psycopg.connect(pipeline.resolved_url(), user=role, autocommit=True) as conn:
                assert conn.execute(for_schema(sql, pipeline.schema)).fetchall(), title
        # and the public role cannot run the ministry's questions
        with psycopg.connect(
            pipeline.resolved_url(), user=names["public"], autocommit=True
        ) as conn:
            for title in (BY_GENDER, PROGRESS):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(for_schema(BLOCKS[title], pipeline.schema))
