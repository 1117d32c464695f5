"""The PII audit behind the "no personal data" asset checks of every layer.

Two halves, both applying the same allow-list and detectors as the scrubber:

- :class:`RowAudit` judges every value of every row a step produces, where it produces
  it (the exact values it then writes), each distinct value once;
- :func:`snu_assets.io.audit.audit_table` re-reads what was written to PostgreSQL,
  independently of how the row was produced, and judges it here (:class:`RowAudit`,
  :func:`~snu_assets.core.privacy.detectors.findings`): every row of a slice of at most
  ``reread_rows`` rows, else a random sample of exactly that many rows (the plain text columns
  are always re-read in full: their distinct values are few). Re-reading every value of a
  large slice used to be most of PostgreSQL's work (issue #14).

A finding names the table, the column, the JSON pointer and the kind of data, never the
value.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from snu_assets.core.privacy.allowlist import allowed
from snu_assets.core.privacy.detectors import (
    findings,
    is_long_number,
    kinds_of_personal_data,
    pointer_token,
)
from snu_assets.core.privacy.scrub import Rejected, split_pointer

#: rows of a slice :func:`audit_table` re-reads from PostgreSQL (a larger slice: a random
#: sample of about as many rows; its values were all judged where produced)
REREAD_ROWS = 5_000


@dataclass
class AuditReport:
    rows: int = 0
    problems: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    #: rows whose values were judged (``rows`` when every row was re-read)
    rows_judged: int | None = None

    def add(self, where: str, problem: str) -> None:
        self.problems[problem] += 1
        if len(self.examples) < 10:
            self.examples.append(f"{where}: {problem}")

    @property
    def passed(self) -> bool:
        return not self.problems

    def merge(self, other: AuditReport) -> None:
        """Add ``other``'s problems and examples (not its rows) to this report."""
        self.problems.update(other.problems)
        self.examples.extend(other.examples[: max(0, 10 - len(self.examples))])

    def summary(self) -> dict:
        """What an asset check shows: counts, problem kinds, examples (never a value)."""
        out = {
            "rows_scanned": self.rows,
            "problems": dict(self.problems),
            "examples": "\n".join(f"- {e}" for e in self.examples) or "none",
        }
        if self.rows_judged is not None:
            out["rows_reread"] = self.rows_judged
        return out


#: distinct values a :class:`RowAudit` remembers (bounded memory: forgotten when full)
AUDIT_MEMO_SIZE = 50_000
_SCALARS = (str, int, float, bool, type(None))
_SCALAR_CLASSES = frozenset(_SCALARS)


def _scalar_key(value: Any) -> tuple | None:
    """A hashable key telling ``value`` apart from any other JSON value (``1`` from ``True``
    and ``1.0``), or None for containers (judged every time)."""
    return (value.__class__, value) if isinstance(value, _SCALARS) else None


class RowAudit:
    """The audit of rows where they are produced, before they are written: every value
    judged as :func:`audit_table` judges it, each distinct ``(model, year, field, value)``
    (or op) once. Feed it the values a row is written with; read :attr:`report`."""

    def __init__(self, table: str):
        self.table = table
        self.report = AuditReport()
        self._seen: set = set()
        #: ``(model, year, field, value)`` of the states' fields already judged
        self._seen_fields: set = set()
        #: per state column, the last state judged (``(model, year, state)``)
        self._last: dict[str, tuple] = {}
        #: per ``(model, year, field)``: its pointer token and what its name earns
        self._names: dict[tuple, tuple[str, tuple[str, ...]]] = {}

    def _fresh(self, key: tuple | None) -> bool:
        """Whether the value of ``key`` must be judged (never seen, or not memoisable)."""
        if key is None:
            return True
        if key in self._seen:
            return False
        if len(self._seen) >= AUDIT_MEMO_SIZE:
            self._seen.clear()
        self._seen.add(key)
        return True

    def row(self) -> None:
        self.report.rows += 1

    def ops(self, row_id: str, model: str, year: int, ops: Any, column: str = "ops") -> None:
        """An ``ops`` array as written (see :func:`audit_ops`), op by op: its path against the
        allow-list, then each of its members (each distinct ``(name, value)`` judged once)."""
        for op in ops if isinstance(ops, list) else [ops]:
            if not isinstance(op, dict) or not isinstance(op.get("path"), str):
                for pointer, kind in audit_ops(model, [op], year):
                    self.report.add(
                        f"{self.table}.{column}/*{pointer.removeprefix('/0')} (row {row_id})",
                        kind,
                    )
                continue
            # the op type and path (a few recur in every patch) judged together
            kind_key = _scalar_key(op.get("op"))
            if self._fresh(
                None if kind_key is None else ("path", model, year, kind_key, op["path"])
            ):
                for pointer, kind in _path_problems(model, op):
                    self.report.add(f"{self.table}.{column}/*{pointer} (row {row_id})", kind)
                for name in ("op", "path"):
                    if name in op:
                        for kind in _member_kinds(name, op[name], year):
                            self.report.add(f"{self.table}.{column}/*/{name} (row {row_id})", kind)
            for name, value in op.items():
                if name == "op" or name == "path":
                    continue
                # an instant (each one new) is judged without being remembered
                instant = value.__class__ is str and value[10:11] == "T"
                scalar = None if instant else _scalar_key(value)
                if self._fresh(None if scalar is None else ("op", year, name, scalar)):
                    where = f"{self.table}.{column}/*/{pointer_token(name)}"
                    for kind in _member_kinds(name, value, year):
                        self.report.add(f"{where} (row {row_id})", kind)

    def state(self, row_id: str, column: str, model: str, year: int, state: Any) -> None:
        """A ``before``/``after``/``young_state`` state as written (see :func:`audit_state`),
        field by field (each distinct ``(model, field, value)`` judged once)."""
        if state is None:
            return
        if not isinstance(state, dict):
            self.report.add(f"{self.table}.{column} (row {row_id})", "state is not an object")
            return
        last = self._last.get(column)
        if last is not None and last[0] == model and last[1] == year and last[2] == state:
            return  # the same content as the state judged just before (a record's next patch)
        self._last[column] = (model, year, state)
        seen = self._seen_fields
        for name, value in state.items():
            cls = value.__class__
            if cls is str:
                # an instant (each one new) is judged without being remembered
                key: tuple | None = None if value[10:11] == "T" else (model, year, name, value)
            elif cls in _SCALAR_CLASSES:
                key = (model, year, name, cls, value)
            else:
                key = None  # a container: judged every time
            if key is not None:
                if key in seen:
                    continue
                if len(seen) >= AUDIT_MEMO_SIZE:
                    seen.clear()
                seen.add(key)
            # what the field's name itself earns (the same for each of its values)
            named = self._names.get((model, year, name))
            if named is None:
                named = self._names[(model, year, name)] = _name_problems(model, year, name)
            token, problems = named
            if cls is str:
                kinds = kinds_of_personal_data(value, year)
            else:
                kinds = _value_kinds(value, year)
            if problems or kinds:
                where = f"{self.table}.{column}/{token} (row {row_id})"
                for kind in (*problems, *kinds):
                    self.report.add(where, kind)

    def plain(self, row_id: str, column: str, year: int, value: Any) -> None:
        """A plain column's value as written."""
        if value is None:
            return
        text = value if isinstance(value, str) else str(value)
        if self._fresh(("plain", column, year, text)):
            for pointer, kind in findings(text, year):
                self.report.add(f"{self.table}.{column}{pointer} (row {row_id})", kind)


def _member_kinds(name: Any, value: Any, year: int) -> list[str]:
    """The kinds :func:`findings` finds in ``{name: value}`` (the key, then the value): a
    scalar judged directly, a container walked (its findings' pointers are dropped: the
    caller names the member)."""
    if not isinstance(name, str) or not isinstance(value, _SCALARS):
        return [kind for _, kind in findings({name: value}, year)]
    kinds = list(kinds_of_personal_data(name, year))
    if isinstance(value, str):
        kinds += kinds_of_personal_data(value, year)
    elif is_long_number(value):
        kinds += kinds_of_personal_data(
            f"{value:.0f}" if isinstance(value, float) else str(value), year
        )
    return kinds


def _name_problems(model: str, year: int, name: Any) -> tuple[str, tuple[str, ...]]:
    """A state field's pointer token and the problems its name earns (:func:`audit_state`:
    outside the allow-list; the key judged by the detectors)."""
    problems = [] if allowed(model, name) is not None else ["field outside the allow-list"]
    problems += [kind for _, kind in findings({name: None}, year)]
    return pointer_token(name), tuple(problems)


def _value_kinds(value: Any, year: int) -> tuple[str, ...]:
    """The kinds :func:`findings` finds in a value (a container walked)."""
    if isinstance(value, str):
        return kinds_of_personal_data(value, year)
    if isinstance(value, _SCALARS):
        if is_long_number(value):
            digits = f"{value:.0f}" if isinstance(value, float) else str(value)
            return kinds_of_personal_data(digits, year)
        return ()
    return tuple(kind for _, kind in findings(value, year))


def _path_problems(model: str, op: dict) -> list[tuple[str, str]]:
    """The problems :func:`audit_ops` finds in an op's path (pointers under the op)."""
    try:
        tokens = split_pointer(op.get("path"))
    except Rejected:
        return [("/path", "malformed path")]
    if op.get("op") != "destroy" and (not tokens or allowed(model, tokens[0]) is None):
        return [("/path", "path outside the allow-list")]
    return []


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
