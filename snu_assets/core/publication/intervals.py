"""The attacker's view of a publication: for every hidden cell, the interval a reader of
everything published can narrow it to, by linear programming over all published relations
(HiGHS through ``highspy``). Used by the protection to check itself and by the tests' attacker."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

_EPS = 1e-6


def wide(lo: float, hi: float, width: float) -> bool:
    """Whether ``[lo, hi]`` holds integers ``width`` apart (counts are integers: an LP bound
    of 4.5 means 4 to a reader)."""
    if hi == float("inf"):
        return True
    return math.floor(hi + _EPS) - math.ceil(lo - _EPS) >= width


# ------------------------------------------------------------------------------ LP attacker

H = TypeVar("H", bound=Hashable)


def feasible_intervals(
    equations: Sequence[tuple[Mapping[H, float], float]],
    unknowns: Iterable[H] | None = None,
    lower: Mapping[H, float] | None = None,
    width: float | None = None,
    check: Iterable[H] | None = None,
    touching: Iterable[H] | None = None,
) -> dict[H, tuple[float, float]]:
    """The reader's best knowledge of each unknown: ``(min, max)`` of it subject to every
    equation ``Σ coef · x = rhs`` and ``x ≥ lower`` (0 by default), by LP (HiGHS).
    ``max`` is ``inf`` when unbounded. Unknowns in no equation get ``(lower, inf)``.
    Solved per connected component (unknowns linked by equations).

    With ``width``, only what decides "narrower than ``width``" is computed: a cell whose
    values seen in LP solutions already spread ``width`` wide gets that spread (both ends
    attainable, the true interval contains it); any narrower cell gets its exact ``(min,
    max)``. With ``check``, only those unknowns are reported (the others still constrain); with
    ``touching``, every unknown of the components that hold one of those is reported, the
    other components are not solved."""
    import highspy
    import numpy as np

    lower = lower or {}
    names: dict[H, int] = {}
    for terms, _ in equations:
        for x in terms:
            names.setdefault(x, len(names))
    for x in unknowns or ():
        names.setdefault(x, len(names))
    parent = list(range(len(names)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for terms, _ in equations:
        ids = [names[x] for x in terms]
        for j in ids[1:]:
            a, b = find(ids[0]), find(j)
            if a != b:
                parent[a] = b
    components: dict[int, list[int]] = defaultdict(list)
    for i in range(len(names)):
        components[find(i)].append(i)
    rows_of: dict[int, list[int]] = defaultdict(list)
    for e, (terms, _) in enumerate(equations):
        if terms:
            rows_of[find(names[next(iter(terms))])].append(e)
    by_index = list(names)
    result: dict[H, tuple[float, float]] = {}
    inf = highspy.kHighsInf
    wanted = None if check is None else {names[x] for x in check if x in names}
    roots = None if touching is None else {find(names[x]) for x in touching if x in names}
    for root, members in components.items():
        if wanted is not None and not wanted.intersection(members):
            continue
        if roots is not None and root not in roots:
            continue
        rows = rows_of.get(root, [])
        if not rows:
            for i in members:
                result[by_index[i]] = (float(lower.get(by_index[i], 0.0)), float("inf"))
            continue
        local = {i: n for n, i in enumerate(members)}
        columns: list[list[tuple[int, float]]] = [[] for _ in members]
        rhs = []
        for r, e in enumerate(rows):
            terms, value = equations[e]
            rhs.append(float(value))
            for x, coef in terms.items():
                if coef:
                    columns[local[names[x]]].append((r, float(coef)))
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = len(members), len(rows)
        lp.col_cost_ = np.zeros(len(members))
        lp.col_lower_ = np.array([float(lower.get(by_index[i], 0.0)) for i in members])
        lp.col_upper_ = np.full(len(members), inf)
        lp.row_lower_ = np.array(rhs)
        lp.row_upper_ = np.array(rhs)
        starts, index, values = [0], [], []
        for column in columns:
            for r, coef in column:
                index.append(r)
                values.append(coef)
            starts.append(len(index))
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
        lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
        lp.a_matrix_.value_ = np.array(values, dtype=float)
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("presolve", "off")
        h.passModel(lp)
        # every LP solution is a feasible point: the spread of the values seen so far is an
        # interval each cell can certainly take; a cell already spread ``width`` wide needs
        # no LP of its own
        low = [float("inf")] * len(members)
        high = [float("-inf")] * len(members)
        exact: dict[int, list[float]] = {}

        def solve(n: int, sense: Any, h: Any = h, low: list = low, high: list = high) -> float:
            h.changeObjectiveSense(sense)
            h.run()
            status = h.getModelStatus()
            if status in (
                highspy.HighsModelStatus.kUnbounded,
                highspy.HighsModelStatus.kUnboundedOrInfeasible,
            ):
                return float("inf")
            if status != highspy.HighsModelStatus.kOptimal:
                raise RuntimeError(f"LP of the attacker: {status}")
            for j, x in enumerate(h.getSolution().col_value):
                if x < low[j]:
                    low[j] = x
                if x > high[j]:
                    high[j] = x
            return h.getInfo().objective_function_value

        if width is not None:
            # extreme points first, in a box around a feasible point (bounded): pushing
            # every cell up, then down, spreads most of them ``width`` apart at once
            n_cols = len(members)
            every = np.arange(n_cols, dtype=np.int32)
            floor = np.array(lp.col_lower_)
            solve(-1, highspy.ObjSense.kMinimize)
            point = np.array(h.getSolution().col_value)
            h.changeColsBounds(n_cols, every, np.maximum(floor, point - width), point + width)
            rng = np.random.default_rng(n_cols)
            for signs in [np.ones(n_cols)] + [
                rng.choice([-1.0, 1.0], size=n_cols) for _ in range(8)
            ]:
                for sense in (highspy.ObjSense.kMaximize, highspy.ObjSense.kMinimize):
                    open_ = np.array([not wide(low[j], high[j], width) for j in range(n_cols)])
                    if wanted is not None:
                        open_ &= np.array([i in wanted for i in members])
                    if not open_.any():
                        break
                    h.changeColsCost(n_cols, every, np.where(open_, signs, 0.0))
                    solve(-1, sense)
            h.changeColsCost(n_cols, every, np.zeros(n_cols))
            h.changeColsBounds(n_cols, every, floor, np.full(n_cols, inf))
        for n in range(len(members)):
            if wanted is not None and members[n] not in wanted:
                continue
            if width is not None and wide(low[n], high[n], width):
                continue
            h.changeColCost(n, 1.0)
            lo = solve(n, highspy.ObjSense.kMinimize)
            if width is None or not wide(lo, high[n], width):
                hi = solve(n, highspy.ObjSense.kMaximize)
            else:
                hi = high[n]
            h.changeColCost(n, 0.0)
            exact[n] = [lo, hi]
        for n, i in enumerate(members):
            if wanted is None or i in wanted:
                lo_hi = exact.get(n)
                result[by_index[i]] = (lo_hi[0], lo_hi[1]) if lo_hi else (low[n], high[n])
    return result
