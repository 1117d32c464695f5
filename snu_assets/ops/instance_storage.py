"""Dagster's own storage (runs, event logs, schedules) in PostgreSQL, with a default.

``dagster.yaml`` names this class so that one instance file works everywhere, including the
temporary instance the ``dagster`` CLI builds from the working directory's ``dagster.yaml``:
the URL is ``postgres_url`` when configured, else ``SNU_DAGSTER_POSTGRES_URL``, else the
embedded PostgreSQL's ``dagster`` database (separate from the analytics database).
"""

from collections.abc import Mapping
from typing import Any

from dagster import Field, StringSource
from dagster_postgres import DagsterPostgresStorage

from snu_assets.io import embedded
from snu_assets.settings import current


def dagster_postgres_url() -> str:
    url = current().dagster_postgres_url or embedded.postgres_uri(embedded.DAGSTER_DB)
    # dagster-postgres speaks psycopg2; SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3
    return url.replace("postgresql://", "postgresql+psycopg2://", 1).replace(
        "postgres://", "postgresql+psycopg2://", 1
    )


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
        return cls(
            inst_data=inst_data,
            postgres_url=config_value.get("postgres_url") or dagster_postgres_url(),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
        )
