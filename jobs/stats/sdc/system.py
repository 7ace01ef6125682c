"""What an attacker knows about one zone's release, as linear constraints over all its counts at once.

The counts and the rows between cells and their margins are jobs/stats/sdc/margins.py's; the relations the
definitions and the month add (unions, containments, day rows, worked hours, links between measures) are
jobs/stats/sdc/relations.py's. All rows are homogeneous: sum(coef * x) = 0 or <= 0. Here: the system as
matrices, a base point of true values (`build_system`), and what attacks read from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

from anpr.catalogue import Definitions
from anpr.disclosure import Rules
from jobs.stats.sdc.cells import MEASURES, Registry
from jobs.stats.sdc.levels import Model, build_model
from jobs.stats.sdc.relations import Relations


@dataclass(frozen=True)
class Target:
    """A count to attack that is no published count of this release (jobs/stats/sdc/revision.py): an earlier
    release's primary cell, or the difference population of a cell between an earlier release and this one."""

    node: int  # the node of this release it concerns; -1 if none
    rules: Rules  # whose margin its interval must reach
    about: str  # what it is, for the audit record ("difference <release id>", "earlier <release id>")
    # the vehicles and owners of the population it counts, where known (a difference between two earlier
    # releases is not): the union rule judges sums of such counts by them (jobs/stats/sdc/unions.py)
    vehicles: float | None = None
    owners: float | None = None


@dataclass
class System:
    registry: Registry
    var_node: list[int]  # node whose published count the variable is; -1 for a count no table publishes
    var_measure: list[str]
    eq: sp.csr_matrix
    ub: sp.csr_matrix
    margins: list[tuple[int, list[int]]]  # per equality row: its margin variable and the cell variables
    base: np.ndarray  # a feasible point: true values of the nodes, a consistent choice for the rest
    lower: np.ndarray
    node_var: dict[tuple[int, str], int] = field(default_factory=dict)  # (node, measure) -> variable
    model: Model = field(default_factory=Model)
    # Joint systems over several releases of a month (jobs/stats/sdc/revision.py): variables the attacker reads
    # whatever this release suppresses (earlier releases' published counts), and counts to attack besides
    # this release's primary cells.
    known: np.ndarray | None = None
    targets: dict[int, Target] = field(default_factory=dict)
    # per variable of a joint system that is another release's cell count or a difference between two
    # releases' counts: what it is about (unions.py judges sums of such counts, not only of this release's)
    joint: dict[int, Target] = field(default_factory=dict)
    _margin_cells: sp.csr_matrix | None = field(default=None, init=False, repr=False, compare=False)
    _nodes: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    _eq_csc: sp.csc_matrix | None = field(default=None, init=False, repr=False, compare=False)
    # unions.fixed_sums' last answer, by the hidden variables it was for: the last release step, the round
    # after it and the audit ask it of one pattern (on the Utrecht-sized zone 10 s of CPU each)
    fixed_sums_memo: tuple[bytes, list[tuple[int, ...]]] | None = field(default=None, init=False, repr=False,
                                                                         compare=False)
    # unions._fixed_sums' last MILP searches (small_sums): the hidden variables they were for; per measure, kind
    # of count and rule, the members of the groups where one found a set or was not run; each variable's group
    small_sums_memo: tuple[np.ndarray, dict[tuple[object, ...], np.ndarray], np.ndarray] | None = field(
        default=None, init=False, repr=False, compare=False)
    # the most candidate counts of a group whose fixed sums of five or more small_sums.dominant_sum left
    # unsearched (0: none), recorded in the zone's audit summary
    dominance_unsearched: int = field(default=0, init=False, repr=False, compare=False)

    @property
    def size(self) -> int:
        return len(self.var_node)

    def nodes(self) -> np.ndarray:
        """var_node as a read-only array, converted once (fixed once the system is built): the union rule
        asks for it thousands of times a zone."""
        if self._nodes is None or len(self._nodes) != len(self.var_node):
            self._nodes = np.asarray(self.var_node, dtype=np.int64)
            self._nodes.setflags(write=False)
        return self._nodes

    def eq_csc(self) -> sp.csc_matrix:
        """eq by columns, converted once (fixed once the system is built) for every reader by variable: each
        round's attacker and propagation, and the union rule, which takes the rows of each group's variables
        from it where slicing eq's columns read all of eq (9 of a search's 48 s of CPU on GM9044-ZE1, 5,881
        groups). Read only."""
        if self._eq_csc is None or self._eq_csc.shape != self.eq.shape:
            self._eq_csc = self.eq.tocsc()
        return self._eq_csc

    def cells(self) -> np.ndarray:
        """Per variable: whether it is a cell's count (of this release, or a joint system's target), as
        opposed to a count nobody publishes."""
        out = self.nodes() >= 0
        out[list(self.targets)] = True
        return out

    def margin_cells(self) -> sp.csr_matrix:
        """Per equality row (margins' order), how often each variable is one of its cells."""
        if self._margin_cells is None:
            lengths = [len(cells) for _, cells in self.margins]
            cols = np.fromiter((v for _, cells in self.margins for v in cells), dtype=np.int64, count=sum(lengths))
            rows = np.repeat(np.arange(len(self.margins)), lengths)
            self._margin_cells = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(self.margins), self.size))
        return self._margin_cells

    def subject(self, var: int) -> Target:
        """What an attacked count is about: its node, the rules for its margin, and a label."""
        if var in self.targets:
            return self.targets[var]
        node = self.var_node[var]
        return Target(node, self.registry.rules[node], "")

    def var_of(self, node: int, measure: str) -> int:
        return self.node_var[(node, measure)]



def build_system(reg: Registry, measures: tuple[str, ...] = MEASURES, model: Model | None = None,
                 definitions: Definitions | None = None) -> System:
    """The attacker's constraints over the given measures (all three by default; one gives the measure's
    own system, without the links between measures). model: the levels, if already worked out;
    definitions: those the cells were built with (conf/tables.toml's by default)."""
    present = tuple(m for m in measures if any(m in ms for ms in reg.measures))
    model = build_model(reg, present) if model is None else model.only(present)
    b = Relations(reg, model, definitions)
    b.build()
    floors = b.add_floors()
    ceilings = b.add_ceilings()
    b.leaves.update(v for row in b.checked for v in row)  # their margins' rows keep them true in the base
    b.drop_loose_margins()
    n = len(b.var_node)
    eq = sparse_rows([sum_row(margin, cells) for margin, cells in b.eq_rows], n)
    ub = sparse_rows(_dedupe(b.ub_rows), n)
    truth = np.full(n, np.nan)
    lower = np.zeros(n)
    stats = {m: reg.stat(m) for m in present}
    for var, name in enumerate(b.var_name):
        if name[0] == "n":
            node, measure = int(name[1]), b.var_measure[var]  # type: ignore[call-overload]
            truth[var] = stats[measure][node]
            lower[var] = 1.0 if measure in ("P", "V") else 0.0
    node_var = {(int(name[1]), b.var_measure[v]): v for v, name in enumerate(b.var_name) if name[0] == "n"}  # type: ignore
    checked = sparse_rows(_dedupe(b.checked), n)
    known = None
    if ceilings:
        known = np.zeros(n, dtype=bool)
        for var, ceiling in ceilings.items():
            truth[var], known[var] = ceiling, True
    system = System(reg, b.var_node, b.var_measure, eq, sp.vstack([ub, checked], format="csr"),
                    [(m, list(c)) for m, c in b.eq_rows], truth, lower, node_var, model, known)
    try:
        # the true counts meet these rows, so a base point of true node values that meets them exists ...
        system.base = _complete(system, truth)
    except ValueError:
        # ... unless this data breaks a relation after all (an exemption or a vehicle type the register changed
        # within the day or month): an attacker who assumed it would be misled, so the rows the true counts
        # cannot meet are not assumed, and only those: a real attacker sees which ones fail and keeps the rest
        system.ub = sp.vstack([ub, checked[~_broken(eq, ub, checked, truth)]], format="csr")
        system.base = _complete(system, truth)
    for var, floor in floors.items():
        # never above the truth: a floor from another table that counts fewer passages binds nothing
        system.lower[var] = max(system.lower[var], min(floor, system.base[var]))
    return system


def _broken(eq: sp.csr_matrix, ub: sp.csr_matrix, checked: sp.csr_matrix, truth: np.ndarray) -> np.ndarray:
    """Per checked row: whether it fails with every published count at its true value. The least total slack
    over the checked rows (the other rows met, the unpublished counts free) leaves slack only where the
    published counts force it, or where slack there saves more elsewhere (both kinds are dropped)."""
    free, fixed = np.flatnonzero(np.isnan(truth)), np.flatnonzero(~np.isnan(truth))
    k = checked.shape[0]

    def side(rows: sp.csr_matrix, slack: sp.csr_matrix) -> sp.csr_matrix:
        return sp.hstack([rows[:, free], slack], format="csr")

    res = linprog(np.r_[np.zeros(len(free)), np.ones(k)],
                  A_ub=sp.vstack([side(ub, sp.csr_matrix((ub.shape[0], k))),
                                  side(checked, -sp.identity(k, format="csr"))], format="csr"),
                  b_ub=-np.r_[ub[:, fixed] @ truth[fixed], checked[:, fixed] @ truth[fixed]],
                  A_eq=side(eq, sp.csr_matrix((eq.shape[0], k))), b_eq=-(eq[:, fixed] @ truth[fixed]),
                  bounds=(0, None), method="highs")
    if res.status != 0:
        raise ValueError(f"the cells of this zone contradict each other: {res.message}")
    return np.asarray(res.x[len(free):] > 1e-7)


def sum_row(margin: int, cells: tuple[int, ...]) -> dict[int, float]:
    """margin - sum(cells); a margin that is one of its own cells (one population) leaves the others at 0."""
    row = {margin: 1.0}
    for v in cells:
        row[v] = row.get(v, 0.0) - 1.0
    return {v: c for v, c in row.items() if c}


def _dedupe(rows: list[dict[int, float]]) -> list[dict[int, float]]:
    seen, out = set(), []
    for row in rows:
        key = tuple(sorted(row.items()))
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def sparse_rows(rows: list[dict[int, float]], n: int) -> sp.csr_matrix:
    data, ri, ci = [], [], []
    for r, row in enumerate(rows):
        for c, v in row.items():
            ri.append(r)
            ci.append(c)
            data.append(v)
    return sp.csr_matrix((data, (ri, ci)), shape=(len(rows), n))


def _complete(system: System, truth: np.ndarray) -> np.ndarray:
    """Values for the unpublished counts that, with the true node values, satisfy every row.

    Additive margins are sums of their cells; the rest (unique vehicles over passage-level cells, joint
    cells) come from a feasibility LP with every node fixed at its true value.
    """
    x = truth.copy()
    changed = True
    while changed:
        changed = False
        for margin, cells in system.margins:
            if np.isnan(x[margin]) and not np.isnan(x[cells]).any():
                x[margin] = x[cells].sum()
                changed = True
    # a count in no row (a margin only another measure's links name) is free: maximizing it is unbounded
    used = np.zeros(len(x), dtype=bool)
    used[system.eq.indices] = True
    used[system.ub.indices] = True
    x[np.isnan(x) & ~used] = 0.0
    missing = np.flatnonzero(np.isnan(x))
    if len(missing):
        known = ~np.isnan(x)
        rows_eq = system.eq[:, missing]
        rows_ub = system.ub[:, missing]
        parts = dict(A_ub=rows_ub if rows_ub.shape[0] else None,
                     b_ub=-(system.ub[:, known] @ x[known]) if rows_ub.shape[0] else None,
                     A_eq=rows_eq if rows_eq.shape[0] else None,
                     b_eq=-(system.eq[:, known] @ x[known]) if rows_eq.shape[0] else None,
                     bounds=(0, None), method="highs")
        # Totals as large as the rows allow leave the cells below them room to move: twins use it.
        res = linprog(-np.ones(len(missing)), **parts)
        if res.status == 3:
            res = linprog(np.zeros(len(missing)), **parts)
        if res.status != 0:
            raise ValueError(f"the cells of this zone contradict each other: {res.message}")
        x[missing] = res.x
    residual_eq = np.abs(system.eq @ x).max(initial=0.0)
    residual_ub = (system.ub @ x).max(initial=0.0)
    if residual_eq > 1e-6 or residual_ub > 1e-6:
        raise ValueError(f"the cells of this zone do not add up (residual {residual_eq:g}, {residual_ub:g}); "
                         "tables must cover the same passages")
    return x


def unknown_mask(system: System, suppressed: np.ndarray) -> np.ndarray:
    """Variables an attacker does not read from the releases: suppressed nodes and auxiliary totals (and, in a
    joint system, the earlier releases' suppressed counts and the differences)."""
    unknown = np.array([node < 0 or bool(suppressed[node]) for node in system.var_node], dtype=bool)
    return unknown if system.known is None else unknown & ~system.known


def propagate(system: System, unknown: np.ndarray) -> dict[int, int]:
    """Unknowns pinned down by equalities alone, each with the row that pinned it (unit propagation)."""
    rows, cols = system.eq, system.eq_csc()
    left = np.abs(rows) @ unknown.astype(np.int64)
    solved: dict[int, int] = {}
    queue = [int(r) for r in np.flatnonzero(left == 1)]
    while queue:
        r = int(queue.pop())
        members = rows.indices[rows.indptr[r]:rows.indptr[r + 1]]
        free = [int(c) for c in members if unknown[c] and int(c) not in solved]
        if len(free) != 1:
            continue
        var = free[0]
        solved[var] = r
        for other in cols.indices[cols.indptr[var]:cols.indptr[var + 1]]:
            left[other] -= 1
            if left[other] == 1:
                queue.append(int(other))
    return solved


def components(system: System, unknown: np.ndarray, inequalities: bool = True) -> np.ndarray:
    """Connected groups of unknowns (linked through rows): an interval depends only on its own group.
    Without inequalities, the groups of the equality rows alone (what a sum of counts fixed depends on).

    Known variables get -1."""
    idx = np.flatnonzero(unknown)
    group = np.full(system.size, -1, dtype=np.int64)
    if not len(idx):
        return group
    rows = sp.vstack([abs(system.eq), abs(system.ub)]) if inequalities else abs(system.eq)
    incidence = rows.tocsc()[:, idx].tocsr()
    graph = sp.bmat([[None, incidence.T], [incidence, None]], format="csr")
    _, labels = connected_components(graph, directed=False)
    group[idx] = labels[: len(idx)]
    return group
