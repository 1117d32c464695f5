"""Every setting of snu-assets, read from the ``SNU_*`` environment variables once, validated,
and passed in (the names are the data contract's: the README's settings tables list them all).

:func:`current` builds the :class:`Settings` of this process on first use and keeps it;
:func:`reload` (tests, the CLI after it changed the environment) builds it again. A bad
value fails there, naming the variable, the value and what is expected, instead of deep in
a run. The thresholds of the daily load (rejection and disagreement rates, how the logs are
read) are also run config of its assets, whose defaults come from here: the UI's launchpad
shows them and a run can override them. The small-cell k is not: it is the publication
resource's (``PublicationRules``), one value for every run, since a week's protection builds
on the weeks published before it.

The module-level helpers (``timezone()``, ``state_dir()`` ...) read :func:`current`.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: Folder holding the embedded servers' data, the demo pseudonym key and the Dagster home.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A ``SNU_*`` variable holds a value that cannot be used; the message says which."""


def _env(name: str, default: Any = None, *, secret: bool = False) -> Any:
    """A field read from the environment variable ``name`` (``default`` when unset/empty)."""
    return field(default=default, metadata={"env": name, "secret": secret})


@dataclass(frozen=True)
class Settings:
    # -- where it runs ------------------------------------------------------------------
    mongo_uri: str | None = _env("SNU_MONGO_URI")
    mongo_db: str = _env("SNU_MONGO_DB", "snu")
    postgres_url: str | None = _env("SNU_POSTGRES_URL", secret=True)
    postgres_schema: str = _env("SNU_POSTGRES_SCHEMA", "snu")
    dagster_postgres_url: str | None = _env("SNU_DAGSTER_POSTGRES_URL", secret=True)
    timezone: str = _env("SNU_TIMEZONE", "Europe/Paris")
    pseudonym_key: str | None = _env("SNU_PSEUDONYM_KEY", secret=True)
    #: the key ``snu-assets rotate-key`` rebuilds every table under (docs/operations.md)
    new_pseudonym_key: str | None = _env("SNU_NEW_PSEUDONYM_KEY", secret=True)
    #: the only way to mix a real server with an embedded one (one of SNU_MONGO_URI /
    #: SNU_POSTGRES_URL set, the other not): a deployment is explicit
    embedded: bool = _env("SNU_EMBEDDED", False)
    state_dir: str | None = _env("SNU_STATE_DIR")
    reports_dir: str | None = _env("SNU_REPORTS_DIR")
    report_language: str = _env("SNU_REPORT_LANGUAGE", "fr")
    start_date: str = _env("SNU_START_DATE", "2024-01-01")
    # -- MongoDB collections (production's names) -----------------------------------------
    collection_youngs: str = _env("SNU_COLLECTION_YOUNGS", "youngs")
    collection_young_patches: str = _env("SNU_COLLECTION_YOUNG_PATCHES", "young_patches")
    collection_applications: str = _env("SNU_COLLECTION_APPLICATIONS", "applications")
    collection_application_patches: str = _env(
        "SNU_COLLECTION_APPLICATION_PATCHES", "application_patches"
    )
    collection_inscriptiongoals: str = _env("SNU_COLLECTION_INSCRIPTIONGOALS", "inscriptiongoals")
    collection_cohorts: str = _env("SNU_COLLECTION_COHORTS", "cohorts")
    # -- reading MongoDB ------------------------------------------------------------------
    day_selection: str = _env("SNU_DAY_SELECTION", "date")
    id_slack_hours: float = _env("SNU_ID_SLACK_HOURS", 48.0)
    mongo_ref_chunk: int = _env("SNU_MONGO_REF_CHUNK", 25)
    log_read: str = _env("SNU_LOG_READ", "auto")
    walk_min_days: float = _env("SNU_WALK_MIN_DAYS", 14.0)
    records_per_batch: int = _env("SNU_RECORDS_PER_BATCH", 500)
    # -- thresholds that change results ---------------------------------------------------
    max_rejection_rate: float = _env("SNU_MAX_REJECTION_RATE", 0.01)
    max_disagreement_rate: float = _env("SNU_MAX_DISAGREEMENT_RATE", 0.05)
    small_cell_k: int = _env("SNU_SMALL_CELL_K", 5)
    publication_block_weeks: int = _env("SNU_PUBLICATION_BLOCK_WEEKS", 4)
    publication_detail: str = _env("SNU_PUBLICATION_DETAIL", "cross,margins,total")
    #: a daily run refuses to replace a partition by far fewer rows: more than this share of
    #: them gone, and more than ``shrink_tolerance_rows`` (a GDPR deletion removes a few)
    max_shrink_rate: float = _env("SNU_MAX_SHRINK_RATE", 0.5)
    shrink_tolerance_rows: int = _env("SNU_SHRINK_TOLERANCE_ROWS", 5)
    # -- automation -----------------------------------------------------------------------
    backfill_days_per_run: int = _env("SNU_BACKFILL_DAYS_PER_RUN", 0)
    #: the default status of the schedule and sensors (``running``, or ``stopped`` for a
    #: deployment or a test where only backfills may start runs; the UI can still toggle them)
    automation_default_status: str = _env("SNU_AUTOMATION_DEFAULT_STATUS", "running")
    #: how long ``snu-assets run|backfill|demo`` wait for a backfill (it goes on in the daemon)
    cli_backfill_timeout_s: int = _env("SNU_CLI_BACKFILL_TIMEOUT_S", 6 * 3600)
    nightly_cron: str = _env("SNU_NIGHTLY_CRON", "0 2 * * *")
    #: the whole history's reconciliation (MongoDB vs raw + rejected, per day)
    reconciliation_cron: str = _env("SNU_RECONCILIATION_CRON", "0 6 * * *")
    catch_up_days: int = _env("SNU_CATCH_UP_DAYS", 7)
    daily_max_runtime_s: int = _env("SNU_DAILY_MAX_RUNTIME_S", 4 * 3600)
    late_data_interval_s: int = _env("SNU_LATE_DATA_INTERVAL_S", 300)
    late_data_scan_limit: int = _env("SNU_LATE_DATA_SCAN_LIMIT", 20_000)
    late_data_audit_days: int = _env("SNU_LATE_DATA_AUDIT_DAYS", 7)
    weekly_sensor_interval_s: int = _env("SNU_WEEKLY_SENSOR_INTERVAL_S", 120)
    failure_notifier: str | None = _env("SNU_FAILURE_NOTIFIER")
    daily_deadline_cron: str = _env("SNU_DAILY_DEADLINE_CRON", "0 7 * * *")
    weekly_deadline_cron: str = _env("SNU_WEEKLY_DEADLINE_CRON", "0 9 * * 1")
    # -- scale-out and tests --------------------------------------------------------------
    executor: str = _env("SNU_EXECUTOR", "default")
    celery_broker_url: str | None = _env("SNU_CELERY_BROKER_URL", secret=True)
    celery_backend: str | None = _env("SNU_CELERY_BACKEND")
    mongo_test_commands: bool = _env("SNU_MONGO_TEST_COMMANDS", False)

    def __post_init__(self) -> None:
        _check(self)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of ``environ`` (``os.environ`` by default); raises
        :class:`SettingsError` naming the first variable whose value is unusable."""
        environ = os.environ if environ is None else environ
        values = {}
        for spec in fields(cls):
            raw = environ.get(spec.metadata["env"])
            if raw is None or raw.strip() == "":
                continue
            values[spec.name] = _parse(
                spec.metadata["env"], raw.strip(), type(spec.default), spec.type
            )
        return cls(**values)

    def describe(self) -> dict[str, str]:
        """``{variable: value}`` for display (UI, CLI): secrets shown as set / unset."""
        shown = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.metadata["secret"]:
                value = "(set)" if value else "(unset)"
            shown[spec.metadata["env"]] = "" if value is None else str(value)
        return shown

    # -- derived values -------------------------------------------------------------------
    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir) if self.state_dir else PROJECT_ROOT / ".snu"

    @property
    def collections(self) -> dict[str, str]:
        return {
            name.removeprefix("collection_"): getattr(self, name)
            for name in (f.name for f in fields(self))
            if name.startswith("collection_")
        }


def _parse(variable: str, raw: str, kind: type, annotation: Any) -> Any:
    if kind is type(None):  # an optional string
        return raw
    try:
        if kind is bool:
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError
            return raw.lower() in ("1", "true", "yes")
        return kind(raw)
    except ValueError:
        raise SettingsError(
            f"{variable}={raw!r} is not a valid {kind.__name__} ({annotation})"
        ) from None


#: values a setting can take, checked once
CHOICES = {
    "day_selection": ("date", "id"),
    "log_read": ("auto", "records", "walk"),
    "executor": ("default", "in_process", "celery"),
    "automation_default_status": ("running", "stopped"),
    # the weekly report, its chart and the tables' column comments: French (the ministry's
    # language) or English
    "report_language": ("fr", "en"),
}
POSITIVE = (
    "id_slack_hours",
    "mongo_ref_chunk",
    "walk_min_days",
    "records_per_batch",
    "small_cell_k",
    "publication_block_weeks",
    "daily_max_runtime_s",
    "late_data_interval_s",
    "late_data_scan_limit",
    "late_data_audit_days",
    "weekly_sensor_interval_s",
    "cli_backfill_timeout_s",
)


def _check(s: Settings) -> None:
    def fail(name: str, why: str) -> None:
        variable = next(f.metadata["env"] for f in fields(s) if f.name == name)
        raise SettingsError(f"{variable}={getattr(s, name)!r}: {why}")

    if not re.fullmatch(r"[a-z_][a-z0-9_]*", s.postgres_schema):
        fail("postgres_schema", "expected a plain lower-case SQL identifier")
    try:
        _zone(s.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        fail("timezone", "not an IANA time zone (e.g. Europe/Paris)")
    try:
        date.fromisoformat(s.start_date)
    except ValueError:
        fail("start_date", "expected a day YYYY-MM-DD")
    for name, allowed in CHOICES.items():
        if getattr(s, name) not in allowed:
            fail(name, f"expected one of {', '.join(allowed)}")
    if not re.fullmatch(
        r"(cross|margins|total),(cross|margins|total),(cross|margins|total)", s.publication_detail
    ):
        fail(
            "publication_detail",
            "expected the cells of each level national,region,department, each one of "
            "cross, margins, total (e.g. cross,margins,total)",
        )
    for name in POSITIVE:
        if getattr(s, name) <= 0:
            fail(name, "expected a positive number")
    for name in ("max_rejection_rate", "max_disagreement_rate", "max_shrink_rate"):
        if not 0 <= getattr(s, name) <= 1:
            fail(name, "expected a rate between 0 and 1")
    if s.shrink_tolerance_rows < 0:
        fail("shrink_tolerance_rows", "expected a number of rows, 0 or more")
    if s.backfill_days_per_run < 0:
        fail("backfill_days_per_run", "expected 0 (one run per backfill) or a number of days")
    if s.failure_notifier and ":" not in s.failure_notifier:
        fail("failure_notifier", "expected module:function")
    _check_explicit_deployment(s)


def _check_explicit_deployment(s: Settings) -> None:
    """A real server never meets an embedded one unless asked (``SNU_EMBEDDED=1``): a
    forgotten ``SNU_MONGO_URI`` would otherwise read the empty embedded SecantusDB and
    replace real days with nothing."""
    if bool(s.mongo_uri) == bool(s.postgres_url) or s.embedded:
        return
    given, missing, server = (
        ("SNU_POSTGRES_URL", "SNU_MONGO_URI", "SecantusDB (an empty source)")
        if s.postgres_url
        else ("SNU_MONGO_URI", "SNU_POSTGRES_URL", "PostgreSQL")
    )
    raise SettingsError(
        f"{missing} is not set while {given} is: this deployment would silently use the "
        f"embedded {server} in its place. Set {missing} (check the secret or ConfigMap that "
        f"should provide it), or set SNU_EMBEDDED=1 if mixing a real server with an embedded "
        "one is intended (a demo, a test)."
    )


@functools.lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@functools.cache
def current() -> Settings:
    """The settings of this process (read from the environment on first use)."""
    return Settings.from_env()


def reload() -> Settings:
    """Read the environment again (after a test or the CLI changed it)."""
    current.cache_clear()
    return current()


# -- shortcuts used across the package --------------------------------------------------


def state_dir() -> Path:
    """Local, git-ignored folder of the embedded servers (``SNU_STATE_DIR`` or ``./.snu``),
    read at each call: tests and the CLI point it elsewhere at run time."""
    path = Settings.from_env().state_path
    path.mkdir(parents=True, exist_ok=True)
    return path


def timezone_name() -> str:
    return current().timezone


def timezone() -> ZoneInfo:
    return current().zone


def schema() -> str:
    return current().postgres_schema


def mongo_db_name() -> str:
    return current().mongo_db


def start_date() -> str:
    """First day of the daily partitions (``SNU_START_DATE``, YYYY-MM-DD)."""
    return current().start_date


#: Collection names as production names them; each one a setting.
COLLECTIONS = current().collections

#: model name -> (document collection, patch collection)
MODELS = {
    "young": (COLLECTIONS["youngs"], COLLECTIONS["young_patches"]),
    "application": (COLLECTIONS["applications"], COLLECTIONS["application_patches"]),
}
