"""The weekly report's pages read back as figures (tests and the bench): every figure cell of
the template (``data-table`` / ``data-key`` / ``data-col`` / ``data-value`` /
``data-suppressed``), the KPIs, the grouped inactive regions and the visible text; and the
public edition's figures as rows of the published grain, for the LP attacker."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser

from snu_assets.defs.resources import PostgresResource

COUNTS = ("created", "completed", "processed", "validated", "refused", "validated_cumulated")
KEY = ("week", "cohort", "region", "department", "gender", "age_band")
#: weekly_funnel's columns a reader of the published table knows (the attacker's input)
PUBLISHED = [*KEY] + [f"{m}{s}" for s in ("", "_cumulated") for m in COUNTS[:5]]


class Page(HTMLParser):
    """A report's figures: every ``<td data-table=...>`` as {(table, key, col): (value,
    suppressed, text)}, its KPIs, its grouped inactive regions and its visible text."""

    def __init__(self):
        super().__init__()
        self.cells, self.kpis, self.inactive = {}, {}, {}
        self.text: list[str] = []
        self._open, self._kpi, self._buffer = None, None, []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("style", "title"):
            self._skip += 1
        if tag == "td" and "data-table" in attrs:
            self._open, self._buffer = attrs, []
        if "data-kpi" in attrs:
            self._kpi = attrs["data-kpi"]
        if "data-inactive" in attrs:
            self.inactive[attrs["data-cohort"]] = attrs["data-inactive"].split("|")
        if self._kpi and attrs.get("class") == "value":
            self._buffer = []

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)
        self._buffer.append(data)

    def handle_endtag(self, tag):
        if tag in ("style", "title"):
            self._skip -= 1
        if tag == "td" and self._open is not None:
            a = self._open
            key = (a["data-table"], a["data-key"], a["data-col"])
            assert key not in self.cells, f"cell {key} twice"
            self.cells[key] = (a["data-value"], a.get("data-suppressed"), "".join(self._buffer))
            self._open = None
        if tag == "div" and self._kpi and self._buffer and self._kpi not in self.kpis:
            self.kpis[self._kpi] = "".join(self._buffer).strip()
            self._kpi = None

    def table(self, name) -> dict:
        """{key: {col: value}} of one table; values as ints, Decimals or None (not printed)."""
        out = defaultdict(dict)
        for (table, key, col), (value, _, _) in self.cells.items():
            if table == name:
                out[key][col] = number(value)
        return dict(out)

    def visible(self) -> str:
        return " ".join("".join(self.text).split())


def number(text: str) -> int | Decimal | None:
    if text == "":
        return None
    return int(text) if re.fullmatch(r"-?\d+", text) else Decimal(text)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def printed_as_rows(page: Page, week: date) -> list[dict]:
    """The public page's national and regional figures as rows of the published grain."""
    out: dict = {}
    for (table, key, col), (raw, _, _) in page.cells.items():
        if table not in ("national", "regional") or key == "total" or col not in COUNTS:
            continue
        cohort, _, region = key.partition("|")
        row = out.setdefault(
            key,
            {
                "week": week,
                "cohort": cohort,
                "region": region or "all",
                "department": "all",
                "gender": "all",
                "age_band": "all",
            },
        )
        row[col] = number(raw)
    return list(out.values())


def published_rows(postgres: PostgresResource, last_week: date) -> list[dict]:
    """Every row of weekly_funnel up to ``last_week``, as ``snu_public`` reads it."""
    with postgres.connect() as conn:
        found = conn.execute(
            f"select {', '.join(PUBLISHED)} from {postgres.table('weekly_funnel')} "
            "where week <= %s",
            (last_week,),
        ).fetchall()
    return [dict(zip(PUBLISHED, r)) for r in found]


@dataclass
class Folded:
    """What folding the public pages' figures into the published table found."""

    printed: int = 0  # figures printed
    filled: int = 0  # printed where the table hides the value: a leak
    mismatched: int = 0  # printed otherwise than the table says (a missing row reads 0)


def fold_printed(table: list[dict], pages: Iterable[tuple[date, Page]]) -> Folded:
    """Add every figure the public ``pages`` print to ``table`` (published rows, changed in
    place): a figure the table hides becomes known to the attacker, as to a reader holding
    both."""
    by_key = {tuple(r[c] for c in KEY): r for r in table}
    folded = Folded()
    for week, page in pages:
        for row in printed_as_rows(page, week):
            target = by_key.get((week, row["cohort"], row["region"], "all", "all", "all"))
            for col in COUNTS:
                value = row.get(col)
                if value is None:
                    continue
                folded.printed += 1
                if target is None:
                    folded.mismatched += value != 0
                elif target[col] is None:
                    folded.filled += 1
                    target[col] = value
                elif target[col] != value:
                    folded.mismatched += 1
    return folded
