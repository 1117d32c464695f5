"""Generic value helpers shared by every layer: instants in UTC, calendar days in
``SNU_TIMEZONE``, MongoDB ids as lower-case hex, the key a patch is known by."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime, tzinfo
from typing import Any

import bson
from bson import ObjectId

from snu_assets.settings import timezone

HEX_ID = re.compile(r"[0-9a-fA-F]{24}")
#: a date string longer than this is not a date (the MONTH rule redacts it unread)
MAX_DATE_LENGTH = 64


def to_utc(value: Any) -> datetime | None:
    """A patch ``date``: BSON datetimes (naive UTC from pymongo) or ISO strings."""
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return utc(parsed)
    return None


def bson_date(doc: dict) -> datetime | None:
    """A patch's ``date`` when it is a BSON date (as aware UTC), else None: an ISO string a
    script wrote, ``null`` or no ``date`` at all are not dates (issue #21: such patches are
    quarantined on the day of their ``_id``)."""
    value = doc.get("date")
    return utc(value) if isinstance(value, datetime) else None


def date_problem(doc: dict) -> str | None:
    """Why a patch's ``date`` is not a BSON date (the type only, never the value), or None."""
    if "date" not in doc:
        return "date is missing"
    value = doc["date"]
    if isinstance(value, datetime):
        return None
    if value is None:
        return "date is null"
    kind = next(
        (name for kind, name in _DATE_KINDS if isinstance(value, kind)),
        f"a {type(value).__name__}",
    )
    return f"date is {kind}, not a BSON date"


#: how a ``date`` that is not a date is named (bool before int: a bool is an int)
_DATE_KINDS: tuple[tuple[type, str], ...] = (
    (str, "a string"),
    (bool, "a boolean"),
    (int, "a number"),
    (float, "a number"),
    (dict, "a document"),
    (list, "an array"),
)


def patch_day(doc: dict, zone: tzinfo | None = None) -> date | None:
    """The day a patch belongs to in ``SNU_TIMEZONE``: the day of its ``date`` when that is
    a BSON date, else the day its ObjectId ``_id`` was generated (None without either)."""
    moment = bson_date(doc) or getattr(doc.get("_id"), "generation_time", None)
    return local_day(moment, zone) if moment is not None else None


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (naive values are UTC, as pymongo returns them)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def local_day(moment: datetime, zone: tzinfo | None = None) -> date:
    """The calendar day of an aware instant in ``zone`` (``SNU_TIMEZONE`` by default)."""
    return moment.astimezone(zone or timezone()).date()


def calendar_day(value: Any, zone: tzinfo | None = None) -> date | None:
    """The calendar day of an instant in ``zone`` (``SNU_TIMEZONE`` by default). A date picked
    in France is stored as Paris midnight (``2009-03-13T23:00:00Z`` is 14 March) or, by
    some writers, as UTC midnight: both are that day in Paris."""
    if isinstance(value, str) and len(value) > MAX_DATE_LENGTH:
        return None
    moment = to_utc(value)
    return local_day(moment, zone) if moment else None


def as_id(value: Any) -> str | None:
    """A MongoDB id (ObjectId, ``{"$oid": ...}`` or 24 hex digits) as lower-case hex."""
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, dict) and set(value) == {"$oid"}:
        value = value["$oid"]
    if isinstance(value, str) and HEX_ID.fullmatch(value):
        return value.lower()
    return None


def patch_key(doc: dict) -> str:
    """The id a patch is known by: its ``_id``, or a digest of its content when it has none."""
    ident = as_id(doc.get("_id"))
    if ident:
        return ident
    return "noid:" + hashlib.sha256(bson.encode(doc)).hexdigest()
