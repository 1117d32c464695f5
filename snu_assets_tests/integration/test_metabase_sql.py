"""Every question of docs/metabase.md is a view of the schema (``vue_*``), its block a
``select * from snu.<view>`` as a Metabase user pastes it: run on the seeded pipeline (schema
``snu`` replaced by the test schema) and checked against the generator truth and the tables
(every region and department of the reference listed, 0 where it has no event, a hidden
value still hidden); and run under the read-only Metabase role its page names, which must
suffice, while the public role cannot read the ministry's views."""

import re
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import psycopg
import pytest

from snu_assets.io.postgres import table_docs
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
#: the view of each question (ddl_60_metabase_views.sql)
VIEWS = {
    BY_GENDER: "vue_quotidien_par_genre",
    BY_AGE_BAND: "vue_quotidien_par_tranche_age",
    BY_REGION: "vue_quotidien_par_region",
    PROGRESS: "vue_avancement_par_cohorte",
    DEPARTMENTS: "vue_valides_par_departement",
    REGIONS: "vue_entonnoir_par_region",
}
#: the views over weekly_funnel and the reference only: the public role's
PUBLIC_VIEWS = {VIEWS[DEPARTMENTS], VIEWS[REGIONS]}
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
        *VIEWS.values(),
    },
    "snu_public": {"inscription_goals", "cohorts", "ref_departments", "weekly_funnel"}
    | PUBLIC_VIEWS,
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
        # each question is its view, picked by name
        assert sql == f"select * from snu.{VIEWS[title]};\n", title
        assert (VIEWS[title] in PUBLIC_VIEWS) == (ROLES[title] == "snu_public"), title
    # every view of the schema is a question of the page, described as a view
    views = {name for name, doc in table_docs().items() if doc.kind == "view"}
    assert views == set(VIEWS.values())
    assert all(name.startswith("vue_") for name in views)


@pytest.mark.parametrize("title", sorted(BLOCKS))
def test_every_block_runs_and_answers(pipeline, title):
    result = run(pipeline, title)
    assert result, f"{title}: no row"


def reference_regions(pipeline) -> set[str]:
    return {r for (r,) in rows(pipeline, "select distinct region from {s}.ref_departments")}


def latest_week_cohorts(pipeline) -> tuple[date, set[str]]:
    """The latest published week, and the cohorts the published views list for it: those
    published that week and those with goals."""
    [(week,)] = rows(pipeline, "select max(week) from {s}.weekly_funnel")
    published = rows(
        pipeline, "select distinct cohort from {s}.weekly_funnel where week = %s", (week,)
    )
    goals = rows(pipeline, "select distinct cohort from {s}.inscription_goals")
    return week, {c for (c,) in published} | {c for (c,) in goals}


def published_rows(pipeline, week: date, level: str, key: str) -> dict[tuple, dict]:
    """{(cohort, region or department): the row} of weekly_funnel's totals at ``level``."""
    with pipeline.connect() as conn:
        cursor = conn.execute(
            f'select * from "{pipeline.schema}".weekly_funnel where week = %s and level = %s '
            "and gender = 'all' and age_band = 'all'",
            (week, level),
        )
        columns = [c.name for c in cursor.description]
        found = [dict(zip(columns, r)) for r in cursor.fetchall()]
    return {(r["cohort"], r[key]): r for r in found}


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
    # every region of the reference on every day, 0 where it had no event; one row each
    regions = reference_regions(pipeline)
    assert len(regions) >= 13
    days = {d for d, _, _ in expected}
    listed = Counter((r["day"], r["region"]) for r in result)
    assert set(listed.values()) == {1}
    assert {d for d, _ in listed} == days
    for day in days:
        assert {r for d, r in listed if d == day} >= regions, day
    assert any(r["created"] == r["validated"] == 0 for r in result)


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
    # every department of the reference for every cohort published or with goals: a
    # department's published value as published (hidden: NULL), 0 only without a row
    _, cohorts = latest_week_cohorts(pipeline)
    departments = dict(rows(pipeline, "select department, region from {s}.ref_departments"))
    assert {(c, d) for c in cohorts for d in departments} <= seen
    published = published_rows(pipeline, week, "department", "department")
    zeros = 0
    for row in result:
        key = (row["cohort"], row["department"])
        if row["department"] in departments:
            assert row["region"] == departments[row["department"]], key
        if key in published:
            assert row["validated_cumulated"] == published[key]["validated_cumulated"], key
            assert row["suppressed"] == (published[key]["validated_cumulated"] is None), key
        else:
            assert row["validated_cumulated"] == 0 and not row["suppressed"], key
            zeros += 1
    assert zeros, "the seed leaves some department without an event of some cohort"


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
        "suppressed",
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
    # every region of the reference for every cohort published or with goals: a region's
    # values as published (a hidden one stays NULL, never 0), 0 only without a row
    _, cohorts = latest_week_cohorts(pipeline)
    listed = Counter((r["cohort"], r["region"]) for r in result)
    assert set(listed.values()) == {1}
    assert {(c, r) for c in cohorts for r in reference_regions(pipeline)} <= set(listed)
    published = published_rows(pipeline, week, "region", "region")
    columns = ("created", "completed", "processed", "validated", "refused", "validated_cumulated")
    zeros = 0
    for row in result:
        key = (row["cohort"], row["region"])
        if key in published:
            assert {c: row[c] for c in columns} == {c: published[key][c] for c in columns}
            assert row["projection"] == published[key]["projection"], key
            assert row["suppressed"] == any(published[key][c] is None for c in columns), key
        else:
            assert all(row[c] == 0 for c in columns) and not row["suppressed"], key
            zeros += 1
    assert zeros, "the seed leaves some region without an event of some cohort"
    assert any(row["suppressed"] for row in result)


# ------------------------------------------------------------------------------ Metabase roles


def test_each_block_runs_under_its_role(pipeline):
    with temporary_roles(pipeline) as names:
        for title, sql in BLOCKS.items():
            role = names[ROLES[title].removeprefix("snu_")]
            with psycopg.connect(pipeline.resolved_url(), user=role, autocommit=True) as conn:
                assert conn.execute(for_schema(sql, pipeline.schema)).fetchall(), title
        # the ministry reads the public questions too; the public role cannot run the
        # ministry's (their views read exact tables)
        with psycopg.connect(
            pipeline.resolved_url(), user=names["reader"], autocommit=True
        ) as conn:
            for title in (DEPARTMENTS, REGIONS):
                assert conn.execute(for_schema(BLOCKS[title], pipeline.schema)).fetchall()
        with psycopg.connect(
            pipeline.resolved_url(), user=names["public"], autocommit=True
        ) as conn:
            for title, role in ROLES.items():
                if role == "snu_reader":
                    with pytest.raises(psycopg.errors.InsufficientPrivilege):
                        conn.execute(for_schema(BLOCKS[title], pipeline.schema))
