"""The least-cost secondary suppression, exactly, for small zones: the yardstick for jobs/stats/sdc/protect.py.

A mixed-integer program in the form of Fischetti and Salazar-González ("Models and algorithms for
optimizing cell suppression in tabular data with linear constraints", JASA 95, 2000), over the attacker's
system (jobs/stats/sdc/system.py): a binary x_n per node (1: suppressed; primary nodes fixed at 1), and per
target count t two deviation vectors u, w from the true values with

    eq @ u = 0,  ub @ (base + u) <= 0,  (lower - base) x <= u <= M x   (the same for w)
    u_t - w_t >= margin_t

so base + u and base + w are two points the attacker cannot rule out whose values of t lie a margin
apart: exactly the audit's interval test (jobs/stats/sdc/audit.py Attack.ok), counts taken as real numbers.
Counts no table publishes are free (x = 1). The union rule (unions.unsafe_unions) enters as cuts, added
while the optimum breaks it: a row whose published total gives away the sum of exactly the hidden cells H,
a union that breaks the rules, gets x_total + sum(x_c, c in the row outside H) + sum(1 - x_c, c in H) >= 1.

The program grows with targets times variables: meant for zones of a few dozen cells (tests, reviews).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from jobs.stats.sdc.audit import EXACT, Attacker
from jobs.stats.sdc.system import System
from jobs.stats.sdc.unions import unsafe_unions


@dataclass(frozen=True)
class Optimum:
    suppressed: np.ndarray  # per node: suppressed in the optimal pattern (primary nodes included)
    weight: float  # the summed cost of its secondary nodes


def optimal_suppression(system: System, primary: np.ndarray, targets: list[int], costs: np.ndarray,
                        time_limit: float = 60.0, max_cuts: int = 50) -> Optimum:
    """The least-cost set of secondary nodes under which every target count's interval reaches its margin.

    primary: per node, suppressed whatever it costs; targets: the variables to protect (protect._targets);
    costs: per node, what suppressing it loses (protect._costs). Raises RuntimeError when HiGHS finds no
    optimum within time_limit seconds (or the primary cells cannot be protected at all), or the union rule
    takes more than max_cuts rounds of cuts or a cut the nodes cannot express (a total known only through
    other rows)."""
    if system.known is not None:
        raise ValueError("a joint system over several releases has no optimum here: one release at a time")
    n_nodes, n_vars = len(primary), system.size
    node = np.asarray(system.var_node, dtype=np.int64)
    lower, base = system.lower, system.base
    big = float(np.abs(base).sum() + 1.0)  # no count moves further than all counts together
    eq, ub = system.eq, system.ub
    slack = -(ub @ base) if ub.shape[0] else np.zeros(0)
    # one deviation vector d: eq @ d = 0, ub @ d <= slack, and for the variables of cells
    # d_v - big * x_n <= 0 and (lower_v - base_v) x_n - d_v <= 0, so a published cell keeps its value
    rows = np.flatnonzero(node >= 0)
    pick = sp.csr_matrix((np.ones(len(rows)), (np.arange(len(rows)), rows)), shape=(len(rows), n_vars))
    to_node = sp.csr_matrix((np.ones(len(rows)), (np.arange(len(rows)), node[rows])), shape=(len(rows), n_nodes))
    d_rows = sp.vstack([eq, ub, pick, -pick], format="csr")
    x_rows = sp.vstack([sp.csr_matrix((eq.shape[0] + ub.shape[0], n_nodes)), -big * to_node,
                        sp.diags(lower[rows] - base[rows]) @ to_node], format="csr")
    lo_rows = np.concatenate([np.zeros(eq.shape[0]), np.full(ub.shape[0] + 2 * len(rows), -np.inf)])
    hi_rows = np.concatenate([np.zeros(eq.shape[0]), slack, np.zeros(2 * len(rows))])
    n_blocks = 2 * len(targets)  # per target: the point above (2i) and the point below (2i + 1)
    # per target: d_above[t] - d_below[t] >= margin
    spread = sp.csr_matrix((np.tile([1.0, -1.0], len(targets)),
                            (np.repeat(np.arange(len(targets)), 2),
                             np.concatenate([[2 * i * n_vars + t, (2 * i + 1) * n_vars + t]
                                             for i, t in enumerate(targets)]).astype(np.int64))),
                           shape=(len(targets), n_blocks * n_vars))
    # an interval under EXACT holds one whole number: a disclosure whatever the margin
    margins = np.array([max(system.subject(t).rules.margin(float(base[t])), EXACT) for t in targets])
    matrix = sp.vstack([sp.hstack([sp.vstack([x_rows] * n_blocks), sp.block_diag([d_rows] * n_blocks)]),
                        sp.hstack([sp.csr_matrix((len(targets), n_nodes)), spread])], format="csr")
    lo = np.concatenate([np.tile(lo_rows, n_blocks), margins])
    hi = np.concatenate([np.tile(hi_rows, n_blocks), np.full(len(targets), np.inf)])
    x_lo = primary.astype(float)
    d_lo, d_hi = np.tile(lower - base, n_blocks), np.full(n_vars * n_blocks, big)
    objective = np.concatenate([np.where(primary, 0.0, costs), np.zeros(n_vars * n_blocks)])
    cuts: list[tuple[np.ndarray, float]] = []
    for _ in range(max_cuts):
        rows_x = sp.csr_matrix(np.array([c for c, _ in cuts]).reshape(len(cuts), n_nodes))
        full = sp.vstack([matrix, sp.hstack([rows_x, sp.csr_matrix((len(cuts), n_vars * n_blocks))])], format="csr")
        res = milp(objective, integrality=np.concatenate([np.ones(n_nodes), np.zeros(n_vars * n_blocks)]),
                   bounds=Bounds(np.concatenate([x_lo, d_lo]), np.concatenate([np.ones(n_nodes), d_hi])),
                   constraints=LinearConstraint(full, np.concatenate([lo, [b for _, b in cuts]]),
                                                np.concatenate([hi, np.full(len(cuts), np.inf)])),
                   options={"time_limit": time_limit})
        if res.status != 0:
            raise RuntimeError(f"no optimal suppression: {res.message}")
        suppressed = res.x[:n_nodes] > 0.5
        broken = unsafe_unions(system, Attacker(system, suppressed))
        if not broken:
            return Optimum(suppressed, float(costs[suppressed & ~primary].sum()))
        cuts += [_union_cut(system, nodes, margin, cells, n_nodes) for nodes, _, margin, cells in broken]
    raise RuntimeError(f"the union rule still breaks after {max_cuts} rounds of cuts")


def _union_cut(system: System, hidden: list[int], margin: int, cells: list[int], n_nodes: int
               ) -> tuple[np.ndarray, float]:
    """The cut that forbids a row its published total with exactly these nodes hidden: coefficients on
    x and the right-hand side, sum(x_c, c not in H) - sum(x_c, c in H) >= 1 - |H|."""
    total = system.var_node[margin]
    if total < 0:
        raise RuntimeError("a union is given away through a total no table publishes: no cut on the nodes")
    row = np.zeros(n_nodes)
    others = {system.var_node[c] for c in cells} - set(hidden)
    if any(n < 0 for n in others):
        raise RuntimeError("a row holds a count no table publishes: no cut on the nodes")
    row[sorted({total, *others})] = 1.0
    row[sorted(set(hidden))] = -1.0
    return row, 1.0 - len(set(hidden))
