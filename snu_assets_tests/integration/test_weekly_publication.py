"""The weekly publication's life on real PostgreSQL servers (embedded 18, system 15), through
``materialize()``: ``weekly_funnel`` first on a new database creates what it writes; a week
is published once (a re-run writes nothing and says so); a week whose previous one is not
published is refused with a message naming it; the weeks read back equal what the pure
publication gives; no figure of the materialisations' metadata differs from what it claims
to count (weekly_funnel's against weekly_funnel / weekly_funnel_hidden, the exact ones of
weekly_funnel_national against that table), and each legend explains every key."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta

import pytest
from dagster import DagsterInstance, materialize

from snu_assets.core.publication.grain import COLUMNS
from snu_assets.defs.resources import PublicationRules
from snu_assets.defs.weekly.weekly_views import (
    EXACT_KEYS,
    LEGEND,
    NATIONAL_LEGEND,
    weekly_funnel,
    weekly_funnel_national,
)
from snu_assets_tests.conftest import drop_schema, make_postgres

MONDAY = date(2026, 9, 7)


@pytest.fixture
def fresh(postgres_url):
    resource = make_postgres(postgres_url, f"snu_pub_{uuid.uuid4().hex[:8]}")
    yield resource
    drop_schema(resource)


def _publish(postgres, week: date, instance):
    return materialize(
        [weekly_funnel],
        partition_key=week.isoformat(),
        resources={"postgres": postgres, "publication": PublicationRules()},
        instance=instance,
        raise_on_error=False,
    )


def _national(postgres, week: date) -> tuple[int, int]:
    """The week's published national total: created, created cumulated."""
    with postgres.connect() as conn:
        [row] = conn.execute(
            f"select created, created_cumulated from {postgres.table('weekly_funnel')} "
            "where week = %s and level = 'national' and gender = 'all' and age_band = 'all'",
            (week,),
        ).fetchall()
    return row


def _seed_events(
    postgres, week: date, created: int, cohort: str = "Décembre 2026", suffix: str = ""
) -> None:
    """``created`` young.created events of ``week`` in a few departments (only the columns the
    funnel reads)."""
    with postgres.connect() as conn:
        for i in range(created):
            conn.execute(
                f"insert into {postgres.table('enriched_events')} (event_id, event_name, model, "
                "record_id, young_id, patch_id, occurred_at, partition_date, event_day, event_week, cohort, "
                "gender, age_band, department, region) values (%s, 'young.created', 'young', "
                "%s, %s, %s, %s, %s, %s, %s, %s, %s, '16', %s, %s)",
                (
                    f"e{week}{suffix}{i}",
                    f"y{week}{suffix}{i}",
                    f"y{week}{suffix}{i}",
                    f"p{week}{suffix}{i}",
                    week,
                    week,
                    week,
                    week,
                    cohort,
                    ("female", "male")[i % 2],
                    ("Ain", "Rhône", "Isère")[i % 3],
                    "Auvergne-Rhône-Alpes",
                ),
            )


def _metadata(result) -> dict:
    [event] = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_a_week_is_published_once_in_order_on_a_new_database(fresh):
    with DagsterInstance.ephemeral() as instance:
        # first on a new database: the schema is created by the asset itself
        first = _publish(fresh, MONDAY, instance)
        assert first.success
        assert _metadata(first)["déjà_publiée"] is False
        _seed_events(fresh, MONDAY + timedelta(days=7), 23)
        second = _publish(fresh, MONDAY + timedelta(days=7), instance)
        assert second.success
        published = _metadata(second)
        assert published["valeurs_publiées"] > 0
        assert _national(fresh, MONDAY + timedelta(days=7)) == (23, 23)
        # late data of that week, then a re-run: nothing is rewritten, and it says so
        _seed_events(fresh, MONDAY + timedelta(days=7), 2, suffix="late")
        again = _publish(fresh, MONDAY + timedelta(days=7), instance)
        assert again.success
        assert _metadata(again)["déjà_publiée"] is True
        assert _national(fresh, MONDAY + timedelta(days=7)) == (23, 23)
        # the late events count in the next week, whose cumulated value adds up
        _seed_events(fresh, MONDAY + timedelta(days=14), 10)
        assert _publish(fresh, MONDAY + timedelta(days=14), instance).success
        assert _national(fresh, MONDAY + timedelta(days=14)) == (12, 35)
        # a week two weeks later, its previous one not published: refused, naming it
        _seed_events(fresh, MONDAY + timedelta(days=28), 9)
        skipped = _publish(fresh, MONDAY + timedelta(days=35), instance)
        assert not skipped.success
        failure = next(e for e in skipped.all_events if e.event_type_value == "STEP_FAILURE")
        text = str(failure.event_specific_data)
        # (its block starts there: weeks 4.. of the cohort, whose first week is MONDAY + 7)
        assert str(MONDAY + timedelta(days=28)) in text and "in order" in text
        # once the weeks in between are published, it goes through
        for n in (21, 28, 35):
            assert _publish(fresh, MONDAY + timedelta(days=n), instance).success


# ------------------------------------------------------------ metadata that never misleads

#: where the seeded youngs live (department, region)
PLACES = (
    ("Ain", "Auvergne-Rhône-Alpes"),
    ("Rhône", "Auvergne-Rhône-Alpes"),
    ("Isère", "Auvergne-Rhône-Alpes"),
    ("Gironde", "Nouvelle-Aquitaine"),
    ("Landes", "Nouvelle-Aquitaine"),
)
#: a large cohort, and a small one whose national counts are small cells (hidden: ``s``)
COHORTS = (("Juillet 2027", 60), ("Février 2027", 4))


def _seed_funnel(postgres, week: date, seed: int, suffix: str = "") -> None:
    """Youngs of ``week`` going through the funnel (created, then some filed, validated or
    refused) in both cohorts, with their VALIDATED events in reconstructed_events too."""
    rng = random.Random(seed)
    events, validated = [], []
    for cohort, youngs in COHORTS:
        for i in range(youngs):
            young = f"y{week}{cohort[:3]}{suffix}{i}"
            department, region = rng.choice(PLACES)
            dims = (cohort, rng.choice(("female", "male")), rng.choice(("15", "16", "17")))
            steps = [("young.created", None)]
            if rng.random() < 0.7:
                steps.append(("young.status.WAITING_VALIDATION", "IN_PROGRESS"))
                outcome = rng.random()
                if outcome < 0.6:
                    steps.append(("young.status.VALIDATED", "WAITING_VALIDATION"))
                elif outcome < 0.8:
                    steps.append(("young.status.REFUSED", "WAITING_VALIDATION"))
            for n, (name, before) in enumerate(steps):
                day = week + timedelta(days=rng.randrange(7))
                event = (f"e-{young}-{n}", name, young, young, f"p-{young}-{n}", day, day)
                events.append((*event, day, week, before, *dims, department, region))
                if name == "young.status.VALIDATED":
                    validated.append(event)
    with postgres.connect() as conn:
        with conn.cursor() as cursor:
            cursor.executemany(
                f"insert into {postgres.table('enriched_events')} (event_id, event_name, "
                "model, record_id, young_id, patch_id, occurred_at, partition_date, event_day, "
                "event_week, status_before, cohort, gender, age_band, department, region) "
                "values (%s, %s, 'young', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                events,
            )
            cursor.executemany(
                f"insert into {postgres.table('reconstructed_events')} (event_id, event_name, "
                "model, record_id, young_id, patch_id, occurred_at, partition_date) "
                "values (%s, %s, 'young', %s, %s, %s, %s, %s)",
                validated,
            )


def _materialise(postgres, instance, first: date, last: date | None = None):
    """weekly_funnel and weekly_funnel_national of week ``first`` (through ``last``: one
    ranged run): ``{(asset, week): metadata}`` of their materialisations, and the check."""
    partition = (
        {"partition_key": first.isoformat()}
        if last is None
        else {
            "tags": {
                "dagster/asset_partition_range_start": first.isoformat(),
                "dagster/asset_partition_range_end": last.isoformat(),
            }
        }
    )
    result = materialize(
        [weekly_funnel, weekly_funnel_national],
        resources={"postgres": postgres, "publication": PublicationRules()},
        instance=instance,
        **partition,
    )
    assert result.success
    metadata = {
        (event.asset_key.to_user_string(), event.partition): {
            k: v.value for k, v in event.materialization.metadata.items()
        }
        for event in result.get_asset_materialization_events()
    }
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "validated_equals_events"
    return metadata, check


def _one(postgres, sql: str, *params) -> tuple:
    with postgres.connect() as conn:
        [row] = conn.execute(sql.format(s=f'"{postgres.schema}"'), params).fetchall()
    return row


def _legend_keys(legend: str) -> set[str]:
    rows = [line for line in legend.splitlines() if line.startswith("| ")][1:]
    return {key.strip() for row in rows for key in row.strip("| ").split("|")[0].split(",")}


def _markdown_rows(table: str) -> list[list[str]]:
    """The cells of a markdown table's rows (header and separator left out)."""
    return [
        [c.strip() for c in line.strip().strip("|").split("|")] for line in table.splitlines()[2:]
    ]


#: Dagster's own entries (the table and its columns), not explained by the legends
DAGSTER_OWN = {"dagster/table_name", "dagster/column_schema"}
VALUES = ", ".join(COLUMNS)
ASSETS = ("weekly_funnel", "weekly_funnel_national")


def _published_counts(postgres, week: date) -> tuple[int, int, int]:
    """The rows of ``week`` in weekly_funnel, its values shown, its values hidden (NULL)."""
    return _one(
        postgres,
        f"select count(*), coalesce(sum(num_nonnulls({VALUES})), 0), "
        f"coalesce(sum(num_nulls({VALUES})), 0) from {{s}}.weekly_funnel where week = %s",
        week,
    )


def _assert_published_figures_true(postgres, week: date, funnel: dict) -> None:
    """Every figure of a weekly_funnel materialisation equals what it claims to count."""
    rows, shown, nulls = _published_counts(postgres, week)
    primary, secondary = _one(
        postgres,
        "select count(*) filter (where suppression = 'primary'), "
        "count(*) filter (where suppression = 'secondary') "
        "from {s}.weekly_funnel_hidden where week = %s",
        week,
    )
    rules = PublicationRules()
    assert funnel["semaine"] == week.isoformat()
    assert funnel["dagster/row_count"] == rows
    assert funnel["valeurs_publiées"] == rows * len(COLUMNS) == shown + nulls
    assert funnel["valeurs_montrées"] == shown
    assert funnel["part_montrée"] == round(shown / (rows * len(COLUMNS)), 4)
    # every hidden value is a NULL of weekly_funnel and a row of weekly_funnel_hidden
    assert (funnel["masquées_primaires"], funnel["masquées_secondaires"]) == (primary, secondary)
    assert primary + secondary == nulls
    assert (
        funnel["k"],
        funnel["largeur_de_protection"],
        funnel["semaines_par_bloc"],
        funnel["détail"],
    ) == (rules.small_cell_k, rules.protection_width, rules.block_weeks, rules.detail)
    # the national totals as published, "s" exactly where the value is NULL
    assert funnel["national_publié"].splitlines()[0] == "| cohorte | " + " | ".join(COLUMNS) + " |"
    with postgres.connect() as conn:
        national = conn.execute(
            f"select cohort, {VALUES} from {postgres.table('weekly_funnel')} "
            "where week = %s and level = 'national' and gender = 'all' and age_band = 'all' "
            "order by cohort",
            (week,),
        ).fetchall()
    assert _markdown_rows(funnel["national_publié"]) == [
        [cohort, *("s" if v is None else str(v) for v in values)] for cohort, *values in national
    ]
    assert funnel.keys() - DAGSTER_OWN <= _legend_keys(LEGEND)


def _validated_events(postgres, week: date) -> int:
    (events,) = _one(
        postgres,
        "select count(*) from {s}.reconstructed_events where event_name = "
        "'young.status.VALIDATED' and partition_date >= %s and partition_date < %s",
        week,
        week + timedelta(days=7),
    )
    return events


def _assert_exact_figures_true(postgres, week: date, national: dict) -> None:
    """Every figure of a weekly_funnel_national materialisation equals the exact value it
    claims."""
    sums = ", ".join(f"sum({column})" for column in EXACT_KEYS)
    rows, *totals = _one(
        postgres, f"select count(*), {sums} from {{s}}.weekly_funnel_national where week = %s", week
    )
    assert national["semaine"] == week.isoformat()
    assert national["dagster/row_count"] == rows
    assert [national[key] for key in EXACT_KEYS.values()] == totals
    assert national.keys() - DAGSTER_OWN <= _legend_keys(NATIONAL_LEGEND)


def _assert_check_figures_true(postgres, week: date, national: dict, check) -> None:
    events = _validated_events(postgres, week)
    assert check.passed
    assert check.metadata["validés_dans_la_vue"].value == national["validés_exact"] == events
    assert check.metadata["événements_de_validation"].value == events
    assert set(check.metadata) <= _legend_keys(NATIONAL_LEGEND)


def test_no_metadata_figure_differs_from_what_it_claims(fresh):
    fresh.ensure_schema()
    weeks = [MONDAY + timedelta(days=7 * n) for n in range(4)]
    hidden = {"primary": 0, "secondary": 0, "s": 0}
    with DagsterInstance.ephemeral() as instance:
        for n, week in enumerate(weeks[:2]):
            _seed_funnel(fresh, week, seed=n)
            metadata, check = _materialise(fresh, instance, week)
            funnel, national = (metadata[(a, week.isoformat())] for a in ASSETS)
            assert funnel["déjà_publiée"] is False
            _assert_published_figures_true(fresh, week, funnel)
            _assert_exact_figures_true(fresh, week, national)
            _assert_check_figures_true(fresh, week, national, check)
            hidden["primary"] += funnel["masquées_primaires"]
            hidden["secondary"] += funnel["masquées_secondaires"]
            hidden["s"] += sum(row.count("s") for row in _markdown_rows(funnel["national_publié"]))
        # late events of a published week: weekly_funnel says it was published already and
        # its figures are still the table's; the exact figures count the late events
        _seed_funnel(fresh, weeks[1], seed=9, suffix="late")
        metadata, check = _materialise(fresh, instance, weeks[1])
        funnel, national = (metadata[(a, weeks[1].isoformat())] for a in ASSETS)
        assert funnel["déjà_publiée"] is True
        _assert_published_figures_true(fresh, weeks[1], funnel)
        _assert_exact_figures_true(fresh, weeks[1], national)
        _assert_check_figures_true(fresh, weeks[1], national, check)
        # a range of weeks in one run: each week's materialisation carries its own figures
        for n, week in enumerate(weeks[2:], start=2):
            _seed_funnel(fresh, week, seed=n)
        metadata, check = _materialise(fresh, instance, weeks[2], weeks[3])
        assert {week for _, week in metadata} == {w.isoformat() for w in weeks[2:]}
        per_week = [(w.isoformat(), _validated_events(fresh, w)) for w in weeks[2:]]
        assert check.passed
        assert _markdown_rows(check.metadata["par_semaine"].value) == [
            [week, str(events), str(events)] for week, events in per_week
        ]
        for week in weeks[2:]:
            funnel, national = (metadata[(a, week.isoformat())] for a in ASSETS)
            _assert_published_figures_true(fresh, week, funnel)
            _assert_exact_figures_true(fresh, week, national)
            rows = _markdown_rows(funnel["par_semaine"])
            for line, other in zip(rows, weeks[2:], strict=True):
                total, shown, _ = _published_counts(fresh, other)
                assert line == [other.isoformat(), "non", str(total * len(COLUMNS)), str(shown)]
    # the seed makes every kind of figure non-trivial
    assert hidden["primary"] and hidden["secondary"] and hidden["s"], hidden
