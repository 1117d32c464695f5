"""Replacing the pseudonym key (issue #21, ``snu-assets rotate-key``; operators:
docs/operations.md).

Every table is rebuilt from MongoDB under the new key into a shadow schema (``<schema>_rotation``)
by the same Dagster backfills as any history rebuild (the daily layers, then the reference
assets and every week); then verified:

- the blocking checks of the rebuild's runs passed (complete, no duplicate, no personal data;
  the others, e.g. the rejection rate, are reported: they judge the source, not the rebuild);
- the published aggregates (``weekly_funnel``, ``weekly_funnel_national``,
  ``weekly_funnel_hidden``) are identical to the current ones, row for row;
- no pseudonym of the old key is left anywhere in the shadow schema (every text and jsonb
  column, at any depth), nor in the logs and metadata of the rebuild's Dagster runs;

and swapped in atomically (two ``ALTER SCHEMA ... RENAME`` in one transaction, after the
grants of the current schema were replayed on the shadow one): a reader sees the old tables or
the new ones, never a gap. Then the old schema is dropped and the Dagster runs whose logs or
metadata hold an old pseudonym (table previews) are deleted, and Dagster's storage scanned again.
The old key can then be destroyed; the deployment must run with the new key from then on (the
schema's key fingerprint refuses the old one).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import psycopg
from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    RunsFilter,
    serialize_value,
)

from snu_assets import settings
from snu_assets.core.privacy.pseudonym import Pseudonymizer
from snu_assets.defs.resources import PostgresResource, PseudonymResource
from snu_assets.io.postgres import SQL_DIR, qualified, scalar, sql_text
from snu_assets.ops.backfill import backfill_range, daemon_running
from snu_assets.ops.dagster_api import webserver

ROTATION_SQL = SQL_DIR / "rotation"
SHADOW_SUFFIX = "_rotation"
RETIRED_SUFFIX = "_retired"
PUBLISHED = ("weekly_funnel", "weekly_funnel_national", "weekly_funnel_hidden")
PSEUDONYM = re.compile(r"\b[0-9a-f]{32}\b")
IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


class RotationFailed(RuntimeError):
    """The rotation stopped before the swap: the current schema is untouched."""


@dataclass
class RotationReport:
    schema: str
    old_fingerprint: str
    new_fingerprint: str
    rebuild_s: float = 0.0
    verify_s: float = 0.0
    swap_s: float = 0.0
    checks_passed: int = 0
    checks_warned: list[str] = field(default_factory=list)
    published_rows: dict[str, int] = field(default_factory=dict)
    runs_deleted: int = 0


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` (the daemon's code location reads them), then put back."""
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


def _sql(name: str, schema: str, **parts: str) -> str:
    text = sql_text(ROTATION_SQL / name, schema)
    for key, value in parts.items():
        text = text.replace("{" + key + "}", value)
    return text


def rotate_key(
    postgres: PostgresResource,
    old_key: str,
    new_key: str,
    start: str,
    end: str,
    instance: DagsterInstance,
    *,
    log: Callable[[str], None] = print,
    rebuild: Callable[[str, str, DagsterInstance], object] = backfill_range,
) -> RotationReport:
    """Rebuild ``postgres``' schema under ``new_key`` over the days ``[start, end]``, verify,
    swap, clean Dagster's storage. Raises :class:`RotationFailed` (nothing swapped) when a
    verification fails."""
    schema = postgres.schema
    shadow, retired = schema + SHADOW_SUFFIX, schema + RETIRED_SUFFIX
    old, new = Pseudonymizer(old_key), Pseudonymizer(new_key)
    if old.fingerprint == new.fingerprint:
        raise RotationFailed("the new key is the current key: nothing to rotate")
    report = RotationReport(schema, old.fingerprint, new.fingerprint)
    PseudonymResource.verify_key(old, postgres)  # the key that wrote the schema
    if instance.get_run_records(RunsFilter(statuses=IN_FLIGHT), limit=1):
        raise RotationFailed(
            "runs are queued or in progress: stop the schedules and sensors (or wait) before "
            "rotating, so that no run writes with the old key meanwhile"
        )
    if rebuild is backfill_range and _daemon_running():
        raise RotationFailed(
            "a Dagster daemon is running for this instance: its code location would carry out "
            "the rebuild with the current schema and key. Stop the deployment's daemon for the "
            "rotation (the command runs its own, with the shadow schema and the new key)"
        )
    with postgres.connect() as conn:
        conn.execute(f'drop schema if exists "{shadow}" cascade')  # a rotation stopped before
    began = time.time()
    log(f"rebuilding {start}..{end} under the new key into schema {shadow} ...")
    started = time.perf_counter()
    with _environment({"SNU_POSTGRES_SCHEMA": shadow, "SNU_PSEUDONYM_KEY": new_key}):
        rebuild(start, end, instance)
    report.rebuild_s = time.perf_counter() - started

    started = time.perf_counter()
    log("verifying the rebuilt schema ...")
    _verify_checks(instance, began, report)
    _verify_published(postgres, shadow, report)
    with postgres.connect() as conn:
        conn.execute(_sql("old_pseudonyms.sql", schema))
        found = _old_pseudonyms_in_schema(conn, shadow)
        if found:
            raise RotationFailed(
                f"old pseudonyms left in schema {shadow}: "
                + ", ".join(f"{where}: {n} rows" for where, n in found.items())
            )
        old_ids = {row[0] for row in conn.execute("select id from old_pseudonyms")}
    leaked = _runs_holding(instance, old_ids, created_after=began)
    if leaked:
        raise RotationFailed(f"the rebuild's Dagster runs hold old pseudonyms: {leaked[:5]}")
    report.verify_s = time.perf_counter() - started

    started = time.perf_counter()
    log(f"swapping {shadow} in as {schema} ...")
    with postgres.connect() as conn, conn.transaction():
        for (grant,) in conn.execute(
            (ROTATION_SQL / "grants.sql").read_text(), {"schema": schema, "shadow": shadow}
        ).fetchall():
            conn.execute(grant)
        conn.execute(f'drop schema if exists "{retired}" cascade')
        conn.execute(_sql("swap.sql", schema, shadow=shadow, retired=retired))
    report.swap_s = time.perf_counter() - started
    with postgres.connect() as conn:
        conn.execute(f'drop schema "{retired}" cascade')

    # Dagster's storage: the runs before the rotation hold old pseudonyms in their metadata
    for run_id in _runs_holding(instance, old_ids, created_before=began):
        instance.delete_run(run_id)
        report.runs_deleted += 1
    left = _runs_holding(instance, old_ids)
    if left:
        raise RotationFailed(f"old pseudonyms still in Dagster's storage, runs {left[:5]}")
    log(
        f"rotated: schema {schema} now holds the pseudonyms of key {new.fingerprint} "
        f"(was {old.fingerprint}); {report.runs_deleted} old run(s) deleted from Dagster's "
        "storage. Deploy SNU_PSEUDONYM_KEY = the new key, then destroy the old one."
    )
    return report


def _verify_checks(instance: DagsterInstance, began: float, report: RotationReport) -> None:
    """Every check evaluated by the rebuild's runs (created after ``began``)."""
    records = [
        entry.dagster_event
        for run in instance.get_run_records()
        if run.create_timestamp.timestamp() >= began
        for entry in instance.all_logs(
            run.dagster_run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
        )
    ]
    failed = []
    for event in records:
        evaluation = event.event_specific_data if event is not None else None
        if not isinstance(evaluation, AssetCheckEvaluation):
            continue
        name = f"{evaluation.asset_key.to_user_string()}.{evaluation.check_name}"
        if evaluation.passed:
            report.checks_passed += 1
        elif evaluation.blocking and evaluation.severity == AssetCheckSeverity.ERROR:
            failed.append(name)  # what a run relies on: complete, unique, no personal data
        else:
            report.checks_warned.append(name)
    if failed:
        raise RotationFailed(f"checks of the rebuild failed: {sorted(set(failed))}")
    if not report.checks_passed:
        raise RotationFailed("the rebuild recorded no check evaluation")


def _verify_published(postgres: PostgresResource, shadow: str, report: RotationReport) -> None:
    schema = postgres.schema
    with postgres.connect() as conn:
        for table in PUBLISHED:
            columns = [
                row[0]
                for row in conn.execute(
                    (ROTATION_SQL / "table_columns.sql").read_text(),
                    {"schema": shadow, "table": table},
                )
            ]
            listed = ", ".join(f'"{c}"' for c in columns)
            differing = scalar(
                conn,
                _sql(
                    "published_difference.sql", schema, shadow=shadow, table=table, columns=listed
                ),
            )
            if differing:
                raise RotationFailed(
                    f"{table} differs between {schema} and the rebuilt {shadow}: {differing} rows"
                )
            report.published_rows[table] = scalar(
                conn, f"select count(*) from {qualified(shadow, table)}"
            )


def _daemon_running() -> bool:
    """Whether a Dagster daemon beats for the instance of ``DAGSTER_HOME`` (asked through a
    webserver's GraphQL API, as the backfills do)."""
    with webserver() as api:
        return daemon_running(api)


def _old_pseudonyms_in_schema(conn: psycopg.Connection, shadow: str) -> dict[str, int]:
    found = {}
    for table, column, kind in conn.execute(
        (ROTATION_SQL / "columns.sql").read_text(), {"schema": shadow}
    ).fetchall():
        name = "old_pseudonym_in_jsonb.sql" if kind == "jsonb" else "old_pseudonym_in_text.sql"
        query = _sql(name, shadow, table=qualified(shadow, table), column=column)
        count = scalar(conn, query)
        if count:
            found[f"{table}.{column}"] = count
    return found


def _runs_holding(
    instance: DagsterInstance,
    old_ids: set[str],
    created_before: float | None = None,
    created_after: float | None = None,
) -> list[str]:
    """The runs whose event logs (messages, metadata, previews) hold an old pseudonym."""
    holding = []
    for record in instance.get_run_records():
        created = record.create_timestamp.timestamp()
        if created_before is not None and created >= created_before:
            continue
        if created_after is not None and created < created_after:
            continue
        run = record.dagster_run
        texts = [str(run.run_config), str(run.tags)]
        texts += [serialize_value(entry) for entry in instance.all_logs(run.run_id)]
        if set(PSEUDONYM.findall("\n".join(texts))) & old_ids:
            holding.append(run.run_id)
    return holding
