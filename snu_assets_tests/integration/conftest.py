"""The seeded data set and the graph materialised on it, shared by the integration tests."""

from datetime import date

import pytest
from dagster import instance_for_test

from snu_assets.ops.cli import materialize_range
from snu_assets.ops.demo_data import seed_mongo
from snu_assets.settings import timezone

SEED_START = date(2025, 1, 6)


def paris_day(moment) -> date:
    return moment.astimezone(timezone()).date()


@pytest.fixture(scope="session")
def truth(mongo_resource):
    return seed_mongo(
        mongo_resource.db(),
        seed=7,
        youngs=150,
        days=42,
        start=SEED_START,
        progress=False,
        collect_truth=True,
    )


@pytest.fixture(scope="session")
def window(truth):
    days = [paris_day(p.date) for p in truth.patches]
    return min(days), max(days)


@pytest.fixture(scope="session")
def instance():
    """A persistent (temporary) instance: its event log is scanned for personal data."""
    with instance_for_test() as dagster_instance:
        yield dagster_instance


@pytest.fixture(scope="session")
def pipeline(truth, window, mongo_resource, postgres_resource, pseudonyms, instance):
    resources = {"mongo": mongo_resource, "postgres": postgres_resource, "pseudonyms": pseudonyms}
    materialize_range(
        window[0].isoformat(), window[1].isoformat(), resources=resources, instance=instance
    )
    return postgres_resource
