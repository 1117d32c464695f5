"""Backfills from the command line, the way the UI launches them.

``snu-assets run|backfill|demo`` record an *asset backfill* in the Dagster instance (what the
UI's "Launch backfill" dialog records: it shows on the Backfills page with its runs), and
Dagster's own backfill daemon carries it out: ranged runs of the backfill policy's size, in
dependency order, retries and concurrency pools included. Nothing here re-implements that:
the command waits for the daemon already running (``snu-assets dev``, a deployment), or runs
one for its own duration, and reports the backfill's outcome.

Then the weeks the new days complete (the weekly sensor's rule,
:func:`~snu_assets.defs.automation.sensors.weeks_to_refresh`) and the reference assets are
backfilled the same way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from dagster import AssetKey, DagsterEventType, DagsterInstance, Definitions
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.definitions.events import AssetKeyPartitionKey
from dagster._core.execution.backfill import (
    BULK_ACTION_TERMINAL_STATUSES,
    BulkActionStatus,
    PartitionBackfill,
)
from dagster._core.utils import make_new_backfill_id
from dagster._daemon.controller import get_daemon_statuses

from snu_assets import settings
from snu_assets.defs.assets import ALL_ASSETS, DAILY_ASSETS, REFERENCE_ASSETS, WEEKLY_ASSETS
from snu_assets.defs.automation.jobs import WEEKLY_SERIAL_TAG
from snu_assets.defs.automation.sensors import LAST_DAILY, LAST_WEEKLY, weeks_to_refresh
from snu_assets.defs.partitions import daily_partitions, weekly_partitions
from snu_assets.defs.resources import build_resources

DAEMON_STOP_S = 30.0
HEARTBEAT_TOLERANCE_S = 45


class BackfillFailed(RuntimeError):
    pass


def _keys(assets) -> list[AssetKey]:
    return [key for asset in assets for key in asset.keys]


def launch(
    instance: DagsterInstance,
    keys: Sequence[AssetKey],
    partitions: Sequence[str | None],
    title: str,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Record an asset backfill of ``keys`` over ``partitions`` (``None`` for unpartitioned
    assets) in ``instance``, as the UI does; the daemon picks it up. Its id."""
    graph = Definitions(assets=ALL_ASSETS, resources=build_resources()).resolve_asset_graph()
    wanted = {
        AssetKeyPartitionKey(key, partition)
        for key in keys
        for partition in (partitions if graph.get(key).is_partitioned else [None])
    }
    backfill = PartitionBackfill.from_asset_graph_subset(
        backfill_id=make_new_backfill_id(),
        backfill_timestamp=time.time(),
        tags={"snu/trigger": "cli", **(tags or {})},
        dynamic_partitions_store=instance,
        asset_graph_subset=AssetGraphSubset.from_asset_partition_set(wanted, graph),
        title=title,
        description=None,
        run_config=None,
    )
    instance.add_backfill(backfill)
    return backfill.backfill_id


def daemon_running(instance: DagsterInstance) -> bool:
    """A backfill daemon heartbeat for this instance within the last ~75 s (a daemon beats
    every 30 s; Dagster's own 30-minute tolerance would mistake a stopped one for alive)."""
    status = get_daemon_statuses(
        instance,
        ["BACKFILL"],
        ignore_errors=True,
        heartbeat_tolerance_seconds=HEARTBEAT_TOLERANCE_S,
    )["BACKFILL"]
    return bool(status.healthy)


@contextlib.contextmanager
def daemon(instance: DagsterInstance) -> Iterator[None]:
    """A Dagster daemon for the duration of the block, unless one already runs for this
    instance (its log: ``<state dir>/dagster-daemon.log``). Its schedule and sensors are
    stopped unless ``SNU_AUTOMATION_DEFAULT_STATUS`` says otherwise. Stopped as ``dagster
    dev`` stops it: SIGTERM to its process group, a wait, then SIGKILL."""
    if daemon_running(instance):
        yield
        return
    log = settings.state_dir() / "dagster-daemon.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "dagster-daemon"),
                "run",
                "-w",
                str(settings.PROJECT_ROOT / "workspace.yaml"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            # this daemon carries out the command's backfills only: no schedule or sensor of
            # its own starts runs that would outlive the command
            env={"SNU_AUTOMATION_DEFAULT_STATUS": "stopped", **os.environ},
            start_new_session=True,
        )
    previous = _stop_on_sigterm()
    try:
        yield
    finally:
        _stop_group(process)
        # its last heartbeat would make the next command believe a daemon still runs
        instance.wipe_daemon_heartbeats()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _stop_on_sigterm():
    """In the main thread, turn SIGTERM into ``KeyboardInterrupt`` so that the daemon this
    command started is stopped with it (the previous handler, to restore)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, interrupt)


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to the daemon's process group (it and the code servers it spawned), a wait,
    then SIGKILL to whatever of the group is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(DAEMON_STOP_S)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)  # is any process of the group left?
        except ProcessLookupError:
            break
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.poll() is None:
        process.wait()


def wait(instance: DagsterInstance, backfill_id: str, ceiling_s: float | None = None) -> float:
    """Wait for the backfill to end; its duration. Raises :class:`BackfillFailed` naming the
    backfill (open it in the UI: Backfills page) when it did not succeed."""
    if ceiling_s is None:  # SNU_CLI_BACKFILL_TIMEOUT_S: far above any day's or week's run
        ceiling_s = float(settings.current().cli_backfill_timeout_s)
    began = time.perf_counter()
    delay = 0.2
    while True:
        backfill = instance.get_backfill(backfill_id)
        if backfill is None:
            raise BackfillFailed(f"backfill {backfill_id} vanished from the Dagster instance")
        if backfill.status in BULK_ACTION_TERMINAL_STATUSES:
            break
        if time.perf_counter() - began > 2 * (30 + HEARTBEAT_TOLERANCE_S) and not daemon_running(
            instance
        ):
            raise BackfillFailed(
                f"backfill {backfill_id} is {backfill.status.value} but no Dagster daemon "
                "runs for this instance (DAGSTER_HOME): start one (`snu-assets dev`, or "
                "`dagster-daemon run`) and it will carry the backfill out"
            )
        if time.perf_counter() - began > ceiling_s:
            raise BackfillFailed(
                f"backfill {backfill_id} still {backfill.status.value} after {ceiling_s:.0f}s: "
                "it goes on in the Dagster daemon; follow it on the UI's Backfills page"
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)
    if backfill.status not in (BulkActionStatus.COMPLETED_SUCCESS, BulkActionStatus.COMPLETED):
        failed = [
            run.run_id
            for run in instance.get_runs()
            if run.tags.get("dagster/backfill") == backfill_id and run.is_failure
        ]
        reason = f" ({backfill.error.message.strip()})" if backfill.error else ""
        raise BackfillFailed(
            f"backfill {backfill_id} ended {backfill.status.value}{reason}; failed runs: "
            f"{', '.join(failed) or 'none'} (Dagster UI: Backfills page, or "
            f"`dagster run logs <run id>`). Re-run the same range: loads are idempotent."
        )
    return time.perf_counter() - began


def backfill_range(start: str, end: str, instance: DagsterInstance | None = None) -> dict:
    """The daily layers over ``[start, end]`` (days, inclusive), then the reference assets
    and every week whose seven days are now materialised, each as a Dagster backfill.
    Seconds per backfill."""
    instance = instance or DagsterInstance.get()
    days = _days(start, end)
    timings: dict[str, float] = {}
    with daemon(instance):
        daily = launch(instance, _keys(DAILY_ASSETS), days, f"snu-assets days {start}..{end}")
        timings["daily layers"] = wait(instance, daily)
        event = DagsterEventType.ASSET_MATERIALIZATION
        weeks = [
            week
            for week, _ in weeks_to_refresh(
                instance.get_latest_storage_id_by_partition(LAST_DAILY, event),
                instance.get_latest_storage_id_by_partition(LAST_WEEKLY, event),
                weekly_partitions.get_partition_keys(),
            )
        ]
        keys = _keys(REFERENCE_ASSETS) + (_keys(WEEKLY_ASSETS) if weeks else [])
        title = f"snu-assets weeks {weeks[0]}..{weeks[-1]}" if weeks else "snu-assets references"
        # one week at a time under dagster.yaml's queue (the weekly job's tag)
        views = launch(instance, keys, weeks or [None], title, {WEEKLY_SERIAL_TAG: "1"})
        timings["weekly views"] = wait(instance, views)
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
