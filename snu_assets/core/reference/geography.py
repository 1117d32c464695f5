"""Reference geography of France: departments with their region and académie.

The data lives in ``geography.csv`` next to this module (UTF-8, comma
separated, header ``department_code,department,region,academy``), one row per
department, in INSEE code order:

* the 96 metropolitan departments (``01`` .. ``95``, Corsica being ``2A`` and
  ``2B`` instead of ``20``) and the five overseas departments (``971`` ..
  ``974``, ``976``), codes and names from the INSEE *Code officiel
  géographique* (COG), written as the SNU application writes them (official
  French spelling, accents and hyphens: ``Côtes-d'Armor``, ``La Réunion``);
* the overseas collectivities the SNU also uses (``975``, ``977``, ``978``,
  ``986``, ``987``, ``988``), whose "region" is the collectivity itself;
* ``region``: the region of the 2016 territorial reform (13 metropolitan
  regions + 5 overseas regions);
* ``academy``: the académie (Éducation nationale) the department belongs to,
  without the word "académie" (``Créteil``, ``Nancy-Metz``, ``Normandie``
  since the 2020 merger of Caen and Rouen...). Saint-Pierre-et-Miquelon is
  attached to Normandie, Saint-Barthélemy and Saint-Martin to Guadeloupe; the
  Pacific collectivities have their own vice-rectorat.

The data is kept out of Python code on purpose: :func:`csv_path` gives the file
so that it can be loaded as is (e.g. ``COPY ... FROM STDIN WITH CSV HEADER``
into PostgreSQL). Only the standard library is used.
"""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Department",
    "academies",
    "csv_path",
    "department_by_name",
    "departments",
    "overseas_collectivities",
    "regions",
]

#: INSEE codes of the overseas collectivities (COM and New Caledonia): not regions
_COLLECTIVITY_CODES = frozenset({"975", "977", "978", "986", "987", "988"})

_CSV_NAME = "geography.csv"
_COLUMNS = ("department_code", "department", "region", "academy")


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    region: str
    academy: str


def csv_path() -> Path:
    """Absolute path of the reference CSV file shipped with the package."""
    return Path(__file__).resolve().with_name(_CSV_NAME)


@functools.cache
def departments() -> tuple[Department, ...]:
    """All departments, in file (INSEE code) order."""
    with csv_path().open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != _COLUMNS:
            raise ValueError(
                f"{csv_path()}: unexpected header {reader.fieldnames!r}, expected {_COLUMNS!r}"
            )
        return tuple(
            Department(
                code=row["department_code"].strip(),
                name=row["department"].strip(),
                region=row["region"].strip(),
                academy=row["academy"].strip(),
            )
            for row in reader
        )


_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015_'\u2018\u2019\u02bc`´.]+")


def _normalise(text: str) -> str:
    """Casefold, strip accents and unify hyphens / apostrophes / spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    without_accents = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SEPARATORS.sub(" ", without_accents.casefold()).strip()


@functools.cache
def _indexes() -> tuple[dict[str, Department], dict[str, Department], dict[str, Department]]:
    by_name = {d.name: d for d in departments()}
    by_code = {d.code: d for d in departments()}
    by_normalised = {_normalise(d.name): d for d in departments()}
    return by_name, by_code, by_normalised


def department_by_name(name: str) -> Department | None:
    """Find a department by name or code, tolerantly.

    Tries, in order: the exact name, the code (``"75"``, ``"2A"``/``"2a"``,
    ``"971"``; ``"1"`` is read as ``"01"``), then a normalised comparison
    ignoring case, accents and the hyphen / apostrophe / space differences
    (``"cotes d armor"`` finds ``Côtes-d'Armor``). Returns ``None`` if nothing
    matches.
    """
    if not isinstance(name, str):
        return None
    by_name, by_code, by_normalised = _indexes()
    if name in by_name:
        return by_name[name]
    stripped = name.strip()
    if not stripped:
        return None
    code = stripped.upper()
    if code.isdigit() and len(code) == 1:
        code = code.zfill(2)
    if code in by_code:
        return by_code[code]
    return by_normalised.get(_normalise(stripped))


def regions() -> tuple[str, ...]:
    """Distinct region names, sorted."""
    return tuple(sorted({d.region for d in departments()}))


def academies() -> tuple[str, ...]:
    """Distinct académie names, sorted."""
    return tuple(sorted({d.academy for d in departments()}))


@functools.cache
def overseas_collectivities() -> frozenset[str]:
    """The "regions" that are overseas collectivities (Saint-Pierre-et-Miquelon,
    Saint-Barthélemy, Saint-Martin, Wallis-et-Futuna, French Polynesia, New Caledonia): a
    report lists them after the 18 regions."""
    return frozenset(d.region for d in departments() if d.code in _COLLECTIVITY_CODES)
