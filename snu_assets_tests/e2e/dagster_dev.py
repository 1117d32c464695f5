"""A `dagster dev` subprocess on a free port, and a small GraphQL client for it.

The process is started in its own session (process group): webserver, daemon, code server
and run workers all belong to it, so stopping the group (SIGTERM, wait, SIGKILL) leaves no
orphan. As a last resort, processes still carrying this instance's ``DAGSTER_HOME`` in their
environment (e.g. a run worker that started its own session) are killed by pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from snu_assets.ops.cli import dev_working_directory
from snu_assets_testing.servers import free_port

DAGSTER = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "dagster"


class DagsterDevTimeout(AssertionError):
    pass


class DagsterDev:
    def __init__(self, workspace: Path, env: dict[str, str], log_path: Path):
        self.workspace = workspace
        self.env = env
        self.log_path = log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/graphql"
        self.proc: subprocess.Popen | None = None
        self.session = requests.Session()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                str(DAGSTER),
                "dev",
                "-w",
                str(self.workspace),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            # where `snu-assets dev` runs it: in DAGSTER_HOME, beside its dagster.yaml
            cwd=dev_working_directory(self.env),
        )
        log.close()

    def stop(self, grace: float = 30.0) -> None:
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session: the leader's pid is the group id
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and (self.proc.poll() is None or _group_alive(pgid)):
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        for pid in self.stray_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.session.close()

    def stray_pids(self) -> list[int]:
        """Live processes whose environment carries this instance's DAGSTER_HOME."""
        marker = f"DAGSTER_HOME={self.env['DAGSTER_HOME']}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                environ = (entry / "environ").read_bytes()
                stat = (entry / "stat").read_text()
                if marker in environ.split(b"\0") and stat.rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(entry.name))
        return found

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])

    # -------------------------------------------------------------------- GraphQL

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
        response = self.session.post(
            self.url, json={"query": query, "variables": variables or {}}, timeout=timeout
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def wait_for(
        self, what: str, probe: Callable[[], Any], timeout: float, interval: float = 2.0
    ) -> Any:
        """Call ``probe`` until it returns something truthy; fail with the log's tail."""
        deadline = time.monotonic() + timeout
        last_error = None
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise DagsterDevTimeout(
                    f"dagster dev exited (code {self.proc.returncode}) while waiting for {what}\n"
                    f"--- {self.log_path} ---\n{self.log_tail()}"
                )
            try:
                result = probe()
                if result:
                    return result
            except (requests.RequestException, KeyError) as exc:
                last_error = exc
            if time.monotonic() > deadline:
                raise DagsterDevTimeout(
                    f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error})"
                    f"\n--- tail of {self.log_path} ---\n{self.log_tail()}"
                )
            time.sleep(interval)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # only zombies left? they go once their parent reaps them; count live members
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False
