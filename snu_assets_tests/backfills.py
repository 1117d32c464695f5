"""Materialise the graph in tests the way the UI and the CLI do: Dagster asset backfills
launched through a webserver's GraphQL API into a Dagster instance, carried out by a real
Dagster daemon (``snu_assets.ops.backfill``), the code location loaded from
``workspace.yaml`` with the test's servers in its environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from dagster import DagsterInstance

from snu_assets import settings
from snu_assets.defs.resources import MongoResource, PostgresResource
from snu_assets.ops.backfill import backfill_range


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` (and the settings re-read) for the block only."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    settings.reload()
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        settings.reload()


def backfill_through_dagster(
    start: str,
    end: str,
    *,
    mongo: MongoResource,
    postgres: PostgresResource,
    instance: DagsterInstance,
    pseudonym_key: str,
    **extra_env: str,
) -> dict[str, float]:
    """The daily layers over ``[start, end]``, then the weeks they complete, as Dagster
    backfills in ``instance`` (its home must be on disk: the daemon opens it)."""
    env = {
        "DAGSTER_HOME": str(instance.root_directory),
        "SNU_MONGO_URI": mongo.resolved_uri(),
        "SNU_MONGO_DB": mongo.database,
        "SNU_POSTGRES_URL": postgres.resolved_url(),
        "SNU_POSTGRES_SCHEMA": postgres.schema_name,
        "SNU_PSEUDONYM_KEY": pseudonym_key,
        # a run's steps in the run's process: one process start per run, not one per step
        "SNU_EXECUTOR": "in_process",
        **extra_env,
    }
    with environment(env):
        return backfill_range(start, end, instance)
