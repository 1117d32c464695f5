"""The rows the daily load writes: the columns of ``raw_patches``, ``rejected_patches`` and
``reconstructed_events`` (in ``COPY`` order), the window every slice replaces, and the day a
patch belongs to."""

from __future__ import annotations

from datetime import date, datetime

import orjson

from snu_assets.core.privacy.scrub import ScrubbedPatch
from snu_assets.core.values import bson_date, local_day

RAW_COLUMNS = (
    "patch_id",
    "model",
    "record_id",
    "young_id",
    "occurred_at",
    "partition_date",
    "ops",
    "author_role",
    "impersonator_role",
    "redacted_values",
)
REJECTED_COLUMNS = ("patch_id", "model", "occurred_at", "partition_date", "reason")
WINDOW = "partition_date >= %(start)s and partition_date < %(end)s"
#: the parameters of :data:`WINDOW`: ``start``, its first day, and ``end``, the day after its last
WindowParams = dict[str, date]
EVENT_COLUMNS = (
    "event_id",
    "event_name",
    "model",
    "record_id",
    "young_id",
    "patch_id",
    "occurred_at",
    "partition_date",
    "before",
    "after",
    "age",
    "young_state",
)


def partition_day(doc: dict, occurred_at: datetime | None, start: datetime, end: datetime) -> date:
    """The Paris day of the patch; a patch selected by its ``_id`` (its ``date`` not a BSON
    date, or a date outside the window) stays in the day of its ``_id``."""
    if occurred_at is not None and bson_date(doc) is not None and start <= occurred_at < end:
        return local_day(occurred_at)
    created = getattr(doc.get("_id"), "generation_time", None)
    return local_day(created or start)


def raw_row(patch: ScrubbedPatch, day: date) -> tuple:
    return (
        patch.patch_id,
        patch.model,
        patch.record_id,
        patch.young_id,
        patch.occurred_at,
        day,
        orjson.dumps(patch.ops).decode(),
        patch.author_role,
        patch.impersonator_role,
        patch.redacted_values,
    )


def json_text(value: object) -> str | None:
    """A state as JSON text for ``COPY`` (None stays NULL)."""
    return None if value is None else orjson.dumps(value).decode()
