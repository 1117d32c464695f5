"""The weekly report's pages read back as figures (tests and the bench): every figure cell of
the template (``data-table`` / ``data-key`` / ``data-col`` / ``data-value`` /
``data-suppressed``), the KPIs, the grouped inactive regions and the visible text; and the
public edition's figures as rows of the published grain, for the LP attacker."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser

COUNTS = ("created", "completed", "processed", "validated", "refused", "validated_cumulated")


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
