"""docs/architecture.md in step with the code: the import contracts it names are the ones
``lint-imports`` checks, and the contract of our own finds a database call in the core."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from snu_assets_testing.contracts import calls_in

ROOT = Path(__file__).resolve().parents[1]
NUMBERS = "zero one two three four five six seven eight nine ten eleven twelve".split()


def _contracts() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [c["name"] for c in config["tool"]["importlinter"]["contracts"]]


def test_the_architecture_names_every_contract_and_counts_them():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    section = doc.split("### Import contracts", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^- (.+)$", section, re.M)
    assert listed == _contracts()
    counted = re.search(r"`lint-imports`, (\w+) contracts", doc)
    assert counted, "docs/architecture.md no longer says how many contracts lint-imports checks"
    assert counted.group(1) == NUMBERS[len(_contracts())]


def test_the_no_calls_contract_finds_sql_run_on_a_connection_handed_in(tmp_path):
    module = tmp_path / "audit.py"
    module.write_text(
        "def audit_table(conn, table):\n"
        "    return conn.execute(f'select count(*) from {table}').fetchone()[0]\n"
    )
    assert calls_in(module, {"execute", "fetchone", "cursor"}) == [(2, "execute"), (2, "fetchone")]
