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

import functools
import time
from collections.abc import Iterator

from dagster import AssetExecutionContext, Failure, MaterializeResult, multi_asset

from snu_assets.daily_load.guard import PartitionGuard, PartitionRefused, ShrinkRule, Source
from snu_assets.daily_load.pipeline import DailyLoad
from snu_assets.defs.daily import raw_patches, reconstructed_events
from snu_assets.defs.daily.config import DailyLoadConfig
from snu_assets.defs.daily.raw_patches import extract_result, window_params
from snu_assets.defs.daily.reconstructed_events import reconstruction_result
from snu_assets.defs.partitions import daily_backfill_policy, daily_partitions
from snu_assets.defs.policies import MONGO_POOL, MONGO_RETRY, retry_transient_only
from snu_assets.defs.resources import MongoResource, PostgresResource, PseudonymResource
from snu_assets.io.mongo import source_fingerprint
from snu_assets.io.postgres import redact_url


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
) -> Iterator[MaterializeResult]:
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
    window = context.partition_time_window
    guard = partition_guard(context, config, mongo, postgres)
    started = time.perf_counter()
    load = DailyLoad(
        mongo.db(),
        pseudonymize,
        window.start,
        window.end,
        assets=selected,
        read_mode=config.read_mode(window.start, window.end),
        records_per_batch=config.records_per_batch,
        log=context.log.info,
    )
    try:
        with postgres.connect() as conn:
            guard.check_source(conn)  # before reading MongoDB: fail fast
        counts = load.run(
            functools.partial(postgres.replace_slices, before_swap=guard), window_params(context)
        )
    except PartitionRefused as refused:
        raise Failure(description=str(refused), allow_retries=False) from None
    for group, days in guard.compared.items():
        before, after = (sum(pair[i] for pair in days.values()) for i in (0, 1))
        context.log.info(f"{group}: {before} rows replaced by {after} over {len(days)} day(s)")
    elapsed = time.perf_counter() - started
    if load.extract is not None:
        # ``complete`` compares the rows landed with the window's patches MongoDB returned
        expected = load.patches_in_mongodb()
        yield selected_checks_only(
            context, extract_result(context, config, postgres, load.extract, expected, elapsed)
        )
    if load.reconstruction is not None:
        events = counts[reconstructed_events.ASSET]
        yield selected_checks_only(
            context,
            reconstruction_result(context, config, postgres, load.reconstruction, events, elapsed),
        )


def partition_guard(
    context: AssetExecutionContext,
    config: DailyLoadConfig,
    mongo: MongoResource,
    postgres: PostgresResource,
) -> PartitionGuard:
    """The checks before the swap: same source as the rows in place, no partition shrunk by
    accident (thresholds and confirmations from the run config)."""
    db = mongo.db()
    params = window_params(context)
    return PartitionGuard(
        postgres.schema,
        Source(db.name, source_fingerprint(db), redact_url(mongo.resolved_uri())),
        ShrinkRule(config.max_shrink_rate, config.shrink_tolerance_rows),
        params["start"],
        params["end"],
        confirm_shrink=config.confirm_shrink,
        confirm_source_change=config.confirm_source_change,
    )


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
