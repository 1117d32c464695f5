"""Statistical disclosure control of the published weekly funnel: cell suppression on a
hierarchical, linked table, verified by linear programming. Pure: no Dagster, no SQL.

The table
---------
For one cohort and one funnel measure (created, completed, processed, validated, refused),
the published figures are a *cube* per week ``t``::

    geography (national → region → department) × gender (all → each) × age band (all → each)

twice: the week's count ``W_t`` and the count cumulated since the cohort opened ``C_t``.
A reader knows every linear relation between them:

* each total is the sum of its parts, in each of the three dimensions (national = Σ regions,
  region = Σ its departments, all genders = Σ genders, all ages = Σ age bands);
* ``C_t = C_{t-1} + W_t`` cell by cell (``C_{-1} = 0``: nothing before the series), so the
  cumulated columns of consecutive weeks tie the weeks together (and give a week's count
  back by difference);
* every count is ≥ 0.

A cell is a *variable* ``(t, kind, key)``, ``kind`` in ``"W"`` / ``"C"``, ``key`` =
``(region, department, gender, age_band)`` with :data:`ALL` for a margin.

The rule
--------
*Primary*: a published count of 1 .. k-1 (``k`` = ``SNU_SMALL_CELL_K``, default 5) is hidden.

*Protection*: every hidden cell (primary or secondary) must keep, given **everything
published** (all levels, both kinds, all weeks so far, the relations above and ≥ 0), a
feasible interval ``[lo, hi]`` at least ``width`` wide (default ``width = k``): the reader
cannot pin it down, nor tell a 1 from a 0 from a k (integers: ``floor(hi) - ceil(lo) >=
width``). ``lo`` and ``hi`` are computed exactly by LP
(:func:`feasible_intervals`, HiGHS): minimise and maximise the cell subject to all published
equations. A hidden value's status (primary / secondary) is *not* published: saying
"primary" would itself tell the reader the count is in 1 .. k-1 (for k = 2: exactly 1).

The method
----------
**Cumulated columns: hidden for good from the first week the weekly value is.** For a cell,
``C_t`` is hidden iff ``W_t`` is hidden or ``C_{t-1}`` was (``C_0 = W_0``). Then every
published ``C_t`` equals a published ``C_{t-1}`` plus a published ``W_t``, and every
cross-sectional relation of the cumulated table of week ``t`` is the sum of that of week
``t-1`` and that of the weekly table of week ``t``: the cumulated columns tell a reader
nothing that the weekly tables of weeks 0 .. t do not. Those weekly tables share no unknown
(each week's counts are new variables), so protecting **each week's weekly table on its
own** protects everything published, across levels, columns and weeks; and a hidden
``C_t`` is a sum of unknowns of independent tables, among them a hidden ``W_s`` whose
interval is at least ``width`` wide: so is its own. The price: a cumulated value once hidden
stays hidden for the rest of the cohort (the weekly values go on being published), except
the totals the dashboards read (below).

**Each week's weekly table** (geography × gender × age band with every margin, a
three-dimensional hierarchical table): hypercube-style heuristic, then LP audit and repair.

1. primary cells of the week, every level;
2. *closure* (the singleton and mass rules of the hypercube / modular methods, on every
   relation): a relation with exactly one hidden member is solved exactly by the reader; a
   relation whose total is published and whose hidden parts sum to less than the protection
   bounds each of them within that sum. Either way the cheapest published member is hidden
   too (a part before the total; cost: department < region < national, detail < margin;
   the smallest value covering the missing mass), until every relation holds. The mass
   asked is ``width + 2``: the relations together (a cell is in three of them) narrow what
   each one leaves, and this margin spares most LP repairs;
3. *audit*: the feasible interval of every hidden cell of the week by LP; a cell narrower
   than ``width`` gets one more partner (the cheapest published member of a relation
   reachable from it) and the closure runs again. A *secondary* cell whose interval is a
   single point is published again instead (everything else already gives its value:
   publishing it changes no other interval). If that does not converge, every cell of the
   week is hidden (always safe).

**Shown totals.** Region and national totals (every gender, every age band; and a
department's total when it is its region's only department, the same figure) are what the
regional dashboards read: they are never chosen as secondary cells while a relation has any
other member to hide (departments, gender and age-band breakdowns); the closure picks one
only in a relation made of shown totals alone (national = Σ region totals with one region
total small: the national total goes first), the audit only when nothing else is reachable.
Their cumulated values, once hidden, are published again as soon as the LP over every week
so far finds that the equation it adds (the sum of the region's hidden weekly totals since
its last published cumulated value) narrows nothing, region by region. Some provably
cannot be, while the weekly totals that pass the rule are shown: when a single weekly total
of the region is hidden since its last published cumulated value (the difference gives it
back), or several adding up to less than ``width`` (each is then within less than
``width``); showing one of those would take hiding another region total that passes the
rule.

Why not the optimal method (an integer program, as τ-Argus "optimal" or sdcTable "OPT")?
The weekly table of a cohort has thousands of cells, one per week and measure; the MIP is
slow and brittle for a weekly job, while the heuristic is linear in the hidden cells and the
LP audit (exact, per week) makes it safe whatever its choices. The tests' attacker
(``snu_assets_tests/sdc_attacker.py``) re-checks the whole publication, every week and both
column kinds at once, from the published rows alone.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from snu_assets.core.publication.intervals import feasible_intervals
from snu_assets.core.publication.tables import (
    _EPS,
    ALL,
    CUMULATED,
    PRIMARY,
    SECONDARY,
    WEEKLY,
    Key,
    Relation,
    Series,
    Var,
    wide,
)

# ------------------------------------------------------------------------------ protection


@dataclass
class Protected:
    """The result for one series: ``hidden[var] = "primary" | "secondary"``."""

    series: Series
    k: int
    width: int
    hidden: dict[Var, str] = field(default_factory=dict)
    fallbacks: int = 0

    def published(self, var: Var) -> int | None:
        return None if var in self.hidden else self.series.value(var)


class _Protector:
    def __init__(
        self, series: Series, k: int, width: int, audit: bool, max_repairs: int, margin: int = 2
    ):
        self.s, self.k, self.width, self.audit, self.max_repairs = (
            series,
            k,
            width,
            audit,
            max_repairs,
        )
        self.result = Protected(series, k, width)
        #: hidden mass the heuristic asks of each relation: a margin above the protection,
        #: since the relations together (LP over the weeks) narrow what each one leaves
        self.target = width + margin
        self.hidden = self.result.hidden
        #: cumulated totals published again after being hidden: (key, week); each tells the
        #: reader the sum of that key's weekly values since its last published cumulated
        self.reemerged: list[tuple[Key, int]] = []
        #: secondary cells published again by the audit (their value was given exactly by
        #: the other published values: publishing it tells nothing more)
        self.released: set[Var] = set()

    # cost of hiding a cell: detail before margins, department before region before nation,
    # weekly before cumulated; region/national totals (all genders, all ages) last
    def weight(self, var: Var) -> float:
        _, kind, (r, d, g, a) = var
        w = 1.0 if d != ALL else 3.0 if r != ALL else 9.0
        if g == ALL:
            w *= 2
        if a == ALL:
            w *= 2
        if d == ALL and g == ALL and a == ALL:
            w *= 25
        return w * (1.5 if kind == CUMULATED else 1.0)

    def eligible(self, var: Var, t: int) -> bool:
        """A cell of week ``t`` that may be hidden: published so far, in a row that exists
        (something counted at its key since the cohort opened), not released by the audit
        (a secondary cell whose value everything else gives: hiding it protects nothing)."""
        return (
            var[0] == t
            and var not in self.hidden
            and var not in self.released
            and self.s.cumulated[t].get(var[2], 0) > 0
        )

    def hide(self, var: Var) -> None:
        value = self.s.value(var)
        self.hidden[var] = PRIMARY if 1 <= value <= self.k - 1 else SECONDARY

    def _pick(self, candidates: list[Var], deficit: float) -> Var:
        def order(v: Var):
            value = self.s.value(v)
            enough = value >= deficit
            return (self.weight(v), 0 if enough else 1, value if enough else -value, v)

        return min(candidates, key=order)

    def shown_total(self, var: Var) -> bool:
        """A total the regional dashboards read: a region's or the nation's (every gender,
        every age band), or the total of a department that is its region's only one (the
        same figure). Never chosen as a secondary cell while a relation offers another
        member (a department, a gender or age-band breakdown); hidden only when small itself
        or when every member of a relation is such a total."""
        _, _, (r, d, g, a) = var
        if g != ALL or a != ALL:
            return False
        return d == ALL or len(self.s.structure.regions.get(r, ())) == 1

    def _fix(self, rel: Relation, t: int) -> list[Var]:
        """Hide members of the week until ``rel`` holds; the cells hidden."""
        total, parts = self.s.members(rel)
        added: list[Var] = []
        while True:
            hidden_parts = [p for p in parts if p in self.hidden]
            total_hidden = total in self.hidden
            count = len(hidden_parts) + total_hidden
            if count == 0:
                return added
            mass = sum(self.s.value(p) for p in hidden_parts)
            deficit = 0 if total_hidden else max(self.target - mass, 0)
            if count >= 2 and deficit <= 0:
                return added
            members = [p for p in parts if self.eligible(p, t)]
            if not members and self.eligible(total, t):
                members = [total]
            candidates = [m for m in members if not self.shown_total(m)]
            if not candidates and count == 1 and all(self.shown_total(m) for m in (total, *parts)):
                # a lone hidden member of a relation made of shown totals only (national =
                # Σ region totals, one region's only department): another one must go, the
                # nation's before a region's (regional dashboards read region totals)
                candidates = [total] if self.eligible(total, t) else members
            if not candidates:
                return added  # left to the LP audit
            chosen = self._pick(candidates, max(deficit, 1))
            self.hide(chosen)
            added.append(chosen)

    def rels(self, var: Var) -> list[Relation]:
        """The relations the protector works on: those of the week's weekly table (the
        cumulated columns add nothing, see the module's docstring)."""
        return [r for r in self.s.relations_of(var, var[0]) if r[0] != "time"]

    def _close(self, t: int, queue: deque) -> None:
        while queue:
            rel = queue.popleft()
            for var in self._fix(rel, t):
                queue.extend(self.rels(var))

    def component(self, t: int) -> tuple[list[Var], list]:
        """The hidden weekly cells of week ``t`` and the equations of their relations."""
        cells = [v for v in self.hidden if v[0] == t and v[1] == WEEKLY]
        rels = {rel for var in cells for rel in self.rels(var)}
        return cells, [relation_equation(self.s, rel, self.hidden) for rel in rels]

    def narrow(
        self, last: int, check: Iterable[Var] | None = None
    ) -> dict[Var, tuple[float, float]]:
        """Hidden weekly cells of week ``last`` whose feasible interval is narrower than the
        protection, with their exact interval (with ``check``, only those cells: hiding more
        never narrows)."""
        cells, equations = self.component(last)
        if check is not None:
            check = set(check) & set(cells)
        intervals = feasible_intervals(equations, cells, width=self.width, check=check)
        return {
            v: (lo, hi) for v, (lo, hi) in sorted(intervals.items()) if not wide(lo, hi, self.width)
        }

    def _repair_candidates(self, var: Var, t: int) -> list[Var]:
        """Published members of week ``t`` in relations reachable from ``var`` through
        hidden cells, nearest first; shown totals (:meth:`shown_total`) only when no other
        cell is reachable."""
        seen_vars, seen_rels = {var}, set()
        frontier = [var]
        totals: list[Var] = []
        while frontier:
            found: list[Var] = []
            following: list[Var] = []
            for v in frontier:
                for rel in self.rels(v):
                    if rel in seen_rels:
                        continue
                    seen_rels.add(rel)
                    total, parts = self.s.members(rel)
                    for m in [total, *parts]:
                        if m is None:
                            continue
                        if m in self.hidden:
                            if m not in seen_vars:
                                seen_vars.add(m)
                                following.append(m)
                        elif self.eligible(m, t):
                            (totals if self.shown_total(m) else found).append(m)
            if found:
                return found
            frontier = following
        # only shown totals left: the nation's first, then the cell's own region's
        national = [m for m in totals if m[2][0] == ALL]
        own = [m for m in totals if m[2][0] == var[2][0]]
        return national or own or totals

    def _fallback(self, t: int) -> None:
        """Hide every weekly cell of week ``t`` in a row (always safe: nothing is left)."""
        self.result.fallbacks += 1
        for key in self.s.cumulated[t]:
            if (t, WEEKLY, key) not in self.hidden:
                self.hide((t, WEEKLY, key))

    def week(self, t: int) -> None:
        self._weekly(t)
        # the cumulated value of a cell is hidden from the first week its weekly value is
        # (then what the cumulated columns show is what earlier weeks and this week's weekly
        # column already tell, see the module's docstring) ...
        keys = set(self.s.cumulated[t]) | {
            v[2] for v in self.hidden if v[0] == t - 1 and v[1] == CUMULATED
        }
        carried = sorted(
            key
            for key in keys
            if (t, WEEKLY, key) in self.hidden or (t - 1, CUMULATED, key) in self.hidden
        )
        # ... except shown totals (region and national) that pass the rule, shown again when
        # the equation this adds (the sum of their hidden weekly values since their last
        # published cumulated) narrows no hidden value. Never while the cumulated of the week
        # before is published and this week's is hidden: their difference would give it.
        candidates = [
            key
            for key in carried
            if self.shown_total((t, CUMULATED, key))
            and (t - 1, CUMULATED, key) in self.hidden
            and self.s.cumulated[t].get(key, 0) >= self.k
        ]
        if self.audit and candidates:
            candidates = self._reemerge(t, candidates, carried)
        else:
            candidates = []
        for key in carried:
            if key not in candidates:
                self.hide((t, CUMULATED, key))
        self.reemerged += [(key, t) for key in candidates]

    def _since(self, key: Key, t: int) -> int:
        """The last week before ``t`` whose cumulated value of ``key`` is published (-1)."""
        s = t - 1
        while s >= 0 and (s, CUMULATED, key) in self.hidden:
            s -= 1
        return s

    def _reemergence_equation(self, key: Key, t: int, since: int):
        terms: dict[Var, float] = {}
        rhs = float(
            self.s.cumulated[t].get(key, 0)
            - (self.s.cumulated[since].get(key, 0) if since >= 0 else 0)
        )
        for s in range(since + 1, t + 1):
            var = (s, WEEKLY, key)
            if var in self.hidden:
                terms[var] = 1.0
            else:
                rhs -= self.s.value(var)
        return terms, rhs

    def _all_equations(self, t: int, extra: list, hidden_now: list[Key]) -> tuple[list, list]:
        """Every equation the reader has up to week ``t`` in terms of the hidden weekly
        values, plus one unknown per hidden cumulated value (``("sum", week, key)``, tied
        to the weekly values it adds up): the cells to check and the equations."""
        cells: list = [v for v in self.hidden if v[0] <= t and v[1] == WEEKLY]
        rels = {rel for var in cells for rel in self.rels(var)}
        equations = [relation_equation(self.s, rel, self.hidden) for rel in rels]
        for key, week in self.reemerged:
            equations.append(self._reemergence_equation(key, week, self._since(key, week)))
        cumulated = [(v[0], v[2]) for v in self.hidden if v[0] < t and v[1] == CUMULATED]
        cumulated += [(t, key) for key in hidden_now]
        for week, key in cumulated:
            since = self._since(key, week)
            terms, rhs = self._reemergence_equation(key, week, since)
            # terms - rhs = C_week - C_since - published weekly: y = C_week
            aux = ("sum", week, key)
            equation = {aux: 1.0, **{v: -c for v, c in terms.items()}}
            constant = float(self.s.cumulated[week].get(key, 0)) - rhs
            equations.append((equation, constant))
            cells.append(aux)
        return cells, equations + extra

    def _reemerge(self, t: int, candidates: list[Key], carried: list[Key]) -> list[Key]:
        """The candidates whose cumulated can be published again at week ``t``: a region at
        a time (its total with its only department's, the same figure), largest first, the
        nation last; each kept when the LP over every week so far, with the ones kept
        before it, finds no hidden value narrower than the protection."""
        groups: dict[Key, list[Key]] = defaultdict(list)
        for key in candidates:
            groups[(key[0], ALL, ALL, ALL)].append(key)
        order = sorted(
            groups, key=lambda key: (key[0] == ALL, -self.s.cumulated[t].get(key, 0), key)
        )
        kept: list[Key] = []
        for head in order:
            terms, _ = self._reemergence_equation(head, t, self._since(head, t))
            if len(terms) == 1 or sum(self.s.value(v) for v in terms) < self.width:
                # one hidden weekly value since the last published cumulated: given back
                # exactly; several adding up to less than the protection: each within it
                continue
            trial = [*kept, *groups[head]]
            extra = [self._reemergence_equation(c, t, self._since(c, t)) for c in trial]
            hidden_now = [c for c in carried if c not in trial]
            cells, equations = self._all_equations(t, extra, hidden_now)
            found = feasible_intervals(equations, cells, width=self.width)
            if all(wide(lo, hi, self.width) for lo, hi in found.values()):
                kept = trial
        return kept

    def _weekly(self, t: int) -> None:
        # in key order: the closure's choices depend on the order relations are met in,
        # and the same data must give the same publication
        queue: deque = deque()
        for key, value in sorted(self.s.weekly[t].items()):
            if 1 <= value <= self.k - 1:
                self.hide((t, WEEKLY, key))
        for var in sorted(v for v in self.hidden if v[0] == t):
            queue.extend(self.rels(var))
        self._close(t, queue)
        if not self.audit:
            return
        check = None
        for _ in range(self.max_repairs):
            before = set(self.hidden)
            narrow = self.narrow(t, check)
            if not narrow:
                return
            # a secondary cell pinned to one value by the rest hides nothing: publishing it
            # adds an equation the reader already has (no other interval changes), and keeps
            # it from dragging a shown total in as its partner
            pinned = [
                v
                for v, (lo, hi) in narrow.items()
                if self.hidden[v] == SECONDARY and hi - lo < _EPS
            ]
            for var in pinned:
                del self.hidden[var]
                self.released.add(var)
            chosen_now: list[Var] = []
            for var in narrow:
                if var in self.released:
                    continue
                candidates = [c for c in self._repair_candidates(var, t) if c not in self.hidden]
                if candidates:
                    chosen = self._pick(candidates, self.width)
                    self.hide(chosen)
                    chosen_now.append(chosen)
            if not chosen_now:
                if pinned and len(pinned) == len(narrow):
                    return
                break
            self._close(t, deque(rel for c in chosen_now for rel in self.rels(c)))
            check = (set(narrow) - set(pinned)) | (set(self.hidden) - before)
        self._fallback(t)


def relation_equation(
    series: Series, rel: Relation, hidden: Mapping[Var, str]
) -> tuple[dict[Var, float], float]:
    """``total - Σ parts = 0`` with published members moved to the right-hand side."""
    total, parts = series.members(rel)
    terms: dict[Var, float] = {}
    rhs = 0.0
    for var, coef in [(total, 1.0), *((p, -1.0) for p in parts)]:
        if var in hidden:
            terms[var] = terms.get(var, 0.0) + coef
        else:
            rhs -= coef * series.value(var)
    return terms, rhs


def protect(
    series: Series,
    k: int = 5,
    width: int | None = None,
    *,
    audit: bool = True,
    max_repairs: int = 200,
    published: Sequence[Mapping[tuple[str, Key], str]] = (),
) -> Protected:
    """Primary and secondary suppression of a whole series, week after week (each week's
    choice depends on its past only: re-running a week gives the same publication).

    ``published[t]`` (``{(kind, key): status}``), for the first weeks of the series, is
    what was already published for them: taken as is (it is public, it cannot change),
    the following weeks are protected on top of it."""
    if k <= 1:
        return Protected(series, k, 0)
    protector = _Protector(series, k, k if width is None else width, audit, max_repairs)
    for t in range(len(series.weekly)):
        if t < len(published):
            for (kind, key), status in published[t].items():
                protector.hidden[(t, kind, key)] = status
            protector.reemerged += [
                (v[2], t)
                for v in list(protector.hidden)
                if v[0] == t - 1
                and v[1] == CUMULATED
                and (t, CUMULATED, v[2]) not in protector.hidden
            ]
        else:
            protector.week(t)
    return protector.result
