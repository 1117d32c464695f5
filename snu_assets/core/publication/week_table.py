"""Cell suppression of one table: the counts of one week at every published key, linked by
the grain's relations (pure: no I/O).

1. *primary*: a count ``v`` with ``0 < |v| < k`` is hidden;
2. *closure* (the singleton and mass rules of the hypercube / modular methods, on every
   relation): a relation with exactly one hidden member is solved exactly by the reader; a
   relation whose total is published and whose hidden parts sum to less than the protection
   bounds each of them within that sum. Either way the cheapest published member is hidden
   too, until every relation holds (the mass asked is ``width + margin``: the relations
   together narrow what each one leaves, and the margin spares most LP repairs);
3. *audit*: the feasible interval of every hidden cell by LP (HiGHS); a cell narrower than
   ``width`` gets one more partner (the cheapest published member of a relation reachable
   from it) and the closure runs again. A secondary cell pinned to one value by the rest is
   published again instead (publishing it tells nothing new). If that does not converge,
   every cell of the table is hidden (always safe).

The cost of hiding a cell (:class:`Costs`) steers the choices: detail before margins,
departments before regions before the nation, and the totals the regional dashboards read
(:meth:`Grain.shown_total`) only when nothing else can protect a hidden value.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from snu_assets.core.publication.grain import ALL, Grain, Key
from snu_assets.core.publication.intervals import feasible_intervals, wide

PRIMARY, SECONDARY = "primary", "secondary"
_EPS = 1e-6

Equation = tuple[dict, float]


def is_small(value: int, k: int) -> bool:
    """A count the frequency rule hides: 1 .. k-1 (a correction's negative count too)."""
    return 0 < abs(value) < k


def base_cost(key: Key) -> float:
    """Detail before margins, department before region, the nation's cells (the most read)
    far after; the totals (every gender, every age band) of a region or the nation last."""
    r, d, g, a = key
    cost = 1.0 if d != ALL else 3.0 if r != ALL else 100.0
    if g == ALL:
        cost *= 2
    if a == ALL:
        cost *= 2
    if d == ALL and g == ALL and a == ALL:
        cost *= 25
    return cost


def relation_equation(
    relation: tuple[Key, tuple[Key, ...]],
    values: Mapping[Key, int],
    hidden: Collection[Key],
    name: Callable[[Key], object] = lambda key: key,
) -> Equation:
    """``total - sum(parts) = 0`` with published members moved to the right-hand side."""
    total, parts = relation
    terms: dict = {}
    rhs = 0.0
    for key, coef in [(total, 1.0), *((p, -1.0) for p in parts)]:
        if key in hidden:
            var = name(key)
            terms[var] = terms.get(var, 0.0) + coef
        else:
            rhs -= coef * values.get(key, 0)
    return terms, rhs


@dataclass
class WeekTable:
    """One week's counts at every published key, and which of them are hidden."""

    grain: Grain
    values: Mapping[Key, int]
    #: keys with a row in the publication (a count that is not 0 in the week or cumulated);
    #: a hidden key gets a row too (a 0 can be hidden)
    rows: Collection[Key]
    k: int
    width: int
    #: cost of hiding a key (the lower, the sooner it is chosen as a secondary cell)
    cost: Callable[[Key], float] = base_cost
    margin: int = 2
    max_repairs: int = 200
    hidden: dict[Key, str] = field(default_factory=dict)
    released: set[Key] = field(default_factory=set)
    fallback: bool = False

    # ------------------------------------------------------------------------- helpers

    def value(self, key: Key) -> int:
        return self.values.get(key, 0)

    def hide(self, key: Key) -> None:
        self.hidden[key] = PRIMARY if is_small(self.value(key), self.k) else SECONDARY

    def eligible(self, key: Key) -> bool:
        return key not in self.hidden and key not in self.released and self.grain.published(key)

    def _pick(self, candidates: list[Key], deficit: float) -> Key:
        def order(key: Key) -> tuple:
            value = abs(self.value(key))
            enough = value >= deficit
            return (self.cost(key), 0 if enough else 1, value if enough else -value, key)

        return min(candidates, key=order)

    def _rels(self, key: Key) -> tuple[int, ...]:
        return self.grain.relations_of.get(key, ())

    # ------------------------------------------------------------------------- closure

    def _fix(self, index: int) -> list[Key]:
        """Hide members until relation ``index`` holds; the keys hidden."""
        total, parts = self.grain.relations[index]
        target = self.width + self.margin
        added: list[Key] = []
        while True:
            hidden_parts = [p for p in parts if p in self.hidden]
            total_hidden = total in self.hidden
            count = len(hidden_parts) + total_hidden
            if count == 0:
                return added
            mass = sum(abs(self.value(p)) for p in hidden_parts)
            deficit = 0 if total_hidden else max(target - mass, 0)
            if count >= 2 and deficit <= 0:
                return added
            members = [p for p in parts if self.eligible(p)]
            if not members and self.eligible(total):
                members = [total]
            candidates = [m for m in members if not self.grain.shown_total(m)]
            if not candidates and all(self.grain.shown_total(m) for m in (total, *parts)):
                # a relation made of shown totals only (national = sum of region totals) with
                # too little hidden: another one must go, the nation's before a region's (the
                # regional dashboards read the region totals; the exact national figures are
                # the ministry's weekly_funnel_national)
                candidates = [total] if self.eligible(total) else members
            if not candidates:
                return added  # left to the LP audit
            chosen = self._pick(candidates, max(deficit, 1))
            self.hide(chosen)
            added.append(chosen)

    def _close(self, queue: deque[int]) -> None:
        while queue:
            for key in self._fix(queue.popleft()):
                queue.extend(self._rels(key))

    # ------------------------------------------------------------------------- audit

    def equations(self, name: Callable[[Key], object] = lambda key: key) -> list[Equation]:
        """The relations that hold a hidden key, as equations in the hidden keys."""
        indexes = {i for key in self.hidden for i in self._rels(key)}
        return [
            relation_equation(self.grain.relations[i], self.values, self.hidden, name)
            for i in sorted(indexes)
        ]

    def lower(self, key: Key) -> float:
        """What a reader knows of a count's floor: 0 (a correction may make it negative)."""
        return float(min(0, self.value(key)))

    def narrow(self, check: Collection[Key] | None = None) -> dict[Key, tuple[float, float]]:
        """Hidden keys whose feasible interval is narrower than the protection."""
        cells = list(self.hidden)
        found = feasible_intervals(
            self.equations(),
            cells,
            lower={key: self.lower(key) for key in cells},
            width=self.width,
            check=check,
        )
        return {key: iv for key, iv in sorted(found.items()) if not wide(*iv, self.width)}

    def _repair_candidates(self, key: Key) -> list[Key]:
        """Published members of relations reachable from ``key`` through hidden keys, nearest
        first; shown totals and the nation's cells only when nothing else is reachable."""
        seen_keys, seen_rels = {key}, set()
        frontier = [key]
        totals: list[Key] = []
        while frontier:
            found: list[Key] = []
            following: list[Key] = []
            for k in frontier:
                for i in self._rels(k):
                    if i in seen_rels:
                        continue
                    seen_rels.add(i)
                    total, parts = self.grain.relations[i]
                    for m in (total, *parts):
                        if m in self.hidden:
                            if m not in seen_keys:
                                seen_keys.add(m)
                                following.append(m)
                        elif self.eligible(m):
                            last = self.grain.shown_total(m) or m[0] == ALL
                            (totals if last else found).append(m)
            if found:
                return found
            frontier = following
        national = [m for m in totals if m[0] == ALL]
        own = [m for m in totals if m[0] == key[0]]
        return national or own or totals

    def _fallback(self) -> None:
        self.fallback = True
        for key in self.rows:
            if key not in self.hidden and self.grain.published(key):
                self.hide(key)

    # ------------------------------------------------------------------------- protect

    def protect(self, audit: bool = True) -> WeekTable:
        """Primary, closure, then the LP audit and its repairs."""
        if self.k <= 1:
            return self
        for key in self.grain.keys:
            if is_small(self.value(key), self.k) and key in self.rows:
                self.hide(key)
        self._close(deque(i for key in sorted(self.hidden) for i in self._rels(key)))
        if not audit or not self.hidden:
            return self
        check: set[Key] | None = None
        for _ in range(self.max_repairs):
            before = set(self.hidden)
            narrow = self.narrow(check)
            if not narrow:
                return self
            pinned = [
                key
                for key, (lo, hi) in narrow.items()
                if self.hidden[key] == SECONDARY and hi - lo < _EPS
            ]
            for key in pinned:
                del self.hidden[key]
                self.released.add(key)
            chosen_now: list[Key] = []
            for key in narrow:
                if key in self.released:
                    continue
                candidates = [c for c in self._repair_candidates(key) if c not in self.hidden]
                if candidates:
                    chosen = self._pick(candidates, self.width)
                    self.hide(chosen)
                    chosen_now.append(chosen)
            if not chosen_now:
                if pinned and len(pinned) == len(narrow):
                    return self
                break
            self._close(deque(i for c in chosen_now for i in self._rels(c)))
            check = (set(narrow) - set(pinned)) | (set(self.hidden) - before)
        self._fallback()
        return self
