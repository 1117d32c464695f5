"""Fixtures of the reliability tests: seeded MongoDB sources and fresh PostgreSQL schemas.

Servers of their own (a SecantusDB daemon, a PostgreSQL) are started by the modules that stop
or crash them; the shared embedded servers are never stopped here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

import psycopg
import pytest

from snu_assets.defs.resources import MongoResource
from snu_assets.io import embedded
from snu_assets.ops.demo_data import SeedTruth, seed_mongo
from snu_assets_tests.conftest import SYSTEM_POSTGRES
from snu_assets_tests.reliability.helpers import (
    PrivateMongo,
    PrivatePostgres,
    drop_schema,
    paris_day,
    unique,
)

MONGO_TIMEOUT_MS = 2000
SEED = {"seed": 11, "youngs": 200, "days": 14, "start": date(2025, 3, 3)}


@dataclass
class Source:
    mongo: MongoResource
    truth: SeedTruth

    @property
    def per_day(self) -> Counter:
        return Counter(paris_day(p.date) for p in self.truth.patches)

    def busiest(self, count: int = 1) -> list[date]:
        """The ``count`` days with the most patches, in date order."""
        return sorted(day for day, _ in self.per_day.most_common(count))

    def busiest_run(self, length: int) -> list[date]:
        """The ``length`` consecutive days with the most patches."""
        per_day = self.per_day
        first = max(per_day, key=lambda d: sum(per_day[d + timedelta(i)] for i in range(length)))
        return [first + timedelta(i) for i in range(length)]


def seed_source(mongo: MongoResource) -> Source:
    truth = seed_mongo(mongo.db(), progress=False, collect_truth=True, **SEED)
    return Source(mongo, truth)


@pytest.fixture(scope="session")
def source(embedded_servers):
    """A seeded MongoDB database the tests only read."""
    mongo = MongoResource(uri=embedded_servers.uri, database=unique("snu_rel_src"))
    yield seed_source(mongo)
    mongo.client().drop_database(mongo.database)
    mongo.client().close()


@pytest.fixture()
def fresh_source(embedded_servers):
    """A seeded MongoDB database of this test alone (it may change it)."""
    mongo = MongoResource(uri=embedded_servers.uri, database=unique("snu_rel_mut"))
    yield seed_source(mongo)
    mongo.client().drop_database(mongo.database)
    mongo.client().close()


@pytest.fixture()
def schema(postgres_url):
    """A fresh schema name on ``postgres_url`` (embedded, then system), dropped afterwards."""
    name = unique("snu_rel")
    yield name
    drop_schema(postgres_url, name)


@pytest.fixture(scope="session")
def embedded_url(embedded_servers) -> str:
    return embedded.postgres_uri()


@pytest.fixture()
def pick_server(embedded_url):
    """``pick_server("embedded" | "system")``: the URL of that PostgreSQL (the test is skipped
    when the system one does not answer)."""

    def pick(name: str) -> str:
        if name == "embedded":
            return embedded_url
        try:
            with psycopg.connect(SYSTEM_POSTGRES, connect_timeout=3):
                return SYSTEM_POSTGRES
        except psycopg.Error:
            pytest.skip(f"the system PostgreSQL at {SYSTEM_POSTGRES} does not answer")

    return pick


@pytest.fixture()
def new_schema():
    """``new_schema(url)``: a fresh schema name on that server, dropped after the test."""
    made = []

    def make(url: str) -> str:
        made.append((url, unique("snu_rel")))
        return made[-1][1]

    yield make
    for url, name in made:
        drop_schema(url, name)


@pytest.fixture(scope="module")
def private_pg():
    """A PostgreSQL of this module alone, that its tests may stop, crash and restart."""
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture()
def pg(private_pg):
    """The module's private PostgreSQL, up before and after the test."""
    if not private_pg.up():
        private_pg.start()
    yield private_pg
    if not private_pg.up():
        private_pg.start()


@dataclass
class OwnMongo:
    daemon: PrivateMongo
    source: Source

    def resource(self, uri: str | None = None) -> MongoResource:
        """A fresh resource on the daemon (2 s server selection timeout)."""
        return MongoResource(
            uri=uri or self.daemon.uri,
            database=self.source.mongo.database,
            timeout_ms=MONGO_TIMEOUT_MS,
        )


@pytest.fixture(scope="module")
def private_mongo():
    """A SecantusDB daemon of this module alone, seeded; its tests may stop and restart it."""
    daemon = PrivateMongo()
    try:
        daemon.start()
        mongo = MongoResource(uri=daemon.uri, database="snu", timeout_ms=MONGO_TIMEOUT_MS)
        yield OwnMongo(daemon, seed_source(mongo))
        mongo.teardown_after_execution(None)
    finally:
        daemon.close()


@pytest.fixture()
def own_mongo(private_mongo):
    """The module's private SecantusDB, up before and after the test."""
    if not private_mongo.daemon.up():
        private_mongo.daemon.start()
    yield private_mongo
    if not private_mongo.daemon.up():
        private_mongo.daemon.start()
