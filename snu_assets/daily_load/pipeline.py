"""One window's daily load: MongoDB's patches of ``[start, end)`` turned into the rows of
``raw_patches`` and ``rejected_patches`` (the extract), of ``reconstructed_events`` (the
reconstruction), or of all three from one read.

The order in which the slices stream is declared here (:data:`STREAM_ORDER`), not implied by
a list elsewhere: loading both, the reconstruction reads the record logs and hands each patch
of the window to the extract as it meets it, so the raw and rejected rows are complete only
once the events have streamed. Every slice checks, when its rows start to stream, that the
slices it depends on have streamed completely; a reordering fails loudly.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime

from pymongo.database import Database

from snu_assets.core.privacy.pseudonym import Pseudonymizer
from snu_assets.daily_load.extract import MODELS_IN_ORDER, Extract
from snu_assets.daily_load.rebuild import Reconstruction
from snu_assets.daily_load.rows import EVENT_COLUMNS, RAW_COLUMNS, REJECTED_COLUMNS, WINDOW
from snu_assets.io import mongo
from snu_assets.io.postgres import LazyRows, Slice, SpilledRows

RAW, REJECTED, EVENTS = "raw_patches", "rejected_patches", "reconstructed_events"
COLUMNS = {RAW: RAW_COLUMNS, REJECTED: REJECTED_COLUMNS, EVENTS: EVENT_COLUMNS}
#: a re-loaded patch replaces its row wherever it was (a patch whose day changed)
UPSERT_KEYS = {RAW: "patch_id"}

#: which slices stream, in which order, for each set of assets loaded: each slice's rows are
#: produced while the slices before it stream, and are complete only once they have
STREAM_ORDER: dict[frozenset[str], tuple[str, ...]] = {
    frozenset({EVENTS}): (EVENTS,),
    # the rejections are known once every raw row has streamed
    frozenset({RAW}): (RAW, REJECTED),
    # one read: the events stream while the raw rows wait in a spill file
    frozenset({RAW, EVENTS}): (EVENTS, RAW, REJECTED),
}


#: the cyclic garbage collector's thresholds during a load. Its rows are made of millions of
#: short-lived containers that reference counting frees; at Python's default (a collection
#: every 700 allocations, a full one whenever the heap grew by a quarter) the collector spent
#: ~20 % of a load's CPU walking the same live objects (Dagster's, the window's index) again
#: and again, more the larger the window. Cycles are still collected, less often.
LOAD_GC_THRESHOLDS = (100_000, 50, 100)


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Objects alive before the load (definitions, instance, resources) are frozen out of
    the collector's walks, and it runs less often; both undone afterwards (a process that
    froze objects itself keeps its own freeze)."""
    before = gc.get_threshold()
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    gc.set_threshold(*LOAD_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        if freeze:
            gc.unfreeze()


class DailyLoad:
    """The load of ``assets`` (``raw_patches``, ``reconstructed_events`` or both) for one
    window: :meth:`run` streams the slices in their declared order through ``replace``
    (one transaction); then ``extract`` / ``reconstruction`` hold the counts."""

    def __init__(
        self,
        db: Database,
        pseudonymize: Pseudonymizer,
        start: datetime,
        end: datetime,
        *,
        assets: Iterable[str],
        read_mode: str,
        records_per_batch: int,
        log: Callable[[str], None] | None = None,
    ) -> None:
        wanted = frozenset(assets)
        if wanted not in STREAM_ORDER:
            raise ValueError(f"a daily load loads {RAW}, {EVENTS} or both, not {sorted(wanted)}")
        self.db, self.start, self.end = db, start, end
        self.order = STREAM_ORDER[wanted]
        both = wanted == {RAW, EVENTS}
        self.spill = SpilledRows() if both else None
        self.extract = (
            Extract(db, pseudonymize, start, end, spill=self.spill) if RAW in wanted else None
        )
        self.reconstruction = (
            Reconstruction(
                db,
                pseudonymize,
                start,
                end,
                read_mode=read_mode,
                records_per_batch=records_per_batch,
                log=log,
                extract=self.extract if both else None,
            )
            if EVENTS in wanted
            else None
        )
        self._streamed: set[str] = set()

    def _rows(self, table: str) -> Iterable[Sequence]:
        if table == EVENTS:
            assert self.reconstruction is not None
            return self.reconstruction.rows()
        assert self.extract is not None
        if table == RAW:
            return self.spill if self.spill is not None else self.extract.raw_rows()
        return self.extract.rejected

    def _stream(self, table: str) -> Iterator[Sequence]:
        earlier = self.order[: self.order.index(table)]
        missing = [name for name in earlier if name not in self._streamed]
        if missing:
            raise RuntimeError(
                f"{table} started streaming before {', '.join(missing)} had streamed: "
                f"this load's slices must stream in the order {' → '.join(self.order)}"
            )
        yield from self._rows(table)
        self._streamed.add(table)

    def slices(self, params: dict) -> list[Slice]:
        """The slices replacing the window's rows (``params``: its ``start`` and ``end``
        days), in their streaming order."""
        return [
            Slice(
                table,
                COLUMNS[table],
                LazyRows(lambda table=table: self._stream(table)),
                WINDOW,
                params,
                upsert_key=UPSERT_KEYS.get(table),
            )
            for table in self.order
        ]

    def run(self, replace: Callable[[Sequence[Slice]], list[int]], params: dict) -> dict[str, int]:
        """Stream every slice through ``replace`` (e.g. ``PostgresResource.replace_slices``);
        the rows written per table."""
        try:
            with fewer_collections():
                counts = replace(self.slices(params))
        finally:
            if self.spill is not None:
                self.spill.close()
        return dict(zip(self.order, counts, strict=True))

    def patches_in_mongodb(self) -> int:
        """The window's patches MongoDB returned (what ``raw_patches``' completeness check
        compares with the rows landed): from the record logs when the reconstruction read
        them, else from an independent count right after the extract."""
        if self.reconstruction is not None:
            return self.reconstruction.in_window
        return sum(
            mongo.count_window_patches(self.db, model, self.start, self.end)
            for model in MODELS_IN_ORDER
        )
