"""Audit of the weekly report's public editions as a reader would attack them (issue #25).

Reads every ``rapport_hebdomadaire_*_edition_publique.html`` of a reports folder (the demo's by
default), parses every figure it prints, adds it to what the published table ``weekly_funnel``
holds for the same weeks (as ``snu_public`` reads it), and runs the LP attacker of
``snu_assets.core.publication.attack`` over the whole: every hidden value's feasible
interval. The edition is sound when no hidden value is narrower than k and no printed figure
fills a value the table hides.

    python bench/report_audit.py                       # the demo's servers and reports
    python bench/report_audit.py --reports DIR --k 5

Uses the settings of the environment (``SNU_POSTGRES_URL`` / the embedded demo servers).
Prints a Markdown report; ``--out FILE`` writes it too.
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import date
from pathlib import Path

from snu_assets import settings
from snu_assets.core.publication.attack import intervals, narrower
from snu_assets.defs.report.render import reports_dir
from snu_assets.defs.resources import build_resources
from snu_assets_testing.report_pages import PUBLISHED, fold_printed, parse, published_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=Path, default=None)
    parser.add_argument("--k", type=int, default=settings.current().small_cell_k)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    folder = args.reports or reports_dir()
    pages = sorted(folder.glob("rapport_hebdomadaire_*_edition_publique.html"))
    if not pages:
        raise SystemExit(f"no public edition in {folder}: materialise weekly_report_public first")
    postgres = build_resources()["postgres"]
    weeks = [date.fromisoformat(p.name.split("_")[2]) for p in pages]
    table = published_rows(postgres, max(weeks))
    folded = fold_printed(
        table, ((week, parse(p.read_text(encoding="utf-8"))) for week, p in zip(weeks, pages))
    )
    printed, filled, mismatched = folded.printed, folded.filled, folded.mismatched
    hidden = sum(1 for r in table for c in PUBLISHED[6:] if r[c] is None)
    started = time.perf_counter()
    found = intervals(table, width=args.k)
    seconds = time.perf_counter() - started
    narrow = sum(1 for i in found.values() if narrower(i, args.k))
    lines = [
        "# Audit of the public report editions (bench/report_audit.py)",
        "",
        f"- machine: {platform.machine()}, Python {platform.python_version()}",
        f"- reports: {len(pages)} public editions ({min(weeks)} .. {max(weeks)}) in {folder}",
        f"- published table: {len(table)} rows of weekly_funnel, {hidden} hidden values",
        f"- figures printed by the editions (national and regional counts): {printed}",
        f"- printed figures that differ from the table: {mismatched}",
        f"- printed figures that fill a value the table hides: {filled}",
        f"- LP attacker over the table and the printed figures: {narrow} hidden values "
        f"narrower than k = {args.k} ({seconds:.1f} s)",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    if narrow or filled or mismatched:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
