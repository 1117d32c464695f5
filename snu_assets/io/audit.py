"""The PII audit's re-read of what was written to PostgreSQL (the SQL: ``sql/audit_*.sql``),
judged by the pure audit (:mod:`snu_assets.core.privacy.audit`): the "no personal data"
asset checks of every layer call :func:`audit_table` on the slice they wrote."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence

import psycopg

from snu_assets.core.privacy.allowlist import MODELS
from snu_assets.core.privacy.audit import REREAD_ROWS, AuditReport, RowAudit
from snu_assets.core.privacy.detectors import findings
from snu_assets.io.postgres import SQL_DIR

#: the reference year of a row (the detectors judge a birth date against it)
YEAR = "extract(year from occurred_at)::int"


def _sql(name: str, **parts: str) -> str:
    """The audit's SQL file ``name`` with its ``{part}`` placeholders filled in."""
    text = (SQL_DIR / name).read_text()
    for key, part in parts.items():
        text = text.replace("{" + key + "}", part)
    return text


def audit_table(
    conn: psycopg.Connection,
    table: str,
    where: str,
    params: dict,
    *,
    id_column: str,
    ops_column: str | None = None,
    state_columns: Sequence[str] = (),
    plain_columns: Sequence[str] = (),
    state_models: Mapping[str, str] | None = None,
    reread_rows: int | None = REREAD_ROWS,
) -> AuditReport:
    """Audit the rows of ``table`` (schema-qualified) matching ``where``, judging each
    distinct value once: the ops and states are streamed from PostgreSQL and the allow-list
    and the detectors judge each distinct ``(model, year, field, value)`` or op
    (:class:`RowAudit`: a status value recurs in thousands of rows); PostgreSQL groups the
    plain columns' values itself. A finding names the column, the field or op path, the kind
    of data and one row holding it; ``problems`` counts distinct values.

    With more than ``reread_rows`` rows (``None``: no limit), the ops and states are
    re-read for a random sample of exactly ``reread_rows`` rows (those with the smallest
    hash of their id, salted anew at each audit: never an empty sample): the re-read
    stays cheap on a large slice, whose values were all judged where produced
    (:class:`RowAudit`). Plain columns are re-read in full."""
    name = table.rsplit(".", 1)[-1].strip('"')
    report = AuditReport()
    count = _sql("audit_count.sql", table=table, where=where)
    (report.rows,) = conn.execute(count, params).fetchone() or (0,)
    sampled = reread_rows is not None and report.rows > reread_rows
    if sampled:
        params = {**params, "audit_salt": secrets.token_hex(8), "audit_rows": reread_rows}
    models: dict[str, str | None] = {}
    for column in state_columns:
        # a state column holds its row's model, unless ``state_models`` names the model whose
        # allow-list judges it (an application's young_state holds a young's fields)
        fixed = (state_models or {}).get(column)
        if fixed is not None and fixed not in MODELS:
            raise ValueError(f"state_models[{column!r}]: unknown model {fixed!r}")
        models[column] = fixed
    if ops_column or state_columns:
        # the rows streamed (a server-side cursor: memory bounded whatever the slice), each
        # distinct (model, year, value) judged once (:class:`RowAudit`)
        audit = RowAudit(name)
        selected = [ops_column] if ops_column else []
        for column in state_columns:
            selected += [column, f"jsonb_typeof({column})"]
        not_objects: set[str] = set()
        with conn.cursor(name=f"snu_audit_{secrets.token_hex(4)}") as cursor:
            cursor.itersize = 2_000
            stream = _sql(
                "audit_stream_sample.sql" if sampled else "audit_stream.sql",
                id_column=id_column,
                year=YEAR,
                columns=", ".join(selected),
                table=table,
                where=where,
            )
            cursor.execute(stream, params)
            streamed = 0
            for row_id, model, ref_year, *values in cursor:
                streamed += 1
                if ops_column:
                    audit.ops(row_id, model, ref_year, values.pop(0), ops_column)
                for index, column in enumerate(state_columns):
                    state, kind = values[2 * index], values[2 * index + 1]
                    if kind == "object":
                        audit.state(row_id, column, models[column] or model, ref_year, state)
                    elif kind is not None and column not in not_objects:
                        not_objects.add(column)
                        report.add(f"{name}.{column} (row {row_id})", "state is not an object")
        report.merge(audit.report)
        if sampled:
            report.rows_judged = streamed
    if plain_columns:  # one pass over the table for all of them
        pairs = ", ".join(f"('{column}', {column}::text)" for column in plain_columns)
        plain = _sql(
            "audit_plain_values.sql",
            id_column=id_column,
            year=YEAR,
            table=table,
            values=pairs,
            where=where,
        )
        for row_id, ref_year, column, value in conn.execute(plain, params):
            for pointer, kind in findings(value, ref_year):
                report.add(f"{name}.{column}{pointer} (row {row_id})", kind)
    return report
