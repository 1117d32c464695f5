"""Periodic publication of one cohort x one measure, week after week, at a cost that does not
grow with the cohort's history (pure: no I/O).

What a reader of every published week knows
-------------------------------------------
Each week ``t`` publishes, at every key of the grain, the week's count ``W_t`` and the count
cumulated since the cohort opened ``C_t`` (``C_t = C_{t-1} + W_t``). Written in the weekly
counts, everything published is:

* each week's *weekly relations* (a total is the sum of its parts), which involve that
  week's counts only (the cumulated table's relations are their sums);
* each published ``W_t``;
* for each key, the sum of its weekly counts between two consecutive published cumulated
  values (a *chain*: ``C_t - C_s``, ``C_{-1} = 0``).

Blocks: independent pieces, a bounded LP
----------------------------------------
The cohort's weeks are cut into *blocks* of ``block_weeks`` weeks from its first published
week. A chain may only end in the block it starts in (its first published value being the
block's boundary, the last week of the block before, or any week of the block): a cumulated
value hidden at a block's boundary stays hidden for the rest of the cohort (its weekly values
go on being published). Then no equation a reader has joins two blocks: the reader's system
splits into one independent piece per block, and protecting each piece protects everything
published, whatever the cohort's length. A hidden cumulated value whose chain started in an
earlier block is the sum of a hidden value of that block (at least ``width`` wide) and
independent terms: at least as wide.

Each week ``t``:

1. the weekly table of the week, on its own (:class:`WeekTable`: primary, closure, LP audit);
   its counts appear in no equation yet, so nothing else changes;
2. ``C_t`` is hidden where ``W_t`` is or ``C_{t-1}`` was (then it tells nothing new);
3. *re-emergence*: a hidden ``C_t`` whose chain started in the block, whose value passes the
   rule and whose chain adds up to at least ``width`` is published again when the LP over
   the block (every hidden weekly count of its weeks, every hidden cumulated value whose chain
   started in it) still finds every hidden value at least ``width`` wide. Totals the regional
   dashboards read first. Only the pieces the new chains touch are solved.

The cost of a week is the LP of at most ``block_weeks`` weeks, the same in week 20 as in
week 1.

Corrections
-----------
A week is published once. Late data (a patch of an earlier week loaded after it was
published) is folded into the next week: ``W_t`` is the exact ``C_t`` of today minus the
``C_{t-1}`` *as it was published* (``basis``), so that every published relation still holds
exactly and no version of a week is ever differenced with another. A correction can make a
weekly count negative (a young deleted); ``0 < |v| < k`` is hidden like a small count.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from snu_assets.core.publication.grain import DEFAULT_DETAIL, Grain, Key
from snu_assets.core.publication.intervals import feasible_intervals, wide
from snu_assets.core.publication.week_table import (
    PRIMARY,
    SECONDARY,
    WeekTable,
    base_cost,
    is_small,
    relation_equation,
)

WEEKLY, CUMULATED = "W", "C"
Var = tuple[str, int, Key]  # kind, week index in the block (-1: the boundary), key


@dataclass
class PublishedWeek:
    """One week of one cohort x measure as published: exact values, and the status of each
    hidden value (``(kind, key)``)."""

    weekly: dict[Key, int]
    cumulated: dict[Key, int]
    hidden: dict[tuple[str, Key], str] = field(default_factory=dict)

    def is_hidden(self, kind: str, key: Key) -> bool:
        return (kind, key) in self.hidden

    def rows(self) -> set[Key]:
        """Keys with a row: a count that is not 0, or hidden."""
        return (
            {k for k, v in self.weekly.items() if v}
            | {k for k, v in self.cumulated.items() if v}
            | {key for _, key in self.hidden}
        )


@dataclass(frozen=True)
class Rules:
    """The publication rule: counts of 1 .. k-1 hidden, every hidden value kept at least
    ``width`` wide for any reader of everything published; blocks of ``block_weeks``."""

    k: int = 5
    width: int = 5
    block_weeks: int = 4
    #: per level, the cells published (:data:`snu_assets.core.publication.grain.DEFAULT_DETAIL`)
    detail: tuple[tuple[str, str], ...] = tuple(DEFAULT_DETAIL.items())
    #: cumulated values hidden in a block may be published again (LP-checked)
    reemergence: bool = True
    margin: int = 2
    #: LPs the re-emergence may solve for one week and measure (then it keeps what it has:
    #: a hidden value stays hidden, always safe)
    max_lps: int = 20


@dataclass
class Block:
    """What the week's protection reads of the past: the block's boundary (the last week of
    the block before, ``None`` at the cohort's start: every cumulated value 0, published)
    and the block's weeks before this one."""

    boundary: PublishedWeek | None
    weeks: list[PublishedWeek]

    def week(self, j: int) -> PublishedWeek | None:
        return self.boundary if j < 0 else self.weeks[j]

    def cumulated(self, j: int, key: Key) -> int:
        week = self.week(j)
        return 0 if week is None else week.cumulated.get(key, 0)

    def hidden_cumulated(self, j: int, key: Key) -> bool:
        week = self.week(j)
        return week is not None and week.is_hidden(CUMULATED, key)

    def chain_start(self, j: int, key: Key) -> int | None:
        """The last week before ``j`` (in the block, -1 the boundary) whose cumulated value of
        ``key`` is published; ``None`` when hidden since before the block (for good)."""
        s = j - 1
        while s >= 0 and self.weeks[s].is_hidden(CUMULATED, key):
            s -= 1
        if s < 0 and self.hidden_cumulated(-1, key):
            return None
        return s


@dataclass
class Outcome:
    week: PublishedWeek
    stats: Counter = field(default_factory=Counter)


def _chain(block: Block, j: int, key: Key, start: int) -> tuple[dict[Var, float], float]:
    """``sum of the hidden W_q(key), start < q <= j`` = the constant returned."""
    terms: dict[Var, float] = {}
    rhs = float(block.cumulated(j, key) - block.cumulated(start, key))
    for q in range(start + 1, j + 1):
        week = block.weeks[q]
        if week.is_hidden(WEEKLY, key):
            terms[(WEEKLY, q, key)] = 1.0
        else:
            rhs -= week.weekly.get(key, 0)
    return terms, rhs


def _reemerged(block: Block, j: int, key: Key) -> bool:
    """Whether week ``j``'s published cumulated value of ``key`` closes a chain (tells more
    than the week before's cumulated plus its weekly value)."""
    week = block.weeks[j]
    return not week.is_hidden(CUMULATED, key) and (
        week.is_hidden(WEEKLY, key) or block.hidden_cumulated(j - 1, key)
    )


def _weekly_var(j: int, key: Key) -> Var:
    return (WEEKLY, j, key)


class _BlockSystem:
    """The reader's equations over one block, in its hidden weekly counts."""

    def __init__(self, grain: Grain, block: Block):
        self.grain, self.block = grain, block
        self.equations: list[tuple[dict, float]] = []
        self.lower: dict[Var, float] = {}
        self.cells: list[Var] = []
        for j, week in enumerate(block.weeks):
            hidden = {key for kind, key in week.hidden if kind == WEEKLY}
            for key in hidden:
                var = (WEEKLY, j, key)
                self.cells.append(var)
                self.lower[var] = float(min(0, week.weekly.get(key, 0)))
            indexes = {i for key in hidden for i in grain.relations_of.get(key, ())}
            for i in sorted(indexes):
                self.equations.append(
                    relation_equation(
                        grain.relations[i],
                        week.weekly,
                        hidden,
                        functools.partial(_weekly_var, j),
                    )
                )
            for key in {key for kind, key in week.hidden if kind == CUMULATED} | set(
                week.cumulated
            ):
                start = block.chain_start(j, key)
                if start is None:
                    continue
                if _reemerged(block, j, key):
                    self.equations.append(_chain(block, j, key, start))
                elif week.is_hidden(CUMULATED, key):
                    # the hidden cumulated value, as an unknown tied to its chain
                    terms, rhs = _chain(block, j, key, start)
                    aux: Var = (CUMULATED, j, key)
                    const = block.cumulated(j, key) - rhs
                    self.equations.append(({aux: 1.0, **{v: -c for v, c in terms.items()}}, const))
                    self.cells.append(aux)
                    self.lower[aux] = float(min(0, block.cumulated(j, key)))

    def narrow(self, touching: set[Var], width: int) -> dict[Var, tuple[float, float]]:
        """Hidden values narrower than ``width``; only the pieces that hold one of the
        ``touching`` unknowns are solved (the others were audited when last changed)."""
        if not touching:
            return {}
        found = feasible_intervals(
            self.equations, self.cells, lower=self.lower, width=width, touching=touching
        )
        return {v: iv for v, iv in found.items() if not wide(*iv, width)}


def publish(
    grain: Grain,
    block: Block,
    cumulated: Mapping[Key, int],
    rules: Rules,
    *,
    audit: bool = True,
) -> Outcome:
    """Week ``len(block.weeks)`` of the block: ``cumulated`` is the exact cumulated count
    of today at every published key."""
    stats: Counter = Counter()
    n = len(block.weeks)
    before = block.week(n - 1)
    keys = set(cumulated) | (set(before.cumulated) if before is not None else set())
    weekly = {key: cumulated.get(key, 0) - block.cumulated(n - 1, key) for key in keys}
    weekly = {key: v for key, v in weekly.items() if v}
    current = PublishedWeek(weekly, {k: v for k, v in cumulated.items() if v})
    rows = current.rows()
    if rules.k <= 1:
        return Outcome(current, stats)

    last = n == rules.block_weeks - 1

    def cost(key: Key) -> float:
        # a key whose cumulated value is already hidden costs less: hiding its weekly value
        # hides no cumulated value more; in a block's last week, hiding the weekly value of a
        # key whose cumulated is shown hides that cumulated for the rest of the cohort
        if block.hidden_cumulated(n - 1, key):
            return base_cost(key) * 0.5
        return base_cost(key) * (4.0 if last else 1.0)

    table = WeekTable(grain, weekly, rows, rules.k, rules.width, cost=cost, margin=rules.margin)
    if rules.reemergence:
        # time partners: a key whose cumulated value is hidden since one hidden weekly value
        # can only show it again once a second one joins the chain; hiding this week's
        # weekly value (when the two add up to the protection) lets it re-emerge now rather
        # than stay hidden for weeks
        for key in _open_chains(block, weekly, rules):
            table.hidden[key] = SECONDARY
    table.protect(audit=audit)
    stats["fallback_weeks"] += table.fallback
    for key, status in table.hidden.items():
        current.hidden[(WEEKLY, key)] = status
    rows = current.rows()
    # cumulated values: hidden where the weekly value is, or the cumulated value was
    # (a key hidden the week before keeps a row even at 0: a missing row would read as 0,
    # and bound the hidden value of the week before)
    previous = block.week(n - 1)
    if previous is not None:
        rows |= {key for kind, key in previous.hidden if kind == CUMULATED}
    carried = [
        key
        for key in sorted(rows)
        if current.is_hidden(WEEKLY, key)
        or block.hidden_cumulated(n - 1, key)
        or is_small(cumulated.get(key, 0), rules.k)
    ]
    for key in carried:
        value = cumulated.get(key, 0)
        current.hidden[(CUMULATED, key)] = PRIMARY if is_small(value, rules.k) else SECONDARY
    if audit and rules.reemergence and carried:
        stats["reemerged"] += _reemerge(grain, block, current, carried, rules, stats)
    return Outcome(current, stats)


def _open_chains(block: Block, weekly: Mapping[Key, int], rules: Rules) -> list[Key]:
    """Keys whose cumulated value is hidden since hidden weekly values of the block that add
    up to less than the protection (publishing it would give their sum back), and whose
    weekly value of this week would bring the chain to the protection."""
    n = len(block.weeks)
    if n == 0:
        return []
    out = []
    for kind, key in block.weeks[-1].hidden:
        if kind != CUMULATED:
            continue
        start = block.chain_start(n, key)
        if start is None:
            continue
        terms, _ = _chain(block, n - 1, key, start)
        mass = sum(abs(block.weeks[q].weekly.get(k, 0)) for _, q, k in terms)
        now = abs(weekly.get(key, 0))
        if (len(terms) == 1 or mass < rules.width) and now and mass + now >= rules.width:
            out.append(key)
    return sorted(out)


def _reemerge(
    grain: Grain,
    block: Block,
    current: PublishedWeek,
    carried: Sequence[Key],
    rules: Rules,
    stats: Counter,
) -> int:
    """Publish again the hidden cumulated values of the week that the block's LP allows."""
    n = len(block.weeks)
    trial = Block(block.boundary, [*block.weeks, current])
    candidates: list[tuple[Key, int]] = []
    for key in carried:
        value = current.cumulated.get(key, 0)
        if is_small(value, rules.k) or current.hidden[(CUMULATED, key)] == PRIMARY:
            continue
        start = trial.chain_start(n, key)
        if start is None:
            continue
        terms, _ = _chain(trial, n, key, start)
        hidden_mass = sum(abs(trial.weeks[q].weekly.get(k, 0)) for (_, q, k) in terms)
        # one hidden weekly value since the last published cumulated: given back exactly;
        # several adding up to less than the protection: each within it
        if len(terms) < 2 or hidden_mass < rules.width:
            continue
        candidates.append((key, start))
    if not candidates:
        return 0
    # shown totals first, then regions, then departments; the largest first
    candidates.sort(
        key=lambda c: (
            not grain.shown_total(c[0]),
            grain.level(c[0]) == "department",
            -current.cumulated.get(c[0], 0),
            c[0],
        )
    )
    accepted: list[tuple[Key, int]] = []
    budget = [rules.max_lps]

    def narrow_with(trial_set: list[tuple[Key, int]]) -> dict[Var, tuple[float, float]]:
        """The hidden values of the block left narrower than the protection by publishing
        the accepted cumulated values and ``trial_set`` (only the pieces they touch are
        solved); ``trial_set`` stays hidden."""
        stats["lp_rounds"] += 1
        for key, _ in (*accepted, *trial_set):
            current.hidden.pop((CUMULATED, key), None)
        system = _BlockSystem(grain, trial)
        touching = {v for key, start in trial_set for v in _chain(trial, n, key, start)[0]}
        narrow = system.narrow(touching, rules.width)
        for key, _ in trial_set:
            current.hidden[(CUMULATED, key)] = SECONDARY
        return narrow

    # all at once first; when that narrows something, the candidates whose chain holds a
    # narrow value are dropped, then bisection in priority order: a batch that holds is
    # kept whole, one that does not is split, until single candidates (or the week's budget
    # of LPs) decide
    narrow = narrow_with(candidates)
    if not narrow:
        accepted = candidates
        candidates = []
    bad = set(narrow) | {(WEEKLY, j, key) for kind, j, key in narrow if kind == CUMULATED}
    candidates = [
        (key, start) for key, start in candidates if not set(_chain(trial, n, key, start)[0]) & bad
    ]
    pending = [candidates] if candidates else []
    while pending and budget[0] > 0:
        batch = pending.pop(0)
        budget[0] -= 1
        if not narrow_with(batch):
            accepted += batch
        elif len(batch) > 1:
            half = len(batch) // 2
            pending[:0] = [batch[:half], batch[half:]]
    for key, _ in accepted:
        current.hidden.pop((CUMULATED, key), None)
    return len(accepted)
