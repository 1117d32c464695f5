"""Layer 1 — extract: the day's patches from MongoDB into ``raw_patches``, personal data
stripped at this edge; unusable patches into ``rejected_patches`` with a reason."""


import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime

import orjson
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
)

from snu_assets import source
from snu_assets.assets.metadata import table_metadata
from snu_assets.partitions import DAILY_MONGO_ASSET
from snu_assets.privacy.audit import audit_rows
from snu_assets.privacy.scrub import Rejection, ScrubbedPatch, scrub_patch
from snu_assets.retries import retry_transient_only
from snu_assets.resources import LazyRows, MongoResource, PostgresResource, PseudonymResource, Slice
from snu_assets.settings import timezone

RAW_COLUMNS = ("patch_id", "model", "record_id", "young_id", "occurred_at", "partition_date",
               "ops", "author_role", "redacted_values")
REJECTED_COLUMNS = ("patch_id", "model", "occurred_at", "partition_date", "reason")
WINDOW = "partition_date >= %(start)s and partition_date < %(end)s"
PREVIEW_COLUMNS = ["partition_date", "occurred_at", "model", "author_role", "ops"]
MAX_REJECTION_RATE = float(os.environ.get("SNU_MAX_REJECTION_RATE", "0.01"))


def local_day(moment: datetime):
    return moment.astimezone(timezone()).date()


class Extract:
    """The scrubbed patches of a window, streamed: iterate :meth:`raw_rows` (to ``COPY``),
    then read ``rejected`` and ``stats``."""

    def __init__(self, db, pseudonymize, start: datetime, end: datetime):
        self.db, self.pseudonymize, self.start, self.end = db, pseudonymize, start, end
        self.rejected: list[tuple] = []
        self.stats: Counter = Counter()
        self.kept = 0

    def raw_rows(self) -> Iterator[tuple]:
        seen: set[str] = set()
        for model in ("young", "application"):
            docs = source.window_patches(self.db, model, self.start, self.end)
            for batch in source.chunks(docs, source.BATCH_SIZE):
                young_refs = (source.application_young_refs(
                    self.db, {d.get("ref") for d in batch if d.get("ref")})
                    if model == "application" else {})
                for doc in batch:
                    young_ref = young_refs.get(str(doc.get("ref"))) or _young_id_in_ops(doc)
                    result = scrub_patch(doc, model, self.pseudonymize, young_ref=young_ref)
                    if result.patch_id in seen:
                        self.stats["duplicates_skipped"] += 1
                        continue
                    seen.add(result.patch_id)
                    day = partition_day(doc, result.occurred_at, self.start, self.end)
                    if isinstance(result, Rejection):
                        self.rejected.append((result.patch_id, result.model, result.occurred_at,
                                              day, result.reason))
                        self.stats[f"rejected: {result.reason}"] += 1
                        continue
                    self.stats["redacted_values"] += result.redacted_values
                    self.stats["dropped_ops"] += result.dropped_ops
                    self.kept += 1
                    yield _raw_row(result, day)


def partition_day(doc: dict, occurred_at: datetime | None, start, end):
    """The Paris day of the patch; a patch selected by its ``_id`` (no usable ``date``, or a
    date outside the window) stays in the day of its ``_id``."""
    if occurred_at is not None and start <= occurred_at < end:
        return local_day(occurred_at)
    created = getattr(doc.get("_id"), "generation_time", None)
    return local_day(created or start)


def _young_id_in_ops(doc: dict):
    for op in doc.get("ops") or []:
        if isinstance(op, dict) and op.get("path") == "/youngId" and op.get("op") in ("add", "replace"):
            return op.get("value")
    return None


def _raw_row(patch: ScrubbedPatch, day) -> tuple:
    return (patch.patch_id, patch.model, patch.record_id, patch.young_id, patch.occurred_at,
            day, orjson.dumps(patch.ops).decode(), patch.author_role, patch.redacted_values)


# ------------------------------------------------------------------------------ checks

CHECKS = [
    AssetCheckSpec("no_duplicate_patch_ids", asset="raw_patches", blocking=True,
                   description="No patch_id appears twice in raw_patches."),
    AssetCheckSpec("no_personal_data", asset="raw_patches", blocking=True,
                   description="Every op path is allow-listed and no value looks like an email, "
                               "phone, street address, social-security number, exact birth "
                               "date or MongoDB id."),
    AssetCheckSpec("rejection_rate", asset="raw_patches",
                   description="The share of the window's patches quarantined in "
                               "rejected_patches stays under SNU_MAX_REJECTION_RATE "
                               f"({MAX_REJECTION_RATE:.1%} by default)."),
    AssetCheckSpec("complete", asset="raw_patches", blocking=True,
                   description="Every patch of the window in MongoDB is in raw_patches or "
                               "rejected_patches."),
]


def check_duplicates(conn, schema: str, params: dict) -> AssetCheckResult:
    dupes = conn.execute(
        f'select count(*) from (select patch_id from "{schema}".raw_patches where {WINDOW} '
        "group by patch_id having count(*) > 1) d", params).fetchone()[0]
    return AssetCheckResult(check_name="no_duplicate_patch_ids", passed=dupes == 0,
                            metadata={"duplicate_patch_ids": dupes})


def check_personal_data(conn, schema: str, params: dict) -> AssetCheckResult:
    cursor = conn.cursor(name="raw_patches_audit")
    cursor.execute(
        f'select patch_id, model, extract(year from occurred_at)::int, ops, author_role '
        f'from "{schema}".raw_patches where {WINDOW}', params)
    report = audit_rows(
        ((pid, model, year, {"ops": ops, "author_role": role})
         for pid, model, year, ops, role in cursor), "raw_patches")
    cursor.close()
    return AssetCheckResult(
        check_name="no_personal_data", passed=report.passed,
        metadata={"rows_scanned": report.rows, "problems": dict(report.problems),
                  "examples": MetadataValue.md("\n".join(f"- {e}" for e in report.examples) or "none")})


def check_rejection_rate(kept: int, rejected: dict[str, int]) -> AssetCheckResult:
    total = kept + sum(rejected.values())
    rate = sum(rejected.values()) / total if total else 0.0
    return AssetCheckResult(
        check_name="rejection_rate", passed=rate <= MAX_REJECTION_RATE,
        metadata={"rejection_rate": round(rate, 5), "threshold": MAX_REJECTION_RATE,
                  "rejected_by_reason": rejected})


def check_complete(conn, schema: str, params: dict, expected: int) -> AssetCheckResult:
    landed = conn.execute(
        f'select (select count(*) from "{schema}".raw_patches where {WINDOW}) + '
        f'(select count(*) from "{schema}".rejected_patches where {WINDOW})',
        params).fetchone()[0]
    return AssetCheckResult(
        check_name="complete", passed=landed == expected,
        severity=AssetCheckSeverity.ERROR,
        metadata={"patches_in_mongodb": expected, "rows_raw_plus_rejected": landed})


# ------------------------------------------------------------------------------- asset


@asset(
    **DAILY_MONGO_ASSET,
    check_specs=CHECKS,
    group_name="extract",
    tags={"layer": "extract", "pii": "scrubbed"},
    description="One row per MongoDB patch of the day (young and application patches), "
                "personal data stripped at extraction: allow-listed op paths only, keyed-hash "
                "pseudonyms for every id, the author's role only. Unusable patches go to "
                "rejected_patches with a reason.",
)
@retry_transient_only
def raw_patches(
    context: AssetExecutionContext,
    mongo: MongoResource,
    postgres: PostgresResource,
    pseudonyms: PseudonymResource,
) -> MaterializeResult:
    window = context.partition_time_window
    pseudonymize = pseudonyms.pseudonymizer(postgres)
    postgres.ensure_schema()
    started = time.perf_counter()
    db = mongo.db()
    extract = Extract(db, pseudonymize, window.start, window.end)
    params = {"start": window.start.date(), "end": window.end.date()}
    # the rejected rows are known once the raw rows are streamed: both slices in one transaction
    postgres.replace_slices([
        Slice("raw_patches", RAW_COLUMNS, extract.raw_rows(), WINDOW, params, upsert_key="patch_id"),
        Slice("rejected_patches", REJECTED_COLUMNS, LazyRows(lambda: extract.rejected), WINDOW, params),
    ])
    stats, rejected = extract.stats, extract.rejected
    # the number MongoDB holds for the window, read right after the extract
    expected = sum(source.count_window_patches(db, m, window.start, window.end)
                   for m in ("young", "application")) - stats["duplicates_skipped"]
    elapsed = time.perf_counter() - started
    with postgres.connect() as conn:
        results = [check_duplicates(conn, postgres.schema, params),
                   check_personal_data(conn, postgres.schema, params),
                   check_complete(conn, postgres.schema, params, expected)]
    reasons = {k.removeprefix("rejected: "): v for k, v in stats.items() if k.startswith("rejected")}
    results.append(check_rejection_rate(extract.kept, reasons))
    context.log.info(
        f"raw_patches {context.partition_key_range.start}..{context.partition_key_range.end}: "
        f"{extract.kept} patches kept, {len(rejected)} rejected in {elapsed:.1f}s "
        f"({(extract.kept + len(rejected)) / max(elapsed, 1e-9):.0f} patches/s)")
    return MaterializeResult(
        metadata={
            **table_metadata(postgres, "raw_patches", PREVIEW_COLUMNS, WINDOW, params,
                             "occurred_at, patch_id"),
            "dagster/row_count": extract.kept,
            "window": f"[{window.start.isoformat()}, {window.end.isoformat()})",
            "rejected": len(rejected),
            "rejected_reasons": reasons,
            "redacted_values": stats["redacted_values"],
            "dropped_ops_outside_allow_list": stats["dropped_ops"],
            "patches_per_second": round((extract.kept + len(rejected)) / max(elapsed, 1e-9)),
        },
        check_results=results,
    )
