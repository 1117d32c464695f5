"""Detectors of values that look personal, used by the scrubber (second line of defence on
allow-listed fields) and by the PII asset checks on every table.

They answer *which kind* of personal data a value looks like, never the value itself, so
that a finding can be logged without leaking what it found.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from functools import lru_cache
from typing import Any

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w-])(?:\+33\s?|0033\s?|0)[1-9](?:[\s.-]?\d{2}){4}(?!\w)")
STREET = re.compile(
    r"\b\d{1,4}\s*(?:bis|ter)?,?\s+(?:rue|avenue|av\.|boulevard|bd|chemin|all[ée]e|impasse|"
    r"place|route|quai|cours|passage|square|voie|chauss[ée]e|faubourg|sentier|hameau|"
    r"lieu-dit|r[ée]sidence|cit[ée])\b",
    re.IGNORECASE,
)
NIR = re.compile(
    r"(?<!\w)[12]\s?\d{2}\s?(?:0[1-9]|1[0-2]|[2-9]\d)\s?(?:\d{2}|2[AB])\s?\d{3}\s?\d{3}"
    r"(?:\s?\d{2})?(?!\w)"
)
MONGO_ID = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{24}(?![0-9a-fA-F])")
ISO_DATE = re.compile(r"(?<!\d)((?:19|20)\d{2})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(?!\d)")
FR_DATE = re.compile(r"(?<!\d)(0[1-9]|[12]\d|3[01])/(0[1-9]|1[0-2])/((?:19|20)\d{2})(?!\d)")

#: an ISO 8601 instant as MongoDB tools and the scrubber spell it
TIMESTAMP = re.compile(
    r"((?:19|20)\d{2})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"T(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?(?:Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?"
)
#: letters, spaces and a little punctuation, no digit, no @: cannot match any detector
_PLAIN = re.compile(r"[^\W\d]+(?:[ '’.()-]+[^\W\d]*)*")
#: a date this many years or more before the reference date is a birth date, not an event
BIRTH_DATE_MIN_AGE_YEARS = 5
#: free text: longer strings are not statistical categories
MAX_CATEGORY_LENGTH = 120


def kinds_of_personal_data(value: str, reference_year: int | None = None) -> tuple[str, ...]:
    """Which kinds of personal data ``value`` looks like (empty: looks statistical)."""
    if (timestamp := TIMESTAMP.fullmatch(value)) is not None:
        # an ISO instant (every patch carries a few, each one new: not worth caching): only
        # its date can be personal (the other detectors need letters, '@', or digit runs)
        old = reference_year is not None and reference_year - int(timestamp.group(1)) >= (
            BIRTH_DATE_MIN_AGE_YEARS)
        return ("exact birth date",) if old else ()
    return _kinds(value, reference_year)


@lru_cache(maxsize=50_000)
def _kinds(value: str, reference_year: int | None) -> tuple[str, ...]:
    """Cached: statistical values (statuses, cohorts, departments, keys) repeat on every row."""
    if len(value) <= MAX_CATEGORY_LENGTH and _PLAIN.fullmatch(value):
        return ()
    found = []
    if EMAIL.search(value):
        found.append("email")
    if PHONE.search(value):
        found.append("phone")
    if STREET.search(value):
        found.append("street address")
    if NIR.search(value):
        found.append("social-security number")
    if MONGO_ID.search(value):
        found.append("MongoDB id")
    if reference_year is not None and _has_old_date(value, reference_year):
        found.append("exact birth date")
    if len(value) > MAX_CATEGORY_LENGTH:
        found.append("free text")
    return tuple(found)


def _has_old_date(value: str, reference_year: int) -> bool:
    years = [int(m.group(1)) for m in ISO_DATE.finditer(value)]
    years += [int(m.group(3)) for m in FR_DATE.finditer(value)]
    return any(reference_year - year >= BIRTH_DATE_MIN_AGE_YEARS for year in years)


def iter_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a JSON-like value, keys included, with its JSON pointer."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield path + "/" + str(key), str(key)
            yield from iter_strings(item, f"{path}/{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from iter_strings(item, f"{path}/{index}")
    elif isinstance(value, datetime | date):
        yield path, value.isoformat()


def findings(value: Any, reference_year: int | None = None) -> list[tuple[str, str]]:
    """``(json pointer, kind)`` for every personal-looking string inside ``value``."""
    return [
        (path, kind)
        for path, text in iter_strings(value)
        for kind in kinds_of_personal_data(text, reference_year)
    ]
