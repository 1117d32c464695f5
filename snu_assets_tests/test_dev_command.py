"""``snu-assets dev`` (``make dev``) without a server: it starts ``dagster dev`` in
``DAGSTER_HOME``, beside the ``dagster.yaml`` Dagster reads, so that dagster dev does not warn
that the project's ``dagster.yaml`` "will not be used"; and a Ctrl-C lets dagster dev stop its
own processes. The real ``dagster dev``, started the same way, and its output:
e2e/test_dagster_dev.py."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import pytest

from snu_assets import settings
from snu_assets.ops import cli


def dagster_dev_warns(cwd: Path, env: dict[str, str]) -> bool:
    """dagster dev's own condition for the warning (dagster/_cli/dev.py, 1.13): a
    ``dagster.yaml`` (or ``.yml``) in the working directory while ``DAGSTER_HOME`` is set to
    another folder."""
    home = env.get("DAGSTER_HOME")
    found = (cwd / "dagster.yaml").exists() or (cwd / "dagster.yml").exists()
    return bool(home) and found and cwd != Path(home)


class FakeDagster:
    """``subprocess.Popen`` for ``dagster dev``: records how it was started; ``wait`` gives
    the scripted outcomes in turn (an exception is raised)."""

    started: list[FakeDagster] = []

    def __init__(self, argv, env=None, cwd=None, outcomes=(0,)):
        self.argv, self.env, self.cwd = argv, env, cwd
        self.outcomes = list(outcomes)
        self.terminated = False
        FakeDagster.started.append(self)

    def wait(self, timeout=None):
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def terminate(self):
        self.terminated = True


@pytest.fixture()
def dev_environment(monkeypatch, tmp_path):
    """The environment ``configure_environment`` builds, without starting any server: URLs
    set (never contacted), the state folder temporary, no ``DAGSTER_HOME`` of the caller's."""
    monkeypatch.setenv("SNU_MONGO_URI", "mongodb://127.0.0.1:1")
    monkeypatch.setenv("SNU_POSTGRES_URL", "postgresql://nobody@127.0.0.1:1/nothing")
    monkeypatch.setenv("SNU_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DAGSTER_HOME", "set-then-removed")  # restored (unset) afterwards
    monkeypatch.delenv("DAGSTER_HOME")
    FakeDagster.started = []
    return tmp_path / "state" / "dagster_home"


def test_dagster_dev_runs_beside_the_dagster_yaml_it_reads(monkeypatch, dev_environment):
    monkeypatch.setattr(cli.subprocess, "Popen", FakeDagster)
    assert cli.cmd_dev(argparse.Namespace(port=3123)) == 0
    [dagster] = FakeDagster.started
    assert dagster.argv[1:] == [
        "dev",
        "-w",
        str(settings.PROJECT_ROOT / "workspace.yaml"),
        "-p",
        "3123",
    ]
    home = Path(dagster.env["DAGSTER_HOME"])
    assert home == dev_environment and Path(dagster.cwd) == home
    # the instance's configuration is the project's dagster.yaml, linked from DAGSTER_HOME
    assert (home / "dagster.yaml").resolve() == (settings.PROJECT_ROOT / "dagster.yaml").resolve()
    assert not dagster_dev_warns(Path(dagster.cwd), dagster.env)
    # from the project's folder, as before, dagster dev would warn (falsely)
    assert dagster_dev_warns(settings.PROJECT_ROOT, dagster.env)


def test_ctrl_c_waits_for_dagster_dev_to_stop_its_processes(monkeypatch, dev_environment):
    def interrupted(argv, env=None, cwd=None):
        return FakeDagster(argv, env, cwd, outcomes=(KeyboardInterrupt(), 0))

    monkeypatch.setattr(cli.subprocess, "Popen", interrupted)
    assert cli.cmd_dev(argparse.Namespace(port=3000)) == 0
    assert not FakeDagster.started[0].terminated

    def stuck(argv, env=None, cwd=None):
        timeout = subprocess.TimeoutExpired(argv, 60)
        return FakeDagster(argv, env, cwd, outcomes=(KeyboardInterrupt(), timeout, -15))

    monkeypatch.setattr(cli.subprocess, "Popen", stuck)
    assert cli.cmd_dev(argparse.Namespace(port=3000)) == -15
    assert FakeDagster.started[1].terminated
