"""The reconstruction: each record's states before and after each patch, rebuilt from the
record's whole log and its current document, and the events of the window's patches; an
application's young as it was at the event."""

from __future__ import annotations

import functools
import time
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from pymongo.database import Database

from snu_assets.core.privacy.audit import RowAudit
from snu_assets.core.privacy.pseudonym import Pseudonymizer
from snu_assets.core.privacy.scrub import ScrubbedPatch, scrub_document, scrub_patch
from snu_assets.core.reconstruction import Patch, PatchStates, events_of, reconstruct_record
from snu_assets.core.values import bson_date, calendar_day, local_day, patch_key
from snu_assets.daily_load.extract import MODELS_IN_ORDER, Extract, Outcome, outcome, young_ref_of
from snu_assets.daily_load.rows import json_text, partition_day
from snu_assets.io import mongo
from snu_assets.io.read_plan import LogReader, RecordBatch
from snu_assets.settings import timezone


def birth_day(value: object) -> date | None:
    """The calendar day of a stored birth date in ``SNU_TIMEZONE`` (Paris midnight and UTC
    midnight both give the day that was picked), or None."""
    if not isinstance(value, datetime | str):
        return None
    return _calendar_day_in(value, timezone())


@functools.lru_cache(maxsize=4_096)
def _calendar_day_in(value: datetime | str, zone: tzinfo) -> date | None:
    """:func:`calendar_day`, remembered: a record's birth date is read at each of its events."""
    return calendar_day(value, zone)


def age_at(birth: date | str | None, day: date) -> int | None:
    """Full years at ``day``, from an exact birth date or, failing that, a birth month
    (``"YYYY-MM"``, birthday taken on the 1st)."""
    if birth is None:
        return None
    if isinstance(birth, str):
        try:
            year, month = int(birth[:4]), int(birth[5:7])
        except ValueError:
            return None
        birth_day = 1
    else:
        year, month, birth_day = birth.year, birth.month, birth.day
    return day.year - year - ((day.month, day.day) < (month, birth_day))


def _to_patch(result: ScrubbedPatch, key: str) -> Patch:
    return Patch(
        result.patch_id,
        result.model,
        result.record_id,
        result.occurred_at,
        key,
        result.ops,
        result.young_id,
    )


class Reconstruction:
    """The events of every usable patch of ``[start, end)``, streamed record batch by record
    batch (memory bounded by ``records_per_batch`` records' logs, not by the window):
    iterate :meth:`rows`, then read ``stats``, ``names`` and ``in_window``.

    The record logs hold every patch of the window; with an ``extract``, each of those is
    handed to it as it is met (scrubbed once for both layers), so that one read of MongoDB
    feeds ``raw_patches`` and ``reconstructed_events``. The logs are read by
    :class:`~snu_assets.io.read_plan.LogReader` (``read_mode``: ``records`` or ``walk``) in a background thread,
    one batch ahead of the reconstruction."""

    def __init__(
        self,
        db: Database,
        pseudonymize: Pseudonymizer,
        start: datetime,
        end: datetime,
        *,
        read_mode: str,
        records_per_batch: int,
        log: Callable[[str], None] | None = None,
        extract: Extract | None = None,
    ) -> None:
        self.db, self.pseudonymize, self.start, self.end = db, pseudonymize, start, end
        self.stats: Counter[str] = Counter()
        self.names: Counter[str] = Counter()
        #: the PII audit of every event row, where it is produced
        self.audit = RowAudit("reconstructed_events")
        self.log = log
        self.extract = extract
        self.mode = read_mode
        self.records_per_batch = records_per_batch
        #: patches of the window MongoDB returned (both collections)
        self.in_window = 0
        #: every record batch rebuilt and every window patch handed to the extract
        self.finished = False

    def rows(self) -> Iterator[tuple]:
        began = time.perf_counter()
        for model in MODELS_IN_ORDER:
            reader = LogReader(
                self.db,
                model,
                self.start,
                self.end,
                mode=self.mode,
                records_per_batch=self.records_per_batch,
                track_pending=self.extract is not None,
                day_of=lambda doc: partition_day(doc, bson_date(doc), self.start, self.end),
            )
            done = 0
            for batch in mongo.in_background(reader.batches()):
                days, handed = reader.handed(batch)
                work = rebuild_batch(
                    model,
                    batch,
                    days,
                    handed,
                    self.start,
                    self.end,
                    pseudonymize=self.pseudonymize,
                    audit=self.audit,
                )
                yield from self._account(work)
                done += work.records
                if self.log:  # structured progress: counts and rates, never values
                    elapsed = max(time.perf_counter() - began, 1e-9)
                    self.log(
                        f"progress model={model} read={self.mode} records={done} "
                        f"events={self.stats['events']} "
                        f"events_per_s={self.stats['events'] / elapsed:.0f}"
                    )
            if self.extract is not None:
                # window patches no record log brought (no ``ref``, or a ``ref`` changed
                # meanwhile): to the extract, by ``_id``
                for row in self.extract.rows_of(model, reader.leftovers()):
                    self._spill(row)
            self.in_window += reader.window.met
        self.finished = True

    def _account(self, work: BatchWork) -> Iterator[tuple]:
        self.stats.update(work.stats)
        self.names.update(work.names)
        if self.extract is not None:
            for taken in work.window_patches:
                row = self.extract.account(taken)
                if row is not None:
                    self._spill(row)
        yield from work.events

    def _spill(self, row: tuple) -> None:
        """A raw row handed to the extract waits in its spill file until it is loaded."""
        if self.extract is None or self.extract.spill is None:
            raise RuntimeError("the reconstruction hands patches only to an extract with a spill")
        self.extract.spill.append(row)


@dataclass
class BatchWork:
    """What one record batch gives: event rows, the outcomes of its window patches for
    ``raw_patches``, counts."""

    events: list[tuple]
    window_patches: list[Outcome]
    stats: Counter[str]
    names: Counter[str]
    records: int


def rebuild_batch(
    model: str,
    batch: RecordBatch,
    days: dict[str, date],
    handed: set[str],
    start: datetime,
    end: datetime,
    *,
    pseudonymize: Pseudonymizer,
    audit: RowAudit | None = None,
) -> BatchWork:
    """Scrub a batch of record logs, rebuild each record's states and name the events of the
    window's patches (``days``); the patches in ``handed`` also give their ``raw_patches``
    outcome. No I/O; ``audit`` (when given) judges the states of the event rows as they are
    written."""
    stats: Counter[str] = Counter()
    names: Counter[str] = Counter()
    logs: dict[str, list[Patch]] = defaultdict(list)
    window_patches: list[Outcome] = []
    for doc in batch.log:
        key = patch_key(doc)
        result = scrub_patch(
            doc,
            model,
            pseudonymize,
            young_ref=young_ref_of(model, doc, batch.young_refs),
            key=key,
        )
        if handed and key in handed:
            window_patches.append(outcome(doc, result, start, end, day=days.get(key)))
        if isinstance(result, ScrubbedPatch):
            logs[str(doc.get("ref"))].append(_to_patch(result, key))
    currents, births = _current_states(model, batch.documents, pseudonymize, start.year)
    youngs = _young_histories(batch, pseudonymize, start.year) if model == "application" else {}
    events = []
    for ref, patches in logs.items():
        report = reconstruct_record(patches, currents.get(ref))
        stats["records"] += 1
        stats["disagreements"] += report.disagreements
        stats["anchored_ops"] += sum(len(p.ops) for p in patches)
        stats["missing_original_values"] += report.missing_original_values
        if ref in currents and report.states and report.states[-1].after != currents[ref]:
            stats["last_state_differs_from_document"] += 1
        stats["records_with_document"] += ref in currents
        for states in report.states:
            day = days.get(states.patch.order)
            if day is None:
                continue  # a patch of another day: context only
            found = events_of(states)
            if not found:
                continue
            occurred = states.patch.occurred_at
            # the Paris day of the event (its partition day, unless placed by its _id)
            event_day = day if start <= occurred < end else local_day(occurred)
            young_state = None
            if model == "young":
                age = _age(states, births.get(ref), event_day)
            else:
                young = youngs.get(str(batch.young_refs.get(ref)))
                young_state = young.at(occurred) if young else None
                age = _application_age(young.birth if young else None, event_day)
            if audit is not None:
                # the states an event row is written with, each judged once per patch (the
                # events of a patch share them)
                first, year = found[0].event_id, occurred.year
                audit.state(first, "before", model, year, states.before)
                audit.state(first, "after", model, year, states.after)
                audit.state(first, "young_state", "young", year, young_state)
            # the events of a patch share its states: serialised once
            before, after, young_json = (
                json_text(states.before),
                json_text(states.after),
                json_text(young_state),
            )
            for event in found:
                if audit is not None:
                    audit.row()
                names[event.event_name] += 1
                stats["events"] += 1
                events.append(
                    (
                        event.event_id,
                        event.event_name,
                        event.model,
                        event.record_id,
                        event.young_id,
                        event.patch_id,
                        event.occurred_at,
                        day,
                        before,
                        after,
                        age,
                        young_json,
                    )
                )
    return BatchWork(events, window_patches, stats, names, len(batch.refs))


def _current_states(
    model: str, documents: list[dict], pseudonymize: Pseudonymizer, year: int
) -> tuple[dict[str, dict], dict[str, object]]:
    """The allow-listed current state of each document, and its raw birth date (read in
    memory for ages, never stored)."""
    currents, births = {}, {}
    for doc in documents:
        ref = str(doc["_id"])
        currents[ref] = scrub_document(model, doc, pseudonymize, year)
        births[ref] = doc.get("birthdateAt")
    return currents, births


@dataclass
class YoungHistory:
    """A young's reconstructed states in time order, to read the state at any moment."""

    moments: list[datetime]
    states: list[PatchStates]
    current: dict | None
    birth: object = None

    def at(self, moment: datetime) -> dict | None:
        """The young's state at ``moment``: after its last patch up to then, else before its
        first patch (nothing changed in between), else its current document."""
        index = bisect_right(self.moments, moment)
        if index:
            last = self.states[index - 1]
            return last.after if last.after is not None else last.before
        return self.states[0].before if self.states else self.current


def _young_histories(
    batch: RecordBatch, pseudonymize: Pseudonymizer, year: int
) -> dict[str, YoungHistory]:
    """(An application batch) each of its youngs' states over time, rebuilt like a young's
    own events: from the young's whole log and current document."""
    logs: dict[str, list[Patch]] = defaultdict(list)
    for doc in batch.young_log:
        key = patch_key(doc)
        result = scrub_patch(doc, "young", pseudonymize, key=key)
        if isinstance(result, ScrubbedPatch):
            logs[str(doc.get("ref"))].append(_to_patch(result, key))
    currents, births = _current_states("young", batch.young_documents, pseudonymize, year)
    histories = {}
    for ref in logs.keys() | currents.keys():
        states = reconstruct_record(logs[ref], currents.get(ref)).states if ref in logs else []
        histories[ref] = YoungHistory(
            [s.patch.occurred_at for s in states], states, currents.get(ref), births.get(ref)
        )
    return histories


def _age(states: PatchStates, birth: object, day: date) -> int | None:
    """Age at the event (on ``day``, its day in ``SNU_TIMEZONE``): from the exact birth date
    of the current document (read in memory, never stored; its calendar day in
    ``SNU_TIMEZONE``) when it is the birth month of the state, else from the birth month."""
    state = states.after or states.before or {}
    exact, month = _birth(birth)
    if exact is not None and month == state.get("birthdateAt"):
        return age_at(exact, day)
    return age_at(state.get("birthdateAt"), day)


def _application_age(birth: object, day: date) -> int | None:
    """The young's age at an application's event (on ``day``), from the young's exact birth
    date; None when the young is gone (enrich_events.sql then takes the birth month of their
    state)."""
    exact, _ = _birth(birth)
    return None if exact is None else age_at(exact, day)


def _birth(birth: object) -> tuple[date | None, str | None]:
    """The calendar day of a stored birth date and its month (``"YYYY-MM"``)."""
    day = birth_day(birth)
    return (None, None) if day is None else (day, _month(day))


@functools.lru_cache(maxsize=4_096)
def _month(day: date) -> str:
    return f"{day:%Y-%m}"
