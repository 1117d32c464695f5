"""The CLI's side of a backfill (``snu_assets.ops.backfill``) against a scripted GraphQL API:
what it sends (the UI's mutation, each asset's partitions), how it reads the answers (a
refused launch, a failed backfill and its failed runs, the daemon's heartbeat). The real
webserver and daemon: the integration tests (``snu_assets_tests/backfills.py``)."""

from __future__ import annotations

import time

import pytest
from dagster import AssetKey

from snu_assets.defs.assets import DAILY_ASSETS, REFERENCE_ASSETS
from snu_assets.ops import backfill
from snu_assets.ops.backfill import (
    BACKFILL,
    DAEMON,
    FAILED_RUNS,
    LAUNCH_BACKFILL,
    BackfillFailed,
    daemon_running,
    launch,
    wait,
)


class ScriptedAPI:
    """Answers each GraphQL document with the next answer scripted for it; records calls."""

    def __init__(self, answers: dict[str, list[dict]]):
        self.answers = answers
        self.calls: list[tuple[str, dict | None]] = []

    def __call__(self, document: str, variables: dict | None = None) -> dict:
        self.calls.append((document, variables))
        queue = self.answers[document]
        return queue.pop(0) if len(queue) > 1 else queue[0]


def launched(backfill_id: str = "abcdefgh") -> dict:
    return {
        "launchPartitionBackfill": {
            "__typename": "LaunchBackfillSuccess",
            "backfillId": backfill_id,
        }
    }


def state(status: str, error: str | None = None) -> dict:
    return {
        "partitionBackfillOrError": {
            "__typename": "PartitionBackfill",
            "status": status,
            "error": {"message": error} if error else None,
        }
    }


def test_launch_sends_the_ui_mutation_with_each_assets_partitions():
    api = ScriptedAPI({LAUNCH_BACKFILL: [launched("b1")]})
    selection = backfill._selection(DAILY_ASSETS, [("2025-01-06", "2025-01-12")])
    selection |= backfill._selection(REFERENCE_ASSETS, None)
    assert launch(api, selection, "days", {"snu/weekly-views": "1"}) == "b1"
    (document, variables) = api.calls[0]
    params = variables["backfillParams"]
    by_asset = {tuple(p["assetKey"]["path"]): p["partitions"] for p in params["partitionsByAssets"]}
    week = {"ranges": [{"start": "2025-01-06", "end": "2025-01-12"}]}
    assert by_asset[("raw_patches",)] == week
    assert by_asset[("reconstructed_events",)] == week
    assert by_asset[("enriched_events",)] == week
    assert by_asset[("cohorts",)] is None and by_asset[("inscription_goals",)] is None
    assert {"key": "snu/trigger", "value": "cli"} in params["tags"]
    assert {"key": "snu/weekly-views", "value": "1"} in params["tags"]
    assert params["title"] == "days"


def test_a_refused_launch_fails_with_dagsters_message():
    refused = {"launchPartitionBackfill": {"__typename": "PythonError", "message": "no such asset"}}
    api = ScriptedAPI({LAUNCH_BACKFILL: [refused]})
    with pytest.raises(BackfillFailed, match="no such asset"):
        launch(api, {AssetKey("nope"): None}, "x")


def test_wait_returns_once_the_backfill_succeeded():
    api = ScriptedAPI({BACKFILL: [state("REQUESTED"), state("COMPLETED_SUCCESS")]})
    assert wait(api, "b1", ceiling_s=60) >= 0
    assert [variables for _, variables in api.calls] == [{"backfillId": "b1"}] * 2


def test_a_failed_backfill_names_itself_its_error_and_its_failed_runs():
    runs = {"runsOrError": {"__typename": "Runs", "results": [{"runId": "r1"}, {"runId": "r2"}]}}
    api = ScriptedAPI({BACKFILL: [state("COMPLETED_FAILED", "step raised")], FAILED_RUNS: [runs]})
    with pytest.raises(BackfillFailed) as failed:
        wait(api, "b1", ceiling_s=60)
    assert "backfill b1 ended COMPLETED_FAILED (step raised)" in str(failed.value)
    assert "failed runs: r1, r2" in str(failed.value)


def test_wait_gives_up_at_its_ceiling_and_says_the_backfill_goes_on():
    api = ScriptedAPI({BACKFILL: [state("REQUESTED")]})
    with pytest.raises(BackfillFailed, match="still REQUESTED after 0s"):
        wait(api, "b1", ceiling_s=0)


def heartbeat(at: float | None) -> ScriptedAPI:
    beat = {"instance": {"daemonHealth": {"daemonStatus": {"lastHeartbeatTime": at}}}}
    return ScriptedAPI({DAEMON: [beat]})


def test_a_daemon_runs_when_it_beat_lately_and_was_not_the_one_the_cli_stopped(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    now = time.time()
    assert daemon_running(heartbeat(now - 10))
    assert not daemon_running(heartbeat(None))
    assert not daemon_running(heartbeat(now - 120))  # stopped a while ago
    # the last heartbeat of the daemon a command started and stopped: not a running daemon
    (tmp_path / backfill.DAEMON_STOPPED_FILE).write_text(repr(now - 5))
    assert not daemon_running(heartbeat(now - 10))
    # ... but a daemon started since beats after that
    assert daemon_running(heartbeat(now - 1))
