"""The attack: how narrowly can each primary-suppressed cell be pinned down from the release?

For a suppressed count x_c the feasible interval is [min x_c, max x_c] over every non-negative solution
of the system (jobs/stats/sdc/system.py) that agrees with the published values. Two LPs per count over a
zone's whole linked component are slow (the links between measures make most of a zone one component),
so the audit proves wide intervals cheaply first, and solves the exact LPs only where that fails:

1. unit propagation: a count fixed by equalities alone is an exact disclosure;
2. feasible points: every feasible point is a value the attacker cannot rule out, so the spread of x_c
   over the points seen (and the true values) is inside c's interval. Points come from a few spreading
   LPs per component (vertices), from every LP solved later, and one chain step away from each of those
   (jobs/stats/sdc/moves.py); most counts are proven here;
3. twins: a suppressed count with exactly c's equality rows can give to and take from c while every
   margin stays put (checked against every inequality row);
4. a feasibility LP for c alone: its measure's part of the component, the other measures held at a
   feasible point (for vehicles and trips, the point where the cell's passages are highest, which the
   links leave room under), with c's bound moved a margin beyond the values seen, up or else down.
   Smaller than the whole component and its points are feasible; a feasibility LP from the last basis
   costs a fraction of an extreme (on a 160-vehicle zone this step took the zone from 125 s to 78 s);
5. the exact LPs over c's whole component (there a feasibility LP first did not pay: most counts that
   reach it are narrow, and a failed one leaves a basis the extremes start badly from).
(LPs over c's neighbourhood alone, the rest held at the true values, were tried before step 4: on a
6,081-cell zone of the 5% month they doubled the LPs solved and made the zone 7.5% slower, 514 s
against 478 s, for the same pattern.)
The LPs are HiGHS models kept per component (and measure) and re-solved from the last basis.

A count passes once a proven interval is at least its protection margin wide; it fails only on the exact
LPs, so every verdict is the exact attack's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from jobs.stats.sdc.lp import ComponentLP, Parts, spread
from jobs.stats.sdc.moves import Moves
from jobs.stats.sdc.system import System, components, propagate, unknown_mask

EXACT = 0.5  # counts are integers: an interval narrower than this holds only the true value
_TOL = 1e-6
# A count whose feasible values span less than this is as good as known. It decides which counts the union
# rule takes as known (jobs/stats/sdc/unions.py), so it sits far above LP noise (about 1e-7 per coefficient
# at HiGHS's tolerances, more over a long row): noise must not make a fixed count look free.
_FIXED = 1e-3
_SMALL = 200  # unknowns in a component below which exact LPs beat proving intervals by spreading
_MANY = 100  # targets in a component from which spreading pays
_SLICES, _WORTH = 40, 32  # spreading slices at most, and the cells a slice must prove to go on


def _snap(point: np.ndarray) -> np.ndarray:
    """point with every value within 1e-6 of a whole number set to it."""
    whole = np.round(point)
    return np.where(np.abs(point - whole) < 1e-6, whole, point)


def whole_span(lo: float | np.ndarray, hi: float | np.ndarray) -> float | np.ndarray:
    """The width of [lo, hi] once rounded inward to whole numbers (ceil lo, floor hi; 0 at least): what an
    attacker who knows counts are whole makes of an LP's interval. An LP's [61.5, 75] is [62, 75] to him,
    13 wide, not 13.5 (a fifth review's zone, where 13.5 passed a margin of 13.2)."""
    return np.maximum(np.floor(np.asarray(hi) + _TOL) - np.ceil(np.asarray(lo) - _TOL), 0.0)


@dataclass(frozen=True)
class Attack:
    node: int
    measure: str
    value: float
    margin: float
    lo: float
    hi: float
    method: str  # published | propagation | vertices (points seen) | twin | lp
    about: str = ""  # "" for a cell of this release; else what the count is (jobs/stats/sdc/system.py Target)

    @property
    def width(self) -> float:
        """Whole numbers the attacker cannot rule out, less one (`whole_span`)."""
        return float(whole_span(self.lo, self.hi))

    @property
    def exact(self) -> bool:
        return self.width < EXACT

    @property
    def ok(self) -> bool:
        return not self.exact and self.width >= self.margin - _TOL


class Attacker:
    """Attacks the suppressed cells of one system under one suppression pattern."""

    def __init__(self, system: System, suppressed: np.ndarray, exact: bool = False) -> None:
        self.system = system
        self.unknown = unknown_mask(system, suppressed)
        self.solved = propagate(system, self.unknown)
        self.group = components(system, self.unknown)
        self.exact_only = exact
        self.eq_csc, self.ub_csc = system.eq_csc(), system.ub.tocsc()
        self.slack = -(system.ub @ system.base) if system.ub.shape[0] else np.zeros(0)
        # every row (equalities, then inequalities) against every variable, for searches through rows
        self.incidence = sp.vstack([abs(system.eq), abs(system.ub)], format="csr")
        self.incidence_t = self.incidence.T.tocsr()
        # per variable: how many of its rows hold an unknown
        self._linked = self.incidence_t @ (self.incidence @ self.unknown.astype(np.int64) > 0).astype(np.int64)
        self.lp_solved = 0
        self.seen_lo, self.seen_hi = system.base.copy(), system.base.copy()
        self._moves = Moves(system, self.unknown)
        unknown = np.flatnonzero(self.unknown)
        self._seen(unknown, system.base[unknown])
        self._vertices_done: set[int] = set()
        self._targets: set[int] = set()
        self._models: dict[tuple[int, str], ComponentLP] = {}
        self._rows: dict[tuple[int, str], sp.csr_matrix] = {}
        self._row_ids: dict[tuple[int, str], np.ndarray] = {}  # per model: its rows as rows of incidence
        self.binding: dict[int, set[int]] = {}  # per variable LP'd over its whole component: the rows bounding it
        self.last: tuple[np.ndarray, np.ndarray] | None = None  # the last LP optimum: its variables and values
        self._twins: dict[tuple[object, ...], list[int]] = {}
        cells = system.cells()
        for var in np.flatnonzero(self.unknown):
            if cells[var] and int(var) not in self.solved:
                self._twins.setdefault(self._signature(int(var)), []).append(int(var))

    def _signature(self, var: int) -> tuple[object, ...]:
        lo, hi = self.eq_csc.indptr[var], self.eq_csc.indptr[var + 1]
        return (tuple(self.eq_csc.indices[lo:hi]), tuple(self.eq_csc.data[lo:hi]))

    def members(self, var: int) -> np.ndarray:
        return np.flatnonzero(self.unknown & (self.group == self.group[var]))

    def attack(self, var: int) -> Attack:
        subject = self.system.subject(var)
        value = float(self.system.base[var])
        margin = subject.rules.margin(value)

        def result(lo: float, hi: float, method: str) -> Attack:
            return Attack(subject.node, self.system.var_measure[var], value, margin, lo, hi, method, subject.about)

        if not self.unknown[var]:
            return result(value, value, "published")  # a primary cell left in the release
        if var in self.solved:
            return result(value, value, "propagation")
        if not self.exact_only:
            if whole_span(self.seen_lo[var], self.seen_hi[var]) >= margin - _TOL:
                return result(float(self.seen_lo[var]), float(self.seen_hi[var]), "vertices")
            down, up = self._twin_room(var)
            if whole_span(value - down, value + up) >= margin - _TOL:
                return result(value - down, value + up, "twin")
        lo, hi = self.interval(var, None if self.exact_only else margin)
        return result(lo, hi, "lp")

    def attack_all(self, variables: list[int]) -> list[Attack]:
        """Attacks in order; components with many targets first get the shared feasible points."""
        self._prepare(variables)
        return [self.attack(var) for var in variables]

    def passes(self, variables: list[int]) -> bool:
        """Whether every variable's interval is wide enough (Attack.ok), attacked in order up to the first
        that is not."""
        self._prepare(variables)
        return all(self.attack(var).ok for var in variables)

    def _prepare(self, variables: list[int]) -> None:
        if not self.exact_only:
            targets = np.bincount(self.group[variables][self.group[variables] >= 0], minlength=1)
            self._targets = set(variables)
            for var in variables:
                if self.group[var] >= 0 and targets[self.group[var]] >= _MANY:
                    self._vertices(var)

    def _rows_of(self, key: tuple[int, str], free: np.ndarray) -> sp.csr_matrix:
        """The rows of a model (equalities, then inequalities) over every variable: its right-hand sides
        for another point held outside it are these rows times that point."""
        if key not in self._rows:
            ids = self._model_rows(free)
            n_eq = self.system.eq.shape[0]
            blocks = [self.system.eq[ids[ids < n_eq]], self.system.ub[ids[ids >= n_eq] - n_eq]]
            self._rows[key] = sp.vstack(blocks, format="csr")
        return self._rows[key]

    def _model_rows(self, free: np.ndarray) -> np.ndarray:
        """The rows _parts gives a model over free (equalities, then inequalities), as rows of incidence."""
        n_eq = self.system.eq.shape[0]
        eq = np.unique(self.eq_csc[:, free].indices) if len(free) and n_eq else np.zeros(0, dtype=np.int64)
        ub = np.unique(self.ub_csc[:, free].indices) if len(free) and self.system.ub.shape[0] else \
            np.zeros(0, dtype=np.int64)
        return np.concatenate([eq, ub + n_eq]).astype(np.int64)

    def _parts(self, free: np.ndarray, at: np.ndarray | None = None) -> Parts:
        """Rows touching the free variables, with every other variable at its value in at (base)."""
        sys = self.system
        held = (sys.base if at is None else at).copy()
        held[free] = 0.0
        out = {}
        for name, matrix, csc in (("eq", sys.eq, self.eq_csc), ("ub", sys.ub, self.ub_csc)):
            rows = np.unique(csc[:, free].indices) if len(free) and matrix.shape[0] else np.zeros(0, dtype=int)
            if len(rows):
                sub = matrix[rows]
                out[name] = (sub[:, free], -(sub @ held))
        return out

    def _vertices(self, var: int) -> None:
        """Feasible points that move as many suppressed counts as far as their margins (once per component).
        (Spreading over the passages alone first, the other measures held, proved no more.)"""
        comp = int(self.group[var])
        if comp in self._vertices_done:
            return
        self._vertices_done.add(comp)
        free = self.members(var)
        if len(free) > _SMALL:  # in a small component exact LPs are cheaper than spreading ones
            self._spread(free)

    def _spread(self, free: np.ndarray) -> None:
        """Spreading LPs over free (the rest held at base) for the targets among free still short of their
        margins: one pushes every cell with room down, then slices of the short ones go up, each cell's move
        capped at what its margin still needs, so each optimum spreads the room over as many cells as it can.
        Every optimum is a feasible point, so each cell's interval spans at least all of them."""
        sys = self.system
        cells = np.array([i for i, v in enumerate(free) if int(v) in self._targets], dtype=np.int64)
        if not len(cells):
            return
        base, lower = sys.base[free], sys.lower[free]
        need = np.array([sys.subject(int(free[i])).rules.margin(base[i]) for i in cells])

        def short_cells() -> np.ndarray:
            return np.flatnonzero(self.seen_hi[free][cells] - self.seen_lo[free][cells] < need - _TOL)

        short = short_cells()
        if not len(short):
            return
        parts = self._parts(free)
        # Cells pushed one way cannot also absorb, so each LP moves only some cells and lets the rest
        # (and the unpublished totals) make room: first the cells above their lower bound go down...
        room = base[cells] - lower[cells]
        movers = np.flatnonzero(room >= 1)
        self.lp_solved += 1
        self._seen(free, spread(parts, base, lower, cells[movers], -1.0, np.minimum(need[movers], room[movers])))
        # ...then the cells still short of their margin go up, the others giving way. Few receivers per LP
        # leave enough givers, so the short cells go up in slices, those that cannot give first. A slice
        # costs about as much as thirty LPs of one cell alone: slicing goes on while a slice proves more.
        short = short_cells()
        for _ in range(_SLICES):
            if not len(short):
                break
            slice_ = short[np.argsort(room[short] >= 1, kind="stable")][: max(64, len(short) // 3)]
            gap = need[slice_] - (self.seen_hi[free][cells[slice_]] - self.seen_lo[free][cells[slice_]])
            self.lp_solved += 1
            self._seen(free, spread(parts, base, lower, cells[slice_], 1.0,
                                    gap + (self.seen_hi[free][cells[slice_]] - base[cells[slice_]])))
            before, short = len(short), short_cells()
            if before - len(short) < _WORTH:
                break

    def _seen(self, free: np.ndarray, point: np.ndarray | None, at: np.ndarray | None = None) -> None:
        """Record a feasible point (free at point, the rest at at, by default base), and the points one
        chain step away from it (jobs/stats/sdc/moves.py)."""
        if point is None:
            return
        x = (self.system.base if at is None else at).copy()
        x[free] = point
        self.seen_lo = np.minimum(self.seen_lo, x)
        self.seen_hi = np.maximum(self.seen_hi, x)
        movers, up, down = self._moves.steps(x)
        self.seen_hi[movers] = np.maximum(self.seen_hi[movers], x[movers] + up)
        self.seen_lo[movers] = np.minimum(self.seen_lo[movers], x[movers] - down)

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

    def _model(self, var: int, alone: bool = False) -> tuple[tuple[int, str], ComponentLP]:
        """The kept LP model of var's component (alone: of its measure there), made on first use."""
        key = (int(self.group[var]), self.system.var_measure[var] if alone else "")
        model = self._models.get(key)
        if model is None:
            free = self.members(var)
            if alone:
                free = free[np.asarray(self.system.var_measure)[free] == key[1]]
            model = self._models[key] = ComponentLP(free, self._parts(free), self.system.lower[free])
        return key, model

    def _held(self, var: int, alone: bool, at: np.ndarray | None) -> tuple[tuple[int, str], ComponentLP]:
        """var's kept model (alone: its measure's, the other measures held at the point at, base by default)."""
        key, model = self._model(var, alone)
        if alone:
            held = (self.system.base if at is None else at).copy()
            held[model.free] = 0.0
            model.hold(-(self._rows_of(key, model.free) @ held))
        self.lp_solved += 1
        return key, model

    def _record(self, model: ComponentLP, at: np.ndarray | None) -> None:
        self.last = None
        for point in model.points:
            self._seen(model.free, point, at)
            self.last = (model.free, point)

    def _extreme(self, var: int, sign: float, alone: bool = False, at: np.ndarray | None = None) -> float:
        """min or max of x_var over its component; alone: with the other measures held at the point at (the
        base point by default): a smaller LP whose optima are feasible points too, so a bound it proves
        is proven."""
        key, model = self._held(var, alone, at)
        value = model.extreme(int(np.searchsorted(model.free, var)), sign)
        if not alone:
            if key not in self._row_ids:
                self._row_ids[key] = self._model_rows(model.free)
            self.binding.setdefault(var, set()).update(self._row_ids[key][model.binding].tolist())
        self._record(model, at)
        return value

    def _spans(self, var: int, margin: float, at: np.ndarray | None = None) -> bool:
        """Whether a feasible point of var's measure alone (the other measures held at the point at) takes x_var
        a margin beyond the values seen, up or else down, so that the values seen then span it (whole numbers,
        as whole_span counts them). A feasibility LP each, cheaper than an extreme (ComponentLP.reach); False
        proves nothing: the exact LPs decide then."""
        need = float(np.ceil(margin - _TOL))
        up = float(np.ceil(self.seen_lo[var] - _TOL)) + need
        down = float(np.floor(self.seen_hi[var] + _TOL)) - need
        for bound, sign in ((up, -1.0), (down, 1.0)):
            if sign > 0 and down < self.system.lower[var] - _TOL:
                break
            _, model = self._held(var, True, at)
            if model.reach(int(np.searchsorted(model.free, var)), bound, sign):
                self._record(model, at)
                return bool(whole_span(self.seen_lo[var], self.seen_hi[var]) >= margin - _TOL)
        return False

    def interval(self, var: int, margin: float | None = None) -> tuple[float, float]:
        """The exact min and max of x_var: LPs over var's component, warm-started per component.

        With a margin, a feasible point with the other measures held that stretches the values seen to the
        margin is proof enough (_spans); failing that, the max comes first and the min LP is skipped where
        the max and the lowest value seen already span the margin (or the lowest seen is the variable's
        bound): [seen, max] is then a proven part of the interval, which is all a pass needs."""
        if margin is not None:
            # vehicles and trips of a cell are held below its passages: raise those first, then the chain
            # steps of the target from that point may be proof enough
            partner = self.system.node_var.get((self.system.var_node[var], "P"))
            at = None
            if self.system.var_measure[var] != "P" and partner is not None and self.unknown[partner]:
                self._extreme(partner, -1.0, alone=True)
                if whole_span(self.seen_lo[var], self.seen_hi[var]) >= margin - _TOL:
                    return float(self.seen_lo[var]), float(self.seen_hi[var])
                if self.last is not None:
                    at = self.system.base.copy()
                    # An optimum meets its rows within HiGHS's tolerance (1e-7); held, a thousand such
                    # misses can add up in one margin to an infeasible model. Most counts of a vertex are
                    # whole here (the coefficients are), so that noise is snapped off.
                    at[self.last[0]] = _snap(self.last[1])
            # then with the other measures held still (at the partner's highest): where the links do not
            # bind, that is as wide
            if self._spans(var, margin, at):
                return float(self.seen_lo[var]), float(self.seen_hi[var])
        hi = self._extreme(var, -1.0)
        if margin is not None:
            lo = float(self.seen_lo[var])
            if lo <= self.system.lower[var] + _TOL or whole_span(lo, hi) >= margin - _TOL:
                return lo, hi
        return self._extreme(var, 1.0), hi

    def separate(self, variables: list[int]) -> None:
        """Feasible points that move the variables no point seen moves yet, per component: each an LP that
        pushes them one unit up or down by random signs (seeded, so reproducible), again for those still
        unmoved while an LP moves enough of them. determined() then needs exact LPs only for the few that
        may be fixed. (Spreading LPs push every cell one way, so a cell that moves only against another
        stays put in them: on a 60-vehicle zone 4,508 of 5,401 were left.)"""
        sys = self.system
        still = np.array([v for v in variables if self.unknown[v] and v not in self.solved
                          and self.seen_hi[v] - self.seen_lo[v] <= _FIXED], dtype=np.int64)
        for comp in np.unique(self.group[still]).tolist():
            first = int(still[self.group[still] == comp][0])
            if len(self.members(first)) <= _SMALL:
                continue  # exact LPs are cheaper there
            # The component's kept model, from its last basis: on a national-volume zone a cold LP each
            # took 0.8 s, and determined() solves the same model next.
            model = self._model(first)[1]
            free = model.free
            pos = np.searchsorted(free, still[self.group[still] == comp])
            base, lower = sys.base[free], sys.lower[free]
            rng = np.random.default_rng(len(free))
            for _ in range(_SLICES):
                self.lp_solved += 1
                self._seen(free, model.point(pos, rng.choice([-1.0, 1.0], len(pos)),
                                             np.maximum(lower[pos], base[pos] - 1.0), base[pos] + 1.0))
                moved = self.seen_hi[free[pos]] - self.seen_lo[free[pos]] > _FIXED
                pos = pos[~moved]
                if int(moved.sum()) < _WORTH or not len(pos):
                    break

    def moved(self) -> np.ndarray:
        """Per variable: whether two feasible points seen differ in it by more than noise (so it is not
        determined)."""
        return self.seen_hi - self.seen_lo > _FIXED

    def absorb(self, lo: np.ndarray, hi: np.ndarray) -> None:
        """Take the per-count lowest and highest values another attacker saw at feasible points of a
        feasible set inside this one (protect.ReleaseStep: a pattern this one hides all of), so
        determined() needs fewer LPs."""
        self.seen_lo, self.seen_hi = np.minimum(self.seen_lo, lo), np.maximum(self.seen_hi, hi)

    def determined(self, var: int) -> bool:
        """Whether the published cells fix var: pinned by equalities, or max - min at most _FIXED in the exact
        LPs (once no feasible point seen moves it further and no twin trades with it)."""
        if not self.unknown[var] or var in self.solved:
            return True
        if self.seen_hi[var] - self.seen_lo[var] > _FIXED:
            return False
        down, up = self._twin_room(var)
        if down + up > _FIXED:
            return False
        if self.seen_lo[var] <= self.system.lower[var] + _TOL:  # at its bound: only its max can differ
            return self._extreme(var, -1.0) - self.seen_lo[var] <= _FIXED
        lo, hi = self.interval(var)
        return hi - lo <= _FIXED

    def linked(self, var: int) -> int:
        """How many of var's rows hold an unknown: a companion there helps close a cycle."""
        return int(self._linked[var])

