"""What the product package promises about itself: Dagster's public surface only, and an
install without the demo data's dependencies."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ROOT / "snu_assets"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_the_product_imports_no_dagster_internals():
    internal = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in PRODUCT.rglob("*.py")
        for module in _imported_modules(path)
        if module.startswith("dagster") and "._" in module
    }
    assert not internal, sorted(internal)


def test_faker_and_tqdm_are_the_demo_extra_only():
    def names(requirements: list[str]) -> set[str]:
        return {r.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip()
                for r in requirements}  # fmt: skip

    assert not {"faker", "tqdm"} & names(PYPROJECT["project"]["dependencies"])
    assert {"faker", "tqdm"} <= names(PYPROJECT["project"]["optional-dependencies"]["demo"])


def test_loading_the_product_imports_no_demo_data():
    """The definitions and the command line load without the demo data (nor Faker, tqdm):
    the ``demo`` and ``seed`` commands import it when they run."""
    probe = (
        "import sys; import snu_assets.definitions, snu_assets.ops.cli, snu_assets.ops.backfill; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('faker', 'tqdm') "
        "or m.startswith('snu_assets.ops.demo_data')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip().splitlines()[-1] == "[]", out


def test_the_demo_commands_name_the_missing_extra():
    """Without Faker (no ``demo`` extra), ``snu-assets seed`` stops at once and says what to
    install, before it starts any server."""
    probe = (
        "import sys; sys.modules['faker'] = None; from snu_assets.ops.cli import main; "
        "main(['seed', '--youngs', '1', '--days', '1'])"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1, done
    assert "pip install 'snu-assets[demo]'" in done.stderr.strip().splitlines()[-1]
