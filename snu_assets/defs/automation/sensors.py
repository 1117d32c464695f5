"""Sensors: late patches, weekly views once their days are complete, failed runs.

- ``late_patches_sensor`` (plain ``@sensor`` with its own cursor: ``@asset_sensor`` would
  overwrite it, dagster#27856): finds patches of already materialised days that are not in
  ``raw_patches`` / ``rejected_patches`` and requests exactly those day partitions.
  Two bounded probes per tick, never a scan of the whole collection:
    1. new documents: ``_id > cursor`` in ``_id`` order (the index every MongoDB has),
       at most ``SNU_LATE_DATA_SCAN_LIMIT`` per tick — catches migration scripts and
       clock-skewed writers (fresh ``_id``, old ``date``);
    2. a rolling audit of ``SNU_LATE_DATA_AUDIT_DAYS`` materialised days per tick comparing
       MongoDB's count with PostgreSQL's — catches restored backups (old ``_id``s) and patches
       rewritten or deleted after the fact.
- ``weekly_views_sensor``: requests a weekly partition once its seven days are materialised,
  and again whenever a day up to its end is re-materialised (cumulated figures change);
  never from a half week (dagster#25723).
- ``failed_runs_sensor``: names the failed partitions in the log and as an asset observation
  and calls the notifier named by ``SNU_FAILURE_NOTIFIER`` (``module:function``). A run that
  run monitoring stopped at its ``dagster/max_runtime`` ends FAILURE (Dagster 1.13) and is
  reported as "exceeded the maximum runtime of N s". A run terminated by a user ends
  CANCELED: not a failure, not reported.
"""

import importlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bson import ObjectId
from dagster import (
    AssetKey,
    AssetObservation,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)
from pymongo.database import Database

from snu_assets.core.values import patch_day, patch_key
from snu_assets.defs.automation.jobs import daily_job, weekly_job
from snu_assets.defs.partitions import daily_partitions, weekly_partitions
from snu_assets.defs.resources import MongoResource, PostgresResource, PseudonymResource
from snu_assets.io import mongo as patch_log
from snu_assets.io.postgres import scalar
from snu_assets.settings import current, timezone

#: SNU_AUTOMATION_DEFAULT_STATUS
DEFAULT_STATUS = DefaultSensorStatus(current().automation_default_status.upper())
LATE_DATA_INTERVAL_S = current().late_data_interval_s
WEEKLY_INTERVAL_S = current().weekly_sensor_interval_s
MAX_WEEKS_PER_TICK = 10

RAW = AssetKey("raw_patches")
LAST_DAILY = AssetKey("enriched_events")
LAST_WEEKLY = AssetKey("weekly_funnel_national")


def _day_of(doc: dict) -> str:
    """The partition a patch lands in: the day of its BSON ``date``, else of its ``_id`` (a
    string date is not read: the window queries place such a patch on its ``_id``'s day)."""
    day = patch_day(doc, timezone())
    assert day is not None  # the cursor walks ObjectId ``_id`` s
    return day.isoformat()


def new_patch_days(
    db: Database, model: str, after: str | None, limit: int
) -> tuple[dict[str, str], str | None]:
    """``{patch key: day}`` of the patches inserted after the ``_id`` cursor, and the new cursor."""
    query = {"_id": {"$gt": ObjectId(after)}} if after else {}
    found, last = {}, after
    coll = patch_log.patch_collection(db, model)
    for doc in coll.find(query, {"date": 1}).sort("_id", 1).limit(limit):
        found[patch_key(doc)] = _day_of(doc)
        last = str(doc["_id"])
    return found, last


def latest_id(db: Database, model: str) -> str | None:
    doc = patch_log.patch_collection(db, model).find_one({}, {"_id": 1}, sort=[("_id", -1)])
    return str(doc["_id"]) if doc else None


def missing_in_postgres(postgres: PostgresResource, patch_ids: list[str]) -> set[str]:
    if not patch_ids:
        return set()
    with postgres.connect() as conn:
        present = {
            r[0]
            for r in conn.execute(
                f'select patch_id from "{postgres.schema}".raw_patches where patch_id = any(%(ids)s) '
                f'union select patch_id from "{postgres.schema}".rejected_patches '
                "where patch_id = any(%(ids)s)",
                {"ids": patch_ids},
            )
        }
    return set(patch_ids) - present


def day_window(day: str) -> tuple[datetime, datetime]:
    window = daily_partitions.time_window_for_partition_key(day)
    return window.start, window.end


def counts_disagree(db: Database, postgres: PostgresResource, day: str) -> bool:
    start, end = day_window(day)
    in_mongo = sum(
        patch_log.count_window_patches(db, m, start, end) for m in ("young", "application")
    )
    with postgres.connect() as conn:
        landed = scalar(
            conn,
            f'select (select count(*) from "{postgres.schema}".raw_patches where partition_date = %(d)s)'
            f' + (select count(*) from "{postgres.schema}".rejected_patches where partition_date = %(d)s)',
            {"d": day},
        )
    return in_mongo != landed


def audit_days(materialized: set[str], position: str | None, count: int) -> list[str]:
    """The next ``count`` materialised days after ``position``, wrapping around."""
    days = sorted(materialized)
    if not days or count <= 0:
        return []
    start = next((i for i, d in enumerate(days) if position is None or d > position), 0)
    return [days[(start + i) % len(days)] for i in range(min(count, len(days)))]


@sensor(
    job=daily_job,
    minimum_interval_seconds=LATE_DATA_INTERVAL_S,
    default_status=DEFAULT_STATUS,
    description="Re-matérialise les partitions journalières qui ont reçu des patchs après "
    "avoir été matérialisées (migrations, sauvegardes restaurées, horloges décalées).",
)
def late_patches_sensor(
    context: SensorEvaluationContext,
    mongo: MongoResource,
    postgres: PostgresResource,
    pseudonyms: PseudonymResource,
) -> SensorResult:
    cursor = json.loads(context.cursor) if context.cursor else {}
    db = mongo.db()
    materialized = context.instance.get_materialized_partitions(RAW)
    pseudonymize = pseudonyms.pseudonymizer(postgres)
    late: dict[str, str] = {}
    for model in ("young", "application"):
        if model not in cursor:  # first tick: watch from now on; the audit covers the past
            cursor[model] = latest_id(db, model)
            continue
        found, cursor[model] = new_patch_days(
            db, model, cursor[model], current().late_data_scan_limit
        )
        candidates = {
            pseudonymize("patch", key): day for key, day in found.items() if day in materialized
        }
        for patch_id in missing_in_postgres(postgres, list(candidates)):
            late[candidates[patch_id]] = "new patches"
    audited = audit_days(materialized, cursor.get("audit"), current().late_data_audit_days)
    for day in audited:
        if day not in late and counts_disagree(db, postgres, day):
            late[day] = "count differs"
    if audited:
        cursor["audit"] = audited[-1]
    marker = "-".join(str(cursor.get(m)) for m in ("young", "application"))
    requests = [
        RunRequest(
            run_key=f"late:{day}:{marker}:{cursor.get('audit')}",
            partition_key=day,
            tags={"snu/trigger": "late-data", "snu/late-reason": why},
        )
        for day, why in sorted(late.items())
    ]
    if requests:
        context.log.info(
            f"late patches for {len(requests)} day(s): "
            + ", ".join(f"{d} ({w})" for d, w in sorted(late.items()))
        )
    return SensorResult(
        run_requests=requests,
        cursor=json.dumps(cursor),
        skip_reason=None if requests else SkipReason("no late patch"),
    )


# ----------------------------------------------------------------------------- weekly


def weeks_to_refresh(
    daily: Mapping[str, int], weekly: Mapping[str, int], weeks: Sequence[str]
) -> list[tuple[str, int]]:
    """Weeks whose days are materialised and whose view is older than the newest day
    materialisation up to the week's end: ``[(week, newest day storage id)]``. The days
    before the first day ever materialised hold nothing to wait for: the first, partial week
    of a history (it starts on a Thursday, say) is complete with its days from that one."""
    due, newest = [], -1
    first = min(daily) if daily else None
    for week in sorted(weeks):
        monday = datetime.fromisoformat(week).date()
        days = [(monday + timedelta(days=n)).isoformat() for n in range(7)]
        ids = [daily[d] for d in days if d in daily]
        if not ids or first is None:
            continue
        newest = max(newest, *ids)
        expected = [d for d in days if d >= first]
        if len(ids) == len(expected) and weekly.get(week, -1) < newest:
            due.append((week, newest))
    return due


@sensor(
    job=weekly_job,
    minimum_interval_seconds=WEEKLY_INTERVAL_S,
    default_status=DEFAULT_STATUS,
    description="Matérialise les vues d'une semaine dès que ses jours sont matérialisés (la "
    "première semaine d'un historique, partielle, dès ses jours depuis le premier), puis de "
    "nouveau quand un jour jusqu'à sa fin est re-matérialisé (weekly_funnel ne republie "
    "jamais une semaine : ses corrections comptent dans la suivante).",
)
def weekly_views_sensor(context: SensorEvaluationContext) -> SkipReason | list[RunRequest]:
    event = DagsterEventType.ASSET_MATERIALIZATION
    daily = context.instance.get_latest_storage_id_by_partition(LAST_DAILY, event)
    weekly = context.instance.get_latest_storage_id_by_partition(LAST_WEEKLY, event)
    weeks = weekly_partitions.get_partition_keys(current_time=datetime.now(timezone()))
    due = weeks_to_refresh(daily, weekly, weeks)[:MAX_WEEKS_PER_TICK]
    if not due:
        return SkipReason("no complete week whose days changed")
    return [
        RunRequest(
            run_key=f"weekly:{week}:{newest}",
            partition_key=week,
            tags={"snu/trigger": "weekly-views"},
        )
        for week, newest in due
    ]


# ----------------------------------------------------------------------------- failures


@dataclass(frozen=True)
class FailureReport:
    run_id: str
    job_name: str
    partitions: str
    message: str
    #: the ceiling the run exceeded when run monitoring stopped it
    max_runtime_s: int | None = None


#: what run monitoring writes when it stops a run past its ceiling (the RUN_CANCELING and
#: RUN_FAILURE messages of dagster._daemon.monitoring.run_monitoring.check_run_timeout)
MAX_RUNTIME_MESSAGE = re.compile(
    r"exceed(?:ed|ing) maximum runtime of (\d+(?:\.\d+)?) seconds", re.IGNORECASE
)


def exceeded_max_runtime(instance: DagsterInstance, run_id: str, message: str) -> int | None:
    """The maximum runtime (s) a run exceeded, when run monitoring stopped it for that: read
    from the failure message, else from the run's canceling event (the failure message is
    another one when the run had to be forcibly marked failed)."""
    messages = [message]
    if not MAX_RUNTIME_MESSAGE.search(message):
        messages += [
            entry.dagster_event.message or ""
            for entry in instance.all_logs(run_id, of_type=DagsterEventType.RUN_CANCELING)
            if entry.dagster_event
        ]
    for text in messages:
        found = MAX_RUNTIME_MESSAGE.search(text)
        if found:
            return int(float(found.group(1)))
    return None


def failed_partitions(tags: Mapping[str, str]) -> str:
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    start = tags.get("dagster/asset_partition_range_start")
    return (
        f"{start}...{tags.get('dagster/asset_partition_range_end')}" if start else "unpartitioned"
    )


def failed_assets(instance: DagsterInstance, run: DagsterRun) -> list[AssetKey]:
    """The assets the run was to materialise: its asset selection, or for a run of a job
    (nightly schedule, late-data sensor: no asset selection) the assets it planned."""
    if run.asset_selection:
        return sorted(run.asset_selection, key=AssetKey.to_user_string)
    planned = instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
    return sorted(
        {
            entry.dagster_event.asset_key
            for entry in planned
            if entry.dagster_event and entry.dagster_event.asset_key
        },
        key=AssetKey.to_user_string,
    )


def load_notifier() -> Callable[[FailureReport], object] | None:
    """The user's notifier (Slack, e-mail ...), ``SNU_FAILURE_NOTIFIER=module:function``."""
    target = current().failure_notifier
    if not target:
        return None
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


@run_failure_sensor(
    default_status=DEFAULT_STATUS,
    description="Nomme les partitions en échec dans le journal et sur les assets, et appelle "
    "le crochet SNU_FAILURE_NOTIFIER.",
)
def failed_runs_sensor(context: RunFailureSensorContext) -> None:
    run = context.dagster_run
    partitions = failed_partitions(run.tags)
    message = context.failure_event.message or "run failed"
    max_runtime = exceeded_max_runtime(context.instance, run.run_id, message)
    if max_runtime is not None:
        message = (
            f"exceeded the maximum runtime of {max_runtime} s (tag dagster/max_runtime): "
            "run monitoring terminated it and marked it failed"
        )
    report = FailureReport(run.run_id, run.job_name, partitions, message, max_runtime)
    context.log.error(
        f"run {run.run_id} ({run.job_name}) failed for partition(s) {partitions}: {message}"
    )
    partition = run.tags.get("dagster/partition")
    for key in failed_assets(context.instance, run):
        context.instance.report_runless_asset_event(
            AssetObservation(
                asset_key=key,
                partition=partition,
                metadata={
                    "exécution_en_échec": run.run_id,
                    "partitions_en_échec": partitions,
                    "échec": message[:500],
                },
            )
        )
    notifier = load_notifier()
    if notifier:
        notifier(report)
