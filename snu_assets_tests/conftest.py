"""Shared fixtures: the real servers the tests talk to.

- MongoDB: the embedded SecantusDB daemon (reused when already running, e.g. after
  `make demo`; stopped at the end only when this session started it), one fresh database
  per session.
- PostgreSQL: the embedded PostgreSQL 18 and, when it answers, the system PostgreSQL on
  127.0.0.1:5432; one fresh schema per session on each, dropped at the end.
"""

import os
import uuid

import psycopg
import pytest

from snu_assets.defs.resources import MongoResource, PostgresResource, PseudonymResource
from snu_assets.io import embedded

TEST_KEY = "snu-assets-test-pseudonym-key-0123456789"
SYSTEM_POSTGRES = os.environ.get(
    "SNU_TEST_SYSTEM_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
RUN_ID = uuid.uuid4().hex[:8]


@pytest.fixture(scope="session", autouse=True)
def reports_in_a_temporary_folder(tmp_path_factory):
    """Weekly reports written by any test (and dagster dev children) go to a temp folder."""
    previous = os.environ.get("SNU_REPORTS_DIR")
    os.environ["SNU_REPORTS_DIR"] = str(tmp_path_factory.mktemp("reports"))
    yield
    if previous is None:
        os.environ.pop("SNU_REPORTS_DIR", None)
    else:
        os.environ["SNU_REPORTS_DIR"] = previous


@pytest.fixture(scope="session")
def embedded_servers():
    was = embedded.status()
    mongo = embedded.ensure_mongo()
    embedded.ensure_postgres()
    yield mongo
    if was["mongo"] == "stopped":
        embedded.stop_mongo()
    if was["postgres"] == "stopped":
        embedded.stop_postgres()


@pytest.fixture(scope="session")
def mongo_resource(embedded_servers):
    resource = MongoResource(uri=embedded_servers.uri, database=f"snu_test_{RUN_ID}")
    yield resource
    resource.client().drop_database(resource.database)
    resource.client().close()


def _system_postgres_answers() -> bool:
    try:
        with psycopg.connect(SYSTEM_POSTGRES, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@pytest.fixture(scope="session", params=["embedded", "system"])
def postgres_url(request, embedded_servers):
    if request.param == "embedded":
        return embedded.postgres_uri()
    if not _system_postgres_answers():
        pytest.skip(f"the system PostgreSQL at {SYSTEM_POSTGRES} does not answer")
    return SYSTEM_POSTGRES


def make_postgres(url: str, schema: str) -> PostgresResource:
    return PostgresResource(url=url, schema_name=schema)


def drop_schema(resource: PostgresResource) -> None:
    with resource.connect() as conn:
        conn.execute(f'drop schema if exists "{resource.schema}" cascade')
    resource.engine().dispose()


@pytest.fixture(scope="session")
def postgres_resource(postgres_url):
    resource = make_postgres(postgres_url, f"snu_test_{RUN_ID}")
    yield resource
    drop_schema(resource)


@pytest.fixture(scope="session")
def pseudonyms():
    return PseudonymResource(key=TEST_KEY)


#: the marker of each folder of tests that talks to servers (``make unit`` deselects them)
FOLDER_MARKERS = {
    "integration": "integration",
    "reliability": "reliability",
    "e2e": "e2e",
    "e2e_ui": "e2e",
    "distributed": "distributed",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        folder = item.path.parent.name
        if folder in FOLDER_MARKERS:
            item.add_marker(FOLDER_MARKERS[folder])
