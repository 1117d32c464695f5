"""The whole asset graph through Dagster, on real servers, against the generator's truth.

The seed is written once to the embedded SecantusDB; the graph is materialised once per
PostgreSQL (embedded 18 and the system 15 when it answers) with `materialize()`.
"""

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta

import orjson
from dagster import DagsterInstance
from dagster_shared.serdes import serialize_value

from snu_assets.core.privacy.pseudonym import Pseudonymizer
from snu_assets.core.values import to_utc
from snu_assets.settings import timezone
from snu_assets_testing.tables import TABLES
from snu_assets_tests.backfills import backfill_through_dagster
from snu_assets_tests.conftest import TEST_KEY
from snu_assets_tests.integration.conftest import paris_day
from snu_assets_tests.truth import expected_events

COUNTS = (
    "created",
    "completed",
    "processed",
    "validated",
    "refused",
    "created_cumulated",
    "completed_cumulated",
    "processed_cumulated",
    "validated_cumulated",
    "refused_cumulated",
)
P = Pseudonymizer(TEST_KEY)


def rows(postgres, sql, params=None):
    with postgres.connect() as conn:
        return conn.execute(sql.replace("{s}", f'"{postgres.schema}"'), params).fetchall()


def snapshot(postgres) -> dict[str, list]:
    return {
        t: [r[0] for r in rows(postgres, f"select t::text from {{s}}.{t} t order by 1")]
        for t in TABLES
    }


def test_generator_made_the_production_quirks(truth):
    assert truth.gaps > 0 and truth.deleted > 0 and truth.pre_log_youngs > 0
    assert truth.rewritten_patches > 0 and truth.application_patches > 0


def test_every_patch_lands_once_in_its_paris_day(pipeline, truth):
    expected = Counter(paris_day(p.date) for p in truth.patches)
    landed = Counter()
    for day, count in rows(
        pipeline, "select partition_date, count(*) from {s}.raw_patches group by 1"
    ):
        landed[day] += count
    for day, count in rows(
        pipeline, "select partition_date, count(*) from {s}.rejected_patches group by 1"
    ):
        landed[day] += count
    assert landed == expected
    ids = {r[0] for r in rows(pipeline, "select patch_id from {s}.raw_patches")}
    assert ids == {P("patch", p.patch_id) for p in truth.patches}


def test_ids_are_keyed_pseudonyms(pipeline, truth):
    young = next(p for p in truth.patches if p.model == "young")
    found = rows(
        pipeline,
        "select young_id, record_id from {s}.raw_patches where patch_id = %s",
        (P("patch", young.patch_id),),
    )
    assert found == [(P("young", young.ref), P("young", young.ref))]


def test_exact_event_counts_per_name_and_day(pipeline, truth):
    expected = Counter(
        (name, paris_day(p.date)) for p in truth.patches for name in expected_events(p)
    )
    got = Counter(
        {
            (name, day): n
            for name, day, n in rows(
                pipeline,
                "select event_name, partition_date, count(*) from {s}.reconstructed_events "
                "group by 1, 2",
            )
        }
    )
    assert got == expected
    assert sum(n for (name, _), n in got.items() if name == "young.created") > 100


def test_exact_statuses_before_and_after(pipeline, truth):
    by_patch = {P("patch", p.patch_id): p for p in truth.patches if p.model == "young"}
    found = rows(
        pipeline,
        "select patch_id, before ->> 'status', after ->> 'status' "
        "from {s}.reconstructed_events where event_name like 'young.status.%%'",
    )
    assert len(found) > 50
    for patch_id, before, after in found:
        patch = by_patch[patch_id]
        assert (before, after) == (patch.before["status"], patch.after["status"])


def test_enriched_columns(pipeline, truth):
    found = rows(
        pipeline,
        "select e.event_week, e.event_day, e.age, e.age_band, e.department, "
        "e.region, e.academy, r.department, r.region, r.academy "
        "from {s}.enriched_events e join {s}.ref_departments r "
        "using (department_code) where e.model = 'young'",
    )
    assert found
    for week, day, age, band, department, region, academy, *reference in found:
        assert week == day - timedelta(days=day.weekday())
        assert [department, region, academy] == reference
        assert band == ("<15" if age < 15 else "18+" if age >= 18 else str(age))


def test_impersonation_is_visible_as_roles_only(pipeline, truth):
    by_role = dict(
        rows(
            pipeline,
            "select impersonator_role, count(*) from {s}.raw_patches "
            "where impersonator_role is not null group by 1",
        )
    )
    assert set(by_role) == {"admin"} and by_role["admin"] > 0  # the generator's admins
    missing = rows(
        pipeline,
        "select count(*) from {s}.enriched_events e join {s}.raw_patches r "
        "using (patch_id) where e.author_role is distinct from r.author_role "
        "or e.impersonator_role is distinct from r.impersonator_role",
    )
    assert missing == [(0,)]


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def test_application_events_carry_the_young_as_it_was(pipeline, truth):
    """Geography, gender, age and cohort of an application's event are the young's at that
    moment (as-of join on the young's reconstructed states), checked against the truth."""
    young_states = defaultdict(list)
    for p in sorted(truth.patches, key=lambda p: p.date):
        if p.model == "young" and p.after:
            young_states[p.ref].append((p.date, p.after))
    expected = {}
    for p in truth.patches:
        application = p.after or p.before
        if p.model == "application" and application and application.get("youngId"):
            young = application["youngId"]
            states = [s for d, s in young_states.get(young, []) if d <= p.date]
            if states:
                expected[P("patch", p.patch_id)] = (young, states[-1], paris_day(p.date))
    found = rows(
        pipeline,
        "select patch_id, department, region, academy, gender, age, age_band, "
        "cohort from {s}.enriched_events where model = 'application'",
    )
    checked = 0
    for patch_id, department, region, academy, gender, age, band, cohort in found:
        if patch_id not in expected:
            continue
        young, state, day = expected[patch_id]
        assert gender == state.get("gender")
        if state.get("department"):
            assert None not in (department, region, academy)
        if state.get("cohort"):
            assert cohort is not None
        if state.get("birthdateAt"):
            assert age is not None and band is not None
            if young in truth.young_ids:  # exact while the young's document exists
                assert age == age_on(paris_day(to_utc(state["birthdateAt"])), day)
        checked += 1
    assert checked >= 15  # 22 on the seeded data


def test_ages_are_exact_for_existing_youngs(pipeline, truth):
    births = {}
    for p in truth.patches:
        state = p.after or p.before
        if p.model == "young" and state and state.get("birthdateAt"):
            births[P("patch", p.patch_id)] = (
                paris_day(to_utc(state["birthdateAt"])),
                paris_day(p.date),
                p.ref,
            )
    found = rows(
        pipeline,
        "select patch_id, age from {s}.reconstructed_events "
        "where model = 'young' and age is not null",
    )
    exact = 0
    for patch_id, age in found:
        birth, day, ref = births[patch_id]
        if ref in truth.young_ids:
            assert age == age_on(birth, day)
            exact += 1
    assert exact > 100


def test_weekly_national_figures_equal_the_truth(pipeline, truth):
    expected = defaultdict(Counter)
    for p in truth.patches:
        if p.model != "young":
            continue
        day = paris_day(p.date)
        week = day - timedelta(days=day.weekday())
        for name in expected_events(p):
            if name == "young.created":
                expected[week]["created"] += 1
            elif name.startswith("young.status."):
                status = name.rsplit(".", 1)[1]
                expected[week]["completed"] += status == "WAITING_VALIDATION"
                expected[week]["validated"] += status == "VALIDATED"
                expected[week]["refused"] += status == "REFUSED"
                expected[week]["processed"] += p.before["status"] == "WAITING_VALIDATION"
    found = rows(
        pipeline,
        "select week, sum(created), sum(completed), sum(processed), "
        "sum(validated), sum(refused), sum(validated_cumulated) "
        "from {s}.weekly_funnel_national group by week order by week",
    )
    assert len(found) >= 5
    cumulated = 0
    for week, created, completed, processed, validated, refused, validated_cum in found:
        want = expected[week]
        assert (created, completed, processed, validated, refused) == (
            want["created"],
            want["completed"],
            want["processed"],
            want["validated"],
            want["refused"],
        ), week
        cumulated += validated
        assert validated_cum == cumulated
    # the published table's national level: each value shown is the exact one
    exact = {
        (w, c): r
        for w, c, *r in rows(
            pipeline,
            "select week, cohort, "
            + ", ".join(f"sum({c})" for c in COUNTS)
            + " from {s}.weekly_funnel_national group by 1, 2",
        )
    }
    published = rows(
        pipeline,
        "select week, cohort, " + ", ".join(COUNTS) + " from "
        "{s}.weekly_funnel where level = 'national' and gender = 'all' "
        "and age_band = 'all'",
    )
    assert {(w, c) for w, c, *_ in published} == set(exact)
    shown = 0
    for week, cohort, *values in published:
        for value, want in zip(values, exact[(week, cohort)]):
            assert value is None or value == want, (week, cohort)
            shown += value is not None
    assert shown > 0


def test_small_cells_are_suppressed_in_the_published_view(pipeline):
    counts = COUNTS
    small = " or ".join(f"{c} between 1 and 4" for c in counts)
    assert rows(pipeline, f"select count(*) from {{s}}.weekly_funnel where {small}") == [(0,)]
    any_null = " or ".join(f"{c} is null" for c in counts)
    flagged = rows(
        pipeline,
        f"select count(*) filter (where suppressed), "
        f"count(*) filter (where ({any_null}) <> suppressed) from {{s}}.weekly_funnel",
    )
    assert flagged[0][0] > 0 and flagged[0][1] == 0
    # national figures are exact, never suppressed: small counts do appear there
    assert (
        rows(
            pipeline,
            "select count(*) from {s}.weekly_funnel_national where validated between 1 and 4",
        )[0][0]
        > 0
    )


def test_every_hidden_value_is_explained_and_the_levels_add_up(pipeline):
    """Each NULL of weekly_funnel has its row in weekly_funnel_hidden (primary: the exact
    value is 1..k-1; secondary: it is not); published and hidden values together are the
    exact figures: the departments' cells add up to weekly_funnel_national's."""
    hidden = {}
    for *key, measure, status, exact in rows(
        pipeline,
        "select week, cohort, region, department, gender, age_band, measure, "
        "suppression, exact_value from {s}.weekly_funnel_hidden",
    ):
        hidden[(*key, measure)] = (status, exact)
        assert status == ("primary" if 1 <= exact <= 4 else "secondary"), (key, measure)
    assert {s for s, _ in hidden.values()} == {"primary", "secondary"}
    full = {}
    nulls = 0
    for week, cohort, level, region, department, gender, band, *values in rows(
        pipeline,
        "select week, cohort, level, region, department, gender, age_band, "
        + ", ".join(COUNTS)
        + " from {s}.weekly_funnel",
    ):
        assert level == (
            "national" if region == "all" else "region" if department == "all" else "department"
        )
        key = (week, cohort, region, department, gender, band)
        filled = []
        for column, value in zip(COUNTS, values):
            if value is None:
                nulls += 1
                filled.append(hidden.pop((*key, column))[1])
            else:
                assert (*key, column) not in hidden
                filled.append(value)
        full[key] = filled
    assert nulls > 0 and not hidden, "a hidden value without its NULL"
    exact = {
        (w, c, g, b): list(r)
        for w, c, g, b, *r in rows(
            pipeline,
            "select week, cohort, gender, age_band, "
            + ", ".join(COUNTS)
            + " from {s}.weekly_funnel_national",
        )
    }
    # departments publish their total (the published grain: national gender x age band,
    # region margins, department totals)
    assert all(g == b == "all" for (_, _, _, d, g, b) in full if d != "all")
    departments = defaultdict(lambda: [0] * len(COUNTS))
    for (week, cohort, region, department, gender, band), values in full.items():
        if department != "all":
            for i, v in enumerate(values):
                departments[(week, cohort)][i] += v
        if region == "all":  # the national level of the published table, completed
            want = [0] * len(COUNTS)
            for (w, c, g, b), exact_values in exact.items():
                if (w, c) == (week, cohort) and gender in (g, "all") and band in (b, "all"):
                    want = [x + y for x, y in zip(want, exact_values)]
            assert values == want, (week, cohort, gender, band)
    national = defaultdict(lambda: [0] * len(COUNTS))
    for (week, cohort, _, _), values in exact.items():
        for i, v in enumerate(values):
            national[(week, cohort)][i] += v
    assert {k: v for k, v in departments.items() if any(v)} == {
        k: v for k, v in national.items() if any(v)
    }


def test_objectives_and_projections(pipeline, truth):
    goals = rows(pipeline, "select count(*), sum(objective) from {s}.inscription_goals")[0]
    assert goals[0] == truth.inscriptiongoals and goals[1] > 0
    with_projection = rows(
        pipeline,
        "select count(*) from {s}.weekly_funnel_national "
        "where objective is not null and projection is not null",
    )
    assert with_projection[0][0] > 0


def test_no_personal_value_anywhere(pipeline, truth):
    personal = truth.personal_values
    assert len(personal) > 500
    mongo_ids = {p.patch_id for p in truth.patches} | {p.ref for p in truth.patches}
    for table in TABLES + ("ref_departments",):
        for (text,) in rows(pipeline, f"select t::text from {{s}}.{table} t"):
            assert not any(i in text for i in mongo_ids if i in text), table
        for (doc,) in rows(pipeline, f"select to_jsonb(t) from {{s}}.{table} t"):
            for value in _strings(doc):
                assert value not in personal, f"{table} holds a personal value"


def test_no_personal_value_in_dagster_logs_or_metadata(pipeline, truth, instance):
    """Event log of every run: log lines, asset metadata, check results, run config."""
    # values that cannot be an innocent word: emails, phones, addresses, dates, free text
    telling = {
        v
        for v in truth.personal_values
        if any(ch.isdigit() or ch == "@" for ch in v) or len(v) > 40
    }
    mongo_ids = {p.patch_id for p in truth.patches} | {p.ref for p in truth.patches}
    runs = instance.get_runs()
    assert len(runs) >= 3
    for run in runs:
        texts = [serialize_value(run.run_config), str(run.tags)]
        texts += [serialize_value(event) for event in instance.all_logs(run.run_id)]
        blob = "\n".join(texts)
        assert "materializ" in blob.lower()
        leaked = [v for v in telling if v in blob]
        assert not leaked, f"run {run.run_id} leaks {len(leaked)} personal value(s)"
        assert not [i for i in mongo_ids if i in blob], f"run {run.run_id} leaks MongoDB ids"


def _strings(value):
    if isinstance(value, str):
        yield value
        if value[:1] in "{[":
            try:
                yield from _strings(orjson.loads(value))
            except orjson.JSONDecodeError:
                pass
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_rematerialising_changes_nothing(pipeline, window, mongo_resource, instance):
    """A backfill of the last two weeks again (days, then the weeks they complete: the
    weekly views re-read every earlier week's publication) leaves every table identical."""
    before = snapshot(pipeline)
    assert all(before[t] for t in ("raw_patches", "reconstructed_events", "weekly_funnel"))
    last_monday = window[1] - timedelta(days=window[1].weekday())
    backfill_through_dagster(
        (last_monday - timedelta(days=7)).isoformat(),
        window[1].isoformat(),
        mongo=mongo_resource,
        postgres=pipeline,
        instance=instance,
        pseudonym_key=TEST_KEY,
    )
    assert snapshot(pipeline) == before


def test_materialisations_carry_schema_preview_and_counts(pipeline, instance):
    from dagster import AssetKey

    for table in (
        "raw_patches",
        "reconstructed_events",
        "enriched_events",
        "weekly_funnel_national",
    ):
        event = instance.get_latest_materialization_event(AssetKey(table))
        metadata = event.asset_materialization.metadata
        assert metadata["dagster/table_name"].value.endswith(f".{table}")
        columns = {c.name: c for c in metadata["dagster/column_schema"].schema.columns}
        assert "partition_date" in columns or "week" in columns
        assert metadata["dagster/row_count"].value > 0
        assert metadata["aperçu"].value.count("\n") >= 2  # header, separator, rows
    raw = instance.get_latest_materialization_event(AssetKey("raw_patches")).asset_materialization
    # the PostgreSQL comments, in French by default (SNU_REPORT_LANGUAGE)
    assert (
        raw.metadata["dagster/column_schema"]
        .schema.columns[0]
        .description.startswith("Pseudonyme à clé du patch")
    )
    national = instance.get_latest_materialization_event(
        AssetKey("weekly_funnel_national")
    ).asset_materialization.metadata["dagster/column_schema"]
    assert all(c.description for c in national.schema.columns)
    lineage = (
        instance.get_latest_materialization_event(AssetKey("enriched_events"))
        .asset_materialization.metadata["dagster/column_lineage"]
        .column_lineage
    )
    assert lineage.deps_by_column["age_band"][0].column_name == "age"


def test_selecting_days_through_the_id_index_finds_the_same_patches(truth, window, mongo_resource):
    """Production indexes `_id`, not `date`: the `id` selection must find the same patches,
    clock-skewed ones (whose `_id` second disagrees with `date` by hours) included."""
    from datetime import datetime, time

    from snu_assets.io import mongo as source

    db = mongo_resource.db()
    tz = timezone()
    day = window[0]
    while day <= window[1]:
        start = datetime.combine(day, time(), tz)
        end = datetime.combine(day + timedelta(days=1), time(), tz)
        for model in ("young", "application"):
            coll = source.patch_collection(db, model)
            by_date = {
                d["_id"]
                for q in source.window_filters(start, end, "date")
                for d in coll.find(q, {"_id": 1})
            }
            by_id = {
                d["_id"]
                for q in source.window_filters(start, end, "id")
                for d in coll.find(q, {"_id": 1})
            }
            assert by_id == by_date, (day, model)
        day += timedelta(days=7)


def test_each_daily_layer_alone_gives_what_the_one_read_gives(
    pipeline, window, mongo_resource, pseudonyms
):
    """raw_patches and reconstructed_events come from one read of MongoDB when they run
    together (the pipeline fixture: a range long enough to walk the whole log in record
    order). Each can be materialised alone, with its own read; reconstructed_events alone is
    read the other way here (run config ``log_read: records``: scan the window, then each record's log
    through the ``ref`` index). The tables must be the same either way, and each run reports
    only what it was asked for."""
    from dagster import materialize

    from snu_assets.defs.assets import DAILY_ASSETS
    from snu_assets.defs.daily.config import DailyLoadConfig
    from snu_assets.defs.resources import PostgresResource

    start, end = (
        datetime.combine(day, datetime.min.time(), timezone())
        for day in (window[0], window[1] + timedelta(days=1))
    )
    assert DailyLoadConfig().read_mode(start, end) == "walk"  # how the pipeline fixture read it
    records = {"ops": {"extract_and_reconstruct": {"config": {"log_read": "records"}}}}
    alone = PostgresResource(url=pipeline.url, schema_name=f"{pipeline.schema}_alone")
    resources = {"mongo": mongo_resource, "postgres": alone, "pseudonyms": pseudonyms}
    tags = {
        "dagster/asset_partition_range_start": window[0].isoformat(),
        "dagster/asset_partition_range_end": window[1].isoformat(),
    }
    try:
        with DagsterInstance.ephemeral() as instance:
            for key in ("raw_patches", "reconstructed_events"):
                result = materialize(
                    DAILY_ASSETS,
                    selection=[key],
                    resources=resources,
                    instance=instance,
                    tags=tags,
                    run_config=records,
                )
                assert result.success
                materialized = {
                    e.asset_key.to_user_string() for e in result.get_asset_materialization_events()
                }
                assert materialized == {key}
                checks = result.get_asset_check_evaluations()
                assert checks and {c.asset_key.to_user_string() for c in checks} == {key}
                assert all(c.passed for c in checks if c.check_name != "rejection_rate"), checks
        for table in ("raw_patches", "rejected_patches", "reconstructed_events"):
            together = rows(pipeline, f"select t::text from {{s}}.{table} t order by 1")
            assert together or table == "rejected_patches", table
            assert rows(alone, f"select t::text from {{s}}.{table} t order by 1") == together, table
    finally:
        with alone.connect() as conn:
            conn.execute(f'drop schema if exists "{alone.schema}" cascade')
        alone.teardown_after_execution(None)


def test_the_window_filter_and_its_python_twin_agree(truth, window, mongo_resource):
    """Walking the log decides in Python which patches belong to the window: the same
    patches as the MongoDB query of the window (string dates and clock skew included)."""
    from snu_assets.io import mongo as source
    from snu_assets.settings import timezone

    db = mongo_resource.db()
    day = window[0]
    while day <= window[1]:
        start = datetime.combine(day, datetime.min.time(), timezone())
        end = start + timedelta(days=3)
        for model in ("young", "application"):
            coll = source.patch_collection(db, model)
            queried = {
                d["_id"]
                for d in coll.find({"$or": source.window_filters(start, end, "date")}, {"_id": 1})
            }
            walked = {
                d["_id"]
                for d in coll.find({}, {"_id": 1, "date": 1})
                if source.in_window(d, start, end)
            }
            assert walked == queried, (day, model)
        day += timedelta(days=9)


def test_the_pii_checks_fail_on_personal_data_written_to_postgres(pipeline, window):
    """The checks re-read PostgreSQL (every row of a small slice, a sample of a large one):
    personal data planted in the written rows fails them, whatever the audit where the rows
    were produced found. Planted in a transaction rolled back."""
    from snu_assets.defs.daily.enriched_events import PLAIN_TEXT_COLUMNS
    from snu_assets.defs.daily.raw_patches import check_personal_data
    from snu_assets.defs.daily.reconstructed_events import check_events_personal_data

    params = {"start": window[0], "end": window[1] + timedelta(days=1)}
    schema = pipeline.schema
    with pipeline.connect() as conn:
        clean = [
            check_personal_data(conn, schema, params),
            check_events_personal_data(
                conn,
                schema,
                "reconstructed_events",
                params,
                state_columns=("before", "after", "young_state"),
            ),
            check_events_personal_data(conn, schema, "enriched_events", params, PLAIN_TEXT_COLUMNS),
        ]
        assert all(check.passed for check in clean), [c.metadata for c in clean]
        one = "(select min(event_id) from {t})"
        conn.execute(
            f'update "{schema}".reconstructed_events set after = after || '
            """'{"cohort": "lea.martin@gmail.com"}'::jsonb """
            f"where event_id = {one.format(t=f'{schema}.reconstructed_events')}"
        )
        conn.execute(
            f'update "{schema}".raw_patches set ops = ops || '
            """'[{"op": "replace", "path": "/email", "value": "x"}]'::jsonb """
            f'where patch_id = (select min(patch_id) from "{schema}".raw_patches)'
        )
        conn.execute(f"update \"{schema}\".enriched_events set gender = '06 12 34 56 78'")
        events = check_events_personal_data(
            conn,
            schema,
            "reconstructed_events",
            params,
            state_columns=("before", "after", "young_state"),
        )
        raw = check_personal_data(conn, schema, params)
        enriched = check_events_personal_data(
            conn, schema, "enriched_events", params, PLAIN_TEXT_COLUMNS
        )
        # a sample of a large slice: every row tainted, any sample finds it
        conn.execute(
            f'update "{schema}".reconstructed_events set before = \'{{"status": "06 12 34 56 78"}}\''
        )
        sampled = check_events_personal_data(
            conn, schema, "reconstructed_events", params, reread_rows=3
        )
        conn.rollback()
    assert not events.passed and events.metadata["problèmes"].data == {"email": 1}
    assert not raw.passed and "path outside the allow-list" in raw.metadata["problèmes"].data
    assert not enriched.passed and "phone" in enriched.metadata["problèmes"].data
    # exactly the sample asked for, never an empty one (a bucket filter once read 0 rows and
    # passed: a silent success)
    assert not sampled.passed and sampled.metadata["lignes_relues"].value == 3
    assert sampled.metadata["lignes_de_la_tranche"].value > 3
