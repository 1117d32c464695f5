"""The PII audit behind the "no personal data" asset checks of every layer.

It re-reads what was written to PostgreSQL and applies the same allow-list and detectors
as the scrubber, independently of how the row was produced. A finding names the table,
the column, the JSON pointer and the kind of data, never the value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from snu_assets.core.privacy.allowlist import MODELS, allowed
from snu_assets.core.privacy.detectors import findings, pointer_token
from snu_assets.core.privacy.scrub import Rejected, split_pointer


@dataclass
class AuditReport:
    rows: int = 0
    problems: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def add(self, where: str, problem: str) -> None:
        self.problems[problem] += 1
        if len(self.examples) < 10:
            self.examples.append(f"{where}: {problem}")

    @property
    def passed(self) -> bool:
        return not self.problems

    def summary(self) -> dict:
        """What an asset check shows: counts, problem kinds, examples (never a value)."""
        return {
            "rows_scanned": self.rows,
            "problems": dict(self.problems),
            "examples": "\n".join(f"- {e}" for e in self.examples) or "none",
        }


def audit_ops(model: str, ops: Any, year: int) -> list[tuple[str, str]]:
    """Problems of a ``raw_patches.ops`` array: paths outside the allow-list, personal values."""
    problems = []
    for index, op in enumerate(ops if isinstance(ops, list) else [ops]):
        if not isinstance(op, dict):
            problems.append((f"/{index}", "op is not an object"))
            continue
        try:
            tokens = split_pointer(op.get("path"))
        except Rejected:
            problems.append((f"/{index}/path", "malformed path"))
            continue
        if op.get("op") != "destroy" and (not tokens or allowed(model, tokens[0]) is None):
            problems.append((f"/{index}/path", "path outside the allow-list"))
        problems += [(f"/{index}{p}", kind) for p, kind in findings(op, year)]
    return problems


def audit_state(model: str, state: Any, year: int) -> list[tuple[str, str]]:
    """Problems of a ``before``/``after`` state: keys outside the allow-list, personal values."""
    if state is None:
        return []
    if not isinstance(state, dict):
        return [("", "state is not an object")]
    problems = [
        (f"/{pointer_token(key)}", "field outside the allow-list")
        for key in state
        if allowed(model, key) is None
    ]
    return problems + findings(state, year)


def audit_rows(rows: Iterable[tuple[str, str, int, dict[str, Any]]], table: str) -> AuditReport:
    """``rows``: ``(row id, model, reference year, {column: value})``. Plain columns are
    scanned with the detectors; ``ops`` with :func:`audit_ops`; ``before``/``after`` with
    :func:`audit_state`."""
    report = AuditReport()
    for row_id, model, year, columns in rows:
        report.rows += 1
        for column, value in columns.items():
            if column == "ops":
                problems = audit_ops(model, value, year)
            elif column in ("before", "after"):
                problems = audit_state(model, value, year)
            else:
                problems = findings(value, year)
            for pointer, kind in problems:
                report.add(f"{table}.{column}{pointer} (row {row_id})", kind)
    return report


def audit_table(
    conn,
    table: str,
    where: str,
    params: dict,
    *,
    id_column: str,
    ops_column: str | None = None,
    state_columns: Sequence[str] = (),
    plain_columns: Sequence[str] = (),
    state_models: Mapping[str, str] | None = None,
) -> AuditReport:
    """Audit the rows of ``table`` (schema-qualified) matching ``where``, reading each
    distinct value once: PostgreSQL unnests the ops and the fields of the states and groups
    identical ones (a status value recurs in thousands of rows), then the allow-list and the
    detectors judge each distinct ``(model, year, value)``. A finding names the column, the
    field or op path, the kind of data and one row holding it; ``problems`` counts distinct
    values."""
    name = table.rsplit(".", 1)[-1].strip('"')
    year = "extract(year from occurred_at)::int"
    report = AuditReport()
    report.rows = conn.execute(f"select count(*) from {table} where {where}", params).fetchone()[0]
    if ops_column:
        as_array = (
            f"case jsonb_typeof({ops_column}) when 'array' then {ops_column} "
            f"else jsonb_build_array({ops_column}) end"
        )
        # grouped as text: hashing text is cheaper than sorting jsonb
        for row_id, model, ref_year, op in conn.execute(
            f"select min({id_column}), model, {year}, op::text from {table}, "
            f"jsonb_array_elements({as_array}) op where {where} group by 2, 3, 4",
            params,
        ):
            for pointer, kind in audit_ops(model, [orjson.loads(op)], ref_year):
                report.add(
                    f"{name}.{ops_column}/*{pointer.removeprefix('/0')} (row {row_id})", kind
                )
    for column in state_columns:
        # a state column holds its row's model, unless ``state_models`` names the model whose
        # allow-list judges it (an application's young_state holds a young's fields)
        fixed = (state_models or {}).get(column)
        if fixed is not None and fixed not in MODELS:
            raise ValueError(f"state_models[{column!r}]: unknown model {fixed!r}")
        model_of = "model" if fixed is None else f"'{fixed}'"
        for row_id, model, ref_year, key, value in conn.execute(
            f"select min({id_column}), {model_of}, {year}, f.key, f.value from {table}, "
            f"jsonb_each({column}) f where {where} and jsonb_typeof({column}) = 'object' "
            "group by 2, 3, 4, 5",
            params,
        ):
            for pointer, kind in audit_state(model, {key: value}, ref_year):
                report.add(f"{name}.{column}{pointer} (row {row_id})", kind)
        for (row_id,) in conn.execute(
            f"select min({id_column}) from {table} where {where} and {column} "
            f"is not null and jsonb_typeof({column}) <> 'object'",
            params,
        ):
            if row_id is None:
                continue
            report.add(f"{name}.{column} (row {row_id})", "state is not an object")
    if plain_columns:  # one pass over the table for all of them
        values = ", ".join(f"('{column}', {column}::text)" for column in plain_columns)
        for row_id, ref_year, column, value in conn.execute(
            f"select min({id_column}), {year}, v.col, v.value from {table} "
            f"cross join lateral (values {values}) v(col, value) "
            f"where {where} and v.value is not null group by 2, 3, 4",
            params,
        ):
            for pointer, kind in findings(value, ref_year):
                report.add(f"{name}.{column}{pointer} (row {row_id})", kind)
    return report
