"""An import-linter contract type for what imports cannot show: the pure core calls no
database method, whatever object it is handed (a connection passed in as an argument needs
no import, which is how SQL once ran in ``core/privacy/audit.py``).

Registered in ``pyproject.toml`` (``[tool.importlinter] contract_types``) and checked by
``lint-imports`` (``make lint``) like the other contracts."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def calls_in(path: Path, methods: set[str]) -> list[tuple[int, str]]:
    """``(line, method)`` of every call ``<anything>.<method>(...)`` in the file."""
    tree = ast.parse(path.read_text(), str(path))
    return sorted(
        (node.lineno, node.func.attr)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in methods
    )


class NoCallsContract(Contract):
    """The ``source_modules`` (and their submodules) call none of ``forbidden_methods``."""

    source_modules = fields.ListField(subfield=fields.StringField())
    forbidden_methods = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        methods = set(self.forbidden_methods)
        found = []
        for module in sorted(graph.modules):
            if not any(module == s or module.startswith(f"{s}.") for s in self.source_modules):
                continue
            spec = importlib.util.find_spec(module)
            if spec is None or not spec.origin or not spec.origin.endswith(".py"):
                continue
            found += [
                f"{module}:{line} calls .{method}()"
                for line, method in calls_in(Path(spec.origin), methods)
            ]
        return ContractCheck(kept=not found, metadata={"calls": found})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for call in check.metadata["calls"]:
            output.print_error(f"- {call}", bold=False)
        output.new_line()
        output.print("Run SQL through snu_assets.io (SQL files in snu_assets/io/sql/).")
