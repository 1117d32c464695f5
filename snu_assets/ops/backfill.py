"""Backfills from the command line, the way the UI launches them.

``snu-assets run|backfill|demo`` launch an *asset backfill* through the webserver's GraphQL
API, with the mutation the UI's "Launch backfill" dialog sends (``launchPartitionBackfill``):
it shows on the Backfills page with its runs, and Dagster's own backfill daemon carries it
out: ranged runs of the backfill policy's size, in dependency order, retries and concurrency
pools included. Nothing here re-implements that: the command starts a webserver for its
duration (:mod:`snu_assets.ops.dagster_api`), waits for the daemon already running
(``snu-assets dev``, a deployment) or runs one for its own duration, and reports the
backfill's outcome.

Then the weeks the new days complete (the weekly sensor's rule,
:func:`~snu_assets.defs.automation.sensors.weeks_to_refresh`) and the reference assets are
backfilled the same way.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from dagster import AssetKey, AssetsDefinition, DagsterEventType, DagsterInstance

from snu_assets import settings
from snu_assets.defs.assets import DAILY_ASSETS, REFERENCE_ASSETS, WEEKLY_ASSETS
from snu_assets.defs.automation.sensors import LAST_DAILY, LAST_WEEKLY, weeks_to_refresh
from snu_assets.defs.partitions import daily_partitions, weekly_partitions
from snu_assets.ops.dagster_api import GraphQL, daemon, stop_on_sigterm, webserver

HEARTBEAT_TOLERANCE_S = 45
#: in ``DAGSTER_HOME``: when the command last stopped the daemon it had started (a heartbeat
#: older than that is the stopped daemon's last one, not a running daemon's)
DAEMON_STOPPED_FILE = "snu-cli-daemon-stopped"
#: GraphQL's names of the backfill statuses: the ends, and the successful ends
TERMINAL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
SUCCEEDED = {"COMPLETED", "COMPLETED_SUCCESS"}

#: the mutation of the UI's "Launch backfill" dialog (variables: ``{"backfillParams": ...}``)
LAUNCH_BACKFILL = """
mutation LaunchBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId launchedRunIds }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}"""

#: a backfill as the Backfills page shows it (variables: ``{"backfillId": ...}``)
BACKFILL = """
query Backfill($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    __typename
    ... on PartitionBackfill {
      id status numPartitions partitionNames
      assetSelection { path }
      error { message stack }
    }
    ... on Error { message }
  }
}"""

FAILED_RUNS = """
query FailedRuns($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}], statuses: [FAILURE]}) {
    __typename
    ... on Runs { results { runId } }
    ... on Error { message }
  }
}"""

DAEMON = """
query { instance { daemonHealth { daemonStatus(daemonType: "BACKFILL") { lastHeartbeatTime } } } }
"""

#: partitions of an asset to backfill: ranges of keys, or ``None`` for an unpartitioned asset
Ranges = Sequence[tuple[str, str]] | None


class BackfillFailed(RuntimeError):
    pass


def _selection(assets: Sequence[AssetsDefinition], ranges: Ranges) -> dict[AssetKey, Ranges]:
    """Every key of ``assets`` over ``ranges``, or over nothing when it is unpartitioned."""
    return {
        key: ranges if asset.partitions_def is not None else None
        for asset in assets
        for key in asset.keys
    }


def launch(
    api: GraphQL,
    partitions: Mapping[AssetKey, Ranges],
    title: str,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Launch an asset backfill of ``partitions`` (each asset's ranges of partition keys,
    ``None`` for an unpartitioned asset) as the UI does; the daemon carries it out. Its id."""
    params = {
        "partitionsByAssets": [
            {
                "assetKey": {"path": list(key.path)},
                "partitions": None
                if ranges is None
                else {"ranges": [{"start": start, "end": end} for start, end in ranges]},
            }
            for key, ranges in partitions.items()
        ],
        "tags": [
            {"key": key, "value": value}
            for key, value in {"snu/trigger": "cli", **(tags or {})}.items()
        ],
        "title": title,
    }
    launched = api(LAUNCH_BACKFILL, {"backfillParams": params})["launchPartitionBackfill"]
    if launched["__typename"] != "LaunchBackfillSuccess":
        raise BackfillFailed(f"the backfill {title!r} was refused: {launched.get('message')}")
    return str(launched["backfillId"])


def _stopped_marker() -> Path:
    return Path(os.environ["DAGSTER_HOME"]) / DAEMON_STOPPED_FILE


def daemon_running(api: GraphQL) -> bool:
    """A backfill daemon heartbeat for this instance within the last 45 s (a daemon beats
    every 30 s; Dagster's own 30-minute tolerance would mistake a stopped one for alive),
    and not the last one of a daemon this command stopped."""
    status = api(DAEMON)["instance"]["daemonHealth"]["daemonStatus"]
    beat = status["lastHeartbeatTime"]
    if beat is None or time.time() - beat > HEARTBEAT_TOLERANCE_S:
        return False
    marker = _stopped_marker()
    return not (marker.exists() and beat <= float(marker.read_text() or 0))


@contextlib.contextmanager
def dagster() -> Iterator[GraphQL]:
    """A webserver's GraphQL API for the block, and a Dagster daemon unless one already
    runs for this instance (its log: ``<state dir>/dagster-daemon.log``)."""
    with stop_on_sigterm(), webserver() as api:
        if daemon_running(api):
            yield api
            return
        try:
            with daemon():
                yield api
        finally:
            # its last heartbeat would make the next command believe a daemon still runs
            _stopped_marker().write_text(repr(time.time()))


def wait(api: GraphQL, backfill_id: str, ceiling_s: float | None = None) -> float:
    """Wait for the backfill to end; its duration. Raises :class:`BackfillFailed` naming the
    backfill (open it in the UI: Backfills page) when it did not succeed."""
    if ceiling_s is None:  # SNU_CLI_BACKFILL_TIMEOUT_S: far above any day's or week's run
        ceiling_s = float(settings.current().cli_backfill_timeout_s)
    began = time.perf_counter()
    delay = 0.2
    while True:
        backfill = api(BACKFILL, {"backfillId": backfill_id})["partitionBackfillOrError"]
        if backfill["__typename"] != "PartitionBackfill":
            raise BackfillFailed(
                f"backfill {backfill_id} vanished from the Dagster instance: "
                f"{backfill.get('message')}"
            )
        status = backfill["status"]
        if status in TERMINAL:
            break
        if time.perf_counter() - began > 2 * (30 + HEARTBEAT_TOLERANCE_S) and not daemon_running(
            api
        ):
            raise BackfillFailed(
                f"backfill {backfill_id} is {status} but no Dagster daemon "
                "runs for this instance (DAGSTER_HOME): start one (`snu-assets dev`, or "
                "`dagster-daemon run`) and it will carry the backfill out"
            )
        if time.perf_counter() - began > ceiling_s:
            raise BackfillFailed(
                f"backfill {backfill_id} still {status} after {ceiling_s:.0f}s: "
                "it goes on in the Dagster daemon; follow it on the UI's Backfills page"
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)
    if status not in SUCCEEDED:
        runs = api(FAILED_RUNS, {"id": backfill_id})["runsOrError"]
        failed = [run["runId"] for run in runs.get("results", [])]
        reason = f" ({backfill['error']['message'].strip()})" if backfill["error"] else ""
        raise BackfillFailed(
            f"backfill {backfill_id} ended {status}{reason}; failed runs: "
            f"{', '.join(failed) or 'none'} (Dagster UI: Backfills page, or "
            f"`dagster run logs <run id>`). Re-run the same range: loads are idempotent."
        )
    return time.perf_counter() - began


def backfill_range(
    start: str, end: str, instance: DagsterInstance | None = None
) -> dict[str, float]:
    """The daily layers over ``[start, end]`` (days, inclusive), then the reference assets
    and every week whose seven days are now materialised, each as a Dagster backfill in the
    instance of ``DAGSTER_HOME`` (``instance``: an open one of it). Seconds per backfill."""
    instance = instance or DagsterInstance.get()
    days = _days(start, end)
    timings: dict[str, float] = {}
    with dagster() as api:
        daily = launch(
            api,
            _selection(DAILY_ASSETS, [(days[0], days[-1])]),
            f"snu-assets days {start}..{end}",
        )
        timings["daily layers"] = wait(api, daily)
        event = DagsterEventType.ASSET_MATERIALIZATION
        weeks = [
            week
            for week, _ in weeks_to_refresh(
                instance.get_latest_storage_id_by_partition(LAST_DAILY, event),
                instance.get_latest_storage_id_by_partition(LAST_WEEKLY, event),
                weekly_partitions.get_partition_keys(),
            )
        ]
        selection = _selection(REFERENCE_ASSETS, None)
        if weeks:
            selection |= _selection(WEEKLY_ASSETS, [(week, week) for week in weeks])
        title = f"snu-assets weeks {weeks[0]}..{weeks[-1]}" if weeks else "snu-assets references"
        # the weeks in order through the graph (weekly_funnel depends on its previous week):
        # the daemon runs the other weekly assets of a week beside it
        views = launch(api, selection, title)
        timings["weekly views"] = wait(api, views)
    return timings


def _days(start: str, end: str) -> list[str]:
    keys = daily_partitions.get_partition_keys()
    chosen = [key for key in keys if start <= key <= end]
    if not chosen:
        raise SystemExit(
            f"no daily partition between {start} and {end}: partitions run from "
            f"{keys[0] if keys else settings.start_date()} to "
            f"{keys[-1] if keys else 'yesterday'} (SNU_START_DATE, SNU_TIMEZONE)"
        )
    return chosen
