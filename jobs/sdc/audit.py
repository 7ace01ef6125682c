"""The attack: how narrowly can each primary-suppressed cell be pinned down from the release?

For a suppressed cell x_c the feasible interval is [min x_c, max x_c] over every non-negative solution
of the system (jobs/sdc/system.py) that agrees with the published values. Two LPs per cell over a
zone's whole linked component are slow, so the audit proves wide intervals cheaply first, and solves
the exact LPs only where that fails:

1. unit propagation: a cell fixed by equalities alone is an exact disclosure;
2. vertices: per linked component, a few LPs with spread-out objectives give feasible points; every
   feasible point is a value the attacker cannot rule out, so the spread of x_c over them (and the true
   values) is inside c's interval, and proves it for most cells at once;
3. twins: a suppressed cell with exactly c's equality rows can give to and take from c while every
   margin stays put (checked against every inequality row);
4. the exact LPs over c's component, in one HiGHS model per component re-solved from the last basis.

A cell passes once a proven interval is at least its protection margin wide; it fails only on the exact
LPs, so every verdict is the exact attack's.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from jobs.sdc.system import System, components, propagate, unknown_mask

EXACT = 0.5  # counts are integers: an interval narrower than this holds only the true value
_TOL = 1e-6
_SMALL = 200  # unknowns in a component below which exact LPs beat proving intervals by spreading
_MANY = 100  # targets in a component from which spreading pays


@dataclass(frozen=True)
class Attack:
    node: int
    measure: str
    value: float
    margin: float
    lo: float
    hi: float
    method: str  # published | propagation | vertices | twin | lp

    @property
    def width(self) -> float:
        return self.hi - self.lo

    @property
    def exact(self) -> bool:
        return self.width < EXACT

    @property
    def ok(self) -> bool:
        return not self.exact and self.width >= self.margin - _TOL


def _lp(cost: np.ndarray, parts: dict[str, tuple[sp.csr_matrix, np.ndarray]], lower: np.ndarray,
        upper: np.ndarray | None = None) -> np.ndarray | None:
    """A minimiser, or None when unbounded. An infeasible LP means the model is wrong: raise."""
    eq, ub = parts.get("eq"), parts.get("ub")
    bounds = np.column_stack([lower, upper if upper is not None else np.full(len(lower), np.inf)])
    res = linprog(cost, A_eq=eq[0] if eq else None, b_eq=eq[1] if eq else None, A_ub=ub[0] if ub else None,
                  b_ub=ub[1] if ub else None, bounds=bounds, method="highs")
    if res.status == 3:
        return None
    if res.status != 0:
        raise RuntimeError(f"audit LP failed ({res.message}); the true values must be feasible")
    return np.asarray(res.x)


class _ComponentLP:
    """One component's constraints in HiGHS, kept between objectives: after the first solve, each min or
    max of another cell starts from the last optimal basis (primal simplex), a few pivots away."""

    def __init__(self, free: np.ndarray, parts: dict[str, tuple[sp.csr_matrix, np.ndarray]], lower: np.ndarray
                 ) -> None:
        self.free, self.lower = free, np.asarray(lower, dtype=np.float64)
        rows = []
        if "eq" in parts:
            rows.append((parts["eq"][0], parts["eq"][1], parts["eq"][1]))
        if "ub" in parts:
            rows.append((parts["ub"][0], np.full(len(parts["ub"][1]), -highspy.kHighsInf), parts["ub"][1]))
        matrix = sp.vstack([a for a, _, _ in rows], format="csc") if rows else sp.csc_matrix((0, len(free)))
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = len(free), matrix.shape[0]
        lp.col_cost_ = np.zeros(len(free))
        lp.col_lower_ = np.asarray(lower, dtype=np.float64)
        lp.col_upper_ = np.full(len(free), highspy.kHighsInf)
        lp.row_lower_ = np.concatenate([lo for _, lo, _ in rows]) if rows else np.zeros(0)
        lp.row_upper_ = np.concatenate([hi for _, _, hi in rows]) if rows else np.zeros(0)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = matrix.indptr, matrix.indices, matrix.data
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = len(free), matrix.shape[0]
        self.highs = highspy.Highs()
        for option, value in (("output_flag", False), ("presolve", "off"), ("simplex_strategy", 4),
                              ("random_seed", 0), ("threads", 1)):
            self.highs.setOptionValue(option, value)
        self.highs.passModel(lp)

    def _solve(self, col: int, sign: float) -> float:
        self.highs.changeColCost(col, sign)
        self.highs.run()
        status = self.highs.getModelStatus()
        if status not in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kUnbounded):
            # A basis carried over from another objective can stall the simplex in a false verdict
            # (seen as "infeasible" on a model the true values satisfy): solve once more from scratch.
            self.highs.clearSolver()
            self.highs.run()
            status = self.highs.getModelStatus()
        value = float(sign * self.highs.getInfo().objective_function_value)  # before the cost is reset
        self.highs.changeColCost(col, 0.0)
        if status == highspy.HighsModelStatus.kUnbounded:
            return np.inf
        if status != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"audit LP ended {status}; the true values must be feasible")
        return value

    def bounds(self, col: int) -> tuple[float, float]:
        if self.highs.getNumRow() == 0:  # nothing links the cell to anything published
            return float(self.lower[col]), np.inf
        return self._solve(col, 1.0), self._solve(col, -1.0)


class Attacker:
    """Attacks the suppressed cells of one system under one suppression pattern."""

    def __init__(self, system: System, suppressed: np.ndarray, exact: bool = False) -> None:
        self.system = system
        self.unknown = unknown_mask(system, suppressed)
        self.solved = propagate(system, self.unknown)
        self.group = components(system, self.unknown)
        self.exact_only = exact
        self.eq_csc, self.ub_csc = system.eq.tocsc(), system.ub.tocsc()
        self.slack = -(system.ub @ system.base) if system.ub.shape[0] else np.zeros(0)
        # every row (equalities, then inequalities) against every variable, for searches through rows
        self.incidence = sp.vstack([abs(system.eq), abs(system.ub)], format="csr")
        self.incidence_t = self.incidence.T.tocsr()
        # per variable: how many of its rows hold an unknown
        self._linked = self.incidence_t @ (self.incidence @ self.unknown.astype(np.int64) > 0).astype(np.int64)
        self.lp_solved = 0
        self.seen_lo, self.seen_hi = system.base.copy(), system.base.copy()
        self._vertices_done: set[int] = set()
        self._models: dict[int, _ComponentLP] = {}
        self._twins: dict[tuple[object, ...], list[int]] = {}
        for var in np.flatnonzero(self.unknown):
            if system.var_node[var] >= 0 and int(var) not in self.solved:
                self._twins.setdefault(self._signature(int(var)), []).append(int(var))

    def _signature(self, var: int) -> tuple[object, ...]:
        lo, hi = self.eq_csc.indptr[var], self.eq_csc.indptr[var + 1]
        return (tuple(self.eq_csc.indices[lo:hi]), tuple(self.eq_csc.data[lo:hi]))

    def members(self, var: int) -> np.ndarray:
        return np.flatnonzero(self.unknown & (self.group == self.group[var]))

    def attack(self, var: int) -> Attack:
        node = self.system.var_node[var]
        value = float(self.system.base[var])
        margin = self.system.registry.rules[node].margin(value)

        def result(lo: float, hi: float, method: str) -> Attack:
            return Attack(node, self.system.measure, value, margin, lo, hi, method)

        if not self.unknown[var]:
            return result(value, value, "published")  # a primary cell left in the release
        if var in self.solved:
            return result(value, value, "propagation")
        if not self.exact_only:
            if self.seen_hi[var] - self.seen_lo[var] >= margin - _TOL:
                return result(float(self.seen_lo[var]), float(self.seen_hi[var]), "vertices")
            down, up = self._twin_room(var)
            if up + down >= margin - _TOL:
                return result(value - down, value + up, "twin")
        lo, hi = self.interval(var)
        return result(lo, hi, "lp")

    def attack_all(self, variables: list[int]) -> list[Attack]:
        """Attacks in order; components with many targets first get the shared feasible points."""
        if not self.exact_only:
            targets = np.bincount(self.group[variables][self.group[variables] >= 0], minlength=1)
            for var in variables:
                if self.group[var] >= 0 and targets[self.group[var]] >= _MANY:
                    self._vertices(var)
        return [self.attack(var) for var in variables]

    def _parts(self, free: np.ndarray) -> dict[str, tuple[sp.csr_matrix, np.ndarray]]:
        """Rows touching the free variables, with every other variable at its base value."""
        sys = self.system
        fixed = np.ones(sys.size, dtype=bool)
        fixed[free] = False
        fixed_idx = np.flatnonzero(fixed)
        out = {}
        for name, matrix, csc in (("eq", sys.eq, self.eq_csc), ("ub", sys.ub, self.ub_csc)):
            rows = np.unique(csc[:, free].indices) if len(free) and matrix.shape[0] else np.zeros(0, dtype=int)
            if len(rows):
                sub = matrix[rows]
                out[name] = (sub[:, free], -(sub[:, fixed_idx] @ sys.base[fixed_idx]))
        return out

    def _vertices(self, var: int) -> None:
        """Feasible points that move as many suppressed cells as far as their margins (once per component).

        Two LPs over var's component: one pushes every suppressed cell down, the next every cell up, each
        cell's move capped at what its margin still needs, so the optimum spreads the room over as many
        cells as it can. Both points are feasible, so each cell's interval spans at least both.
        """
        comp = int(self.group[var])
        if comp in self._vertices_done:
            return
        self._vertices_done.add(comp)
        free = self.members(var)
        cells = np.array([i for i, v in enumerate(free) if self.system.var_node[v] >= 0], dtype=np.int64)
        if len(free) <= _SMALL or not len(cells):
            return  # a small component's exact LPs are cheaper than the spreading ones
        sys, parts = self.system, self._parts(free)
        base, lower = sys.base[free], sys.lower[free]
        need = np.array([sys.registry.rules[sys.var_node[free[i]]].margin(base[i]) for i in cells])
        # Cells pushed one way cannot also absorb, so each LP moves only some cells and lets the rest
        # (and the unpublished totals) make room: first the cells above their lower bound go down...
        room = base[cells] - lower[cells]
        movers = np.flatnonzero(room >= 1)
        point = self._spread(parts, base, lower, cells[movers], -1.0, np.minimum(need[movers], room[movers]))
        self._seen(free, point)
        # ...then the cells still short of their margin go up, the others giving way. Few receivers per LP
        # leave enough givers, so the short cells go up in slices: those that cannot give first.
        for _ in range(8):
            short = np.flatnonzero(self.seen_hi[free][cells] - self.seen_lo[free][cells] < need - _TOL)
            if not len(short):
                break
            short = short[np.argsort(room[short] >= 1, kind="stable")][: max(64, len(short) // 3)]
            gap = need[short] - (self.seen_hi[free][cells[short]] - self.seen_lo[free][cells[short]])
            point = self._spread(parts, base, lower, cells[short], 1.0,
                                 gap + (self.seen_hi[free][cells[short]] - base[cells[short]]))
            self._seen(free, point)

    def _spread(self, parts: dict[str, tuple[sp.csr_matrix, np.ndarray]], base: np.ndarray, lower: np.ndarray,
                cells: np.ndarray, sign: float, cap: np.ndarray) -> np.ndarray | None:
        """max sum(y) with y_c <= sign * (x_c - base_c) and 0 <= y_c <= cap_c; returns x."""
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
        x = _lp(cost, widened, np.concatenate([lower, np.zeros(k)]), np.concatenate([np.full(n, np.inf), cap]))
        self.lp_solved += 1
        return None if x is None else x[:n]

    def _seen(self, free: np.ndarray, point: np.ndarray | None) -> None:
        if point is not None:
            self.seen_lo[free] = np.minimum(self.seen_lo[free], point)
            self.seen_hi[free] = np.maximum(self.seen_hi[free], point)

    def _room(self, var: int, twin: int) -> tuple[float, float]:
        """Exactly how far x_var can go down and up while x_twin moves the other way."""
        sys = self.system
        step: dict[int, float] = {}
        for v, sign in ((var, 1.0), (twin, -1.0)):
            lo, hi = self.ub_csc.indptr[v], self.ub_csc.indptr[v + 1]
            for row, coef in zip(self.ub_csc.indices[lo:hi], self.ub_csc.data[lo:hi], strict=True):
                step[int(row)] = step.get(int(row), 0.0) + sign * coef
        up = sys.base[twin] - sys.lower[twin]
        down = sys.base[var] - sys.lower[var]
        for row, coef in step.items():
            if coef > _TOL:
                up = min(up, self.slack[row] / coef)
            elif coef < -_TOL:
                down = min(down, self.slack[row] / -coef)
        return max(down, 0.0), max(up, 0.0)

    def _twin_room(self, var: int) -> tuple[float, float]:
        twins = [t for t in self._twins.get(self._signature(var), []) if t != var]
        best_down = best_up = 0.0
        for twin in sorted(twins, key=lambda t: (-self.system.base[t], t))[:8]:
            down, up = self._room(var, twin)
            best_down, best_up = max(best_down, down), max(best_up, up)
        return best_down, best_up

    def interval(self, var: int) -> tuple[float, float]:
        """The exact min and max of x_var: two LPs over var's component, warm-started per component."""
        comp = int(self.group[var])
        model = self._models.get(comp)
        if model is None:
            free = self.members(var)
            model = self._models[comp] = _ComponentLP(free, self._parts(free), self.system.lower[free])
        self.lp_solved += 2
        return model.bounds(int(np.searchsorted(model.free, var)))

    def linked(self, var: int) -> int:
        """How many of var's rows hold an unknown: a companion there helps close a cycle."""
        return int(self._linked[var])
