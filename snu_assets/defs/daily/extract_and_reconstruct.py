"""Layers 1 and 2 in one step: ``raw_patches`` and ``reconstructed_events`` from one read of
MongoDB.

Production indexes the patch collections on ``_id`` and ``ref`` only, so every read of a
window scans a whole patch collection, and the reconstruction reads every patch of the window
a second time anyway, in the logs of the records it patches. Run apart, the two layers paid
for three scans and two scrubs of each patch. Together they read the record logs once (after
a scan of the window projected to ``ref`` and ``date``, or, for long windows, by walking the
whole log in ``ref`` order: ``DailyLoadConfig.read_mode``): each patch of the window met
in a log is scrubbed once and feeds both tables, the next batch of logs being read while the
current one is rebuilt (``bench/README.md`` has the figures).

Both assets stay separate in the graph, with their own checks and metadata, and each can be
materialised alone (the step is subsettable): it then does its own read of the window. Run
together, ``raw_patches``, ``rejected_patches`` and ``reconstructed_events`` are swapped in
one transaction.
"""

import time

from dagster import AssetExecutionContext, Failure, MaterializeResult, multi_asset

from snu_assets.defs.daily import raw_patches, reconstructed_events
from snu_assets.defs.daily.config import DailyLoadConfig
from snu_assets.defs.daily.raw_patches import (
    RAW_COLUMNS,
    REJECTED_COLUMNS,
    WINDOW,
    Extract,
    extract_result,
    extract_window,
    window_params,
)
from snu_assets.defs.daily.reconstructed_events import (
    EVENT_COLUMNS,
    Reconstruction,
    reconstruct_window,
    reconstruction_result,
)
from snu_assets.defs.partitions import daily_backfill_policy, daily_partitions
from snu_assets.defs.policies import MONGO_POOL, MONGO_RETRY, retry_transient_only
from snu_assets.defs.resources import MongoResource, PostgresResource, PseudonymResource
from snu_assets.io.postgres import LazyRows, Slice, SpilledRows


@multi_asset(
    specs=[raw_patches.SPEC, reconstructed_events.SPEC],
    check_specs=[*raw_patches.CHECKS, *reconstructed_events.CHECKS],
    can_subset=True,
    partitions_def=daily_partitions,
    backfill_policy=daily_backfill_policy,
    pool=MONGO_POOL,
    retry_policy=MONGO_RETRY,
)
@retry_transient_only
def extract_and_reconstruct(
    context: AssetExecutionContext,
    config: DailyLoadConfig,
    mongo: MongoResource,
    postgres: PostgresResource,
    pseudonyms: PseudonymResource,
):
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    if not selected:
        raise Failure(
            description="The checks of raw_patches and reconstructed_events are evaluated "
            "on the rows a materialisation loads: materialise the asset (its "
            "checks run with it) instead of selecting its checks alone.",
            allow_retries=False,
        )
    pseudonymize = pseudonyms.pseudonymizer(postgres)
    postgres.ensure_schema()
    db = mongo.db()
    if selected == {raw_patches.ASSET}:
        results = [extract_window(context, config, db, postgres, pseudonymize)]
    elif selected == {reconstructed_events.ASSET}:
        results = [reconstruct_window(context, config, db, postgres, pseudonymize)]
    else:
        results = one_read(context, config, db, postgres, pseudonymize)
    for result in results:
        yield selected_checks_only(context, result)


def one_read(
    context: AssetExecutionContext,
    config: DailyLoadConfig,
    db,
    postgres: PostgresResource,
    pseudonymize,
) -> list[MaterializeResult]:
    """Both layers from one read of the window: the events stream into their staging table
    while the raw rows wait in a spill file, then the three slices are swapped together."""
    window = context.partition_time_window
    started = time.perf_counter()
    params = window_params(context)
    spill = SpilledRows()
    extract = Extract(db, pseudonymize, window.start, window.end, spill=spill)
    work = Reconstruction(
        db, pseudonymize, window.start, window.end, config, context.log.info, extract=extract
    )

    def after_the_events(rows):
        """The raw and rejected rows are complete only once the events have streamed (the
        reconstruction hands each window patch to the extract as it meets it)."""
        if not work.finished:
            raise RuntimeError(
                "raw_patches/rejected_patches read before reconstructed_events "
                "was streamed: the events' slice must come first"
            )
        return rows

    try:
        events, _, _ = postgres.replace_slices(
            [
                Slice("reconstructed_events", EVENT_COLUMNS, work.rows(), WINDOW, params),
                Slice(
                    "raw_patches",
                    RAW_COLUMNS,
                    LazyRows(lambda: after_the_events(spill)),
                    WINDOW,
                    params,
                    upsert_key="patch_id",
                ),
                Slice(
                    "rejected_patches",
                    REJECTED_COLUMNS,
                    LazyRows(lambda: after_the_events(extract.rejected)),
                    WINDOW,
                    params,
                ),
            ]
        )
    finally:
        spill.close()
    elapsed = time.perf_counter() - started
    # ``complete`` compares the rows landed with the window's patches MongoDB returned: from
    # a scan independent of the record logs (records mode), or from the walk itself (walk mode)
    return [
        extract_result(context, config, postgres, extract, work.in_window, elapsed),
        reconstruction_result(context, config, postgres, work, events, elapsed),
    ]


def selected_checks_only(
    context: AssetExecutionContext, result: MaterializeResult
) -> MaterializeResult:
    """``result`` without the results of checks the run did not select."""
    wanted = context.selected_asset_check_keys
    checks = [
        check
        for check in result.check_results or []
        if any(key.asset_key == check.asset_key and key.name == check.check_name for key in wanted)
    ]
    return MaterializeResult(
        asset_key=result.asset_key, metadata=result.metadata, check_results=checks
    )
