"""The LPs of the audit in HiGHS: one-off solves, and models kept between solves of one component.

Keeping a model pays for the min and max of one cell after another: after the first solve, each starts
from the last optimal basis, a few pivots away. (It does not for the slices of a spreading LP: a cold
solve with presolve was twice as fast as one from the previous slice's optimum.) A model's first solve
has no basis to start from: it runs with presolve and the dual simplex, which on the 5% month's smallest
zone took the linked component's first solve from 17.7 s to 1.7 s (all first solves: 73 s to 5 s).
"""

from __future__ import annotations

import highspy
import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

Parts = dict[str, tuple[sp.csr_matrix, np.ndarray]]  # "eq"/"ub" -> (rows, right-hand side)
_OPTIONS = (("output_flag", False), ("presolve", "off"), ("simplex_strategy", 4), ("random_seed", 0),
            ("threads", 1))
Options = tuple[tuple[str, str | int], ...]
_COLD: Options = (("presolve", "on"), ("simplex_strategy", 1))  # a first solve: presolve, then the dual simplex
_DUAL: Options = (("simplex_strategy", 1),)
_DONE = (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kUnbounded)


class Infeasible(RuntimeError):
    """HiGHS finds the model infeasible, also solved afresh with presolve: for a model the true values
    satisfy, a numerical failure; for a restriction held at another point, possibly a true verdict."""


def solve(cost: np.ndarray, parts: Parts, lower: np.ndarray,
        upper: np.ndarray | None = None) -> np.ndarray | None:
    """A minimiser, or None when unbounded. An infeasible LP means the model is wrong: raise."""
    eq, ub = parts.get("eq"), parts.get("ub")
    bounds = np.column_stack([lower, upper if upper is not None else np.full(len(lower), np.inf)])
    res = linprog(cost, A_eq=eq[0] if eq else None, b_eq=eq[1] if eq else None, A_ub=ub[0] if ub else None,
                  b_ub=ub[1] if ub else None, bounds=bounds, method="highs")
    if res.status == 3:
        return None
    if res.status == 2:
        raise Infeasible(f"audit LP infeasible ({res.message}); the true values must be feasible")
    if res.status != 0:
        raise RuntimeError(f"audit LP failed ({res.message}); the true values must be feasible")
    return np.asarray(res.x)



def spread(parts: Parts, base: np.ndarray, lower: np.ndarray, cells: np.ndarray, sign: float, cap: np.ndarray
           ) -> np.ndarray | None:
    """A feasible x moving the given cells as far as it can: max sum(y) with y_c <= sign * (x_c - base_c)
    and 0 <= y_c <= cap_c (the caps spread the room over many cells)."""
    n, k = len(base), len(cells)
    if not k or not cap.any():
        return None
    link = sp.hstack([sp.csr_matrix((-sign * np.ones(k), (np.arange(k), cells)), shape=(k, n)),
                      sp.identity(k, format="csr")], format="csr")
    widened = {name: (sp.hstack([a, sp.csr_matrix((a.shape[0], k))], format="csr"), b)
               for name, (a, b) in parts.items()}
    ub = widened.get("ub")
    widened["ub"] = (sp.vstack([ub[0], link], format="csr") if ub else link,
                     np.concatenate([ub[1], -sign * base[cells]]) if ub else -sign * base[cells])
    cost = np.concatenate([np.zeros(n), -np.ones(k)])
    x = solve(cost, widened, np.concatenate([lower, np.zeros(k)]), np.concatenate([np.full(n, np.inf), cap]))
    return None if x is None else x[:n]


def _model(parts: Parts, lower: np.ndarray, upper: np.ndarray, cost: np.ndarray) -> highspy.Highs:
    n = len(lower)
    rows = []
    if "eq" in parts:
        rows.append((parts["eq"][0], parts["eq"][1], parts["eq"][1]))
    if "ub" in parts:
        rows.append((parts["ub"][0], np.full(len(parts["ub"][1]), -highspy.kHighsInf), parts["ub"][1]))
    matrix = sp.vstack([a for a, _, _ in rows], format="csc") if rows else sp.csc_matrix((0, n))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, matrix.shape[0]
    lp.col_cost_ = np.asarray(cost, dtype=np.float64)
    lp.col_lower_ = np.where(np.isinf(lower), -highspy.kHighsInf, lower).astype(np.float64)
    lp.col_upper_ = np.where(np.isinf(upper), highspy.kHighsInf, upper).astype(np.float64)
    lp.row_lower_ = np.concatenate([lo for _, lo, _ in rows]) if rows else np.zeros(0)
    lp.row_upper_ = np.concatenate([hi for _, _, hi in rows]) if rows else np.zeros(0)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = matrix.indptr, matrix.indices, matrix.data
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n, matrix.shape[0]
    highs = highspy.Highs()
    for option, value in _OPTIONS:
        highs.setOptionValue(option, value)
    highs.passModel(lp)
    return highs


def _cold(highs: highspy.Highs, options: Options = _COLD) -> highspy.HighsModelStatus:
    """One solve with options (by default presolve and the dual simplex, _COLD), then the kept models'
    options again."""
    for option, setting in options:
        highs.setOptionValue(option, setting)
    try:
        highs.run()
        return highs.getModelStatus()
    finally:
        for option, setting in _OPTIONS:
            highs.setOptionValue(option, setting)


def _run(highs: highspy.Highs, cold: bool = False) -> highspy.HighsModelStatus:
    """Solve; cold: the first solve of a model, which has no basis to start from (_cold)."""
    if cold:
        status = _cold(highs)
    else:
        highs.run()
        status = highs.getModelStatus()
    if status not in _DONE:
        # A basis carried over from another objective can stall the simplex in a false verdict (seen as
        # "infeasible" on a model the true values satisfy): solve once more from scratch...
        highs.clearSolver()
        highs.run()
        status = highs.getModelStatus()
    if status not in _DONE:
        # ...and once more with presolve and the dual simplex, which rescale and re-factor the model: a
        # last try before a verdict that stops the release (the stats benchmark's held LPs were truly
        # infeasible by accumulated tolerance, which _snap in audit.py removes; this guards the rest).
        highs.clearSolver()
        status = _cold(highs)
    if status == highspy.HighsModelStatus.kInfeasible:
        raise Infeasible("audit LP ended infeasible; the true values must be feasible")
    if status not in _DONE:
        raise RuntimeError(f"audit LP ended {status}; the true values must be feasible")
    return status


class ComponentLP:
    """One component's constraints, for the min and max of each of its cells in turn."""

    def __init__(self, free: np.ndarray, parts: Parts, lower: np.ndarray) -> None:
        self.free, self.lower = free, np.asarray(lower, dtype=np.float64)
        self.highs = _model(parts, self.lower, np.full(len(free), np.inf), np.zeros(len(free)))
        self.points: list[np.ndarray] = []
        self.warm = False  # whether a solve has left a basis to start the next from
        self.binding = np.zeros(0, dtype=np.int64)  # model rows with a dual at the last optimum
        self.equalities = len(parts["eq"][1]) if "eq" in parts else 0
        self.rhs = np.concatenate([parts[name][1] for name in ("eq", "ub") if name in parts] or [np.zeros(0)])

    def hold(self, rhs: np.ndarray) -> None:
        """New right-hand sides (the variables outside the model held elsewhere), rows in model order."""
        changed = np.flatnonzero(np.abs(rhs - self.rhs) > 1e-12)
        if not len(changed):
            return
        lower = np.where(changed < self.equalities, rhs[changed], -highspy.kHighsInf)
        self.highs.changeRowsBounds(len(changed), changed.astype(np.int32),  # type: ignore[attr-defined]
                                    lower.astype(np.float64), rhs[changed].astype(np.float64))
        self.rhs = rhs.copy()

    def point(self, cols: np.ndarray, cost: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        """A minimiser of cost (over the columns cols) with those columns held in [lower, upper] for this
        solve alone: a feasible point of the model, from the last basis. The box keeps it bounded."""
        index = cols.astype(np.int32)
        self.highs.changeColsCost(len(index), index, cost.astype(np.float64))  # type: ignore[attr-defined]
        self.highs.changeColsBounds(len(index), index, lower.astype(np.float64),  # type: ignore[attr-defined]
                                    upper.astype(np.float64))
        try:
            _run(self.highs, cold=not self.warm)
            self.warm = True
            return np.asarray(self.highs.getSolution().col_value)
        finally:
            self.highs.changeColsCost(len(index), index, np.zeros(len(index)))  # type: ignore[attr-defined]
            self.highs.changeColsBounds(len(index), index, self.lower[cols],  # type: ignore[attr-defined]
                                        np.full(len(index), highspy.kHighsInf))

    def reach(self, col: int, bound: float, sign: float) -> bool:
        """Whether a feasible point has x_col >= bound (sign -1) or <= bound (sign 1); the point found is left
        in points. A zero-cost solve with the column's bound moved there, by the dual simplex from the last
        basis: under a zero cost every basis is dual feasible, so it only restores primal feasibility, a few
        pivots where the bound is near the last point, where the exact extreme's primal simplex walks the
        whole way to the optimum (and, after hold moved the right-hand sides, first back to a feasible
        basis). False also when HiGHS ends without a verdict: the caller's exact LPs decide then."""
        self.points = []
        self.binding = np.zeros(0, dtype=np.int64)
        if self.highs.getNumRow() == 0:
            return False
        lower, upper = (bound, highspy.kHighsInf) if sign < 0 else (float(self.lower[col]), bound)
        self.highs.changeColBounds(col, lower, upper)
        try:
            status = _cold(self.highs, _DUAL if self.warm else _COLD)
        finally:
            self.highs.changeColBounds(col, float(self.lower[col]), highspy.kHighsInf)
        self.warm = True
        if status != highspy.HighsModelStatus.kOptimal:
            return False
        self.points.append(np.asarray(self.highs.getSolution().col_value))
        return True

    def extreme(self, col: int, sign: float) -> float:
        """min (sign 1) or max (sign -1) of one column; the optimum is left in points, a feasible point, and
        the rows that bound it (nonzero duals) in binding."""
        self.points = []
        self.binding = np.zeros(0, dtype=np.int64)
        if self.highs.getNumRow() == 0:  # nothing links the cell to anything published
            return float(self.lower[col]) if sign > 0 else np.inf
        self.highs.changeColCost(col, sign)
        try:  # an Infeasible a caller catches must not leave the cost on the kept model
            status = _run(self.highs, cold=not self.warm)
            self.warm = True
            value = float(sign * self.highs.getInfo().objective_function_value)  # before the cost is reset
        finally:
            self.highs.changeColCost(col, 0.0)
        if status == highspy.HighsModelStatus.kUnbounded:
            return np.inf
        solution = self.highs.getSolution()
        self.points.append(np.asarray(solution.col_value))
        self.binding = np.flatnonzero(np.abs(np.asarray(solution.row_dual)) > 1e-9)
        return value


def solve_milp(cost: np.ndarray, parts: Parts, lower: np.ndarray, upper: np.ndarray, integral: np.ndarray,
               node_limit: int, presolve: bool = True) -> np.ndarray | None:
    """A minimiser with the columns integral (indices) whole numbers; a feasible point when the node limit
    ends the search after one was found; None when there is none. HiGHS on one thread with a fixed seed
    and a node limit, not a time limit: deterministic. Raises ArithmeticError when it ends without a
    verdict (the node limit, with no point found)."""
    highs = _model(parts, np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64), cost)
    index = np.asarray(integral, dtype=np.int32)
    highs.changeColsIntegrality(len(index), index, np.full(len(index), 1, dtype=np.uint8))  # kInteger
    highs.setOptionValue("presolve", "on" if presolve else "off")
    highs.setOptionValue("mip_max_nodes", node_limit)
    highs.run()
    status = highs.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        return None
    if highs.getInfo().primal_solution_status == 2:  # kSolutionStatusFeasible: optimal, or the best found
        return np.asarray(highs.getSolution().col_value)
    raise ArithmeticError(f"MILP ended {highs.modelStatusToString(status)} without a verdict")
