"""Reading the MongoDB source: the patches of a time window, a record's whole patch log,
current documents. Bounded batches and projections; nothing here writes to MongoDB.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from itertools import islice
from typing import TypeVar

from bson import ObjectId
from pymongo.database import Database

from snu_assets.settings import MODELS

BATCH_SIZE = 5_000
#: ids per ``$in`` query: small chunks keep each index lookup cheap (measured on SecantusDB:
#: 1,000 refs per query took 10x longer than 40 queries of 25)
REF_CHUNK = int(os.environ.get("SNU_MONGO_REF_CHUNK", "25"))


def patch_collection(db: Database, model: str):
    return db[MODELS[model][1]]


def document_collection(db: Database, model: str):
    return db[MODELS[model][0]]


#: how a window's patches are selected: "date" (a range on ``date``; add an index on it) or
#: "id" (through the ``_id`` index every MongoDB has: ObjectIds carry their creation second,
#: widened by ``SNU_ID_SLACK_HOURS`` and confirmed with ``date``)
DAY_SELECTION = os.environ.get("SNU_DAY_SELECTION", "date")
ID_SLACK = timedelta(hours=float(os.environ.get("SNU_ID_SLACK_HOURS", "48")))


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
    if (selection or DAY_SELECTION) == "id":
        dated = {"_id": _id_range(start - ID_SLACK, end + ID_SLACK), **dated}
    return [dated, {"_id": _id_range(start, end), "date": {"$not": {"$type": "date"}}}]


def window_patches(
    db: Database, model: str, start: datetime, end: datetime, projection: dict | None = None
) -> Iterator[dict]:
    # one query (one scan where `date` is not indexed): the two filters are disjoint
    query = {"$or": window_filters(start, end)}
    yield from patch_collection(db, model).find(query, projection, batch_size=BATCH_SIZE)


def count_window_patches(db: Database, model: str, start: datetime, end: datetime) -> int:
    return patch_collection(db, model).count_documents({"$or": window_filters(start, end)})


T = TypeVar("T")
R = TypeVar("R")


def prefetched(items: Iterable[T], load: Callable[[T], R], ahead: int = 1) -> Iterator[R]:
    """``load(item)`` for each item, in order, the next ``ahead`` loads running in a background
    thread while the caller works on the current result: the waits for MongoDB overlap the
    scrubbing and reconstruction instead of adding to them. An error of a load is raised
    where its result is consumed."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="snu-prefetch") as pool:
        pending: deque = deque()
        try:
            for item in items:
                pending.append(pool.submit(load, item))
                if len(pending) > ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def chunks(items: Iterable, size: int = REF_CHUNK) -> Iterator[list]:
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
