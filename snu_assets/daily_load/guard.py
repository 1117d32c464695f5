"""What a daily load checks before it swaps its partitions in (issue #21): an operator's
mistake (a forgotten ``SNU_MONGO_URI``, a wrong ``SNU_MONGO_DB``) must not replace real days
with an empty or foreign source's rows.

- the source: each day records which MongoDB wrote it (``partition_sources``: database and
  :func:`~snu_assets.io.mongo.source_fingerprint`); a run reading another source is refused
  unless it confirms (``confirm_source_change``: a restore, a new cluster);
- the size: a day that would lose all its rows, or far more than a GDPR deletion removes
  (:class:`ShrinkRule`), is refused unless the run confirms a purge (``confirm_shrink``).

A refusal raises :class:`PartitionRefused` inside the swap's transaction: it rolls back,
nothing is written. Its message names the days, both counts and the run config to confirm.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import psycopg

from snu_assets.daily_load.pipeline import EVENTS, RAW, REJECTED
from snu_assets.io.postgres import SQL_DIR, Slice, qualified, sql_text

STEP = "extract_and_reconstruct"
#: the tables whose rows are counted together, per partition day
GROUPS = {
    "raw_patches + rejected_patches": (RAW, REJECTED),
    "reconstructed_events": (EVENTS,),
}
#: the fingerprint of a source without patch collection (io/mongo.py)
EMPTY = "empty"
#: days named in a message at most (the rest counted)
SHOWN_DAYS = 10


class PartitionRefused(RuntimeError):
    """The load was refused before it swapped anything in; the message says what to do."""


@dataclass(frozen=True)
class Source:
    """The MongoDB a run reads: database name, fingerprint, where (no password)."""

    database: str
    fingerprint: str
    where: str = ""

    def describe(self) -> str:
        at = f" at {self.where}" if self.where else ""
        return f"database '{self.database}'{at} (source fingerprint {self.fingerprint})"


@dataclass(frozen=True)
class ShrinkRule:
    """When replacing ``before`` rows of a day by ``after`` is "far fewer": all of them gone,
    or more than ``max_rate`` of them and more than ``tolerance_rows``."""

    max_rate: float
    tolerance_rows: int

    def refuses(self, before: int, after: int) -> bool:
        if before == 0 or after >= before:
            return False
        lost = before - after
        return after == 0 or (lost > self.tolerance_rows and lost > self.max_rate * before)


def confirm_hint(flag: str) -> str:
    return f"ops: {{{STEP}: {{config: {{{flag}: true}}}}}}"


class PartitionGuard:
    """The checks of one load of the days ``[start, end)`` into ``schema``: call
    :meth:`check_source` before reading MongoDB (fail fast), and pass the guard itself as the
    ``before_swap`` of :func:`~snu_assets.io.postgres.replace_slices`."""

    def __init__(
        self,
        schema: str,
        source: Source,
        rule: ShrinkRule,
        start: date,
        end: date,
        *,
        confirm_shrink: bool = False,
        confirm_source_change: bool = False,
    ):
        self.schema, self.source, self.rule = schema, source, rule
        self.params = {"start": start, "end": end}
        self.confirm_shrink = confirm_shrink
        self.confirm_source_change = confirm_source_change
        #: what the last call found: ``{group: {day: (before, after)}}``
        self.compared: dict[str, dict[str, tuple[int, int]]] = {}

    def _sql(self, name: str) -> str:
        return sql_text(SQL_DIR / name, self.schema)

    def check_source(self, conn: psycopg.Connection) -> None:
        if self.confirm_source_change:
            return
        recorded = conn.execute(self._sql("partition_sources_read.sql"), self.params).fetchall()
        mine = (self.source.database, self.source.fingerprint)
        # a day an empty source wrote holds no row: any source may fill it
        foreign = [(day, db, fp) for day, db, fp in recorded if (db, fp) != mine and fp != EMPTY]
        if not foreign:
            return
        by_source = Counter((db, fp) for _, db, fp in foreign)
        written = "; ".join(
            f"database '{db}' (source fingerprint {fp}): "
            + _days([d for d, x, y in foreign if (x, y) == (db, fp)])
            for db, fp in by_source
        )
        raise PartitionRefused(
            f"Refused: partition(s) {_days([d for d, _, _ in foreign])} were written from "
            f"another MongoDB source than the one this run reads. Written from {written}; "
            f"this run reads {self.source.describe()}. Nothing was written. Check "
            "SNU_MONGO_URI and SNU_MONGO_DB (a forgotten or mistyped variable points at another, "
            "maybe empty, source). If the source really changed (a restore, a new cluster: see "
            f"docs/operations.md), confirm with the run config {confirm_hint('confirm_source_change')}."
        )

    def __call__(self, conn: psycopg.Connection, staged: list[tuple[Slice, str]]) -> None:
        """Before the swap (under the tables' locks): refuse, or record the source."""
        self.check_source(conn)
        self.compared = self._compare(conn, staged)
        if not self.confirm_shrink:
            self._check_shrink()
        conn.execute(
            self._sql("partition_sources_write.sql"),
            {
                **self.params,
                "database": self.source.database,
                "fingerprint": self.source.fingerprint,
            },
        )

    def _compare(
        self, conn: psycopg.Connection, staged: Sequence[tuple[Slice, str]]
    ) -> dict[str, dict[str, tuple[int, int]]]:
        stages = {piece.table: stage for piece, stage in staged}
        counts_sql = (SQL_DIR / "partition_day_counts.sql").read_text()
        compared = {}
        for group, tables in GROUPS.items():
            if not all(table in stages for table in tables):
                continue
            before: Counter[str] = Counter()
            after: Counter[str] = Counter()
            for table in tables:
                for counter, name in (
                    (before, qualified(self.schema, table)),
                    (after, stages[table]),
                ):
                    query = counts_sql.replace("{table}", name)
                    counter.update(dict(conn.execute(query, self.params).fetchall()))
            compared[group] = {day: (before[day], after[day]) for day in sorted(before | after)}
        return compared

    def _check_shrink(self) -> None:
        refused = [
            (group, day, old, new)
            for group, days in self.compared.items()
            for day, (old, new) in days.items()
            if self.rule.refuses(old, new)
        ]
        if not refused:
            return
        shown = "; ".join(
            f"partition {day}: {group} hold {old} rows, this run would leave {new}"
            for group, day, old, new in refused[:SHOWN_DAYS]
        )
        more = f" (and {len(refused) - SHOWN_DAYS} more)" if len(refused) > SHOWN_DAYS else ""
        raise PartitionRefused(
            f"Refused to shrink partitions: {shown}{more}. Nothing was written. The run read "
            f"{self.source.describe()}. A run never replaces a day by none of its rows, or by "
            f"far fewer (more than max_shrink_rate={self.rule.max_rate} of them and more than "
            f"shrink_tolerance_rows={self.rule.tolerance_rows}): check SNU_MONGO_URI and "
            "SNU_MONGO_DB. If the source really lost these patches (a purge), confirm with the "
            f"run config {confirm_hint('confirm_shrink')}."
        )


def _days(days: Sequence[str]) -> str:
    shown = ", ".join(days[:SHOWN_DAYS])
    return shown + (f" and {len(days) - SHOWN_DAYS} more" if len(days) > SHOWN_DAYS else "")
