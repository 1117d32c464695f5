"""Issue #21, item 1: a deployment is explicit. One of ``SNU_MONGO_URI`` /
``SNU_POSTGRES_URL`` set and the other not: the code location refuses to load, naming the
missing variable (a forgotten secret would otherwise read the empty embedded SecantusDB and
replace real days with nothing); ``SNU_EMBEDDED=1`` is the only way to mix."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from snu_assets.io import embedded
from snu_assets_tests.conftest import TEST_KEY

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def load_location(tmp_path, command: list[str], **variables: str) -> subprocess.CompletedProcess:
    """Load the code location in a fresh process whose only ``SNU_*`` variables are
    ``variables`` (an empty Dagster home: nothing else starts)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNU_")}
    env.update(variables, DAGSTER_HOME=str(tmp_path))
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


IMPORT = [sys.executable, "-c", "import snu_assets.definitions"]


@pytest.mark.parametrize(
    ("given", "missing"),
    [("SNU_POSTGRES_URL", "SNU_MONGO_URI"), ("SNU_MONGO_URI", "SNU_POSTGRES_URL")],
)
def test_a_missing_server_variable_stops_the_code_location(
    tmp_path, embedded_servers, given, missing
):
    urls = {
        "SNU_POSTGRES_URL": embedded.postgres_uri(),
        "SNU_MONGO_URI": embedded_servers.uri,
    }
    result = load_location(tmp_path, IMPORT, SNU_PSEUDONYM_KEY=TEST_KEY, **{given: urls[given]})
    assert result.returncode != 0
    assert f"{missing} is not set while {given} is" in result.stderr
    assert "SNU_EMBEDDED=1" in result.stderr
    # the explicit switch allows the mix
    allowed = load_location(
        tmp_path, IMPORT, SNU_PSEUDONYM_KEY=TEST_KEY, SNU_EMBEDDED="1", **{given: urls[given]}
    )
    assert allowed.returncode == 0, allowed.stderr


def test_dg_check_defs_names_the_missing_variable(tmp_path, embedded_servers):
    """What an operator runs after deploying (README): ``dg check defs`` fails and says why."""
    result = load_location(
        tmp_path,
        [str(BIN / "dg"), "check", "defs"],
        SNU_POSTGRES_URL=embedded.postgres_uri(),
        SNU_PSEUDONYM_KEY=TEST_KEY,
    )
    assert result.returncode != 0
    assert "SNU_MONGO_URI is not set while SNU_POSTGRES_URL is" in result.stdout + result.stderr


def test_both_set_or_both_unset_load(tmp_path, embedded_servers):
    both = load_location(
        tmp_path,
        IMPORT,
        SNU_POSTGRES_URL=embedded.postgres_uri(),
        SNU_MONGO_URI=embedded_servers.uri,
        SNU_PSEUDONYM_KEY=TEST_KEY,
    )
    assert both.returncode == 0, both.stderr
    neither = load_location(tmp_path, IMPORT)
    assert neither.returncode == 0, neither.stderr
