"""Dagster's own storage (runs, event logs, schedules) in PostgreSQL, with a default.

``dagster.yaml`` names this class so that one instance file works everywhere, including the
temporary instance the ``dagster`` CLI builds from the working directory's ``dagster.yaml``:
the URL is ``postgres_url`` when configured, else ``SNU_DAGSTER_POSTGRES_URL``, else the
embedded PostgreSQL's ``dagster`` database (separate from the analytics database).

Start in any order: every process of a deployment (webserver, daemon, code server, run
workers, Celery workers, each Celery task) builds this storage, and Dagster creates its tables
the first time it finds them missing. Two processes doing so at once on a new database race
(``DuplicateObject: type "event_logs" already exists``: seen with two workers started
together). The storage is therefore built under a PostgreSQL advisory lock held on its own
connection: the first process creates the tables, the others wait for it and then find them.
The lock is per database and released as soon as the storage is built.
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as db
from dagster import Field, StringSource
from dagster_postgres import DagsterPostgresStorage
from sqlalchemy.pool import NullPool

from snu_assets.io import embedded
from snu_assets.settings import current

#: advisory lock key of the instance's table creation (any constant shared by all processes)
CREATION_LOCK = 0x534E5544  # "SNUD"
#: how long a process waits for another one's table creation before giving up
CREATION_LOCK_TIMEOUT = "300s"


def dagster_postgres_url() -> str:
    url = current().dagster_postgres_url or embedded.postgres_uri(embedded.DAGSTER_DB)
    # dagster-postgres speaks psycopg2; SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3
    return url.replace("postgresql://", "postgresql+psycopg2://", 1).replace(
        "postgres://", "postgresql+psycopg2://", 1
    )


@contextmanager
def creation_lock(url: str) -> Iterator[None]:
    """Hold the instance database's table-creation lock (a session advisory lock)."""
    engine = db.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(db.text(f"set lock_timeout = '{CREATION_LOCK_TIMEOUT}'"))
            conn.execute(db.text("select pg_advisory_lock(:key)"), {"key": CREATION_LOCK})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(db.text("select pg_advisory_unlock(:key)"), {"key": CREATION_LOCK})
                conn.commit()
    finally:
        engine.dispose()


class SnuPostgresStorage(DagsterPostgresStorage):
    @classmethod
    def config_type(cls) -> dict[str, Field]:
        return {
            "postgres_url": Field(StringSource, is_required=False),
            "should_autocreate_tables": Field(bool, is_required=False, default_value=True),
        }

    @classmethod
    def from_config_value(
        cls, inst_data: Any, config_value: Mapping[str, Any]
    ) -> "SnuPostgresStorage":
        url = config_value.get("postgres_url") or dagster_postgres_url()
        autocreate = config_value.get("should_autocreate_tables", True)
        if not autocreate:
            return cls(inst_data=inst_data, postgres_url=url, should_autocreate_tables=False)
        with creation_lock(url):
            return cls(inst_data=inst_data, postgres_url=url, should_autocreate_tables=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m snu_assets.ops.instance_storage init``: create Dagster's tables in the
    instance database (``SNU_DAGSTER_POSTGRES_URL``) once, under the creation lock: the init
    step of a deployment whose webserver and daemon do not use this storage class (Dagster's
    Helm chart renders dagster-postgres' own). Idempotent: on an existing instance it changes
    nothing (schema upgrades are ``dagster instance migrate``)."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args != ["init"]:
        print("usage: python -m snu_assets.ops.instance_storage init", file=sys.stderr)
        return 2
    storage = SnuPostgresStorage.from_config_value(None, {})
    for part in (storage.run_storage, storage.event_log_storage, storage.schedule_storage):
        part.dispose()
    print("Dagster instance tables ready")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
