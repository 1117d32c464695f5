"""Turn one MongoDB patch document into a row that may enter PostgreSQL, or a rejection.

Pure functions, no I/O: the extract asset, the reconstruction and the tests all call
:func:`scrub_patch`, so the rules are the same everywhere. A rejection reason never quotes
a value of the document (it would leak it); it names the op index and the problem.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import bson
from bson import ObjectId

from snu_assets.core.privacy.allowlist import ALLOWED_FIELDS, AUTHOR_ROLES, Field, Rule, allowed
from snu_assets.core.privacy.detectors import (
    MAX_CATEGORY_LENGTH,
    is_long_number,
    kinds_of_personal_data,
)
from snu_assets.core.privacy.pseudonym import Pseudonymizer
from snu_assets.core.values import (
    as_id,
    bson_date,
    calendar_day,
    date_problem,
    patch_key,
    to_utc,
    utc,
)

REDACTED = "[redacted]"
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
#: an instant already spelled as :func:`_json_scalar` spells it (kept as it is)
CANONICAL_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
STATE_OPS = frozenset({"add", "replace", "remove"})
KNOWN_OPS = STATE_OPS | {"move", "copy", "test", "destroy", "_get"}
MAX_PATH_LENGTH = 512


class Rejected(Exception):
    """The patch cannot be used; ``reason`` is safe to store and log."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class ScrubbedPatch:
    patch_id: str
    model: str
    record_id: str
    young_id: str | None
    occurred_at: datetime
    ops: list[dict[str, Any]]
    author_role: str
    #: the role of the admin acting as ``author_role`` (impersonation), else None
    impersonator_role: str | None = None
    #: allow-listed values that looked personal and were replaced by ``[redacted]``
    redacted_values: int = 0
    #: the same, counted by reason (never the value): ``{"free text": 1, "email": 2}``
    redactions: dict[str, int] = field(default_factory=dict)
    #: ops on paths outside the allow-list, dropped
    dropped_ops: int = 0


@dataclass
class Rejection:
    patch_id: str
    model: str
    occurred_at: datetime | None
    reason: str


# ----------------------------------------------------------------------------- pointers


def split_pointer(path: Any) -> list[str]:
    """RFC 6901 tokens of a JSON pointer; raises :class:`Rejected` when malformed."""
    return list(pointer_tokens(path))


def pointer_tokens(path: Any) -> tuple[str, ...]:
    """:func:`split_pointer` as a tuple, memoised: the same few paths recur in every patch."""
    if not isinstance(path, str):
        raise Rejected("op path is not a string")
    return _pointer_tokens(path)


@functools.lru_cache(maxsize=16_384)
def _pointer_tokens(path: str) -> tuple[str, ...]:
    if path == "":
        return ()
    if not path.startswith("/") or len(path) > MAX_PATH_LENGTH:
        raise Rejected("op path is not a JSON pointer")
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/"))


def join_pointer(tokens: Sequence[str]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


@functools.lru_cache(maxsize=16_384)
def _target(model: str, path: str) -> tuple[tuple[str, ...], Any, str]:
    """``(tokens, allow-list rule of the top-level field or None, canonical pointer)``."""
    tokens = _pointer_tokens(path)
    return tokens, (allowed(model, tokens[0]) if tokens else None), join_pointer(tokens)


# ------------------------------------------------------------------------------- values


def _json_scalar(value: Any) -> Any:
    if value.__class__ is str:
        return value
    if isinstance(value, datetime):
        return utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, bson.int64.Int64):
        return int(value)
    return value


#: verdicts of :class:`ValueScrubber` on the values of ``KEEP`` fields, by reference year and
#: value (they depend on nothing else; bounded memory: forgotten when full)
VERDICT_MEMO_SIZE = 100_000
_VERDICTS: dict[tuple, tuple[Any, str | None]] = {}
_MEMO_TYPES = frozenset({str, int, float, bool})
_NUMBERS = (int, float)  # a tuple: cheaper to test than the union int | float


class ValueScrubber:
    """Applies the allow-list rule of one field to a value, counting what it redacts and why.

    Every branch costs O(1) or one linear pass over the value: a string too long to be a
    category is redacted on its length alone (see ``detectors``), containers are redacted
    without being walked."""

    def __init__(self, pseudonymize: Pseudonymizer, reference_year: int):
        self.pseudonymize = pseudonymize
        self.reference_year = reference_year
        self.reasons: dict[str, int] = {}

    @property
    def redacted(self) -> int:
        return sum(self.reasons.values())

    def __call__(self, rule: Field, value: Any) -> Any:
        if (
            rule.rule is Rule.KEEP
            and value.__class__ in _MEMO_TYPES
            and not (
                value.__class__ is str and (value[10:11] == "T" or len(value) > MAX_CATEGORY_LENGTH)
            )
        ):
            # a statistical value recurs in thousands of patches: its verdict is remembered
            # (not an instant's: each is new; not a long one: hostile input would fill the
            # memo with megabytes)
            key = (self.reference_year, value.__class__, value)
            verdict = _VERDICTS.get(key)
            if verdict is None:
                verdict = self._judge(rule, value)
                if len(_VERDICTS) >= VERDICT_MEMO_SIZE:
                    _VERDICTS.clear()
                _VERDICTS[key] = verdict
            result, reason = verdict
            return result if reason is None else self.redact(reason)
        return self._judge_and_count(rule, value)

    def _judge_and_count(self, rule: Field, value: Any) -> Any:
        result, reason = self._judge(rule, value)
        return result if reason is None else self.redact(reason)

    def _judge(self, rule: Field, value: Any) -> tuple[Any, str | None]:
        """``(value to keep, None)`` or ``([redacted], reason)``."""
        value = _json_scalar(value)
        if value is None or isinstance(value, bool):
            return value, None
        if rule.rule is Rule.PSEUDONYM:
            ident = as_id(value)
            if ident:
                assert rule.namespace is not None, "a pseudonym rule names its namespace"
                return self.pseudonymize(rule.namespace, ident), None
            return REDACTED, "not an id"
        if rule.rule is Rule.MONTH:
            day = calendar_day(value) if isinstance(value, str) else None
            return (f"{day:%Y-%m}", None) if day else (REDACTED, "not a date")
        if isinstance(value, _NUMBERS):
            return (REDACTED, "long number") if is_long_number(value) else (value, None)
        if isinstance(value, str):
            if kinds := kinds_of_personal_data(value, self.reference_year):
                return REDACTED, ", ".join(kinds)
            if ISO_DATETIME.match(value):
                if CANONICAL_INSTANT.fullmatch(value):
                    return value, None  # already spelled as _json_scalar spells an instant
                if moment := to_utc(value):
                    return _json_scalar(moment), None  # one spelling of an instant everywhere
            return value, None
        # objects, arrays, binary ... under a statistical field: never expected, never kept
        return REDACTED, "not a scalar"

    def redact(self, reason: str) -> str:
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        return REDACTED


# --------------------------------------------------------------------------------- ops


def scrub_ops(model: str, ops: Any, values: ValueScrubber) -> tuple[list[dict], int]:
    """The allow-listed ops of a patch, values scrubbed; returns (ops, dropped count)."""
    if not isinstance(ops, list):
        raise Rejected("ops is not an array")
    kept: list[dict] = []
    dropped = 0
    #: statistical fields already redacted whole by a write inside them (see below)
    overwritten: set[str] = set()
    for index, op in enumerate(ops):
        if not isinstance(op, dict) or not isinstance(op.get("op"), str) or "path" not in op:
            raise Rejected(f"op #{index} is malformed (needs 'op' and 'path')")
        kind = op["op"]
        tokens, rule, canonical = _op_target(model, op["path"], index)
        if kind == "destroy":
            kept.append({"op": "destroy", "path": "/"})
            continue
        source_rule = None
        if kind in ("move", "copy"):
            source = _tokens(op.get("from"), index, "from")
            source_rule = allowed(model, source[0]) if source else None
        if kind not in KNOWN_OPS:
            if rule is not None:
                raise Rejected(f"op #{index} has unknown op type on an allow-listed path")
            dropped += 1
            continue
        if rule is None and source_rule is None:
            dropped += 1
            continue
        if kind in ("move", "copy"):
            raise Rejected(f"op #{index} is a '{kind}' touching an allow-listed path")
        if kind in ("test", "_get"):
            continue  # no change of state
        if not tokens:
            raise Rejected(f"op #{index} '{kind}' targets the whole document")
        if len(tokens) > 1:
            # a write inside a statistical field makes it a container, which is never kept:
            # the field becomes [redacted] (once per patch, however many ops write into it),
            # so states hold scalars only and the reconstruction's cost stays O(ops)
            values.redact("write inside a statistical field")
            if tokens[0] not in overwritten:
                overwritten.add(tokens[0])
                kept.append(
                    {
                        "op": "replace",
                        "path": join_pointer(tokens[:1]),
                        "value": REDACTED,
                        "originalValue": REDACTED,
                    }
                )
            continue
        clean = {"op": kind, "path": canonical}
        if kind != "remove":
            if "value" not in op:
                raise Rejected(f"op #{index} '{kind}' has no value")
            clean["value"] = values(rule, op["value"])
        if "originalValue" in op:
            clean["originalValue"] = values(rule, op["originalValue"])
        kept.append(clean)
    return kept, dropped


def _tokens(path: Any, index: int, name: str = "path") -> tuple[str, ...]:
    try:
        return pointer_tokens(path)
    except Rejected as exc:
        raise Rejected(f"op #{index} {name}: {exc.reason}") from None


def _op_target(model: str, path: Any, index: int) -> tuple[tuple[str, ...], Any, str]:
    if not isinstance(path, str):
        _tokens(path, index)  # raises the reason
    try:
        return _target(model, path)
    except Rejected as exc:
        raise Rejected(f"op #{index} path: {exc.reason}") from None


# ------------------------------------------------------------------------------ patches


def author_role(user: Any) -> str:
    """Only the role of the author survives: names, emails and ids never do."""
    if not isinstance(user, dict) or not user:
        return "system"
    role = user.get("role")
    if isinstance(role, str) and role in AUTHOR_ROLES:
        return role
    if user.get("model") == "young" or user.get("constructor") == "young":
        return "young"
    if role is None and set(user) <= {"firstName", "_id"}:
        return "script"
    return "other"


def impersonator_role(user: Any) -> str | None:
    """The role of who acted as ``user`` (an admin impersonating a referent), else None."""
    if not isinstance(user, dict) or not isinstance(user.get("impersonatedBy"), dict):
        return None
    return author_role(user["impersonatedBy"])


def scrub_patch(
    doc: dict,
    model: str,
    pseudonymize: Pseudonymizer,
    young_ref: Any = None,
    key: str | None = None,
) -> ScrubbedPatch | Rejection:
    """Scrub one patch document of ``model``'s patch collection.

    ``young_ref`` is, for an application patch, the ``youngId`` of the application (looked
    up by the caller), so that its rows join to the young; ``key``, its
    :func:`~snu_assets.core.values.patch_key` when the caller has it already.
    """
    patch_id = pseudonymize("patch", patch_key(doc) if key is None else key)
    occurred_at = bson_date(doc)
    try:
        if model not in ("young", "application"):
            raise Rejected(f"unknown model '{model}'")
        declared = doc.get("modelName")
        if declared is not None and declared != model:
            raise Rejected("modelName does not match the collection's model")
        if "_id" not in doc:
            raise Rejected("patch has no _id")
        ref = as_id(doc.get("ref"))
        if ref is None:
            raise Rejected(
                "patch has no ref" if doc.get("ref") is None else "ref is not an ObjectId"
            )
        if occurred_at is None:
            raise Rejected(f"{date_problem(doc)}: placed on the day of its _id")
        values = ValueScrubber(pseudonymize, occurred_at.year)
        ops, dropped = scrub_ops(model, doc.get("ops"), values)
    except Rejected as exc:
        return Rejection(
            patch_id,
            model if model in ("young", "application") else "unknown",
            occurred_at,
            exc.reason,
        )
    record_id = pseudonymize(model, ref)
    young_id: str | None
    if model == "young":
        young_id = record_id
    else:
        young = as_id(young_ref)
        young_id = pseudonymize("young", young) if young else None
    return ScrubbedPatch(
        patch_id=patch_id,
        model=model,
        record_id=record_id,
        young_id=young_id,
        occurred_at=occurred_at,
        ops=ops,
        author_role=author_role(doc.get("user")),
        impersonator_role=impersonator_role(doc.get("user")),
        redacted_values=values.redacted,
        redactions=dict(values.reasons),
        dropped_ops=dropped,
    )


def scrub_document(model: str, doc: dict, pseudonymize: Pseudonymizer, reference_year: int) -> dict:
    """The allow-listed state of a current MongoDB document (what ``after`` holds)."""
    values = ValueScrubber(pseudonymize, reference_year)
    return {
        name: values(rule, doc[name])
        for name, rule in ALLOWED_FIELDS.get(model, {}).items()
        if name in doc
    }
