"""What the product package promises about itself: Dagster's public surface only."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ROOT / "snu_assets"


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
