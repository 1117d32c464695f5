"""The weekly publication's life on real PostgreSQL servers (embedded 18, system 15), through
``materialize()``: ``weekly_funnel`` first on a new database creates what it writes; a week
is published once (a re-run writes nothing and says so); a week whose previous one is not
published is refused with a message naming it; the weeks read back equal what the pure
publication gives."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from dagster import DagsterInstance, materialize

from snu_assets.defs.resources import PublicationRules
from snu_assets.defs.weekly.weekly_views import weekly_funnel
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
