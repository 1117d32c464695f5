"""Rebuild the state of a record just before and just after each of its patches.

Pure functions, no I/O. The inputs are already scrubbed (allow-listed ops, allow-listed
current document), so nothing here can see personal data.

How one record's history is rebuilt (:func:`reconstruct_record`):

1. Patches are put in order: ``date``, then ``_id`` (the ObjectId counter breaks ties between
   patches of the same millisecond, and fixes patches stored out of date order).
2. A *forward* replay from an empty state applies every patch with a real JSON Patch
   implementation (:mod:`jsonpatch`); it is the fallback where the log alone is all we have
   (records deleted from MongoDB, ``destroy`` ops, ops without ``originalValue``).
3. A *backward* walk starts from the current document (the truth of now) and goes back
   through the patches, latest first:

   - ``after`` of a patch is the later state with the values the patch itself wrote put
     back (*anchoring*): if the document drifted after the patch without leaving a patch (a
     migration, a raw write), the drift stays after it. Each anchored value that differed
     from the later state is a *disagreement*: a gap in the log;
   - ``before`` is ``after`` with the patch's ops inverted: ``originalValue`` restores
     replaced and removed values, ``add`` is undone by a ``remove``.

   Walking back from the current document is what rebuilds fields that no patch of the log
   mentions (records created before the log started) and what makes a re-run converge to
   the new truth when patches are rewritten after the fact.
4. Events: the creation patch (an ``add`` of ``/createdAt``; else a first patch made only of
   ``add`` ops, ``/status`` among them) gives ``<model>.created``; a ``destroy`` op gives ``<model>.deleted``; any
   other patch gives one ``<model>.<field>.<NEW_VALUE>`` per tracked field it changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jsonpatch
import jsonpointer
import orjson

from snu_assets.core.privacy.allowlist import TRACKED_FIELDS
from snu_assets.core.privacy.scrub import pointer_tokens

_MISSING = object()
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})


def _clone(state: Any) -> Any:
    """A deep copy of a JSON state. States hold scalars only (the scrub redacts any container
    under a field), so a copy of the top level is usually all it takes; a state holding an
    object or an array is copied whole (orjson round trip: ~10x faster than copy.deepcopy)."""
    if state is None:
        return None
    if state.__class__ is dict:
        kinds = set(map(type, state.values()))
        if kinds <= _SCALAR_TYPES or not any(issubclass(k, dict | list) for k in kinds):
            return state.copy()
    return orjson.loads(orjson.dumps(state))


@dataclass
class Patch:
    patch_id: str
    model: str
    record_id: str
    occurred_at: datetime
    #: the raw ObjectId hex, used for ordering only (never written anywhere)
    order: str
    ops: list[dict]
    young_id: str | None = None


@dataclass
class PatchStates:
    patch: Patch
    before: dict | None
    after: dict | None
    is_creation: bool = False
    is_destroy: bool = False


@dataclass
class Event:
    event_id: str
    event_name: str
    model: str
    record_id: str
    young_id: str | None
    patch_id: str
    occurred_at: datetime
    before: dict | None
    after: dict | None


@dataclass
class RecordReport:
    states: list[PatchStates]
    #: values written by a patch that the later state (or current document) contradicts
    disagreements: int = 0
    #: ``remove``/``replace`` ops without ``originalValue`` (fell back to the forward replay)
    missing_original_values: int = 0
    problems: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------ JSON pointers


def _get(doc: Any, tokens: Sequence[str]) -> Any:
    """The value at a pointer (RFC 6901 resolution), or ``_MISSING``."""
    node = doc
    for token in tokens:
        if isinstance(node, dict):
            if token not in node:
                return _MISSING
            node = node[token]
        elif isinstance(node, list):
            # an array index: digits, no leading zero ("-" points past the end: missing)
            if not token.isdigit() or (len(token) > 1 and token[0] == "0"):
                return _MISSING
            position = int(token)
            if position >= len(node):
                return _MISSING
            node = node[position]
        else:
            return _MISSING
    return node


def _is_array_insert(doc: Any, tokens: Sequence[str]) -> bool:
    if len(tokens) == 1:
        return isinstance(doc, list)
    parent = _get(doc, tokens[:-1]) if tokens else _MISSING
    return isinstance(parent, list)


def _own(value: Any) -> Any:
    """A value about to be stored in a state: objects and arrays copied (states are mutated
    later; the patch's ops must not be)."""
    return _clone(value) if isinstance(value, dict | list) else value


def _set(doc: dict, tokens: Sequence[str], value: Any) -> None:
    """Set a value at a pointer, creating missing parent objects (tolerant ``add``)."""
    if len(tokens) == 1 and isinstance(doc, dict):  # a top-level field: the usual case
        doc[tokens[0]] = _own(value)
        return
    # the library only where the parent exists: its errors format the whole document, which
    # would make a patch of many ops on missing paths quadratic
    if isinstance(_get(doc, tokens[:-1]), dict | list):
        pointer = jsonpointer.JsonPointer.from_parts(tokens).path
        try:
            jsonpatch.apply_patch(
                doc, [{"op": "add", "path": pointer, "value": value}], in_place=True
            )
            return
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
            pass
    node: Any = doc
    for token in tokens[:-1]:
        child = node.get(token) if isinstance(node, dict) else _MISSING
        if not isinstance(child, dict | list):
            child = {}
            node[token] = child
        node = child
    if isinstance(node, dict):
        node[tokens[-1]] = _clone(value)


def _replace(doc: dict, tokens: Sequence[str], value: Any) -> None:
    """Replace in place (array elements included); add when the path does not exist."""
    if len(tokens) == 1 and isinstance(doc, dict):
        doc[tokens[0]] = _own(value)
        return
    if _get(doc, tokens) is _MISSING:
        _set(doc, tokens, value)
        return
    pointer = jsonpointer.JsonPointer.from_parts(tokens).path
    try:
        jsonpatch.apply_patch(
            doc, [{"op": "replace", "path": pointer, "value": value}], in_place=True
        )
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
        _set(doc, tokens, value)


def _remove(doc: dict, tokens: Sequence[str]) -> None:
    if len(tokens) == 1 and isinstance(doc, dict):
        doc.pop(tokens[0], None)
        return
    if _get(doc, tokens) is _MISSING:
        return  # already absent
    pointer = jsonpointer.JsonPointer.from_parts(tokens).path
    try:
        jsonpatch.apply_patch(doc, [{"op": "remove", "path": pointer}], in_place=True)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
        pass  # already absent


def apply_ops(state: dict, ops: list[dict]) -> dict:
    """Apply a patch's ops forward, tolerantly (a gap must not stop the replay)."""
    for op in ops:
        kind, tokens = op["op"], pointer_tokens(op["path"])
        if not tokens:
            continue
        if kind == "add":
            _set(state, tokens, op.get("value"))
        elif kind == "replace":
            _replace(state, tokens, op.get("value"))
        elif kind == "remove":
            _remove(state, tokens)
    return state


# ----------------------------------------------------------------------------- history


def sort_patches(patches: list[Patch]) -> list[Patch]:
    return sorted(patches, key=lambda p: (p.occurred_at, p.order))


def is_destroy(patch: Patch) -> bool:
    return any(op["op"] == "destroy" for op in patch.ops)


def creation_index(patches: list[Patch]) -> int | None:
    """The creation patch: the one adding ``/createdAt``; else a first patch made only of
    ``add`` ops, one of them adding ``/status`` (every model's creation sets its default
    status; a record created before the log started can only *replace* its status)."""
    for index, patch in enumerate(patches):
        if any(op["op"] == "add" and op["path"] == "/createdAt" for op in patch.ops):
            return index
    first = patches[0].ops if patches else []
    if (
        first
        and all(op["op"] == "add" for op in first)
        and any(op["path"] == "/status" for op in first)
    ):
        return 0
    return None


def _anchor(state: dict, ops: list[dict]) -> int:
    """Put back the values a patch wrote; return how many the later state contradicted."""
    disagreements = 0
    for op in ops:
        kind, tokens = op["op"], pointer_tokens(op["path"])
        if not tokens or kind not in ("add", "replace", "remove"):
            continue
        if kind == "add" and _is_array_insert(state, tokens):
            continue  # inserting again would duplicate the element
        current = _get(state, tokens)
        if kind == "remove":
            if current is not _MISSING:
                disagreements += 1
                _remove(state, tokens)
        elif current is _MISSING or current != op.get("value"):
            disagreements += 1
            _replace(state, tokens, op.get("value"))
    return disagreements


def _invert(state: dict, ops: list[dict], fallback: Callable[..., Any]) -> int:
    """Undo a patch's ops on ``state`` (last op first); returns the ops that lacked an
    ``originalValue`` and were restored from the forward replay (``fallback()``: the
    forward state before the patch, computed only when needed)."""
    missing = 0
    for op in reversed(ops):
        kind, tokens = op["op"], pointer_tokens(op["path"])
        if not tokens or kind not in ("add", "replace", "remove"):
            continue
        if kind == "add" and "originalValue" not in op:
            _remove(state, tokens)
            continue
        if "originalValue" in op:
            previous = op["originalValue"]
        else:
            missing += 1
            known = fallback()
            previous = _get(known, tokens) if known is not None else _MISSING
        if previous is _MISSING:
            _remove(state, tokens)
        elif kind == "remove" and _is_array_insert(state, tokens):
            _set(state, tokens, previous)
        else:
            _replace(state, tokens, previous)
    return missing


def forward_states(patches: list[Patch], creation: int | None) -> list[dict | None]:
    """States after each patch, replaying the log from nothing."""
    states: list[dict | None] = []
    state: dict | None = {}
    for index, patch in enumerate(patches):
        if index == creation:
            state = {}
        if is_destroy(patch):
            state = None
        else:
            state = apply_ops(_clone(state) if state is not None else {}, patch.ops)
        states.append(state)
    return states


class _LazyForward:
    """The forward replay, computed on first use only: with a current document and
    ``originalValue`` on every op (the usual case) it is never needed."""

    def __init__(self, patches: list[Patch], creation: int | None):
        self._patches, self._creation = patches, creation
        self._states: list[dict | None] | None = None

    def __getitem__(self, index: int) -> dict | None:
        if index < 0:
            return None
        if self._states is None:
            self._states = forward_states(self._patches, self._creation)
        return self._states[index]


def reconstruct_record(patches: list[Patch], current: dict | None) -> RecordReport:
    """Before/after states of every patch of one record (see the module docstring).

    ``current`` is the allow-listed current document, or None when the record no longer
    exists in MongoDB.
    """
    patches = sort_patches(patches)
    creation = creation_index(patches)
    forward = _LazyForward(patches, creation)
    report = RecordReport(states=[])
    if current is not None:
        state: dict | None = _clone(current)
    else:
        state = _clone(forward[len(patches) - 1]) if patches else None
    states: list[PatchStates] = []
    for index in range(len(patches) - 1, -1, -1):
        patch = patches[index]
        if is_destroy(patch):
            previous_forward = forward[index - 1]
            before = _clone(previous_forward) if previous_forward is not None else {}
            states.append(PatchStates(patch, before, None, is_destroy=True))
            state = before
            continue
        if state is None:  # destroyed later: the log is all we know
            state = _clone(forward[index]) or {}
        after = _clone(state)
        report.disagreements += _anchor(after, patch.ops)
        if index == creation:
            states.append(PatchStates(patch, None, after, is_creation=True))
            state = {}
            continue
        before = _clone(after)
        report.missing_original_values += _invert(before, patch.ops, lambda i=index: forward[i - 1])
        states.append(PatchStates(patch, before, after))
        state = before
    states.reverse()
    report.states = states
    return report


# ------------------------------------------------------------------------------ events


def event_id(patch_id: str, suffix: str) -> str:
    return hashlib.sha256(f"{patch_id}:{suffix}".encode()).hexdigest()[:32]


def events_of(states: PatchStates) -> list[Event]:
    """The events of one patch: created, deleted, or one per tracked field it changed."""
    patch = states.patch
    young_id = patch.young_id
    if young_id is None:
        for state in (states.after, states.before):
            if state and isinstance(state.get("youngId"), str):
                young_id = state["youngId"]
                break

    def make(suffix: str, name: str) -> Event:
        return Event(
            event_id(patch.patch_id, suffix),
            name,
            patch.model,
            patch.record_id,
            young_id,
            patch.patch_id,
            patch.occurred_at,
            states.before,
            states.after,
        )

    if states.is_creation:
        return [make("created", f"{patch.model}.created")]
    if states.is_destroy:
        return [make("deleted", f"{patch.model}.deleted")]
    events = []
    before, after = states.before or {}, states.after or {}
    for name in TRACKED_FIELDS.get(patch.model, ()):
        new = after.get(name)
        if new is not None and new != before.get(name):
            events.append(make(name, f"{patch.model}.{name}.{new}"))
    return events
