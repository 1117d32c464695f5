"""What the weekly funnel publishes: its keys, their levels and the sums a reader can write
between them (pure: no I/O).

A key is ``(region, department, gender, age_band)``, :data:`ALL` standing for a margin. The
published grain answers the dashboards' questions rather than the finest cross-product:

* ``detail`` says, per level (national, region, department), which cells it publishes:
  ``cross`` every gender x age band cell with its margins, ``margins`` the total by gender
  and by age band, ``total`` the total only. By default the nation publishes the cross, each
  region its margins, each department its total: at the programme's size (20,000 applicants
  a cohort over 16 weeks, 101 departments) a region's gender x age band cell holds 8
  applicants a week on average and a department's age band 3: those cells would be hidden
  most weeks and drag their neighbours down with them.

A *relation* is ``(total, parts)``: the total is the sum of the parts, and a reader knows it.
Only relations whose total and parts are all published exist for the reader.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

ALL = "all"
MEASURES = ("created", "completed", "processed", "validated", "refused")
COLUMNS = (*MEASURES, *(f"{m}_cumulated" for m in MEASURES))

CROSS, MARGINS, TOTAL = "cross", "margins", "total"
LEVELS = ("national", "region", "department")
DEFAULT_DETAIL = {"national": CROSS, "region": MARGINS, "department": TOTAL}

Key = tuple[str, str, str, str]  # region, department, gender, age_band
Relation = tuple[Key, tuple[Key, ...]]  # total, parts


@dataclass(frozen=True)
class Grain:
    """The published keys of one cohort: regions with their departments, genders, age bands
    (without :data:`ALL`)."""

    regions: Mapping[str, tuple[str, ...]]
    genders: tuple[str, ...]
    age_bands: tuple[str, ...]
    detail: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_DETAIL))

    @classmethod
    def of(
        cls,
        finest: Iterable[Key],
        *,
        regions: Mapping[str, Iterable[str]] | None = None,
        genders: Iterable[str] = (),
        age_bands: Iterable[str] = (),
        detail: Mapping[str, str] | None = None,
    ) -> Grain:
        """The grain covering the ``finest`` keys (department x gender x age band) and the
        given reference values."""
        geo: dict[str, set[str]] = defaultdict(set)
        for region, departments in (regions or {}).items():
            geo[region].update(departments)
        gender_set, band_set = set(genders), set(age_bands)
        for region, department, gender, band in finest:
            geo[region].add(department)
            gender_set.add(gender)
            band_set.add(band)
        return cls(
            {r: tuple(sorted(d)) for r, d in sorted(geo.items())},
            tuple(sorted(gender_set)),
            tuple(sorted(band_set)),
            dict(detail or DEFAULT_DETAIL),
        )

    # ------------------------------------------------------------------------- keys

    @staticmethod
    def level(key: Key) -> str:
        region, department = key[0], key[1]
        return "national" if region == ALL else "region" if department == ALL else "department"

    def published(self, key: Key) -> bool:
        """Whether ``key`` is a cell of the publication."""
        _, _, gender, band = key
        detail = self.detail[self.level(key)]
        if gender == ALL and band == ALL:
            return True
        if gender != ALL and band != ALL:
            return detail == CROSS
        return detail != TOTAL

    def shown_total(self, key: Key) -> bool:
        """A total the regional dashboards read: the nation's or a region's (every gender,
        every age band), or the total of a department that is its region's only one (the
        same figure). Hidden only when small itself, or when nothing else can protect a
        hidden value."""
        region, department, gender, band = key
        if gender != ALL or band != ALL:
            return False
        return department == ALL or len(self.regions.get(region, ())) == 1

    @cached_property
    def keys(self) -> tuple[Key, ...]:
        """Every published key, margins included, in a fixed order."""
        cube = [(g, a) for g in (ALL, *self.genders) for a in (ALL, *self.age_bands)]
        geo: list[tuple[str, str]] = [(ALL, ALL)]
        for region, departments in self.regions.items():
            geo += [(region, ALL), *((region, d) for d in departments)]
        out = [(r, d, g, a) for r, d in geo for g, a in cube if self.published((r, d, g, a))]
        return tuple(out)

    def expand(self, finest: Mapping[Key, int]) -> dict[Key, int]:
        """Finest counts (department x gender x age band) summed into every published key
        (keys whose sum is 0 are left out: a missing key reads as 0)."""
        out: dict[Key, int] = defaultdict(int)
        for (region, department, gender, band), value in finest.items():
            if not value:
                continue
            for r, d in ((region, department), (region, ALL), (ALL, ALL)):
                for g in (gender, ALL):
                    for a in (band, ALL):
                        if self.published((r, d, g, a)):
                            out[(r, d, g, a)] += value
        return {key: value for key, value in out.items() if value}

    # ------------------------------------------------------------------------- relations

    @cached_property
    def relations(self) -> tuple[Relation, ...]:
        """Every sum a reader can write between published keys."""
        rels: list[Relation] = []
        geo: list[tuple[str, str]] = [(ALL, ALL)]
        geo += [(r, ALL) for r in self.regions]
        geo += [(r, d) for r, ds in self.regions.items() for d in ds]
        for r, d in geo:
            for g in (ALL, *self.genders):
                for a in (ALL, *self.age_bands):
                    total = (r, d, g, a)
                    if not self.published(total):
                        continue
                    if g == ALL:
                        parts = tuple((r, d, x, a) for x in self.genders)
                        rels.append((total, parts))
                    if a == ALL:
                        parts = tuple((r, d, g, x) for x in self.age_bands)
                        rels.append((total, parts))
                    if d == ALL:
                        below = (
                            [(x, ALL, g, a) for x in self.regions]
                            if r == ALL
                            else [(r, x, g, a) for x in self.regions[r]]
                        )
                        rels.append((total, tuple(below)))
        return tuple(
            (total, parts)
            for total, parts in rels
            if parts and all(self.published(p) for p in parts)
        )

    @cached_property
    def relations_of(self) -> dict[Key, tuple[int, ...]]:
        """For each key, the indexes of the relations it is in (as total or part)."""
        index: dict[Key, list[int]] = defaultdict(list)
        for i, (total, parts) in enumerate(self.relations):
            index[total].append(i)
            for part in parts:
                index[part].append(i)
        return {key: tuple(rels) for key, rels in index.items()}
