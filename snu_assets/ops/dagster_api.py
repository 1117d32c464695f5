"""Dagster's own processes for the duration of a command, and the webserver's GraphQL API.

The command line drives Dagster as the UI does: through the webserver's GraphQL API (the
schema ``dagster-graphql`` serves, the one the UI's "Launch backfill" dialog calls). It
starts a ``dagster-webserver`` of its own on a free local port (the instance is shared
through ``DAGSTER_HOME``, so what it records shows in any other webserver of the instance)
and, when no daemon runs for the instance, a ``dagster-daemon``. Each process runs in its
own session and is stopped as ``dagster dev`` stops its children: SIGTERM to the process
group (it and the code servers it spawned), a wait, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import requests

from snu_assets import settings
from snu_assets.io.embedded import free_port

STOP_S = 30.0
READY_S = 300.0
WORKSPACE = settings.PROJECT_ROOT / "workspace.yaml"

LOCATIONS = """
query {
  workspaceOrError {
    __typename
    ... on Workspace { locationEntries { name loadStatus
      locationOrLoadError { __typename ... on PythonError { message } } } }
    ... on PythonError { message }
  }
}"""


class DagsterUnavailable(RuntimeError):
    """The webserver did not start, or its code location did not load."""


class GraphQL:
    """The GraphQL endpoint of a Dagster webserver (``<url>/graphql``)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()

    def __call__(self, document: str, variables: Mapping[str, Any] | None = None) -> dict:
        """The ``data`` of the answer; raises on a GraphQL error (a malformed document)."""
        response = self.session.post(
            f"{self.url}/graphql",
            json={"query": document, "variables": variables or {}},
            timeout=60,
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise DagsterUnavailable(f"GraphQL errors from {self.url}: {body['errors']}")
        return body["data"]

    def close(self) -> None:
        self.session.close()


def _dagster_command(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _start(args: list[str], log: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env if env is not None else os.environ),
            start_new_session=True,
        )


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to the process's group (it and the code servers it spawned), a wait, then
    SIGKILL to whatever of the group is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(STOP_S)
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


def _wait_until(what: str, probe: Callable[[], bool], process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + READY_S
    while not probe():
        if process.poll() is not None or time.monotonic() > deadline:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            state = f"exited ({process.returncode})" if process.poll() is not None else "is late"
            raise DagsterUnavailable(f"{what} {state}; the end of {log}:\n{tail}")
        time.sleep(0.5)


def _location_loaded(api: GraphQL) -> bool:
    try:
        workspace = api(LOCATIONS)["workspaceOrError"]
    except (requests.RequestException, DagsterUnavailable):
        return False
    if workspace["__typename"] != "Workspace":
        raise DagsterUnavailable(f"the webserver's workspace: {workspace}")
    entries = workspace["locationEntries"]
    for entry in entries:
        if entry["locationOrLoadError"] and entry["locationOrLoadError"]["__typename"] == (
            "PythonError"
        ):
            raise DagsterUnavailable(
                f"code location {entry['name']} failed to load: "
                f"{entry['locationOrLoadError']['message']}"
            )
    return bool(entries) and all(entry["loadStatus"] == "LOADED" for entry in entries)


@contextlib.contextmanager
def webserver() -> Iterator[GraphQL]:
    """A ``dagster-webserver`` on a free local port for the duration of the block, its code
    location loaded (log: ``<state dir>/dagster-webserver.log``); its GraphQL API."""
    port = free_port()
    log = settings.state_dir() / "dagster-webserver.log"
    process = _start(
        [
            _dagster_command("dagster-webserver"),
            "-w",
            str(WORKSPACE),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        log,
    )
    api = GraphQL(f"http://127.0.0.1:{port}")
    try:
        _wait_until("dagster-webserver", lambda: _location_loaded(api), process, log)
        yield api
    finally:
        api.close()
        stop_group(process)


@contextlib.contextmanager
def daemon() -> Iterator[None]:
    """A ``dagster-daemon`` for the duration of the block (log: ``<state
    dir>/dagster-daemon.log``). Its schedule and sensors are stopped: it carries out the
    command's backfills only, and no run of its own outlives the command."""
    log = settings.state_dir() / "dagster-daemon.log"
    process = _start(
        [_dagster_command("dagster-daemon"), "run", "-w", str(WORKSPACE)],
        log,
        {"SNU_AUTOMATION_DEFAULT_STATUS": "stopped", **os.environ},
    )
    try:
        yield
    finally:
        stop_group(process)


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """In the main thread, SIGTERM becomes ``KeyboardInterrupt`` for the block, so that the
    processes the command started are stopped with it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
