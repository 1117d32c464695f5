"""Production's patch format: the contract's fields, the ``mongoose-patch-history``
plugin's options and how it builds a patch (see :mod:`.generator` for the steps), with the
time and text helpers every part of the generator shares."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import unicodedata
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

import jsonpatch
from bson import ObjectId

PARIS = ZoneInfo("Europe/Paris")  # the applicants' clock, whatever SNU_TIMEZONE says
UTC = dt.UTC
DEFAULT_START = dt.date(2025, 1, 6)

# --------------------------------------------------------------------------- contract

#: Top-level fields kept when a deleted young's patches are cut down (the contract's
#: "Statistics fields" plus the status fields).
STATISTICS_FIELDS = frozenset(
    {
        "status", "statusPhase1", "statusPhase2", "statusPhase3",
        "cohort", "cohortId", "source", "gender", "birthdateAt", "department", "region",
        "academy", "grade", "situation", "schooled", "schoolType", "qpv",
        "populationDensity", "isRegionRural", "phase", "createdAt", "lastStatusAt",
    }
)  # fmt: skip

#: The young model's ``excludes`` option in production (auth fields and ``/updatedAt``).
YOUNG_EXCLUDES = (
    "/password", "/lastLoginAt", "/lastActivityAt", "/lastLogoutAt", "/passwordChangedAt",
    "/nextLoginAttemptIn", "/forgotPasswordResetToken", "/forgotPasswordResetExpires",
    "/invitationToken", "/invitationExpires", "/phase3Token", "/loginAttempts",
    "/attempts2FA", "/updatedAt", "/token2FA", "/tokenEmailValidation", "/userIps",
)  # fmt: skip

#: The older configuration, in force before :attr:`_World.legacy_until`: it let the
#: e-mail validation and password reset tokens through (secrets in clear in old patches).
LEGACY_YOUNG_EXCLUDES = tuple(
    p for p in YOUNG_EXCLUDES if p not in ("/tokenEmailValidation", "/forgotPasswordResetToken")
)

APPLICATION_EXCLUDES = ("/updatedAt",)

#: Keys the plugin's ``data()`` never diffs (``toObject({versionKey: false})`` minus ``_id``).
_NOT_DIFFED = frozenset({"_id", "__v"})

# --------------------------------------------------------------------------- JSON helpers


def iso(value: dt.datetime) -> str:
    """``Date.prototype.toJSON`` of a UTC datetime: ``2025-01-06T09:12:33.120Z``."""
    v = value.astimezone(UTC) if value.tzinfo is not UTC else value
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:"
        f"{v.second:02d}.{v.microsecond // 1000:03d}Z"
    )


def to_json(value: Any) -> Any:
    """A value as mongoose ``toJSON`` + ``JSON.stringify`` give it (always a new object)."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is dict:
        return {k: to_json(v) for k, v in value.items()}
    if kind is list:
        return [to_json(v) for v in value]
    if kind is dt.datetime:
        return iso(value)
    if kind is ObjectId:
        return str(value)
    raise TypeError(f"no JSON form for {kind.__name__}")


_MISSING = object()


def _resolve(document: Any, path: str) -> Any:
    """The value at a JSON pointer, or ``_MISSING`` (lodash ``get`` on the original)."""
    node = document
    for part in path.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            return _MISSING
    return node


def _top(path: str) -> str:
    """Top-level field of a JSON pointer (``/files/cniFiles/0`` -> ``files``)."""
    return path.split("/", 2)[1].replace("~1", "/").replace("~0", "~")


def plugin_view(document_json: dict, excludes: Iterable[str] = YOUNG_EXCLUDES) -> dict:
    """What the plugin diffs: the JSON document without ``_id``, ``__v`` and excluded
    top-level fields. Handy to check ``apply_patch(view(before), ops) == view(after)``."""
    dropped = _NOT_DIFFED | {p[1:] for p in excludes}
    return {k: v for k, v in document_json.items() if k not in dropped}


def plugin_ops(
    before: dict, after: dict, excludes: Iterable[str], keys: Iterable[str] | None = None
) -> list[dict]:
    """``ops`` of a mongoose-patch-history patch (see the module docstring).

    ``before`` / ``after`` are the full JSON documents (``{}`` before a creation); ``keys``
    restricts the diff to the top-level keys a save touched (every other key must hold
    identical values), ``None`` diffs everything.
    """
    dropped = _NOT_DIFFED | {p[1:] for p in excludes}
    if keys is None:
        wanted = (set(before) | set(after)) - dropped
    else:
        wanted = set(keys) - dropped
    if not wanted:
        return []
    src = {k: v for k, v in before.items() if k in wanted}
    dst = {k: v for k, v in after.items() if k in wanted}
    ops = jsonpatch.JsonPatch.from_diff(src, dst, optimization=False).patch
    for op in ops:
        if op["op"] not in ("add", "remove", "replace"):  # pragma: no cover - guarded above
            raise AssertionError(f"unexpected JSON Patch op {op!r}")
        if op["op"] != "add":
            original = _resolve(before, op["path"])
            if original is not _MISSING:
                op["originalValue"] = original
    return ops


# --------------------------------------------------------------------------- helpers


def _ms(value: dt.datetime) -> dt.datetime:
    """Millisecond precision, as BSON dates and JS dates have."""
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def _paris(day: dt.date, seconds: float = 0.0) -> dt.datetime:
    """UTC instant of ``seconds`` after Paris midnight of ``day``."""
    local = dt.datetime(day.year, day.month, day.day, tzinfo=PARIS)
    return _ms((local + dt.timedelta(seconds=seconds)).astimezone(UTC))


def _stored_birth_date(day: dt.date) -> dt.datetime:
    """How production stores a picked birth date: mostly as Paris midnight (the day before,
    22:00 or 23:00 UTC), by older writers as UTC midnight; here one or the other by the
    day's parity (no draw from the random stream)."""
    zone = PARIS if day.day % 2 else UTC
    return dt.datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _local(value: dt.datetime) -> dt.datetime:
    return value.astimezone(PARIS)


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum())


def _stable_hex(name: str, when: dt.datetime) -> str:
    """A stable 24-hex id (same whatever the seed): creation second + hash of the name."""
    digest = hashlib.md5(name.encode()).digest()[:8]
    return str(ObjectId(int(when.timestamp()).to_bytes(4, "big") + digest))


@functools.cache
def _public_words() -> frozenset[str]:
    """Department, region and académie names and codes: public vocabulary."""
    from snu_assets.core.reference.geography import departments

    words: set[str] = set()
    for d in departments():
        words.update((d.name, d.region, d.academy, d.code))
    return frozenset(words)


def _is_private(value: str) -> bool:
    """Worth a place in ``personal_values``: not a public word, 3 characters or more."""
    return isinstance(value, str) and len(value) >= 3 and value not in _public_words()


def legacy_until(start: dt.date = DEFAULT_START, days: int = 90) -> dt.datetime:
    """End of the older plugin configuration (:data:`LEGACY_YOUNG_EXCLUDES`): Paris
    midnight ``max(1, days // 6)`` days after ``start``. Young patches dated before it were
    diffed with the legacy excludes."""
    return _paris(start + dt.timedelta(days=max(1, days // 6)))


def young_excludes(
    date: dt.datetime, start: dt.date = DEFAULT_START, days: int = 90
) -> tuple[str, ...]:
    """The young model's ``excludes`` in force at ``date``."""
    return LEGACY_YOUNG_EXCLUDES if date < legacy_until(start, days) else YOUNG_EXCLUDES
