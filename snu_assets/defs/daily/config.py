"""Run config of the daily load (``extract_and_reconstruct``): the thresholds that change
its checks and how it reads MongoDB. Defaults come from the ``SNU_*`` settings; the UI's
launchpad shows them, and a run (or a backfill) can set others."""

from datetime import datetime, timedelta

from dagster import Config
from pydantic import Field

from snu_assets.settings import current

_DEFAULTS = current()


class DailyLoadConfig(Config):
    max_rejection_rate: float = Field(
        default=_DEFAULTS.max_rejection_rate,
        description="Share of a window's patches quarantined in rejected_patches above which "
        "the rejection_rate check fails (SNU_MAX_REJECTION_RATE).",
    )
    max_disagreement_rate: float = Field(
        default=_DEFAULTS.max_disagreement_rate,
        description="Share of anchored ops contradicted by a later state (gaps in the log) "
        "above which consistent_with_documents warns (SNU_MAX_DISAGREEMENT_RATE).",
    )
    log_read: str = Field(
        default=_DEFAULTS.log_read,
        description="How the record logs are read: records (scan the window, then each "
        "record's log through the ref index), walk (the whole log once in ref "
        "order) or auto: walk from walk_min_days days on (SNU_LOG_READ).",
    )
    walk_min_days: float = Field(
        default=_DEFAULTS.walk_min_days,
        description="Window length from which log_read=auto walks the log (SNU_WALK_MIN_DAYS).",
    )
    records_per_batch: int = Field(
        default=_DEFAULTS.records_per_batch,
        description="Records whose whole logs are held in memory at once (SNU_RECORDS_PER_BATCH).",
    )

    max_shrink_rate: float = Field(
        default=_DEFAULTS.max_shrink_rate,
        description="A partition that would lose more than this share of its rows (and more "
        "than shrink_tolerance_rows), or all of them, is not replaced: the run fails naming "
        "the day and both counts, nothing written (SNU_MAX_SHRINK_RATE).",
    )
    shrink_tolerance_rows: int = Field(
        default=_DEFAULTS.shrink_tolerance_rows,
        description="Rows a partition may lose whatever its size (a GDPR deletion removes a "
        "young's emptied patches) before max_shrink_rate applies (SNU_SHRINK_TOLERANCE_ROWS).",
    )
    confirm_shrink: bool = Field(
        default=False,
        description="Confirm a real purge: let this run replace partitions by far fewer rows, "
        "or none (after the source really lost them). Leave false otherwise.",
    )
    confirm_source_change: bool = Field(
        default=False,
        description="Confirm that the source changed on purpose (a restore, a new cluster): "
        "let this run replace rows another MongoDB source (database, collection identity) "
        "wrote. Leave false otherwise.",
    )

    def read_mode(self, start: datetime, end: datetime) -> str:
        """``records`` or ``walk`` for the window ``[start, end)``."""
        if self.log_read in ("records", "walk"):
            return self.log_read
        if self.log_read != "auto":
            raise ValueError(f"log_read={self.log_read!r}: expected auto, records or walk")
        return "walk" if end - start >= timedelta(days=self.walk_min_days) else "records"
