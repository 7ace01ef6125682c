"""The union rule: a row whose total the attacker knows discloses the sum of its cells he does not know.

Known means published, pinned by the equalities (Attacker.solved) or, for the determination-aware check,
fixed by the published cells at all (Attacker.determined: min = max over the feasible set). Hidden cells
that are determined give their sum away as surely as published ones: a row whose total and all but three
small cells are determined discloses those three cells' sum even if the determined cells are suppressed,
and publishing them (protect.release_determined) only makes that visible. On the 5% month's zone
GM9032-ZE1 that is what the audit refused: two secondary cells and their row's total, all determined,
were published again after the last round, leaving three cells of 9 vehicles as the row's only unknowns.
"""

from __future__ import annotations

from collections.abc import Container

import numpy as np

from jobs.stats.sdc.audit import Attacker
from jobs.stats.sdc.cells import union_problem
from jobs.stats.sdc.system import System

Judged = dict[tuple[int, ...], str | None]


def _hidden(attacker: Attacker, determined: np.ndarray | None) -> np.ndarray:
    hidden = attacker.unknown.copy()
    hidden[list(attacker.solved)] = False
    return hidden if determined is None else hidden & ~determined


def _margins(system: System) -> np.ndarray:
    """Each equality row's total, in the order of System.margin_cells' rows."""
    return np.fromiter((m for m, _ in system.margins), dtype=np.int64, count=len(system.margins))


def unsafe_unions(system: System, attacker: Attacker, judged: Judged | None = None,
                  determined: np.ndarray | None = None) -> list[tuple[list[int], str, int, list[int]]]:
    """Rows with a known total whose hidden cells, summed, break a rule: (nodes, rule, total, cells).

    determined: per variable, whether the published cells fix it (determined_vars); such variables count
    as known. judged: union_problem's verdicts by nodes, kept across the rounds of one protection (a
    union's verdict depends on its cells alone, and most rows' hidden cells do not change between rounds).
    """
    reg, out = system.registry, []
    judged = {} if judged is None else judged
    checked: set[tuple[int, ...]] = set()
    hidden = _hidden(attacker, determined)
    # rows with a known total and at least two, not all, of their cells hidden, all of them nodes
    counts = system.margin_cells()
    hidden_n = counts @ hidden.astype(np.float64)
    aux = counts @ (hidden & (np.asarray(system.var_node) < 0)).astype(np.float64)
    margins = _margins(system)
    lengths = np.asarray(counts.sum(axis=1)).ravel()
    # All cells hidden: their sum is the total itself, which passed the rules as a published cell.
    rows = np.flatnonzero(~hidden[margins] & (hidden_n >= 2) & (hidden_n < lengths) & (aux == 0))
    for r in rows:
        margin, cells = system.margins[r]
        nodes = tuple(system.var_node[c] for c in cells if hidden[c])
        if nodes in checked:
            continue
        checked.add(nodes)
        if nodes not in judged:
            judged[nodes] = union_problem(reg, nodes)
        problem = judged[nodes]
        if problem:
            out.append((list(nodes), problem, margin, cells))
    return out


def determined_vars(attacker: Attacker, not_determined: Container[int] = frozenset(),
                    also: np.ndarray | None = None) -> np.ndarray:
    """Per variable of the system: whether it is hidden (not solved) yet fixed by the published cells, for
    the variables a union could hinge on and those in also (variable ids); False for the others.
    not_determined: variables known to move (targets whose attack passed), not tried.

    A union hinges on rows with two or more hidden cells: first their hidden totals are tried, then the
    hidden cells of the rows whose total is known or determined (a row whose total moves gives nothing
    away). A variable two feasible points seen already separate costs no LP; LPs that move many at once
    (Attacker.separate) come next, and up to two exact LPs each (Attacker.determined) for the rest."""
    system = attacker.system
    hidden = _hidden(attacker, None)
    counts = system.margin_cells()
    rows = np.flatnonzero(counts @ hidden.astype(np.float64) >= 2)
    margins = _margins(system)[rows]
    out, tried = np.zeros(system.size, dtype=bool), ~hidden

    def settle(variables: np.ndarray) -> None:
        pending = [v for v in np.unique(variables[~tried[variables]]).tolist() if v not in not_determined]
        tried[variables] = True
        attacker.separate(pending)
        for var in pending:
            out[var] = attacker.determined(var)

    settle(margins)
    settle(np.unique(counts[rows[~hidden[margins] | out[margins]]].indices))
    if also is not None:
        settle(np.asarray(also, dtype=np.int64))
    return out
