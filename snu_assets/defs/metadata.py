"""Metadata shared by the layers: the table's column schema, on each asset's definition
(from ``io/sql/comments.toml``, the source of the PostgreSQL comments too) and on each
materialisation (read back from PostgreSQL with its comments, so the UI and Metabase say the
same thing), and a markdown preview of the first rows of the slice just written (scrubbed
data only).

A daily asset's materialisation says each day's own figures, whether its run loaded one day
or a range of them (:func:`daily_metadata`); keys are in French, like the UI they are read
in."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
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
NO_ROWS = "_aucune ligne dans cette tranche_"
NO_ROWS_THAT_DAY = "_aucune ligne ce jour-là_"

#: metadata as Dagster takes it: values of many kinds (numbers, text, dicts, MetadataValue)
Metadata = dict[str, Any]


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


def definition_metadata(table: str) -> Metadata:
    """An asset's definition metadata: its table and columns as the Dagster UI shows them."""
    return {
        "dagster/table_name": f"{settings.current().postgres_schema}.{table}",
        "dagster/column_schema": described_schema(table),
    }


def _not_null() -> TableColumnConstraints:
    return TableColumnConstraints(nullable=False)


def _markdown(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [str(v)[:_MAX_CELL].replace("|", "\\|") if v is not None else "" for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


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
    return MetadataValue.md(_markdown(columns, rows) if rows else NO_ROWS)


def day_previews(
    postgres: PostgresResource,
    table: str,
    columns: list[str],
    days: Sequence[str],
    order_by: str,
) -> dict[str, MetadataValue]:
    """The first rows of each partition day of ``days`` in ``table`` (one query), by day."""
    cols = ", ".join(f'p."{c}"' for c in columns)
    inner = ", ".join(f'"{c}"' for c in columns)
    with postgres.connect() as conn:
        rows = conn.execute(
            f"select d.day, {cols} from unnest(%(days)s::date[]) as d(day) "
            f"cross join lateral (select {inner}, row_number() over (order by {order_by}) as n "
            f"from {postgres.table(table)} where partition_date = d.day "
            f"order by {order_by} limit {_PREVIEW_LIMIT}) p order by d.day, p.n",
            {"days": [date.fromisoformat(day) for day in days]},
        ).fetchall()
    by_day: dict[str, list[Sequence[object]]] = {day: [] for day in days}
    for day, *values in rows:
        by_day[day.isoformat()].append(values)
    return {
        day: MetadataValue.md(_markdown(columns, found) if found else NO_ROWS_THAT_DAY)
        for day, found in by_day.items()
    }


def table_identity(postgres: PostgresResource, table: str) -> Metadata:
    """What a materialisation of ``table`` says of the table, true of every partition: its
    name and its columns (with their PostgreSQL comments)."""
    return {
        "dagster/table_name": f"{postgres.schema}.{table}",
        "dagster/column_schema": column_schema(postgres, table),
    }


def table_metadata(
    postgres: PostgresResource,
    table: str,
    columns: list[str],
    where: str,
    params: dict,
    order_by: str,
) -> Metadata:
    return {
        **table_identity(postgres, table),
        "aperçu": preview(postgres, table, columns, where, params, order_by),
    }


#: the French name of each entry of a PII audit's summary (:meth:`AuditReport.summary`)
AUDIT_KEYS = {
    "rows_scanned": "lignes_de_la_tranche",
    "rows_reread": "lignes_relues",
    "problems": "problèmes",
    "examples": "exemples",
}


# ---------------------------------------------------------------- the daily assets' days

#: the suffix of a ranged run's figures that hold for its whole range, not for one day
RANGE = "_de_la_plage"
#: days listed in a ranged run's per-day table at most (each day carries its own figures)
TABLE_DAYS = 92


@dataclass(frozen=True)
class DayColumn:
    """A column of a ranged run's per-day table: its heading, the figure of the day it shows
    (an integer key of the day's metadata) and the key of its total over the range."""

    heading: str
    key: str
    total: str


def daily_metadata(
    context: AssetExecutionContext,
    asset: str,
    days: Mapping[str, Mapping[str, Any]],
    columns: Sequence[DayColumn],
    run: Mapping[str, Any],
) -> Metadata:
    """The metadata of a daily asset's materialisation, whatever the run's partitions.

    Each day of the run gets its own figures, ``days[partition key]``, on that day's
    materialisation (``context.add_asset_metadata(..., partition_key=...)``: Dagster records
    one materialisation per partition of a ranged run, the run's metadata on each of them,
    each day's own on top). The metadata returned, the run's, is thus shown on every day of
    the run: ``run`` holds the figures of the run's window (throughput, record counts of the
    reconstruction...): the day's in a one-day run, suffixed ``_de_la_plage`` in a ranged
    run, next to the range (``plage``), its totals and a per-day table (``par_jour``,
    ``columns``), so that nothing a reader of one day sees passes for that day's when it is
    not."""
    keys = list(context.partition_keys)
    for key in keys:
        context.add_asset_metadata({"jour": key, **days[key]}, asset_key=asset, partition_key=key)
    if len(keys) == 1:
        return dict(run)
    return range_metadata(keys, days, columns, run)


def range_metadata(
    keys: Sequence[str],
    days: Mapping[str, Mapping[str, Any]],
    columns: Sequence[DayColumn],
    run: Mapping[str, Any],
) -> Metadata:
    """The metadata a ranged run over the days ``keys`` shows on each of them, every key
    labelled as the range's (see :func:`daily_metadata`)."""
    first, last = keys[0], keys[-1]
    totals = {c.total: sum(_count(days[k].get(c.key)) for k in keys) for c in columns}
    return {
        "plage": f"{first} → {last}",
        "jours_de_la_plage": len(keys),
        **totals,
        **{f"{key}{RANGE}": value for key, value in run.items()},
        "par_jour": MetadataValue.md(per_day_table(keys, days, columns)),
        "à_lire": MetadataValue.text(
            f"Une seule exécution a matérialisé les {len(keys)} jours du {first} au {last}. "
            f"« plage », « par_jour » et les clés en « {RANGE} » valent pour toute la plage ; "
            "« jour », dagster/row_count, « aperçu » et les autres clés sont les chiffres de "
            "ce jour-ci."
        ),
    }


def per_day_table(
    keys: Sequence[str],
    days: Mapping[str, Mapping[str, Any]],
    columns: Sequence[DayColumn],
) -> str:
    """A markdown table: a line per day (the first :data:`TABLE_DAYS`), then the totals."""
    lines = [
        "| jour | " + " | ".join(c.heading for c in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for key in keys[:TABLE_DAYS]:
        lines.append(
            f"| {key} | " + " | ".join(str(_count(days[key].get(c.key))) for c in columns) + " |"
        )
    if len(keys) > TABLE_DAYS:
        lines.append(
            f"| … {len(keys) - TABLE_DAYS} jours de plus, jusqu'au {keys[-1]} (chaque jour "
            "porte ses propres chiffres) |" + " |" * len(columns)
        )
    totals = [str(sum(_count(days[k].get(c.key)) for k in keys)) for c in columns]
    lines.append("| **total** | " + " | ".join(totals) + " |")
    return "\n".join(lines)


def _count(value: object) -> int:
    if isinstance(value, MetadataValue):
        value = value.value
    return value if isinstance(value, int) else 0


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
