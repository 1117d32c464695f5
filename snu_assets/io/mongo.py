"""Reading the MongoDB source: the patches of a time window, a record's whole patch log,
current documents. Bounded batches and projections; nothing here writes to MongoDB.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from queue import Full, Queue
from typing import TypeVar

from bson import ObjectId
from pymongo.collection import Collection
from pymongo.database import Database

from snu_assets.core.values import patch_day
from snu_assets.settings import MODELS, current

BATCH_SIZE = 5_000
# ids per ``$in`` query (``SNU_MONGO_REF_CHUNK``): small chunks keep each index lookup cheap
# (measured on SecantusDB: 1,000 refs per query took 10x longer than 40 queries of 25)


def patch_collection(db: Database, model: str) -> Collection:
    return db[MODELS[model][1]]


def document_collection(db: Database, model: str) -> Collection:
    return db[MODELS[model][0]]


# how a window's patches are selected (``SNU_DAY_SELECTION``): "date" (a range on ``date``;
# add an index on it) or "id" (through the ``_id`` index every MongoDB has: ObjectIds carry
# their creation second, widened by ``SNU_ID_SLACK_HOURS`` and confirmed with ``date``)


def id_slack() -> timedelta:
    return timedelta(hours=current().id_slack_hours)


def _id_range(start: datetime, end: datetime) -> dict:
    return {"$gte": ObjectId.from_datetime(start), "$lt": ObjectId.from_datetime(end)}


def window_filters(start: datetime, end: datetime, selection: str | None = None) -> list[dict]:
    """The two queries that together select every patch of ``[start, end)``:

    - patches whose ``date`` is a BSON date in the window (by ``date``, or by ``_id`` within
      the slack and confirmed by ``date``: a patch whose ``_id`` lies further from its
      ``date`` than the slack is missed by the ``id`` selection, and found by the late-data
      sensor's count audit);
    - patches whose ``date`` is missing or not a date (a string written by a script...),
      placed by the creation second carried by their ``_id``.
    """
    dated = {"date": {"$gte": start, "$lt": end}}
    if (selection or current().day_selection) == "id":
        slack = id_slack()
        dated = {"_id": _id_range(start - slack, end + slack), **dated}
    return [dated, {"_id": _id_range(start, end), "date": {"$not": {"$type": "date"}}}]


def window_patches(
    db: Database, model: str, start: datetime, end: datetime, projection: dict | None = None
) -> Iterator[dict]:
    # one query (one scan where `date` is not indexed): the two filters are disjoint
    query = {"$or": window_filters(start, end)}
    yield from patch_collection(db, model).find(query, projection, batch_size=BATCH_SIZE)


def in_window(doc: dict, start: datetime, end: datetime) -> bool:
    """Whether a patch belongs to ``[start, end)``: the ``date`` selection of
    :func:`window_filters`, evaluated on a document already read."""
    moment = doc.get("date")
    if isinstance(moment, datetime):
        if moment.tzinfo is None:  # pymongo gives naive UTC datetimes
            moment = moment.replace(tzinfo=UTC)
        return start <= moment < end
    created = getattr(doc.get("_id"), "generation_time", None)
    return created is not None and start <= created < end


def patches_in_record_order(db: Database, model: str) -> Iterator[dict]:
    """Every patch of ``model``, record after record (through the ``ref`` index): one read of
    the whole log, for windows covering much of it."""
    cursor = patch_collection(db, model).find({}, batch_size=BATCH_SIZE, allow_disk_use=True)
    yield from cursor.sort("ref", 1)


def source_fingerprint(db: Database) -> str:
    """A stable fingerprint of the source: a digest of the UUID MongoDB gave the young patch
    collection when it was created (it survives renames of the server, changes of URI and
    GDPR rewrites of patches; a dropped and re-created collection, a restore without
    ``--preserveUUID`` or another database gets another one). ``empty`` when the collection
    does not exist (an empty source)."""
    name = MODELS["young"][1]
    found = list(db.list_collections(filter={"name": name}))
    if not found:
        return "empty"
    uuid = (found[0].get("info") or {}).get("uuid")
    token = uuid.hex() if isinstance(uuid, bytes) else "no-uuid"
    return hashlib.sha256(f"{db.name}/{name}:{token}".encode()).hexdigest()[:16]


def patches_per_day(db: Database, model: str) -> Counter[str]:
    """Every patch of ``model`` counted by the day it belongs to (``YYYY-MM-DD`` in
    ``SNU_TIMEZONE``: its BSON ``date``, else its ObjectId ``_id``; ``""`` without either):
    one read of ``_id`` and ``date`` over the whole collection, for the reconciliation."""
    days: Counter[str] = Counter()
    cursor = patch_collection(db, model).find({}, {"date": 1}, batch_size=BATCH_SIZE)
    for doc in cursor:
        day = patch_day(doc)
        days[day.isoformat() if day else ""] += 1
    return days


def count_window_patches(db: Database, model: str, start: datetime, end: datetime) -> int:
    return patch_collection(db, model).count_documents({"$or": window_filters(start, end)})


T = TypeVar("T")
_DONE = object()


#: how long a consumer that stops waits for the read-ahead thread (at its next item it stops)
READ_AHEAD_STOP_S = 5.0


def in_background(items: Iterable[T], ahead: int = 1) -> Iterator[T]:
    """``items``, produced in a background thread at most ``ahead`` items ahead of the
    consumer: the reads from MongoDB overlap the scrubbing and reconstruction instead of
    adding to them. An error of the producer is raised to the consumer; a consumer that stops
    early stops the producer at its next item. The producer is a daemon thread, waited for a
    few seconds at most: a consumer interrupted (run terminated, SIGTERM) while the producer is
    inside a long MongoDB read neither waits for that read nor is kept alive by it."""
    queue: Queue = Queue(maxsize=ahead)
    stop = threading.Event()

    def put(entry: object) -> bool:
        while not stop.is_set():
            try:
                queue.put(entry, timeout=0.2)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((True, _DONE))
        except BaseException as exc:  # handed to the consumer, raised there
            put((False, exc))

    thread = threading.Thread(target=produce, name="snu-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = queue.get()
            if not ok:
                raise item
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=READ_AHEAD_STOP_S)


def chunks(items: Iterable, size: int | None = None) -> Iterator[list]:
    """Lists of ``size`` items (``SNU_MONGO_REF_CHUNK`` by default)."""
    size = size or current().mongo_ref_chunk
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def application_young_refs(db: Database, application_ids: Iterable) -> dict[str, object]:
    """``{application id hex: youngId}`` for the applications that still exist."""
    found: dict[str, object] = {}
    coll = document_collection(db, "application")
    for chunk in chunks(application_ids):
        for doc in coll.find({"_id": {"$in": chunk}}, {"youngId": 1}):
            found[str(doc["_id"])] = doc.get("youngId")
    return found


def object_ids(values: Iterable) -> list[ObjectId]:
    """The distinct ObjectIds among ``values`` (ObjectIds or their hex spelling)."""
    found: dict[str, ObjectId] = {}
    for value in values:
        if isinstance(value, str) and ObjectId.is_valid(value):
            value = ObjectId(value)
        if isinstance(value, ObjectId):
            found[str(value)] = value
    return list(found.values())


def record_logs(db: Database, model: str, refs: Iterable[ObjectId]) -> Iterator[dict]:
    """Every patch of the given records (through the ``ref`` index production has)."""
    coll = patch_collection(db, model)
    for chunk in chunks(refs):
        yield from coll.find({"ref": {"$in": chunk}}, batch_size=BATCH_SIZE)


def patches_by_id(db: Database, model: str, ids: Iterable) -> Iterator[dict]:
    """Whole patch documents by ``_id`` (the index every MongoDB has)."""
    coll = patch_collection(db, model)
    for chunk in chunks(ids):
        yield from coll.find({"_id": {"$in": chunk}}, batch_size=BATCH_SIZE)


def current_documents(
    db: Database, model: str, refs: Iterable[ObjectId], projection: dict
) -> Iterator[dict]:
    coll = document_collection(db, model)
    for chunk in chunks(refs):
        yield from coll.find({"_id": {"$in": chunk}}, projection, batch_size=BATCH_SIZE)
