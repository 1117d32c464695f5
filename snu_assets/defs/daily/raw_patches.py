"""Layer 1 — extract: the day's patches from MongoDB into ``raw_patches``, personal data
stripped at this edge; unusable patches into ``rejected_patches`` with a reason."""

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetSpec,
    MaterializeResult,
)

from snu_assets.core.privacy.audit import audit_table
from snu_assets.core.privacy.scrub import Rejection, ScrubbedPatch, scrub_patch
from snu_assets.defs.daily.config import DailyLoadConfig
from snu_assets.defs.metadata import audit_metadata, table_metadata
from snu_assets.defs.policies import OWNERS
from snu_assets.defs.resources import PostgresResource
from snu_assets.io import mongo
from snu_assets.io.postgres import LazyRows, Slice, SpilledRows
from snu_assets.settings import timezone

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
PREVIEW_COLUMNS = ["partition_date", "occurred_at", "model", "author_role", "ops"]


def local_day(moment: datetime):
    return moment.astimezone(timezone()).date()


class Extract:
    """The scrubbed patches of a window: raw rows to ``COPY``, rejections, counts.

    Either it reads the window itself (iterate :meth:`raw_rows`), or another read of the same
    window hands it each patch it meets (:meth:`take`: the combined read of
    ``extract_and_reconstruct``, which keeps the rows in :attr:`spill` until they are
    loaded). Then read ``rejected``, ``stats``, ``kept`` and ``read``."""

    def __init__(
        self, db, pseudonymize, start: datetime, end: datetime, spill: SpilledRows | None = None
    ):
        self.db, self.pseudonymize, self.start, self.end = db, pseudonymize, start, end
        self.rejected: list[tuple] = []
        self.stats: Counter = Counter()
        self.kept = 0
        #: the window's patches handed over, duplicates included
        self.read = 0
        #: where the raw rows wait when another read hands them over (see :meth:`take`)
        self.spill = spill
        self._seen: set[str] = set()

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

    def account(self, taken: "Outcome") -> tuple | None:
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
        self.stats["redacted_values"] += taken.redacted_values
        for reason, count in taken.redactions.items():
            self.stats[f"redacted: {reason}"] += count
        self.stats["dropped_ops"] += taken.dropped_ops
        self.kept += 1
        return taken.row

    def reasons(self, kind: str = "rejected") -> dict[str, int]:
        """Counts by reason of the patches rejected (or, ``kind="redacted"``, of the values
        redacted)."""
        return {
            k.removeprefix(f"{kind}: "): v
            for k, v in self.stats.items()
            if k.startswith(f"{kind}: ")
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


def outcome(
    doc: dict, result: ScrubbedPatch | Rejection, start: datetime, end: datetime
) -> Outcome:
    day = partition_day(doc, result.occurred_at, start, end)
    if isinstance(result, Rejection):
        return Outcome(
            result.patch_id,
            rejected=(result.patch_id, result.model, result.occurred_at, day, result.reason),
        )
    return Outcome(
        result.patch_id,
        row=_raw_row(result, day),
        redacted_values=result.redacted_values,
        redactions=result.redactions,
        dropped_ops=result.dropped_ops,
    )


#: young patches first: an application's rows then find their young already extracted
MODELS_IN_ORDER = ("young", "application")


def young_ref_of(model: str, doc: dict, young_refs: dict[str, object]):
    """The young an application patch belongs to: its application's ``youngId`` (looked up in
    MongoDB by the caller), else the ``youngId`` the patch itself wrote (deleted applications).
    ``None`` for a young's patch (it is its own young)."""
    if model != "application":
        return None
    return young_refs.get(str(doc.get("ref"))) or _young_id_in_ops(doc)


def partition_day(doc: dict, occurred_at: datetime | None, start, end):
    """The Paris day of the patch; a patch selected by its ``_id`` (no usable ``date``, or a
    date outside the window) stays in the day of its ``_id``."""
    if occurred_at is not None and start <= occurred_at < end:
        return local_day(occurred_at)
    created = getattr(doc.get("_id"), "generation_time", None)
    return local_day(created or start)


def _young_id_in_ops(doc: dict):
    for op in doc.get("ops") or []:
        if (
            isinstance(op, dict)
            and op.get("path") == "/youngId"
            and op.get("op") in ("add", "replace")
        ):
            return op.get("value")
    return None


def _raw_row(patch: ScrubbedPatch, day) -> tuple:
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


# ------------------------------------------------------------------------------ checks

ASSET = "raw_patches"
CHECKS = [
    AssetCheckSpec(
        "no_duplicate_patch_ids",
        asset=ASSET,
        blocking=True,
        description="No patch_id appears twice in raw_patches.",
    ),
    AssetCheckSpec(
        "no_personal_data",
        asset=ASSET,
        blocking=True,
        description="Every op path is allow-listed and no value looks like an email, "
        "phone, street address, social-security number, exact birth "
        "date or MongoDB id.",
    ),
    AssetCheckSpec(
        "rejection_rate",
        asset=ASSET,
        description="The share of the window's patches quarantined in "
        "rejected_patches stays under the run config's "
        "max_rejection_rate (SNU_MAX_REJECTION_RATE, 1 % by default).",
    ),
    AssetCheckSpec(
        "complete",
        asset=ASSET,
        blocking=True,
        description="Every patch of the window in MongoDB is in raw_patches or rejected_patches.",
    ),
]


def check_duplicates(conn, schema: str, params: dict) -> AssetCheckResult:
    dupes = conn.execute(
        f'select count(*) from (select patch_id from "{schema}".raw_patches where {WINDOW} '
        "group by patch_id having count(*) > 1) d",
        params,
    ).fetchone()[0]
    return AssetCheckResult(
        asset_key=ASSET,
        check_name="no_duplicate_patch_ids",
        passed=dupes == 0,
        metadata={"duplicate_patch_ids": dupes},
    )


def check_personal_data(conn, schema: str, params: dict) -> AssetCheckResult:
    report = audit_table(
        conn,
        f'"{schema}".raw_patches',
        WINDOW,
        params,
        id_column="patch_id",
        ops_column="ops",
        plain_columns=("author_role",),
    )
    return AssetCheckResult(
        asset_key=ASSET,
        check_name="no_personal_data",
        passed=report.passed,
        metadata=audit_metadata(report),
    )


def check_rejection_rate(kept: int, rejected: dict[str, int], threshold: float) -> AssetCheckResult:
    total = kept + sum(rejected.values())
    rate = sum(rejected.values()) / total if total else 0.0
    return AssetCheckResult(
        asset_key=ASSET,
        check_name="rejection_rate",
        passed=rate <= threshold,
        metadata={
            "rejection_rate": round(rate, 5),
            "threshold": threshold,
            "rejected_by_reason": rejected,
        },
    )


def check_complete(conn, schema: str, params: dict, expected: int) -> AssetCheckResult:
    landed = conn.execute(
        f'select (select count(*) from "{schema}".raw_patches where {WINDOW}) + '
        f'(select count(*) from "{schema}".rejected_patches where {WINDOW})',
        params,
    ).fetchone()[0]
    return AssetCheckResult(
        asset_key=ASSET,
        check_name="complete",
        passed=landed == expected,
        severity=AssetCheckSeverity.ERROR,
        metadata={"patches_in_mongodb": expected, "rows_raw_plus_rejected": landed},
    )


# ------------------------------------------------------------------------------- asset

SPEC = AssetSpec(
    ASSET,
    group_name="extract",
    tags={"layer": "extract", "pii": "scrubbed"},
    owners=OWNERS,
    kinds={"mongodb", "postgres"},
    description="One row per MongoDB patch of the day (young and application patches), "
    "personal data stripped at extraction: allow-listed op paths only, keyed-hash "
    "pseudonyms for every id, the author's role only. Unusable patches go to "
    "rejected_patches with a reason.",
)


def window_params(context: AssetExecutionContext) -> dict:
    window = context.partition_time_window
    return {"start": window.start.date(), "end": window.end.date()}


def extract_window(
    context: AssetExecutionContext,
    config: DailyLoadConfig,
    db,
    postgres: PostgresResource,
    pseudonymize,
) -> MaterializeResult:
    """``raw_patches`` alone: its own read of the window (when ``reconstructed_events`` is not
    materialised in the same run, see ``extract_and_reconstruct``)."""
    window = context.partition_time_window
    started = time.perf_counter()
    extract = Extract(db, pseudonymize, window.start, window.end)
    params = window_params(context)
    # the rejected rows are known once the raw rows are streamed: both slices in one transaction
    postgres.replace_slices(
        [
            Slice(
                "raw_patches",
                RAW_COLUMNS,
                extract.raw_rows(),
                WINDOW,
                params,
                upsert_key="patch_id",
            ),
            Slice(
                "rejected_patches",
                REJECTED_COLUMNS,
                LazyRows(lambda: extract.rejected),
                WINDOW,
                params,
            ),
        ]
    )
    # an independent count of what MongoDB holds for the window, right after the extract
    expected = sum(
        mongo.count_window_patches(db, m, window.start, window.end) for m in MODELS_IN_ORDER
    )
    return extract_result(
        context, config, postgres, extract, expected, time.perf_counter() - started
    )


def extract_result(
    context: AssetExecutionContext,
    config: DailyLoadConfig,
    postgres: PostgresResource,
    extract: Extract,
    in_mongodb: int,
    elapsed: float,
) -> MaterializeResult:
    """The materialisation of ``raw_patches`` and its checks, once its slices are loaded;
    ``in_mongodb``: the window's patches MongoDB returned (``complete`` compares it with the
    rows landed)."""
    params = window_params(context)
    expected = in_mongodb - extract.stats["duplicates_skipped"]
    with postgres.connect() as conn:
        results = [
            check_duplicates(conn, postgres.schema, params),
            check_personal_data(conn, postgres.schema, params),
            check_complete(conn, postgres.schema, params, expected),
        ]
    reasons = extract.reasons()
    results.append(check_rejection_rate(extract.kept, reasons, config.max_rejection_rate))
    handled = extract.kept + len(extract.rejected)
    context.log.info(
        f"raw_patches {context.partition_key_range.start}..{context.partition_key_range.end}: "
        f"{extract.kept} patches kept, {len(extract.rejected)} rejected in {elapsed:.1f}s "
        f"({handled / max(elapsed, 1e-9):.0f} patches/s)"
    )
    window = context.partition_time_window
    return MaterializeResult(
        asset_key=ASSET,
        metadata={
            **table_metadata(
                postgres, "raw_patches", PREVIEW_COLUMNS, WINDOW, params, "occurred_at, patch_id"
            ),
            "dagster/row_count": extract.kept,
            "window": f"[{window.start.isoformat()}, {window.end.isoformat()})",
            "rejected": len(extract.rejected),
            "rejected_reasons": reasons,
            "redacted_values": extract.stats["redacted_values"],
            "redacted_by_reason": extract.reasons("redacted"),
            "dropped_ops_outside_allow_list": extract.stats["dropped_ops"],
            "patches_per_second": round(handled / max(elapsed, 1e-9)),
        },
        check_results=results,
    )
