"""The seeded data set and the graph materialised on it, shared by the integration tests."""

from datetime import date

import pytest
from dagster import DagsterInstance

from snu_assets.ops.demo_data import seed_mongo
from snu_assets.settings import timezone
from snu_assets_tests.backfills import backfill_through_dagster
from snu_assets_tests.conftest import TEST_KEY

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
def instance(tmp_path_factory):
    """A Dagster instance on disk (sqlite), shared with the daemon that carries out the
    backfills; its event log is scanned for personal data."""
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with DagsterInstance.from_config(str(home)) as dagster_instance:
        yield dagster_instance


@pytest.fixture(scope="session")
def pipeline(truth, window, mongo_resource, postgres_resource, instance):
    """The graph materialised as the UI and the CLI do it: Dagster backfills run by the
    Dagster daemon (daily layers over the seeded window, then the weeks they complete)."""
    backfill_through_dagster(
        window[0].isoformat(),
        window[1].isoformat(),
        mongo=mongo_resource,
        postgres=postgres_resource,
        instance=instance,
        pseudonym_key=TEST_KEY,
    )
    return postgres_resource
