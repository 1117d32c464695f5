"""How the daily step reads a window's record logs from MongoDB (I/O, no Dagster).

The reconstruction needs, for every record patched in ``[start, end)``, the record's whole
patch log and its current document. Two plans (``DailyLoadConfig.read_mode``):

- ``records``: scan the window (``ref`` and ``date`` only), then read the logs of the
  records it patches through the ``ref`` index, a batch of records at a time;
- ``walk``: read the whole patch collection once, record after record (``ref`` order),
  keeping the records with a patch in the window: no window scan and no lookup per record,
  but it reads the records the window does not touch too, so it pays off when the window
  covers much of the log (long backfills).

Either way :class:`LogReader` notes each patch of the window it meets in its
:class:`WindowIndex` *before* handing over the batch that holds it, and yields
:class:`RecordBatch` es of at most ``records_per_batch`` records (memory bounded by that, not
by the window).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import groupby

from pymongo.database import Database

from snu_assets.core.privacy.allowlist import ALLOWED_FIELDS
from snu_assets.core.values import patch_key
from snu_assets.io import mongo

WINDOW_PROJECTION = {"ref": 1, "date": 1}
_NOT_PENDING = object()


@dataclass
class RecordBatch:
    """What MongoDB holds for a batch of records: their whole patch logs, their current
    documents and (applications) their youngs."""

    refs: list
    young_refs: dict
    log: list[dict]
    documents: list[dict]
    #: (applications) their youngs' whole patch logs and current documents: the young's
    #: state at each application event is rebuilt from them (an as-of join done here, in the
    #: same batch, so it never depends on which days are already materialised)
    young_log: list[dict] = field(default_factory=list)
    young_documents: list[dict] = field(default_factory=list)


@dataclass
class WindowIndex:
    """The window's patches met so far: the day of each (by patch key) and, when tracked,
    those not handed over yet (with their raw ``_id``, to fetch the ones no record log
    brought: no ``ref``, or written meanwhile)."""

    days: dict[str, date] = field(default_factory=dict)
    pending: dict[str, object] | None = None
    #: patches of the window met (duplicates included)
    met: int = 0


class LogReader:
    """The record batches of one model's window, read by ``mode`` (``records`` or ``walk``).

    ``day_of(doc)`` gives the partition day of a window patch. With ``track_pending``, the
    window's patches not yet handed over stay in ``window.pending`` (see :meth:`handed`)."""

    def __init__(
        self,
        db: Database,
        model: str,
        start: datetime,
        end: datetime,
        *,
        mode: str,
        records_per_batch: int,
        day_of: Callable[[dict], date],
        track_pending: bool = False,
    ):
        self.db, self.model, self.start, self.end = db, model, start, end
        self.mode, self.records_per_batch, self.day_of = mode, records_per_batch, day_of
        self.window = WindowIndex(pending={} if track_pending else None)

    def batches(self) -> Iterator[RecordBatch]:
        if self.mode == "walk":
            yield from self._walk()
        else:
            refs = self._scan()
            for chunk in mongo.chunks(refs, self.records_per_batch):
                yield self._read(chunk)

    def handed(self, batch: RecordBatch) -> tuple[dict[str, date], set[str]]:
        """For a batch about to be rebuilt: the days of its window patches (by patch key), and
        the keys of those handed over now (taken out of ``window.pending``)."""
        window = self.window
        days, handed = {}, set()
        for doc in batch.log:
            key = patch_key(doc)
            day = window.days.get(key)
            if day is not None:
                days[key] = day
            if window.pending and window.pending.pop(key, _NOT_PENDING) is not _NOT_PENDING:
                handed.add(key)
        return days, handed

    def leftovers(self) -> list[dict]:
        """Whole documents of the window's patches no record log brought, by ``_id``."""
        ids = list((self.window.pending or {}).values())
        return list(mongo.patches_by_id(self.db, self.model, ids)) if ids else []

    # ------------------------------------------------------------------------------ reads

    def _met(self, doc: dict) -> None:
        key = patch_key(doc)
        self.window.days[key] = self.day_of(doc)
        if self.window.pending is not None:
            self.window.pending[key] = doc.get("_id")
        self.window.met += 1

    def _scan(self) -> list:
        """The refs of the window's records, from a scan (``ref`` and ``date`` only: the logs
        carry the ops)."""
        refs = {}
        for doc in mongo.window_patches(
            self.db, self.model, self.start, self.end, projection=WINDOW_PROJECTION
        ):
            self._met(doc)
            ref = doc.get("ref")
            if ref is not None:
                refs[str(ref)] = ref
        return list(refs.values())

    def _walk(self) -> Iterator[RecordBatch]:
        """One read of the whole log in record order, keeping the records with a patch in the
        window (noted before their batch is handed over)."""
        refs: list = []
        log: list[dict] = []
        for ref, group in groupby(
            mongo.patches_in_record_order(self.db, self.model), key=lambda doc: doc.get("ref")
        ):
            patches = list(group)
            inside = [doc for doc in patches if mongo.in_window(doc, self.start, self.end)]
            if not inside:
                continue
            for doc in inside:
                self._met(doc)
            if ref is None:  # no record to rebuild: the extract rejects them
                log.extend(inside)
                continue
            refs.append(ref)
            log.extend(patches)
            if len(refs) >= self.records_per_batch:
                yield self._read(refs, log)
                refs, log = [], []
        if log:
            yield self._read(refs, log)

    def _read(self, refs: list, log: list[dict] | None = None) -> RecordBatch:
        """A batch of records: their logs (unless already read), current documents, youngs."""
        db, model = self.db, self.model
        projection = {name: 1 for name in ALLOWED_FIELDS[model]}
        young_refs = mongo.application_young_refs(db, refs) if model == "application" else {}
        youngs = mongo.object_ids(young_refs.values())
        return RecordBatch(
            refs=refs,
            young_refs=young_refs,
            log=list(mongo.record_logs(db, model, refs)) if log is None else log,
            documents=list(mongo.current_documents(db, model, refs, projection)),
            young_log=list(mongo.record_logs(db, "young", youngs)) if youngs else [],
            young_documents=list(
                mongo.current_documents(
                    db, "young", youngs, {name: 1 for name in ALLOWED_FIELDS["young"]}
                )
            )
            if youngs
            else [],
        )
