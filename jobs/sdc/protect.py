"""Secondary suppression until the attack fails, and the audit a release must pass before publication.

One zone at a time: zones are disjoint populations and no table sums over zones. All tables of a
zone are protected together, since they share margins. Each round:
1. a primary cell pinned by equalities alone gets a companion from the row that pinned it;
2. a row whose margin is known discloses the sum of its suppressed cells: that union must itself pass
   the frequency and dominance rules, or another cell of the row is suppressed;
3. primary cells whose interval is narrower than the margin get a companion from their tightest row.
Companions are the finest published cells (totals stay published where possible), preferably ones that
already share a row with a suppressed cell (closing a cycle), then the smallest; ties go by cell order,
so the result is reproducible.
"""

from __future__ import annotations

import logging
from collections.abc import Container, Iterable
from dataclasses import dataclass, field

import numpy as np

from jobs.sdc.audit import Attack, Attacker
from jobs.sdc.cells import MEASURES, Registry, primary_reasons, union_problem
from jobs.sdc.config import AuditSettings
from jobs.sdc.system import System, build_system

log = logging.getLogger(__name__)


class ProtectionError(RuntimeError):
    """The tables cannot be protected (or fail the audit): nothing may be published."""


@dataclass
class Protection:
    registry: Registry
    reasons: list[list[str]]  # primary reasons per node; empty: not primary
    suppressed: np.ndarray  # per node: primary or secondary
    systems: dict[str, System]
    rounds: int = 0
    union_reasons: dict[int, str] = field(default_factory=dict)  # secondary node -> why it was added

    @property
    def primary(self) -> np.ndarray:
        return np.array([bool(r) for r in self.reasons], dtype=bool)


@dataclass
class AuditReport:
    attacks: list[Attack]
    union_failures: list[tuple[list[int], str]]
    lp_solved: int

    @property
    def failures(self) -> list[Attack]:
        return [a for a in self.attacks if not a.ok]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.union_failures


def _targets(system: System, reasons: list[list[str]]) -> list[int]:
    """Variables of the primary cells to attack. A cell whose true value is 0 (trips) is not attacked:
    a zero follows from a published zero total, which already says no vehicle of that group did it."""
    return [v for v, n in enumerate(system.var_node) if n >= 0 and reasons[n] and system.base[v] > 0]


def _systems(reg: Registry) -> dict[str, System]:
    return {m: build_system(reg, m) for m in MEASURES if any(m in ms for ms in reg.measures)}


def _costs(reg: Registry) -> np.ndarray:
    """Information lost by suppressing a cell: its passages, or its vehicles where none are published."""
    if not reg.size:
        return np.zeros(0)
    passages, vehicles = reg.stat("P"), reg.stat("V")
    return np.array([passages[n] if "P" in reg.measures[n] else vehicles[n] for n in range(reg.size)], dtype=float)


class _Chooser:
    """Picks companions for one system under the current suppression pattern."""

    def __init__(self, system: System, attacker: Attacker, costs: np.ndarray) -> None:
        self.system, self.attacker, self.costs = system, attacker, costs
        self.nodes = np.asarray(system.var_node, dtype=np.int64)
        levels = system.registry.level
        # variables that are cells finer than a zone total (auxiliary totals have no node)
        self.finer = np.array([n >= 0 and bool(levels[n]) for n in system.var_node], dtype=bool)

    def best(self, cols: Iterable[int] | np.ndarray, taken: Container[int] = frozenset()) -> int | None:
        """The best published cell (a node id) among a row's variables, leaving out the nodes taken."""
        node = self.system.var_node
        candidates = np.unique(np.fromiter(cols, dtype=np.int64))
        options = [c for c in candidates[~self.attacker.unknown[candidates] & (self.nodes[candidates] >= 0)].tolist()
                   if node[c] not in taken]
        if not options:
            return None
        # Totals stay published where a finer cell can do: the finest cells come first. Among those, a
        # cell whose other rows already hold an unknown closes a cycle; then the smallest.
        levels = self.system.registry.level
        ranked = sorted(options, key=lambda c: (-len(levels[node[c]]), 0 if self.attacker.linked(c) >= 2 else 1,
                                                self.costs[node[c]], node[c]))
        return node[ranked[0]]

    def for_pinned(self, var: int) -> int | None:
        """The cheapest companion that unpins var: a published cell of the row that pinned it, or of the
        rows that pinned that row's other unknowns (a total is taken only when nothing cheaper frees var)."""
        eq, node = self.system.eq, self.system.var_node
        queue, options = [(self.attacker.solved[var], 0)], []
        seen: set[int] = set()
        while queue and len(seen) < 64:
            row, depth = queue.pop(0)
            if row in seen:
                continue
            seen.add(row)
            cols = eq.indices[eq.indptr[row]:eq.indptr[row + 1]]
            options += [(self.costs[node[c]], depth, node[c]) for c in cols
                        if not self.attacker.unknown[c] and node[c] >= 0]
            queue += [(self.attacker.solved[int(c)], depth + 1) for c in cols if int(c) in self.attacker.solved]
        return min(options)[2] if options else None

    def for_narrow(self, var: int, taken: Container[int] = frozenset()) -> int | None:
        """The best published cell in var's rows; failing that, in the rows of the unknowns it is tied to,
        and so on outwards. The zone total is the last resort: a finer cell further out comes first.
        Cells taken (this round's companions so far) are left to the cells that took them."""
        a, at, unknown = self.attacker.incidence, self.attacker.incidence_t, self.attacker.unknown
        frontier = np.zeros(self.system.size, dtype=bool)
        frontier[var] = True
        seen_vars, seen_rows, total = frontier.copy(), np.zeros(a.shape[0], dtype=bool), None
        while frontier.any():
            rows = ((a @ frontier.astype(np.int64)) > 0) & ~seen_rows
            seen_rows |= rows
            reached = (at @ rows.astype(np.int64)) > 0
            columns = np.flatnonzero(reached)
            finer = np.flatnonzero(reached & self.finer)
            pick = self.best(finer, taken)
            if pick is not None:
                return pick
            if (~unknown[finer]).any():
                return None  # this ring's finer cells are all companions already: see next round, not a total
            total = total if total is not None else self.best(columns)
            frontier = reached & unknown & ~seen_vars
            seen_vars |= frontier
        return total


def unsafe_unions(system: System, attacker: Attacker, judged: dict[tuple[int, ...], str | None] | None = None
                  ) -> list[tuple[list[int], str, int, list[int]]]:
    """Rows with a known total whose suppressed cells, summed, break a rule: (nodes, rule, total, cells).

    judged: union_problem's verdicts by nodes, kept across the rounds of one protection (a union's verdict
    depends on its cells alone, and most rows' hidden cells do not change from one round to the next).
    """
    reg, out = system.registry, []
    judged = {} if judged is None else judged
    checked: set[tuple[int, ...]] = set()
    for margin, cells in system.margins:
        known = not attacker.unknown[margin] or margin in attacker.solved
        hidden = [c for c in cells if attacker.unknown[c] and c not in attacker.solved]
        # All cells hidden: their sum is the total itself, which passed the rules as a published cell.
        if not known or len(hidden) < 2 or len(hidden) == len(cells) or any(system.var_node[c] < 0 for c in hidden):
            continue
        nodes = tuple(system.var_node[c] for c in hidden)
        if nodes in checked:
            continue
        checked.add(nodes)
        if nodes not in judged:
            judged[nodes] = union_problem(reg, nodes)
        problem = judged[nodes]
        if problem:
            out.append((list(nodes), problem, margin, cells))
    return out


def protect(reg: Registry, settings: AuditSettings) -> Protection:
    reasons = primary_reasons(reg)
    prot = Protection(reg, reasons, np.array([bool(r) for r in reasons], dtype=bool), _systems(reg))
    costs = _costs(reg)
    passed: set[tuple[int, str]] = set()  # intervals only widen as suppression grows: a pass stays a pass
    judged: dict[tuple[int, ...], str | None] = {}
    for prot.rounds in range(1, settings.max_rounds + 1):
        added: set[int] = set()
        attackers = {m: Attacker(s, prot.suppressed, settings.exact)
                     for m, s in prot.systems.items()}
        for m, system in prot.systems.items():
            chooser = _Chooser(system, attackers[m], costs)
            for var in sorted(attackers[m].solved):
                node = system.var_node[var]
                if node >= 0 and reasons[node]:
                    pick = chooser.for_pinned(var)
                    if pick is not None:
                        added.add(pick)
                        prot.union_reasons.setdefault(pick, "pinned")
            for _, problem, margin, cells in unsafe_unions(system, attackers[m], judged):
                pick = chooser.best(cells)
                # No published cell left in the row: unpin a total or companion that others give away.
                for var in [margin, *cells] if pick is None else []:
                    if var in attackers[m].solved:
                        pick = chooser.for_pinned(var)
                        if pick is not None:
                            break
                if pick is not None:
                    added.add(pick)
                    prot.union_reasons.setdefault(pick, f"union:{problem}")
        if not added:
            for m, system in prot.systems.items():
                chooser = _Chooser(system, attackers[m], costs)
                pending = [var for var in _targets(system, reasons) if (system.var_node[var], m) not in passed]
                for var, result in zip(pending, attackers[m].attack_all(pending), strict=True):
                    if result.ok:
                        passed.add((result.node, m))
                        continue
                    # A companion of its own for each cell still too narrow: when they all took the best one,
                    # which widened few of them, a 1,000-vehicle zone needed 112 rounds (now 7, with 141
                    # secondary cells instead of 120) and a 3,000-vehicle zone did not converge at all.
                    pick = chooser.for_narrow(var, added)
                    if pick is not None:
                        added.add(pick)
                        prot.union_reasons.setdefault(pick, "interval")
            if not added and all((s.var_node[v], m) in passed for m, s in prot.systems.items()
                                 for v in _targets(s, reasons)):
                return prot
        if not added:
            raise ProtectionError("secondary suppression found no published cell that would protect the "
                                  "remaining primary cells")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("round %d: %d companions (%s)", prot.rounds, len(added),
                      sorted({prot.union_reasons.get(a, "?").split(":")[0] for a in added}))
        prot.suppressed[sorted(added)] = True
    raise ProtectionError(f"secondary suppression did not converge in {settings.max_rounds} rounds")


def audit(prot: Protection, settings: AuditSettings) -> AuditReport:
    """The attack on the final pattern, from scratch: every primary cell, every measure, every union."""
    attacks, unions, lp = [], [], 0
    for system in prot.systems.values():
        attacker = Attacker(system, prot.suppressed, settings.exact)
        attacks += attacker.attack_all(_targets(system, prot.reasons))
        unions += [(nodes, problem) for nodes, problem, _, _ in unsafe_unions(system, attacker)]
        lp += attacker.lp_solved
    return AuditReport(attacks, unions, lp)

