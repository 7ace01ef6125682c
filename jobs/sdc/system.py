"""What an attacker knows about one measure of one zone's release, as linear constraints.

Variables are the nodes that publish the measure plus auxiliary totals nobody publishes but anyone can
form: where two tables share dimensions, both sum to the same (unpublished) margin, which links them.
For each table level F and each coarser level L (the dimensions F shares with another table, and the
zone total), passages and trips give equalities margin(L) = sum of the F cells under it. Unique
vehicles add up only over vehicle characteristics (fixed per vehicle and month); over passage-level
dimensions (camera, hour, ...) a vehicle may sit in several cells, so the margin I is bounded:
max(cells) <= I <= sum(cells). All rows are homogeneous: sum(coef * x) = 0 or <= 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

from anpr.catalogue import SOURCES
from jobs.sdc.cells import Registry

Level = tuple[str, ...]


@dataclass
class System:
    measure: str
    registry: Registry
    var_node: list[int]  # registry node of each variable, -1 for an auxiliary total
    aux: list[tuple[Level, tuple[object, ...]]]
    eq: sp.csr_matrix
    ub: sp.csr_matrix
    margins: list[tuple[int, list[int]]]  # per equality row: its margin variable and the cell variables
    base: np.ndarray  # a feasible point: true values of the nodes, a consistent choice for the totals
    lower: np.ndarray
    node_var: dict[int, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.var_node)


def _per_vehicle(dim: str) -> bool:
    source = SOURCES.get(dim)
    return source is not None and source.per == "vehicle"


def _project(level: Level, key: tuple[object, ...], onto: Level) -> tuple[object, ...]:
    values = dict(zip(level, key, strict=True))
    return tuple(values[d] for d in onto)


class _Builder:
    def __init__(self, reg: Registry, measure: str) -> None:
        self.reg, self.measure = reg, measure
        self.var_node: list[int] = []
        self.node_var: dict[int, int] = {}
        self.aux: list[tuple[Level, tuple[object, ...]]] = []
        self.aux_var: dict[tuple[Level, tuple[object, ...]], int] = {}
        self.by_level: dict[Level, dict[tuple[object, ...], int]] = {}
        for node in range(reg.size):
            if measure in reg.measures[node]:
                self.node_var[node] = len(self.var_node)
                self.var_node.append(node)
                self.by_level.setdefault(reg.level[node], {})[reg.key[node]] = self.node_var[node]
        self.eq_rows: list[tuple[int, tuple[int, ...]]] = []
        self.ub_rows: list[dict[int, float]] = []
        self.seen: set[tuple[int, tuple[int, ...]]] = set()

    def var(self, level: Level, key: tuple[object, ...]) -> int:
        if level in self.by_level:
            found = self.by_level[level].get(key)
            if found is None:
                raise ValueError(f"no cell {dict(zip(level, key, strict=True))} although its sub-cells exist")
            return found
        if (level, key) not in self.aux_var:
            self.aux_var[(level, key)] = len(self.var_node)
            self.var_node.append(-1)
            self.aux.append((level, key))
        return self.aux_var[(level, key)]

    def groups(self, fine: Level, coarse: Level, children: dict[tuple[object, ...], int]
               ) -> dict[tuple[object, ...], list[int]]:
        out: dict[tuple[object, ...], list[int]] = {}
        for key, var in children.items():
            out.setdefault(_project(fine, key, coarse), []).append(var)
        return out

    def add_equalities(self, fine: Level, coarse: Level, children: dict[tuple[object, ...], int]) -> None:
        for key, vars_ in self.groups(fine, coarse, children).items():
            row = (self.var(coarse, key), tuple(sorted(vars_)))
            if row not in self.seen and row[1] != (row[0],):
                self.seen.add(row)
                self.eq_rows.append(row)

    def add_bounds(self, fine: Level, coarse: Level, children: dict[tuple[object, ...], int]) -> None:
        for key, vars_ in self.groups(fine, coarse, children).items():
            margin = self.var(coarse, key)
            self.ub_rows.append({margin: 1.0, **{v: -1.0 for v in vars_}})  # margin <= sum(cells)
            for v in vars_:
                self.ub_rows.append({v: 1.0, margin: -1.0})  # cell <= margin

    def build(self) -> None:
        levels = sorted(self.by_level)
        for fine in levels:
            coarse_levels = {tuple(sorted(set(fine) & set(other))) for other in levels if other != fine} | {()}
            for coarse in sorted(c for c in coarse_levels if set(c) < set(fine)):
                children = self.by_level[fine]
                added = [d for d in fine if d not in coarse]
                passage = [d for d in added if not _per_vehicle(d)]
                if self.measure != "V" or not passage:
                    self.add_equalities(fine, coarse, children)
                    continue
                middle = tuple(sorted({*coarse, *(d for d in added if _per_vehicle(d))}))
                if middle != coarse:
                    middle_vars = {_project(fine, k, middle): 0 for k in children}
                    self.add_equalities(middle, coarse, {k: self.var(middle, k) for k in middle_vars})
                self.add_bounds(fine, middle, children)


def build_system(reg: Registry, measure: str) -> System:
    b = _Builder(reg, measure)
    b.build()
    n = len(b.var_node)
    eq = _matrix([{margin: 1.0, **{v: -1.0 for v in cells}} for margin, cells in b.eq_rows], n)
    ub = _matrix(_dedupe(b.ub_rows), n)
    truth = np.full(n, np.nan)
    lower = np.zeros(n)
    values = reg.stat(measure)
    for var, node in enumerate(b.var_node):
        if node >= 0:
            truth[var] = values[node]
            lower[var] = 1.0 if measure in ("P", "V") else 0.0
    system = System(measure, reg, b.var_node, b.aux, eq, ub, [(m, list(c)) for m, c in b.eq_rows], truth, lower,
                    b.node_var)
    system.base = _complete(system, truth)
    return system


def _dedupe(rows: list[dict[int, float]]) -> list[dict[int, float]]:
    seen, out = set(), []
    for row in rows:
        key = tuple(sorted(row.items()))
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def _matrix(rows: list[dict[int, float]], n: int) -> sp.csr_matrix:
    data, ri, ci = [], [], []
    for r, row in enumerate(rows):
        for c, v in row.items():
            ri.append(r)
            ci.append(c)
            data.append(v)
    return sp.csr_matrix((data, (ri, ci)), shape=(len(rows), n))


def _complete(system: System, truth: np.ndarray) -> np.ndarray:
    """Values for the auxiliary totals that, with the true cell values, satisfy every row.

    Additive totals are sums of their cells; totals of unique vehicles over passage-level cells are not
    (vehicles repeat across cells), so those come from a feasibility LP with every cell fixed.
    """
    x = truth.copy()
    changed = True
    while changed:
        changed = False
        for margin, cells in system.margins:
            if np.isnan(x[margin]) and not np.isnan(x[cells]).any():
                x[margin] = x[cells].sum()
                changed = True
    missing = np.flatnonzero(np.isnan(x))
    if len(missing):
        known = ~np.isnan(x)
        rows_eq = system.eq[:, missing]
        rows_ub = system.ub[:, missing]
        # Totals as large as the rows allow leave the cells below them room to move: twins use it.
        res = linprog(-np.ones(len(missing)), A_ub=rows_ub if rows_ub.shape[0] else None,
                      b_ub=-(system.ub[:, known] @ x[known]) if rows_ub.shape[0] else None,
                      A_eq=rows_eq if rows_eq.shape[0] else None,
                      b_eq=-(system.eq[:, known] @ x[known]) if rows_eq.shape[0] else None,
                      bounds=(0, None), method="highs")
        if res.status != 0:
            raise ValueError(f"the {system.measure} cells of this zone contradict each other: {res.message}")
        x[missing] = res.x
    residual_eq = np.abs(system.eq @ x).max(initial=0.0)
    residual_ub = (system.ub @ x).max(initial=0.0)
    if residual_eq > 1e-6 or residual_ub > 1e-6:
        raise ValueError(f"the {system.measure} cells of this zone do not add up (residual {residual_eq:g}, "
                         f"{residual_ub:g}); tables must cover the same passages")
    return x


def unknown_mask(system: System, suppressed: np.ndarray) -> np.ndarray:
    """Variables an attacker does not read from the release: suppressed nodes and auxiliary totals."""
    return np.array([node < 0 or bool(suppressed[node]) for node in system.var_node], dtype=bool)


def propagate(system: System, unknown: np.ndarray) -> dict[int, int]:
    """Unknowns pinned down by equalities alone, each with the row that pinned it (unit propagation)."""
    rows, cols = system.eq, system.eq.tocsc()
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


def components(system: System, unknown: np.ndarray) -> np.ndarray:
    """Connected groups of unknowns (linked through rows): an interval depends only on its own group.

    Known variables get -1."""
    idx = np.flatnonzero(unknown)
    group = np.full(system.size, -1, dtype=np.int64)
    if not len(idx):
        return group
    incidence = sp.vstack([abs(system.eq), abs(system.ub)]).tocsc()[:, idx].tocsr()
    graph = sp.bmat([[None, incidence.T], [incidence, None]], format="csr")
    _, labels = connected_components(graph, directed=False)
    group[idx] = labels[: len(idx)]
    return group
