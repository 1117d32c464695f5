"""Dagster resources: the source MongoDB, the analytics PostgreSQL and the pseudonym key.

Each resource reads its settings from the contract's environment variables (see
:func:`build_resources`); when ``SNU_MONGO_URI`` / ``SNU_POSTGRES_URL`` are unset it starts
(or reuses) the embedded servers of :mod:`snu_assets.embedded`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import orjson
import psycopg
import pymongo
import sqlalchemy as sa
from dagster import ConfigurableResource, EnvVar
from psycopg.types.json import set_json_loads
from pydantic import PrivateAttr
from pymongo.errors import OperationFailure, PyMongoError

from snu_assets import embedded, settings
from snu_assets.privacy.pseudonym import MissingPseudonymKey, Pseudonymizer, demo_key

SQL_DIR = Path(__file__).parent / "assets" / "sql"


def redact_url(url: str) -> str:
    """A URL without its password, safe for error messages and logs."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


def scalar(conn: psycopg.Connection, query: str, params: Any = None) -> Any:
    """The first column of the one row ``query`` returns."""
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise LookupError(f"no row for: {query}")
    return row[0]


class LazyRows:
    """Rows produced by a callable when iterated: for a slice whose rows are only known once
    an earlier slice of the same transaction has been streamed."""

    def __init__(self, produce):
        self.produce = produce

    def __iter__(self):
        return iter(self.produce())


class SpilledRows:
    """Rows kept in a temporary file (orjson lines) until they are loaded: rows produced
    during another slice's ``COPY`` wait here, not in memory. Values come back JSON-typed
    (dates as ISO strings), which ``COPY``'s text format reads as it would the originals."""

    def __init__(self):
        self._file = tempfile.TemporaryFile(prefix="snu-spill-")

    def append(self, row: Sequence[Any]) -> None:
        self._file.write(orjson.dumps(row) + b"\n")

    def __iter__(self) -> Iterator[list]:
        self._file.flush()
        self._file.seek(0)
        for line in self._file:
            yield orjson.loads(line)

    def close(self) -> None:
        self._file.close()


class ServerUnavailable(RuntimeError):
    pass


def stop_backend(raw) -> None:
    """End the session of a pooled connection whose work was interrupted.

    psycopg cancels a running statement on ``KeyboardInterrupt`` only; Dagster interrupts a
    step with ``DagsterExecutionInterruptedError``, which leaves the statement running in the
    server (a lock wait goes on holding the transaction's locks even once the process is
    gone: the backend only notices a vanished client when it next talks to it). Cancel it,
    then close the connection instead of returning it to the pool: the server rolls the
    transaction back, releases its advisory locks and drops its temporary tables."""
    conn: psycopg.Connection = raw.driver_connection
    with contextlib.suppress(BaseException):
        if conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.ACTIVE:
            conn.cancel_safe(timeout=5)
    with contextlib.suppress(BaseException):
        raw.invalidate()  # closes the connection (Terminate), never back to the pool


@dataclass
class Slice:
    """Rows replacing the part of ``table`` that ``delete_where`` selects."""

    table: str
    columns: Sequence[str]
    rows: Iterable[Sequence[Any]]
    delete_where: str
    params: dict
    upsert_key: str | None = None


class MongoResource(ConfigurableResource):
    """The source MongoDB (``SNU_MONGO_URI``, ``SNU_MONGO_DB``); embedded SecantusDB when unset."""

    uri: str | None = None
    database: str = "snu"
    timeout_ms: int = 10_000

    _client: Any = PrivateAttr(default=None)

    @property
    def is_embedded(self) -> bool:
        return not self.uri

    def resolved_uri(self) -> str:
        return self.uri or embedded.ensure_mongo().uri

    def client(self) -> pymongo.MongoClient:
        if self._client is None:
            uri = self.resolved_uri()
            client: pymongo.MongoClient = pymongo.MongoClient(
                uri,
                serverSelectionTimeoutMS=self.timeout_ms,
                tz_aware=False,
                appname="snu-assets",
            )
            try:
                client.admin.command("ping")
            except OperationFailure as exc:
                client.close()
                raise ServerUnavailable(
                    f"MongoDB at {redact_url(uri)} refused the command (code {exc.code}): "
                    "check the credentials and roles in SNU_MONGO_URI."
                ) from None
            except PyMongoError as exc:
                client.close()
                raise ServerUnavailable(
                    f"MongoDB at {redact_url(uri)} did not answer within {self.timeout_ms} ms "
                    f"({type(exc).__name__}). Check that the server runs and that SNU_MONGO_URI "
                    "is right; unset SNU_MONGO_URI to use the embedded SecantusDB server."
                ) from None
            self._client = client
        return self._client

    def db(self) -> pymongo.database.Database:
        return self.client()[self.database]

    def teardown_after_execution(self, context) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class PostgresResource(ConfigurableResource):
    """The analytics PostgreSQL (``SNU_POSTGRES_URL``, ``SNU_POSTGRES_SCHEMA``); embedded
    PostgreSQL 18 when unset. SQLAlchemy engine on psycopg 3, bulk loads through ``COPY``."""

    url: str | None = None
    schema_name: str = "snu"
    connect_timeout_s: int = 10

    _engine: Any = PrivateAttr(default=None)

    @property
    def is_embedded(self) -> bool:
        return not self.url

    def resolved_url(self) -> str:
        url = self.url or embedded.postgres_uri()
        return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)

    @property
    def schema(self) -> str:  # type: ignore[override]  # shadows pydantic's deprecated schema()
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", self.schema_name):
            raise ValueError(f"schema {self.schema_name!r} is not a plain lower-case identifier")
        return self.schema_name

    def engine(self) -> sa.Engine:
        if self._engine is None:
            url = self.resolved_url().replace("postgresql://", "postgresql+psycopg://", 1)
            self._engine = sa.create_engine(
                url,
                pool_pre_ping=True,
                connect_args={
                    "connect_timeout": self.connect_timeout_s,
                    "application_name": "snu-assets",
                },
            )
        return self._engine

    @contextlib.contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        """A pooled psycopg connection (not autocommit: wrap work in ``conn.transaction()``)."""
        try:
            raw = self.engine().raw_connection()
        except (sa.exc.OperationalError, psycopg.OperationalError) as exc:
            cause = getattr(exc, "orig", None) or exc
            raise ServerUnavailable(
                f"PostgreSQL at {redact_url(self.resolved_url())} refused the connection "
                f"({redact_url(str(cause).splitlines()[0] if str(cause) else type(cause).__name__)})."
                " Check that the "
                "server runs and SNU_POSTGRES_URL is right; unset it to use the embedded "
                "PostgreSQL."
            ) from None
        conn: psycopg.Connection = raw.driver_connection  # type: ignore[assignment]
        try:
            set_json_loads(orjson.loads, conn)  # JSON columns parsed with orjson: much faster
            yield conn
            conn.commit()
        except Exception:
            with contextlib.suppress(Exception):
                conn.rollback()
            raise
        except BaseException:
            # interrupted (run terminated or timed out, SIGTERM/SIGINT of the step): the
            # statement may still run, or wait for a lock, in the server
            stop_backend(raw)
            raise
        finally:
            raw.close()

    def sql(self, name: str, **fragments: str) -> str:
        """The text of ``assets/sql/<name>``: ``{schema}`` and ``{fragment}`` filled in
        (each fragment is the name of another SQL file)."""
        text = (SQL_DIR / name).read_text()
        for key, fragment in fragments.items():
            text = text.replace("{" + key + "}", (SQL_DIR / fragment).read_text())
        return text.replace("{schema}", self.schema)

    def ddl_version(self) -> str:
        texts = "".join(p.read_text() for p in sorted(SQL_DIR.glob("ddl_*.sql")))
        return hashlib.sha256(texts.encode()).hexdigest()[:16]

    def ensure_schema(self) -> None:
        """Create the schema and every table, once per version of the DDL files.

        A schema already at this version is left alone without taking any lock (the DDL
        would otherwise wait behind any open dashboard transaction); an upgrade is
        serialised per schema across processes."""
        version = self.ddl_version()
        marker = f'"{self.schema}"._snu_schema_version'
        with self.connect() as conn:
            found = scalar(conn, "select to_regclass(%s)", (marker,))
            if found and conn.execute(f"select version from {marker}").fetchone() == (version,):
                return
        with self.connect() as conn, conn.transaction():
            conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"snu-ddl:{self.schema}",))
            conn.execute(f'create schema if not exists "{self.schema}"')
            for path in sorted(SQL_DIR.glob("ddl_*.sql")):
                conn.execute(self.sql(path.name))
            conn.execute(f"create table if not exists {marker} (version text not null)")
            conn.execute(f"delete from {marker}")
            conn.execute(f"insert into {marker} values (%s)", (version,))

    def replace_rows(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        delete_where: str,
        params: dict,
        upsert_key: str | None = None,
    ) -> int:
        """Atomically replace the rows of ``table`` matching ``delete_where`` by ``rows``."""
        return self.replace_slices([Slice(table, columns, rows, delete_where, params, upsert_key)])[
            0
        ]

    def replace_slices(self, slices: Sequence[Slice]) -> list[int]:
        """Atomically replace a slice of one or more tables (all or nothing).

        Rows are streamed through ``COPY`` into temporary staging tables first (``rows`` may
        be a generator: nothing is held in memory); then, in the same transaction and under
        per-table advisory locks (two runs of the same slice cannot interleave), each slice
        is deleted and its staging rows inserted (tables in name order). Readers see the
        old slices or the new ones,
        never a mix. Returns the rows written per slice.
        """
        counts = []
        with self.connect() as conn, conn.transaction():
            for index, piece in enumerate(slices):
                cols = ", ".join(f'"{c}"' for c in piece.columns)
                conn.execute(
                    f"create temp table _stage{index} (like {self.table(piece.table)} "
                    "including defaults) on commit drop"
                )
                count = 0
                with conn.cursor().copy(f"copy _stage{index} ({cols}) from stdin") as copy:
                    for row in piece.rows:
                        copy.write_row(row)
                        count += 1
                counts.append(count)
            # tables are locked in name order, whatever order their rows were streamed in:
            # runs swapping several tables cannot deadlock on each other's locks
            for index, piece in sorted(enumerate(slices), key=lambda item: item[1].table):
                qualified = self.table(piece.table)
                cols = ", ".join(f'"{c}"' for c in piece.columns)
                conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (qualified,))
                conn.execute(f"delete from {qualified} where {piece.delete_where}", piece.params)
                conflict = ""
                if piece.upsert_key:
                    updates = ", ".join(
                        f'"{c}" = excluded."{c}"' for c in piece.columns if c != piece.upsert_key
                    )
                    conflict = f' on conflict ("{piece.upsert_key}") do update set {updates}'
                conn.execute(
                    f"insert into {qualified} ({cols}) select {cols} from _stage{index}{conflict}"
                )
        return counts

    def table(self, name: str) -> str:
        return f'"{self.schema}"."{name}"'

    def replace_with_sql(self, table: str, sql_text: str, delete_where: str, params: dict) -> int:
        """Atomically replace a slice of ``table`` by what an ``insert ... select`` SQL file
        produces (set-based work stays in PostgreSQL); returns the rows inserted."""
        qualified = f'"{self.schema}"."{table}"'
        with self.connect() as conn, conn.transaction():
            conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (qualified,))
            conn.execute(f"delete from {qualified} where {delete_where}", params)
            return conn.execute(sql_text, params).rowcount

    def teardown_after_execution(self, context) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


class PseudonymResource(ConfigurableResource):
    """The secret key of the keyed hash that replaces MongoDB ids (``SNU_PSEUDONYM_KEY``).

    Outside the embedded demo the key is mandatory: a run against a real PostgreSQL without
    it is refused, since a throw-away key would make pseudonyms unjoinable across runs.
    """

    key: str | None = None

    def pseudonymizer(self, postgres: PostgresResource) -> Pseudonymizer:
        if self.key:
            return Pseudonymizer(self.key)
        if not postgres.is_embedded:
            raise MissingPseudonymKey(
                "SNU_PSEUDONYM_KEY is not set: it is required when SNU_POSTGRES_URL points at a "
                "real PostgreSQL. Set it to a long random secret kept outside the database "
                "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)."
            )
        return Pseudonymizer(demo_key(settings.state_dir()))


def _env_or_none(name: str):
    """``EnvVar(name)`` when the variable is set (shown by name, not value, in the UI)."""
    return EnvVar(name) if os.environ.get(name) else None


class SnuResources(TypedDict):
    mongo: MongoResource
    postgres: PostgresResource
    pseudonyms: PseudonymResource


def build_resources() -> SnuResources:
    """The resources of the code location, from the contract's environment variables."""
    return {
        "mongo": MongoResource(
            uri=_env_or_none("SNU_MONGO_URI"), database=settings.mongo_db_name()
        ),
        "postgres": PostgresResource(
            url=_env_or_none("SNU_POSTGRES_URL"), schema_name=settings.schema()
        ),
        "pseudonyms": PseudonymResource(key=_env_or_none("SNU_PSEUDONYM_KEY")),
    }
