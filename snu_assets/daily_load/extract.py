"""The extract: each patch of a window scrubbed into a ``raw_patches`` row or a rejection,
counted once (a patch met twice is skipped), whoever reads it."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

import orjson
from pymongo.database import Database

from snu_assets.core.privacy.audit import RowAudit
from snu_assets.core.privacy.pseudonym import Pseudonymizer
from snu_assets.core.privacy.scrub import Rejection, ScrubbedPatch, scrub_patch
from snu_assets.daily_load.rows import partition_day, raw_row
from snu_assets.io import mongo
from snu_assets.io.postgres import SpilledRows


class Extract:
    """The scrubbed patches of a window: raw rows to ``COPY``, rejections, counts.

    Either it reads the window itself (iterate :meth:`raw_rows`), or another read of the same
    window hands it each patch it meets (:meth:`take`: the combined read of
    ``extract_and_reconstruct``, which keeps the rows in :attr:`spill` until they are
    loaded). Then read ``rejected``, ``stats``, ``kept`` and ``read``; ``by_day``, the counts
    of what only the extract knows (values redacted by reason, ops dropped) per partition day
    of the rows kept."""

    def __init__(
        self,
        db: Database,
        pseudonymize: Pseudonymizer,
        start: datetime,
        end: datetime,
        spill: SpilledRows | None = None,
    ) -> None:
        self.db, self.pseudonymize, self.start, self.end = db, pseudonymize, start, end
        self.rejected: list[tuple] = []
        self.stats: Counter[str] = Counter()
        #: per partition day of the kept rows: ``dropped_ops`` and ``redacted: <reason>``
        self.by_day: defaultdict[date, Counter[str]] = defaultdict(Counter)
        self.kept = 0
        #: the window's patches handed over, duplicates included
        self.read = 0
        #: where the raw rows wait when another read hands them over (see :meth:`take`)
        self.spill = spill
        self._seen: set[str] = set()
        #: the PII audit of every raw row, where it is produced
        self.audit = RowAudit("raw_patches")

    def raw_rows(self) -> Iterator[tuple]:
        for model in MODELS_IN_ORDER:
            docs = mongo.window_patches(self.db, model, self.start, self.end)
            for batch in mongo.chunks(docs, mongo.BATCH_SIZE):
                yield from self.rows_of(model, batch)

    def rows_of(self, model: str, docs: list[dict]) -> Iterator[tuple]:
        """Scrub and :meth:`take` whole patch documents of the window (their applications'
        youngs looked up in one go)."""
        young_refs = (
            mongo.application_young_refs(self.db, {d.get("ref") for d in docs if d.get("ref")})
            if model == "application"
            else {}
        )
        for doc in docs:
            result = scrub_patch(
                doc, model, self.pseudonymize, young_ref=young_ref_of(model, doc, young_refs)
            )
            row = self.take(doc, result)
            if row is not None:
                yield row

    def take(self, doc: dict, result: ScrubbedPatch | Rejection) -> tuple | None:
        """Account for one patch of the window (``result`` is its :func:`scrub_patch`): the raw
        row to load, or ``None`` (a rejection, kept in ``rejected``, or a duplicate)."""
        return self.account(outcome(doc, result, self.start, self.end))

    def account(self, taken: Outcome) -> tuple | None:
        """:meth:`take` for an outcome computed elsewhere (a worker process)."""
        self.read += 1
        if taken.patch_id in self._seen:
            self.stats["duplicates_skipped"] += 1
            return None
        self._seen.add(taken.patch_id)
        if taken.rejected is not None:
            self.rejected.append(taken.rejected)
            self.stats[f"rejected: {taken.rejected[-1]}"] += 1
            return None
        row = taken.row
        assert row is not None  # an outcome is a row or a rejection
        of_day = self.by_day[row[5]]
        self.stats["redacted_values"] += taken.redacted_values
        for reason, count in taken.redactions.items():
            self.stats[f"redacted: {reason}"] += count
            of_day[f"redacted: {reason}"] += count
        self.stats["dropped_ops"] += taken.dropped_ops
        of_day["dropped_ops"] += taken.dropped_ops
        self.kept += 1
        self._audit(row, taken.ops)
        return row

    def _audit(self, row: tuple, ops: list | None) -> None:
        """Judge the values a raw row is written with (``ops``: the list its JSON text was
        dumped from, else that text read back)."""
        audit, year = self.audit, row[4].year
        audit.row()
        audit.ops(row[0], row[1], year, orjson.loads(row[6]) if ops is None else ops)
        audit.plain(row[0], "author_role", year, row[7])

    def reasons(self, kind: str = "rejected", day: date | None = None) -> dict[str, int]:
        """Counts by reason of the patches rejected (or, ``kind="redacted"``, of the values
        redacted); with ``day``, of that partition day's kept rows only (redactions)."""
        counts = self.stats if day is None else self.by_day.get(day, Counter())
        return {
            k.removeprefix(f"{kind}: "): v for k, v in counts.items() if k.startswith(f"{kind}: ")
        }


@dataclass
class Outcome:
    """What one patch of the window gives ``raw_patches``: a row or a rejection."""

    patch_id: str
    row: tuple | None = None
    rejected: tuple | None = None
    redacted_values: int = 0
    redactions: dict[str, int] = field(default_factory=dict)
    dropped_ops: int = 0
    #: the scrubbed ops the row's ``ops`` JSON is dumped from
    ops: list | None = None


def outcome(
    doc: dict,
    result: ScrubbedPatch | Rejection,
    start: datetime,
    end: datetime,
    day: date | None = None,
) -> Outcome:
    """``day``: the patch's :func:`partition_day`, when the caller has it already."""
    if day is None:
        day = partition_day(doc, result.occurred_at, start, end)
    if isinstance(result, Rejection):
        return Outcome(
            result.patch_id,
            rejected=(result.patch_id, result.model, result.occurred_at, day, result.reason),
        )
    return Outcome(
        result.patch_id,
        row=raw_row(result, day),
        redacted_values=result.redacted_values,
        redactions=result.redactions,
        dropped_ops=result.dropped_ops,
        ops=result.ops,
    )


#: young patches first: an application's rows then find their young already extracted
MODELS_IN_ORDER = ("young", "application")


def young_ref_of(model: str, doc: dict, young_refs: dict[str, object]) -> object:
    """The young an application patch belongs to: its application's ``youngId`` (looked up in
    MongoDB by the caller), else the ``youngId`` the patch itself wrote (deleted applications).
    ``None`` for a young's patch (it is its own young)."""
    if model != "application":
        return None
    return young_refs.get(str(doc.get("ref"))) or _young_id_in_ops(doc)


def _young_id_in_ops(doc: dict) -> object:
    for op in doc.get("ops") or []:
        if (
            isinstance(op, dict)
            and op.get("path") == "/youngId"
            and op.get("op") in ("add", "replace")
        ):
            return op.get("value")
    return None
