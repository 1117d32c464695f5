"""The tables a publication is made of: the hierarchy of cells (national → region →
department, each by gender and age band, with their margins), the weekly and cumulated series
of a cohort, and the relations a reader can write between published cells (pure: no I/O)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

ALL = "all"
PRIMARY, SECONDARY = "primary", "secondary"
WEEKLY, CUMULATED = "W", "C"
MEASURES = ("created", "completed", "processed", "validated", "refused")
COLUMNS = (*MEASURES, *(f"{m}_cumulated" for m in MEASURES))

Key = tuple[str, str, str, str]  # region, department, gender, age_band
Var = tuple[int, str, Key]  # week index, kind, key
Relation = tuple  # ("geo"|"gender"|"age", t, kind, total key) | ("time", t, key)

_EPS = 1e-6


def wide(lo: float, hi: float, width: float) -> bool:
    """Whether ``[lo, hi]`` holds integers ``width`` apart (counts are integers: an LP bound
    of 4.5 means 4 to a reader)."""
    if hi == float("inf"):
        return True
    return math.floor(hi + _EPS) - math.ceil(lo - _EPS) >= width


# ------------------------------------------------------------------------------ structure


@dataclass(frozen=True)
class Structure:
    """The dimensions of the cube: regions with their departments, genders, age bands
    (without :data:`ALL`)."""

    regions: Mapping[str, tuple[str, ...]]
    genders: tuple[str, ...]
    age_bands: tuple[str, ...]

    @classmethod
    def of(
        cls,
        keys: Iterable[Key],
        *,
        regions: Mapping[str, Iterable[str]] | None = None,
        genders: Iterable[str] = (),
        age_bands: Iterable[str] = (),
    ) -> Structure:
        """The structure covering ``keys`` (finest keys) and the given reference values."""
        geo: dict[str, set[str]] = defaultdict(set)
        for region, departments in (regions or {}).items():
            geo[region].update(departments)
        gender_set, band_set = set(genders), set(age_bands)
        for region, department, gender, band in keys:
            geo[region].add(department)
            gender_set.add(gender)
            band_set.add(band)
        return cls(
            {r: tuple(sorted(d)) for r, d in sorted(geo.items())},
            tuple(sorted(gender_set)),
            tuple(sorted(band_set)),
        )

    def level(self, key: Key) -> str:
        region, department = key[0], key[1]
        return "national" if region == ALL else "region" if department == ALL else "department"

    def keys(self) -> list[Key]:
        """Every key of the cube, margins included."""
        geo = (
            [(ALL, ALL)]
            + [(r, ALL) for r in self.regions]
            + [(r, d) for r, ds in self.regions.items() for d in ds]
        )
        return [
            (r, d, g, a)
            for r, d in geo
            for g in (ALL, *self.genders)
            for a in (ALL, *self.age_bands)
        ]


def expand(finest: Mapping[Key, int]) -> dict[Key, int]:
    """Finest counts (department × gender × age band) summed into every margin of the cube."""
    out: dict[Key, int] = defaultdict(int)
    for (region, department, gender, band), value in finest.items():
        if not value:
            continue
        for geo in ((region, department), (region, ALL), (ALL, ALL)):
            for g in (gender, ALL):
                for a in (band, ALL):
                    out[(geo[0], geo[1], g, a)] += value
    return dict(out)


# ------------------------------------------------------------------------------ the series


@dataclass
class Series:
    """One cohort × one measure: ``weekly[t]`` (expanded cube of week ``t``) and the
    cumulated ``cumulated[t]``; consecutive weeks, the first one with ``C_{-1} = 0``."""

    structure: Structure
    weekly: list[dict[Key, int]] = field(default_factory=list)
    cumulated: list[dict[Key, int]] = field(default_factory=list)

    @classmethod
    def from_finest(cls, structure: Structure, weeks: Sequence[Mapping[Key, int]]) -> Series:
        series = cls(structure)
        running: dict[Key, int] = defaultdict(int)
        for finest in weeks:
            week = expand(finest)
            for key, value in week.items():
                running[key] += value
            series.weekly.append(week)
            series.cumulated.append({k: v for k, v in running.items() if v})
        return series

    def value(self, var: Var) -> int:
        t, kind, key = var
        return (self.weekly if kind == WEEKLY else self.cumulated)[t].get(key, 0)

    # -------------------------------------------------------------------- relations

    def members(self, rel: Relation) -> tuple[Var, list[Var]]:
        """(total, parts) of a relation: ``total = Σ parts``; for the first week's time
        relation the missing ``C_{-1}`` is the constant 0."""
        if rel[0] == "time":
            _, t, key = rel
            parts = [(t, WEEKLY, key)] + ([(t - 1, CUMULATED, key)] if t > 0 else [])
            return (t, CUMULATED, key), parts
        dim, t, kind, (r, d, g, a) = rel
        s = self.structure
        if dim == "geo":
            if r == ALL:
                return (t, kind, (r, d, g, a)), [(t, kind, (x, ALL, g, a)) for x in s.regions]
            return (t, kind, (r, d, g, a)), [(t, kind, (r, x, g, a)) for x in s.regions[r]]
        if dim == "gender":
            return (t, kind, (r, d, g, a)), [(t, kind, (r, d, x, a)) for x in s.genders]
        return (t, kind, (r, d, g, a)), [(t, kind, (r, d, g, x)) for x in s.age_bands]

    def relations_of(self, var: Var, last: int) -> list[Relation]:
        """The relations ``var`` takes part in, within weeks ``0 .. last``."""
        t, kind, key = var
        r, d, g, a = key
        rels: list[Relation] = []
        if d != ALL:
            rels.append(("geo", t, kind, (r, ALL, g, a)))
        else:
            rels.append(("geo", t, kind, key))
            if r != ALL:
                rels.append(("geo", t, kind, (ALL, ALL, g, a)))
        rels.append(("gender", t, kind, key if g == ALL else (r, d, ALL, a)))
        rels.append(("age", t, kind, key if a == ALL else (r, d, g, ALL)))
        rels.append(("time", t, key))
        if kind == CUMULATED and t + 1 <= last:
            rels.append(("time", t + 1, key))
        return rels
