"""Detectors of values that look personal, used by the scrubber (second line of defence on
allow-listed fields) and by the PII asset checks on every table.

They answer *which kind* of personal data a value looks like, never the value itself, so
that a finding can be logged without leaking what it found.

Cost is linear in the value, whatever it holds (hostile input, issue #11): a value longer
than :data:`MAX_CATEGORY_LENGTH` is free text *before* any pattern sees it (one ``len``),
so the patterns below only ever run on short strings; and no pattern can backtrack
super-linearly even there (possessive quantifiers where a run could be split several ways).
RE2 was considered and not taken: it has no look-around, which the phone, NIR and id
patterns need, and the length cap already bounds the work of every pattern.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from functools import lru_cache
from typing import Any

EMAIL = re.compile(r"[\w.+-]++@[\w-]++(?:\.[\w-]++)++")
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
#: a number of nine digits or more: a phone, a NIR or an id written without separators,
#: never a category (whole value only: a hex pseudonym often holds nine digits in a row)
LONG_NUMBER = re.compile(r"[+-]?\d{9,}(?:\.\d*)?")
#: a JSON number this large in a statistical field is one of those too
MAX_CATEGORY_NUMBER = 10**8
ISO_DATE = re.compile(r"(?<!\d)((?:19|20)\d{2})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(?!\d)")
FR_DATE = re.compile(r"(?<!\d)(0[1-9]|[12]\d|3[01])/(0[1-9]|1[0-2])/((?:19|20)\d{2})(?!\d)")

#: an ISO 8601 instant as MongoDB tools and the scrubber spell it
TIMESTAMP = re.compile(
    r"((?:19|20)\d{2})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"T(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?(?:Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?"
)
#: letters, spaces and a little punctuation, no digit, no @: cannot match any detector
#: (possessive: the greedy form backtracks exponentially on "a" + "." * n + "1")
_PLAIN = re.compile(r"[^\W\d]++(?:[ '’.()-]++[^\W\d]*+)*+")
#: a date this many years or more before the reference date is a birth date, not an event
BIRTH_DATE_MIN_AGE_YEARS = 5
#: free text: longer strings are not statistical categories
MAX_CATEGORY_LENGTH = 120


FREE_TEXT = ("free text",)
_NUMBERS = (int, float)  # a tuple: cheaper to test than the union int | float


def kinds_of_personal_data(value: str, reference_year: int | None = None) -> tuple[str, ...]:
    """Which kinds of personal data ``value`` looks like (empty: looks statistical).

    A value over :data:`MAX_CATEGORY_LENGTH` characters is ``free text`` and nothing else:
    it is redacted whatever it holds, and no pattern is run over it."""
    if len(value) > MAX_CATEGORY_LENGTH:
        return FREE_TEXT
    if (timestamp := TIMESTAMP.fullmatch(value)) is not None:
        # an ISO instant (every patch carries a few, each one new: not worth caching): only
        # its date can be personal (the other detectors need letters, '@', or digit runs)
        old = reference_year is not None and reference_year - int(timestamp.group(1)) >= (
            BIRTH_DATE_MIN_AGE_YEARS
        )
        return ("exact birth date",) if old else ()
    return _kinds(value, reference_year)


@lru_cache(maxsize=50_000)
def _kinds(value: str, reference_year: int | None) -> tuple[str, ...]:
    """Cached: statistical values (statuses, cohorts, departments, keys) repeat on every row.
    ``value`` has at most :data:`MAX_CATEGORY_LENGTH` characters."""
    if _PLAIN.fullmatch(value):
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
    elif LONG_NUMBER.fullmatch(value):
        found.append("long number")
    if reference_year is not None and _has_old_date(value, reference_year):
        found.append("exact birth date")
    return tuple(found)


def _has_old_date(value: str, reference_year: int) -> bool:
    years = [int(m.group(1)) for m in ISO_DATE.finditer(value)]
    years += [int(m.group(3)) for m in FR_DATE.finditer(value)]
    return any(reference_year - year >= BIRTH_DATE_MIN_AGE_YEARS for year in years)


#: a key shown as it is in a finding's pointer: shaped like a field name or an array index
_SHOWN_KEY = re.compile(r"[A-Za-z0-9_$]{1,40}")


def pointer_token(key: Any) -> str:
    """How a key appears in a finding's pointer. Keys shaped like field names stay readable;
    any other key is shown as ``~``: it may itself be personal (findings never quote data),
    and a long one would lengthen every pointer beneath it."""
    text = str(key)
    return text if _SHOWN_KEY.fullmatch(text) else "~"


def iter_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a JSON-like value, keys included, with its JSON pointer (see
    :func:`pointer_token`), depth first. Iterative: nesting costs no recursion."""
    stack: list[Iterator[tuple[str, Any, bool]]] = [iter(((path, value, False),))]
    while stack:
        for where, item, is_key in stack[-1]:
            if isinstance(item, str):
                yield where, item
            elif is_key:
                yield where, str(item)
            elif isinstance(item, dict):
                stack.append(_members(where, item))
                break
            elif isinstance(item, list | tuple):
                stack.append(_elements(where, item))
                break
            elif isinstance(item, datetime | date):
                yield where, item.isoformat()
            elif is_long_number(item):  # as digits, which LONG_NUMBER recognises
                yield where, f"{item:.0f}" if isinstance(item, float) else str(item)
        else:
            stack.pop()


def is_long_number(value: Any) -> bool:
    """A JSON number too large to be a statistical value (a phone or NIR typed as a number)."""
    return (
        isinstance(value, _NUMBERS)
        and not isinstance(value, bool)
        and abs(value) >= MAX_CATEGORY_NUMBER
    )


def _elements(path: str, value: list | tuple) -> Iterator[tuple[str, Any, bool]]:
    for index, item in enumerate(value):
        yield f"{path}/{index}", item, False


def _members(path: str, value: dict) -> Iterator[tuple[str, Any, bool]]:
    for key, item in value.items():
        where = f"{path}/{pointer_token(key)}"
        yield where, key, True
        yield where, item, False


def findings(value: Any, reference_year: int | None = None) -> list[tuple[str, str]]:
    """``(json pointer, kind)`` for every personal-looking string inside ``value``."""
    return [
        (path, kind)
        for path, text in iter_strings(value)
        for kind in kinds_of_personal_data(text, reference_year)
    ]
