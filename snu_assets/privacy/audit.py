"""The PII audit behind the "no personal data" asset checks of every layer.

It re-reads what was written to PostgreSQL and applies the same allow-list and detectors
as the scrubber, independently of how the row was produced. A finding names the table,
the column, the JSON pointer and the kind of data, never the value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from snu_assets.privacy.allowlist import allowed
from snu_assets.privacy.detectors import findings
from snu_assets.privacy.scrub import Rejected, split_pointer


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
    problems = [(f"/{key}", "field outside the allow-list")
                for key in state if allowed(model, key) is None]
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
