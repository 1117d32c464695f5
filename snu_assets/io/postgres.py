"""PostgreSQL loading: connections that can always be stopped, the DDL beside it
(``sql/ddl_*.sql``: the tables, then the Metabase questions' views; ``sql/roles.sql``) with
the tables' and views' descriptions (``sql/comments.toml``, French or English: the PostgreSQL
comments and the Dagster column schemas), and the atomic replacement of a table's slice by
``COPY`` into staging tables then delete + insert in one transaction.

Plain functions on psycopg connections: the Dagster resource
(:class:`snu_assets.defs.resources.PostgresResource`) configures and calls them."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import orjson
import psycopg
from sqlalchemy.pool import PoolProxiedConnection

from snu_assets import settings

SQL_DIR = Path(__file__).parent / "sql"
#: descriptions of every table and column, in each language of :data:`LANGUAGES`
COMMENTS = SQL_DIR / "comments.toml"
LANGUAGES = ("fr", "en")
Connect = Callable[[], AbstractContextManager[psycopg.Connection]]


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

    def __init__(self, produce: Callable[..., Iterable[Sequence[Any]]]) -> None:
        self.produce = produce

    def __iter__(self) -> Iterator[Sequence[Any]]:
        return iter(self.produce())


class SpilledRows:
    """Rows kept in a temporary file (orjson lines) until they are loaded: rows produced
    during another slice's ``COPY`` wait here, not in memory. Values come back JSON-typed
    (dates as ISO strings), which ``COPY``'s text format reads as it would the originals."""

    def __init__(self) -> None:
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


def stop_backend(raw: PoolProxiedConnection) -> None:
    """End the session of a pooled connection whose work was interrupted.

    psycopg cancels a running statement on ``KeyboardInterrupt`` only; Dagster interrupts a
    step with ``DagsterExecutionInterruptedError``, which leaves the statement running in the
    server (a lock wait goes on holding the transaction's locks even once the process is
    gone: the backend only notices a vanished client when it next talks to it). Cancel it,
    then close the connection instead of returning it to the pool: the server rolls the
    transaction back, releases its advisory locks and drops its temporary tables."""
    conn = cast(psycopg.Connection, raw.driver_connection)
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


def sql_text(path: Path, schema: str, **fragments: Path) -> str:
    """The text of the SQL file ``path``: ``{schema}`` and ``{fragment}`` filled in (each
    fragment is another SQL file)."""
    text = path.read_text()
    for key, fragment in fragments.items():
        text = text.replace("{" + key + "}", fragment.read_text())
    return text.replace("{schema}", schema)


def ddl_files() -> list[Path]:
    return sorted(SQL_DIR.glob("ddl_*.sql"))


def ddl_version(language: str | None = None) -> str:
    """A hash of the DDL, the descriptions and their language: a change of any re-runs it."""
    texts = "".join(p.read_text() for p in ddl_files()) + COMMENTS.read_text(encoding="utf-8")
    texts += f"\ncomments: {_language(language)}"
    return hashlib.sha256(texts.encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------ descriptions


@dataclass(frozen=True)
class ColumnDoc:
    name: str
    type: str  # as in the CREATE TABLE
    description: dict[str, str]  # {language: text}


@dataclass(frozen=True)
class TableDoc:
    name: str
    description: dict[str, str]
    columns: tuple[ColumnDoc, ...]
    kind: str = "table"  # or "view" (the Metabase questions, ddl_60_metabase_views.sql)


@functools.cache
def table_docs() -> dict[str, TableDoc]:
    """Every table and view of ``sql/comments.toml``: its description and its columns'
    (name, SQL type, description per language), in the order of its CREATE TABLE / VIEW. A
    column with ``like = "<table>"`` takes the type and descriptions of that table's column of
    the same name; ``kind = "view"`` marks a view."""
    raw = tomllib.loads(COMMENTS.read_text(encoding="utf-8"))
    docs: dict[str, TableDoc] = {}
    for table, entry in raw.items():
        columns = []
        for column in entry.get("columns", []):
            source = column
            if "like" in column:
                [source] = [
                    c for c in raw[column["like"]]["columns"] if c["name"] == column["name"]
                ]
            columns.append(
                ColumnDoc(
                    column["name"],
                    column.get("type", source["type"]),
                    {lang: column.get(lang, source[lang]) for lang in LANGUAGES},
                )
            )
        kind = entry.get("kind", "table")
        if kind not in ("table", "view"):
            raise ValueError(f"{COMMENTS.name}: [{table}] kind {kind!r}: table or view")
        docs[table] = TableDoc(
            table, {lang: entry[lang] for lang in LANGUAGES}, tuple(columns), kind
        )
    return docs


def _language(language: str | None) -> str:
    language = language or settings.current().report_language
    if language not in LANGUAGES:
        raise ValueError(f"language {language!r}: expected one of {', '.join(LANGUAGES)}")
    return language


def column_docs(table: str, language: str | None = None) -> list[tuple[str, str, str]]:
    """``(column, SQL type, description)`` of every column of ``table``, in ``language``
    (default ``SNU_REPORT_LANGUAGE``)."""
    language = _language(language)
    return [(c.name, c.type, c.description[language]) for c in table_docs()[table].columns]


def table_description(table: str, language: str | None = None) -> str:
    return table_docs()[table].description[_language(language)]


def comments_sql(schema: str, language: str | None = None) -> str:
    """``comment on table / view / column ... is '...'`` for every table, view and column
    described, in ``language`` (default ``SNU_REPORT_LANGUAGE``)."""
    language = _language(language)

    def literal(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    lines = []
    for table, doc in table_docs().items():
        name = qualified(schema, table)
        lines.append(f"comment on {doc.kind} {name} is {literal(doc.description[language])};")
        for column in doc.columns:
            lines.append(
                f'comment on column {name}."{column.name}" is '
                f"{literal(column.description[language])};"
            )
    return "\n".join(lines)


def qualified(schema: str, table: str) -> str:
    return f'"{schema}"."{table}"'


def ensure_schema(connect: Connect, schema: str, language: str | None = None) -> None:
    """Create the schema, every table and view, with their descriptions in ``language``
    (default ``SNU_REPORT_LANGUAGE``), once per version of the DDL files, descriptions and language.

    A schema already at this version is left alone without taking any lock (the DDL
    would otherwise wait behind any open dashboard transaction); an upgrade is
    serialised per schema across processes."""
    version = ddl_version(language)
    marker = f'"{schema}"._snu_schema_version'

    def current(conn: psycopg.Connection) -> bool:
        found = scalar(conn, "select to_regclass(%s)", (marker,))
        return bool(found) and conn.execute(f"select version from {marker}").fetchone() == (
            version,
        )

    with connect() as conn:
        if current(conn):
            return
    with connect() as conn, conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"snu-ddl:{schema}",))
        # another process may have upgraded it while this one waited for the lock: its DDL
        # and COMMENTs again would queue for table locks behind every running load
        if current(conn):
            return
        conn.execute(f'create schema if not exists "{schema}"')
        for path in ddl_files():
            conn.execute(sql_text(path, schema))
        conn.execute(comments_sql(schema, language))
        conn.execute(f"create table if not exists {marker} (version text not null)")
        conn.execute(f"delete from {marker}")
        conn.execute(f"insert into {marker} values (%s)", (version,))


#: called before the swap, under the tables' locks: ``(conn, [(slice, staging table)])``; an
#: exception it raises rolls the whole replacement back (nothing written)
BeforeSwap = Callable[[psycopg.Connection, list[tuple[Slice, str]]], None]


def replace_slices(
    conn: psycopg.Connection,
    schema: str,
    slices: Sequence[Slice],
    before_swap: BeforeSwap | None = None,
) -> list[int]:
    """Atomically replace a slice of one or more tables (all or nothing).

    Rows are streamed through ``COPY`` into temporary staging tables first (``rows`` may
    be a generator: nothing is held in memory); then, in the same transaction and under
    per-table advisory locks (two runs of the same slice cannot interleave), ``before_swap``
    compares what is staged with what the tables hold (and may refuse), and each slice
    is deleted and its staging rows inserted (tables in name order). Readers see the
    old slices or the new ones, never a mix. Returns the rows written per slice.
    """
    counts = []
    with conn.transaction():
        for index, piece in enumerate(slices):
            cols = ", ".join(f'"{c}"' for c in piece.columns)
            conn.execute(
                f"create temp table _stage{index} (like {qualified(schema, piece.table)} "
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
        in_order = sorted(enumerate(slices), key=lambda item: item[1].table)
        for _, piece in in_order:
            table = qualified(schema, piece.table)
            conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (table,))
        if before_swap is not None:
            before_swap(conn, [(piece, f"_stage{index}") for index, piece in enumerate(slices)])
        for index, piece in in_order:
            table = qualified(schema, piece.table)
            cols = ", ".join(f'"{c}"' for c in piece.columns)
            conn.execute(f"delete from {table} where {piece.delete_where}", piece.params)
            conflict = ""
            if piece.upsert_key:
                updates = ", ".join(
                    f'"{c}" = excluded."{c}"' for c in piece.columns if c != piece.upsert_key
                )
                conflict = f' on conflict ("{piece.upsert_key}") do update set {updates}'
            conn.execute(f"insert into {table} ({cols}) select {cols} from _stage{index}{conflict}")
    return counts


def replace_with_sql(
    conn: psycopg.Connection, table: str, sql: str, delete_where: str, params: dict
) -> int:
    """Atomically replace a slice of ``table`` (qualified) by what an ``insert ... select``
    produces (set-based work stays in PostgreSQL); returns the rows inserted."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (table,))
        conn.execute(f"delete from {table} where {delete_where}", params)
        return conn.execute(sql, params).rowcount
