"""Metadata shared by the layers: the table's column schema, on each asset's definition
(from ``io/sql/comments.toml``, the source of the PostgreSQL comments too) and on each
materialisation (read back from PostgreSQL with its comments, so the UI and Metabase say the
same thing), and a markdown preview of the first rows of the slice just written (scrubbed
data only)."""

import psycopg
from dagster import (
    AssetCheckResult,
    MetadataValue,
    TableColumn,
    TableColumnConstraints,
    TableSchema,
)

from snu_assets import settings
from snu_assets.core.privacy.audit import AuditReport
from snu_assets.defs.resources import PostgresResource
from snu_assets.io.postgres import column_docs

#: JSONB columns are summarised in previews (a preview is for eyes, not for analysis)
_PREVIEW_LIMIT = 5
_MAX_CELL = 60


def column_schema(postgres: PostgresResource, table: str) -> TableSchema:
    with postgres.connect() as conn:
        rows = conn.execute(
            "select c.column_name, c.data_type, c.is_nullable, "
            "col_description(format('%%I.%%I', c.table_schema, c.table_name)::regclass, "
            "c.ordinal_position) "
            "from information_schema.columns c where c.table_schema = %s and c.table_name = %s "
            "order by c.ordinal_position",
            (postgres.schema, table),
        ).fetchall()
    return TableSchema(
        columns=[
            TableColumn(
                name,
                data_type,
                description=comment,
                constraints=None if nullable == "YES" else _not_null(),
            )
            for name, data_type, nullable, comment in rows
        ]
    )


def described_schema(table: str, language: str | None = None) -> TableSchema:
    """Every column of ``table`` with its SQL type and description in ``language`` (default
    ``SNU_REPORT_LANGUAGE``), from ``io/sql/comments.toml``: what the PostgreSQL comments
    say, known before any materialisation."""
    return TableSchema(
        columns=[
            TableColumn(name, sql_type, description=text)
            for name, sql_type, text in column_docs(table, language)
        ]
    )


def definition_metadata(table: str) -> dict:
    """An asset's definition metadata: its table and columns as the Dagster UI shows them."""
    return {
        "dagster/table_name": f"{settings.current().postgres_schema}.{table}",
        "dagster/column_schema": described_schema(table),
    }


def _not_null() -> TableColumnConstraints:
    return TableColumnConstraints(nullable=False)


def preview(
    postgres: PostgresResource,
    table: str,
    columns: list[str],
    where: str,
    params: dict,
    order_by: str,
) -> MetadataValue:
    cols = ", ".join(f'"{c}"' for c in columns)
    with postgres.connect() as conn:
        rows = conn.execute(
            f"select {cols} from {postgres.table(table)} where {where} "
            f"order by {order_by} limit {_PREVIEW_LIMIT}",
            params,
        ).fetchall()
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [str(v)[:_MAX_CELL].replace("|", "\\|") if v is not None else "" for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return MetadataValue.md("\n".join(lines) if rows else "_aucune ligne dans cette tranche_")


def table_metadata(
    postgres: PostgresResource,
    table: str,
    columns: list[str],
    where: str,
    params: dict,
    order_by: str,
) -> dict:
    return {
        "dagster/table_name": f"{postgres.schema}.{table}",
        "dagster/column_schema": column_schema(postgres, table),
        "aperçu": preview(postgres, table, columns, where, params, order_by),
    }


#: the French name of each entry of a PII audit's summary (:meth:`AuditReport.summary`)
AUDIT_KEYS = {
    "rows_scanned": "lignes_de_la_tranche",
    "rows_reread": "lignes_relues",
    "problems": "problèmes",
    "examples": "exemples",
}


def audit_metadata(report: AuditReport, produced: AuditReport | None = None) -> dict:
    """A PII audit's findings as check metadata: counts, problem kinds, examples (never a
    value: the examples name a column, a pointer, a kind and a row); with ``produced``, the
    rows audited where they were produced too. Keys in French (:data:`AUDIT_KEYS`)."""
    summary = {AUDIT_KEYS[key]: value for key, value in report.summary().items()}
    if summary["exemples"] == "none":
        summary["exemples"] = "aucun"
    if produced is not None:
        summary["lignes_auditées_à_la_production"] = produced.rows
    return {**summary, "exemples": MetadataValue.md(summary["exemples"])}


def unique_ids_check(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    column: str,
    check_name: str,
    where: str,
    params: dict,
) -> AssetCheckResult:
    """The asset check that no ``column`` value appears twice in the slice ``where`` of
    ``table``."""
    (dupes,) = conn.execute(
        f'select count(*) from (select {column} from "{schema}".{table} where {where} '
        f"group by {column} having count(*) > 1) d",
        params,
    ).fetchone() or (0,)
    return AssetCheckResult(
        asset_key=table,
        check_name=check_name,
        passed=dupes == 0,
        metadata={f"{column}_en_double": dupes},
    )
