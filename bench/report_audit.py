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
from snu_assets.defs.resources import PostgresResource, build_resources
from snu_assets_testing.report_pages import COUNTS, parse, printed_as_rows

FUNNEL = COUNTS[:5]
COLUMNS = ["week", "cohort", "region", "department", "gender", "age_band"] + [
    f"{m}{s}" for s in ("", "_cumulated") for m in FUNNEL
]


def published(postgres: PostgresResource, last: date) -> list[dict]:
    with postgres.connect() as conn:
        found = conn.execute(
            f"select {', '.join(COLUMNS)} from {postgres.table('weekly_funnel')} where week <= %s",
            (last,),
        ).fetchall()
    return [dict(zip(COLUMNS, r)) for r in found]


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
    table = published(postgres, max(weeks))
    by_key = {tuple(r[c] for c in COLUMNS[:6]): r for r in table}
    printed = filled = mismatched = 0
    for week, path in zip(weeks, pages):
        page = parse(path.read_text(encoding="utf-8"))
        for row in printed_as_rows(page, week):
            key = (week, row["cohort"], row["region"], "all", "all", "all")
            target = by_key.get(key)
            for col in COUNTS:
                value = row.get(col)
                if value is None:
                    continue
                printed += 1
                if target is None:
                    mismatched += value != 0
                elif target[col] is None:
                    filled += 1  # a leak: the page prints what the table hides
                    target[col] = value
                elif target[col] != value:
                    mismatched += 1
    hidden = sum(1 for r in table for c in COLUMNS[6:] if r[c] is None)
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
