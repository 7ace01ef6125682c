"""Secondary suppression until the attack fails, and the audit a release must pass before publication.

One zone at a time: zones are disjoint populations and no table sums over zones. All tables of a
zone are protected together, since they share margins. Each round:
1. a primary cell pinned by equalities alone gets a companion from the row that pinned it;
2. a row whose margin is known discloses the sum of its suppressed cells: that union must itself pass
   the frequency and dominance rules, or another cell of the row is suppressed;
3. primary cells whose interval is narrower than the margin get a companion from the rows that bound the
   interval (the exact LPs' binding rows), else from their own rows and outwards.
The first rounds attack each measure on its own, the last ones the linked system (jobs/stats/sdc/system.py).
Companions are the finest published cells (totals stay published where possible), preferably ones that
already share a row with a suppressed cell (closing a cycle), then the smallest; ties go by cell order,
so the result is reproducible. Once every primary cell passes, a secondary cell whose value the published
cells determine anyway protects nothing: it is published again (the attacker's feasible set does not
change, so no verdict does) and never chosen again, and the rounds go on until nothing changes. Last
(where [audit] publish_trials allows), each remaining secondary cell, the costliest first, is published
on trial and stays published when the attack still fails without it (publish_unneeded);
jobs/stats/sdc/optimum.py gives the least-cost pattern to measure this against.
"""

from __future__ import annotations

import logging
from collections.abc import Container, Iterable
from dataclasses import dataclass, field

import numpy as np

from anpr.catalogue import Definitions
from anpr.disclosure import AuditSettings
from jobs.stats.sdc.audit import Attack, Attacker
from jobs.stats.sdc.cells import MEASURES, Registry, primary_reasons
from jobs.stats.sdc.levels import MAX_JOINT_CELLS
from jobs.stats.sdc.revision import REVISION, Revision
from jobs.stats.sdc.system import System, build_system
from jobs.stats.sdc.unions import Judged, determined_vars, in_rows, unsafe_unions

log = logging.getLogger(__name__)


class ProtectionError(RuntimeError):
    """The tables cannot be protected (or fail the audit): nothing may be published."""


@dataclass
class Protection:
    registry: Registry
    reasons: list[list[str]]  # primary reasons per node; empty: not primary
    suppressed: np.ndarray  # per node: primary or secondary
    system: System
    rounds: int = 0
    union_reasons: dict[int, str] = field(default_factory=dict)  # secondary node -> why it was added
    released: set[int] = field(default_factory=set)  # secondary nodes published again: not needed
    avoided: set[int] = field(default_factory=set)  # costly nodes never chosen as companions (protect)
    forced: set[int] = field(default_factory=set)  # suppressed by the revision policy: never published again
    attested: Attested | None = None  # the linked rounds' passes

    @property
    def primary(self) -> np.ndarray:
        return np.array([bool(r) for r in self.reasons], dtype=bool)


@dataclass
class AuditReport:
    attacks: list[Attack]
    union_failures: list[tuple[list[int], str]]
    lp_solved: int
    fresh: bool = True  # attacked from scratch; False: the linked rounds', on feasible sets the final one holds

    @property
    def failures(self) -> list[Attack]:
        return [a for a in self.attacks if not a.ok]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.union_failures


@dataclass(frozen=True)
class ReleaseStep:
    """A release step of the rounds (protect._rounds): its pattern; the lowest and highest value of each
    count over the feasible points seen on it (and on the patterns before it, whose feasible sets it
    holds), feasible on any pattern that hides all this one does; and its determined_vars."""

    pattern: np.ndarray
    seen: tuple[np.ndarray, np.ndarray]
    determined: np.ndarray


@dataclass
class Attested:
    """The linked rounds' attacks of the targets each passed (protect._rounds): every round attacks with a
    fresh Attacker (nothing carried from earlier rounds) on its own pattern, and a target that passed is
    not attacked again. Publishing a cell the published cells determine adds only an equation every
    feasible point meets, so the feasible set stays the same; hiding more cells only removes equations, so
    the set grows and each interval widens. While the pattern hides every node those rounds hid but the
    determined ones (covers), every pass stays a pass, and each interval is an inner bound of the interval
    on the later pattern; the audit then takes these attacks (protect.audit)."""

    exact: bool  # AuditSettings.exact of the attacks
    attacks: dict[int, Attack] = field(default_factory=dict)  # target variable -> the attack it passed
    hidden: np.ndarray | None = None  # nodes hidden in any round whose attacks are kept
    lp_solved: int = 0
    determined: set[int] = field(default_factory=set)  # nodes published since, each determined when published
    step: ReleaseStep | None = None  # the rounds' last release step

    def record(self, pattern: np.ndarray, passed: list[tuple[int, Attack]], lp_solved: int) -> None:
        """Keep a round's passes: pattern, the nodes hidden when it attacked; lp_solved, its attack's LPs."""
        self.attacks.update(passed)
        self.hidden = pattern.copy() if self.hidden is None else self.hidden | pattern
        self.lp_solved += lp_solved

    def covers(self, suppressed: np.ndarray, exact: bool, targets: list[int]) -> bool:
        """Whether every target has a kept pass and the pattern suppressed has a feasible set holding each
        of their rounds': it hides every node they hid but the determined ones, attacked in the same mode."""
        if exact != self.exact or self.hidden is None or any(v not in self.attacks for v in targets):
            return False
        expected = self.hidden.copy()
        expected[sorted(self.determined)] = False
        return bool(np.all(suppressed[expected]))


def _targets(system: System, reasons: list[list[str]]) -> list[int]:
    """Variables of the primary cells to attack, then the joint system's other targets (earlier releases'
    primary cells, unsafe differences: jobs/stats/sdc/revision.py). A cell suppressed only for its difference is
    attacked through that difference, not its own value. A count whose true value is 0 (trips: cells that
    exist hold at least one passage and vehicle) is not attacked, so the release may show that none of a
    suppressed group's vehicles opened a trip; the protection text (anpr/disclosure.py describe) excepts it."""
    own = [v for v, n in enumerate(system.var_node)
           if n >= 0 and any(r != REVISION for r in reasons[n]) and system.base[v] > 0]
    return own + [v for v in sorted(system.targets) if system.base[v] > 0]


def _costs(reg: Registry) -> np.ndarray:
    """Information lost by suppressing a cell: its passages, or its vehicles where none are published."""
    if not reg.size:
        return np.zeros(0)
    passages, vehicles = reg.stat("P"), reg.stat("V")
    return np.array([passages[n] if "P" in reg.measures[n] else vehicles[n] for n in range(reg.size)], dtype=float)


class _Chooser:
    """Picks companions for one system under the current suppression pattern."""

    def __init__(self, system: System, attacker: Attacker, costs: np.ndarray, blocked: Container[int]) -> None:
        self.system, self.attacker, self.costs, self.blocked = system, attacker, costs, blocked
        self.nodes = np.asarray(system.var_node, dtype=np.int64)
        reg = system.registry
        self.depth = np.array([reg.depth(n) for n in range(reg.size)], dtype=np.int64)
        # variables that are cells finer than a zone total (auxiliary totals have no node)
        self.finer = np.array([n >= 0 and bool(self.depth[n]) for n in system.var_node], dtype=bool)

    def best(self, cols: Iterable[int] | np.ndarray, taken: Container[int] = frozenset()) -> int | None:
        """The best published cell (a node id) among a row's variables, leaving out the nodes taken."""
        node = self.system.var_node
        candidates = np.unique(np.fromiter(cols, dtype=np.int64))
        options = [c for c in candidates[~self.attacker.unknown[candidates] & (self.nodes[candidates] >= 0)].tolist()
                   if node[c] not in taken and node[c] not in self.blocked]
        if not options:
            return None
        # Totals stay published where a finer cell can do: the finest cells come first. Among those, a
        # cell whose other rows already hold an unknown closes a cycle; then the smallest.
        ranked = sorted(options, key=lambda c: (-self.depth[node[c]], 0 if self.attacker.linked(c) >= 2 else 1,
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
                        if not self.attacker.unknown[c] and node[c] >= 0 and node[c] not in self.blocked]
            queue += [(self.attacker.solved[int(c)], depth + 1) for c in cols if int(c) in self.attacker.solved]
        return min(options)[2] if options else None

    def for_narrow(self, var: int, taken: Container[int] = frozenset()) -> int | None:
        """The best published cell in the rows that bound var's interval (nonzero duals of its exact LPs);
        failing that, in var's rows, then in the rows of the unknowns it is tied to, and so on outwards.
        The zone total is the last resort: a finer cell further out comes first. Cells taken (this round's
        companions so far) are left to the cells that took them."""
        a, at, unknown = self.attacker.incidence, self.attacker.incidence_t, self.attacker.unknown
        binding = sorted(self.attacker.binding.get(var, ()))
        # without these a node in many tables (all of a zone's unregistered vehicles, say) took one
        # companion per round from whichever of its rows ranked first: 42 rounds on a 300-vehicle zone.
        # var's own binding rows first: the finest cell of any binding row was often a far table's (4.1's
        # camera hours for a 4.8b cell), which left var pinned round after round (200 rounds on a zone)
        own = [r for r in binding if a[r, var]]
        for rows in (own, binding):
            if not rows:
                continue
            columns = np.unique(a[rows].indices)
            pick = self.best(columns[self.finer[columns]], taken)
            if pick is not None:
                return pick
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


def release_determined(prot: Protection, attacker: Attacker | None = None,
                       determined: np.ndarray | None = None) -> set[int]:
    """Publish again the secondary nodes whose every published count the published cells determine (they
    protect nothing: the attacker's feasible set stays as it was); returns them. They are never chosen
    as companions again, so the rounds end. determined: determined_vars of attacker, if known."""
    released = determined_secondary(prot, attacker or Attacker(prot.system, prot.suppressed), determined)
    prot.released |= released
    prot.suppressed[sorted(released)] = False
    for node in released:
        prot.union_reasons.pop(node, None)
    return released


def determined_secondary(prot: Protection, attacker: Attacker, determined: np.ndarray | None = None) -> set[int]:
    """Secondary nodes whose every published count the published cells determine (determined: per variable,
    as determined_vars gives it for these nodes' variables; asked of the attacker if not given)."""
    system, out = prot.system, set()
    secondary = prot.suppressed & ~prot.primary
    secondary[sorted(prot.forced)] = False
    by_node: dict[int, list[int]] = {}
    for var, node in enumerate(system.var_node):
        if node >= 0 and secondary[node]:
            by_node.setdefault(node, []).append(var)
    fixed = attacker.determined if determined is None else \
        (lambda var: bool(determined[var]) or not attacker.unknown[var] or var in attacker.solved)
    for node, vars_ in sorted(by_node.items()):
        if all(fixed(var) for var in vars_):
            out.add(node)
    return out


def _secondary_vars(prot: Protection) -> np.ndarray:
    nodes = np.asarray(prot.system.var_node)
    secondary = prot.suppressed & ~prot.primary
    return np.flatnonzero((nodes >= 0) & secondary[np.maximum(nodes, 0)])


def publish_unneeded(prot: Protection, settings: AuditSettings, costs: np.ndarray | None = None) -> list[int]:
    """Publish again each secondary node the protection does not need; returns them, in the order published.

    The rounds add companions greedily, so a companion taken early may be redundant once later ones are in
    (and one the published cells determine protects nothing at all). Each secondary node, the most
    passages first (costs: _costs; a total before its cells), is published on trial and stays published
    when every target still passes the attack and no union breaks: the audit's verdict on the final
    pattern, since a target outside the node's linked component keeps its interval. A trial costs about
    one audit of that component, so at most settings.publish_trials are made (the costliest nodes first).
    Cells the revision policy suppressed stay. The order is fixed, so the result is reproducible."""
    system = prot.system
    costs = _costs(prot.registry) if costs is None else costs
    targets = np.array(_targets(system, prot.reasons), dtype=np.int64)
    node_vars: dict[int, list[int]] = {}
    for var, node in enumerate(system.var_node):
        if node >= 0:
            node_vars.setdefault(node, []).append(var)
    candidates = [int(n) for n in np.flatnonzero(prot.suppressed & ~prot.primary) if int(n) not in prot.forced]
    candidates = sorted(candidates, key=lambda n: (-costs[n], n))[:settings.publish_trials]
    judged: Judged = {}
    attacker, published = Attacker(system, prot.suppressed, settings.exact), []
    for node in candidates:
        prot.suppressed[node] = False
        trial = Attacker(system, prot.suppressed, settings.exact)
        if _still_protected(attacker, trial, targets, node_vars.get(node, []), judged):
            attacker = trial
            published.append(node)
            prot.released.add(node)
            prot.union_reasons.pop(node, None)
        else:
            prot.suppressed[node] = True
    if published:
        log.debug("%d secondary cells the protection does not need published again", len(published))
    return published


def _still_protected(before: Attacker, trial: Attacker, targets: np.ndarray, published: list[int],
                     judged: Judged) -> bool:
    """Whether the pattern of trial (before's with the variables published also published) passes: the
    targets in their linked components, those sharing a row with them first, so a failure shows early."""
    groups = before.group[published]
    affected = targets[np.isin(before.group[targets], groups[groups >= 0])] if len(targets) else targets
    if any(int(v) in trial.solved for v in affected) or unsafe_unions(trial.system, trial, judged):
        return False
    near = np.zeros(trial.system.size, dtype=bool)
    if published:
        rows = np.unique(before.incidence_t[published].indices)
        near[np.unique(before.incidence[rows].indices)] = True
    if not trial.passes(np.concatenate([affected[near[affected]], affected[~near[affected]]]).tolist()):
        return False
    return not unsafe_unions(trial.system, trial, judged, determined_vars(trial, set(targets.tolist())))


def _check_modelled(system: System) -> None:
    skipped = {m: cycles for m, cycles in system.model.skipped.items() if cycles}
    if skipped:
        raise ProtectionError(f"tables share dimensions in a cycle whose joint table would exceed "
                              f"{MAX_JOINT_CELLS:,} cells ({skipped}): the audit cannot model that attacker")


def protect(reg: Registry, settings: AuditSettings, system: System | None = None,
            definitions: Definitions | None = None, revision: Revision | None = None) -> Protection:
    """definitions: those the cells were built with, for the links between measures (conf/tables.toml's
    by default); system: the attacker's system, if already built; revision: the month's earlier served
    releases, protected against jointly (jobs/stats/sdc/revision.py).

    The rounds choose greedily, one step ahead: a companion that is cheap where it is taken can leave a
    cell that only a costly one protects. On GM9044-ZE1 of the bench month the two hydrogen buses and
    trucks of 4.8b took (Personenauto, Waterstof, Z) as their companion, whose row (Personenauto, Z) then
    had (Personenauto, Elektriciteit, Z) left, 50,737 of the zone's 637,633 passages: 4.8b hid 9.3% of
    them. So a secondary cell hiding more than [audit] costly_secondary_share of its zone's passages is
    published again with the secondary cells sharing an equality row with it, never taken as a companion
    again, and the rounds go on from that pattern (_repaired); the result is kept when it hides fewer
    passages in all; at most costly_secondary_trials times. 0 by default: on GM9044-ZE1 the repair takes 5
    minutes of CPU (the first protection 6.7) and hides 103,656 passages against 93,046 (stop 43), as the
    hydrogen bus and trucks are all of table 5.4's Z-class row but its 51,326 passages of cars
    (docs/statistics.md). What removes that cost is global recoding after the first protection
    (jobs/stats/recoding.py by_loss): by fuel group the bus and trucks count with the electric ones, and 4.8b
    hides 1.3% of its passages there (stop 49)."""
    reasons = primary_reasons(reg)
    system = system or build_system(reg, definitions=definitions)
    costs = _costs(reg)
    prot = _protect(reg, reasons, settings, system, costs, definitions, revision)
    for _ in range(settings.costly_secondary_trials):
        costly = _costly(prot, costs, settings.costly_secondary_share)
        if not costly:
            break
        try:
            other = _repaired(prot, costly, settings, costs, definitions, revision)
        except ProtectionError as exc:
            log.info("protection avoiding %d costly secondary cells failed (%s): the first pattern stays",
                     len(costly), exc)
            break
        before, after = _hidden_cost(prot, costs), _hidden_cost(other, costs)
        log.info("protection avoiding %d costly secondary cells hides %.0f instead of %.0f", len(costly), after, before)
        if after >= before:
            break
        prot = other
    return prot


def _hidden_cost(prot: Protection, costs: np.ndarray) -> float:
    return float(costs[prot.suppressed & ~prot.primary].sum())


def _costly(prot: Protection, costs: np.ndarray, share: float) -> set[int]:
    """Secondary nodes (not the revision policy's) hiding more than share of the zone's passages, or of its
    vehicles for a node that publishes no passages (its cost is then its vehicles: _costs)."""
    reg = prot.registry
    if not reg.size:
        return set()
    totals = {"P": float(reg.stat("P").max()), "V": float(reg.stat("V").max())}
    secondary = np.flatnonzero(prot.suppressed & ~prot.primary)
    return {int(n) for n in secondary if int(n) not in prot.forced
            and costs[n] > share * totals["P" if "P" in reg.measures[n] else "V"]}


def _protect(reg: Registry, reasons: list[list[str]], settings: AuditSettings, system: System, costs: np.ndarray,
             definitions: Definitions | None, revision: Revision | None) -> Protection:
    """One protection of the zone, from its primary cells (and the revision policy's)."""
    reasons = [list(r) for r in reasons]
    carried: dict[int, str] = {}
    if revision is not None:
        carried = revision.forced(reasons)
        system = _joint(revision, system)
    prot = Protection(reg, reasons, np.array([bool(r) for r in reasons], dtype=bool), system, forced=set(carried))
    prot.suppressed[sorted(carried)] = True
    prot.union_reasons.update({n: why for n, why in carried.items() if not reasons[n]})
    _check_modelled(prot.system)
    return _run(prot, settings, costs, definitions, revision)


def _run(prot: Protection, settings: AuditSettings, costs: np.ndarray, definitions: Definitions | None,
         revision: Revision | None) -> Protection:
    """The rounds from prot's pattern on, then the unneeded secondary cells published again."""
    # The linked system is the attack, but slow on a pattern where many cells are still too narrow. Each
    # measure's own system is looser (a cell too narrow there is too narrow in the linked one) and several
    # times faster, so it does the first rounds; the linked system then finds what the links add. On a
    # synthetic 100-vehicle zone: 38 s of CPU with the linked system alone, 11 s this way.
    for measure in MEASURES:
        if measure in prot.system.model.levels:
            own = build_system(prot.registry, (measure,), prot.system.model, definitions)
            _rounds(prot, _joint(revision, own), settings, costs, release=False)
    _rounds(prot, prot.system, settings, costs, release=True)
    publish_unneeded(prot, settings, costs)
    return prot


def _joint(revision: Revision | None, system: System) -> System:
    """The system to attack: jointly with the month's earlier releases, unless the latest was built from the
    same records, whose carried pattern is then safe against them all (jobs/stats/sdc/revision.py)."""
    return system if revision is None or revision.repeat else revision.join(system)


def _repaired(prot: Protection, costly: set[int], settings: AuditSettings, costs: np.ndarray,
              definitions: Definitions | None, revision: Revision | None) -> Protection:
    """prot's pattern without the costly secondary nodes and the secondary nodes sharing an equality row with
    them (what chose them), the costly ones never taken as companions; the rounds go on from there, so
    they redo only what those nodes protected. A fresh record of passes (Attested): the pattern no longer
    hides every node the first rounds hid."""
    other = Protection(prot.registry, [list(r) for r in prot.reasons], prot.suppressed.copy(), prot.system,
                       union_reasons=dict(prot.union_reasons), avoided=prot.avoided | costly,
                       forced=set(prot.forced))
    freed = costly | _secondary_neighbours(prot, costly)
    other.suppressed[sorted(freed)] = False
    for node in freed:
        other.union_reasons.pop(node, None)
    return _run(other, settings, costs, definitions, revision)


def _secondary_neighbours(prot: Protection, nodes: set[int]) -> set[int]:
    """Secondary nodes (not forced) sharing an equality row of the system with any of nodes."""
    system = prot.system
    var_node = system.nodes()
    near = np.unique(var_node[in_rows(system, system.eq_csc(), np.flatnonzero(np.isin(var_node, sorted(nodes))))])
    secondary = prot.suppressed & ~prot.primary
    return {int(n) for n in near if n >= 0 and secondary[n] and int(n) not in prot.forced}


def _for_unions(prot: Protection, unions: list[tuple[list[int], str, int, list[int]]], chooser: _Chooser,
                taken: set[int], determined: np.ndarray | None = None) -> set[int]:
    """A companion per unsafe union whose row holds none yet (taken: the round's companions so far): a
    published cell of its row; failing that, one that unpins the row's total or a cell others give away, or
    (determined: per variable, fixed by the published cells) one that frees such a variable from the rows
    that fix it. A union left without one here is still unsafe only if another row or a combination of rows
    fixes it, which the next round finds (for a sum several rows fix, `cells` spans them all)."""
    attacker, out = chooser.attacker, set[int]()
    node = chooser.system.var_node
    # Shortest rows first: a companion in a table's row lies in the total's row through it as well, which then
    # needs none of its own (a row with one more hidden cell no longer fixes the union's sum; any row that
    # still does is reported apart, and the next round looks again).
    for _, problem, margin, cells in sorted(unions, key=lambda union: len(union[3])):
        row = {int(node[c]) for c in cells}
        if not row.isdisjoint(out) or not row.isdisjoint(taken):
            continue
        pick = chooser.best(cells)
        for var in [margin, *cells] if pick is None else []:
            if var in attacker.solved:
                pick = chooser.for_pinned(var)
            elif determined is not None and determined[var]:
                pick = chooser.for_narrow(var, taken | out)
            if pick is not None:
                break
        if pick is not None:
            out.add(pick)
            prot.union_reasons.setdefault(pick, f"union:{problem}")
    return out


def _rounds(prot: Protection, system: System, settings: AuditSettings, costs: np.ndarray, release: bool) -> None:
    """Companions until every primary cell passes the attack on this system (then, with release, determined
    secondary cells are published again, and the rounds go on until nothing changes)."""
    reasons = prot.reasons
    # intervals only widen as suppression grows, and releasing a determined cell leaves the attacker's
    # feasible set as it was: a pass stays a pass
    passed: set[int] = set()
    # feasible points of earlier rounds: their feasible sets lie inside this round's, so the points stay feasible
    seen: tuple[np.ndarray, np.ndarray] | None = None
    # the last release step's determined_vars, while only determined cells were published since: the
    # feasible set is the same, so the answer is too, for the cells still hidden
    fixed: np.ndarray | None = None
    judged: Judged = {}
    targets = _targets(system, reasons)
    if release and prot.attested is None:
        prot.attested = Attested(settings.exact)
    kept = prot.attested if release else None  # the linked system's passes, for the audit
    while prot.rounds < settings.max_rounds:
        prot.rounds += 1
        added: set[int] = set()
        attacker = Attacker(system, prot.suppressed, settings.exact)
        pattern = prot.suppressed.copy()
        chooser = _Chooser(system, attacker, costs, prot.released | prot.avoided)
        for var in sorted(attacker.solved):
            node = system.var_node[var]
            if (node >= 0 and any(r != REVISION for r in reasons[node])) or var in system.targets:
                pick = chooser.for_pinned(var)
                if pick is not None:
                    added.add(pick)
                    prot.union_reasons.setdefault(pick, "pinned")
        added |= _for_unions(prot, unsafe_unions(system, attacker, judged), chooser, added)
        if not added:
            pending, passes = [var for var in targets if var not in passed], []
            for var, result in zip(pending, attacker.attack_all(pending), strict=True):
                if result.ok:
                    passed.add(var)
                    passes.append((var, result))
                    continue
                # A companion of its own for each cell still too narrow: when they all took the best one,
                # which widened few of them, a 1,000-vehicle zone needed 112 rounds (now 7, with 141
                # secondary cells instead of 120) and a 3,000-vehicle zone did not converge at all.
                pick = chooser.for_narrow(var, added)
                if pick is not None:
                    added.add(pick)
                    prot.union_reasons.setdefault(pick, "interval")
            if kept is not None and passes:
                kept.record(pattern, passes, attacker.lp_solved)
            if not added and all(var in passed for var in targets):
                if not release:
                    return
                # Unions the determined cells give away (jobs/stats/sdc/unions.py) get companions before
                # any determined cell is published again, which would leave them no published cell to take.
                if seen is not None:
                    attacker.absorb(*seen)
                if fixed is None:
                    determined = determined_vars(attacker, passed, _secondary_vars(prot))
                else:
                    determined = fixed & attacker.unknown
                    determined[sorted(attacker.solved)] = False
                fixed = determined
                seen = (attacker.seen_lo.copy(), attacker.seen_hi.copy())
                given_away = unsafe_unions(system, attacker, judged, determined)
                added |= _for_unions(prot, given_away, chooser, added, determined)
                if given_away and not added:
                    raise ProtectionError(f"{len(given_away)} sums of suppressed cells that the published cells "
                                          "give away break the rules, and no published cell would protect them")
                if prot.attested is not None:  # and the audit's unions
                    prot.attested.step = ReleaseStep(prot.suppressed.copy(), seen, determined)
                if not added:
                    released = release_determined(prot, attacker, determined)
                    if prot.attested is not None:
                        prot.attested.determined |= released
                    if not released:
                        return
                    log.debug("round %d: %d determined secondary cells published again", prot.rounds, len(released))
                    continue
        if not added:
            raise ProtectionError("secondary suppression found no published cell that would protect the "
                                  "remaining primary cells")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("round %d: %d companions (%s)", prot.rounds, len(added),
                      sorted({prot.union_reasons.get(a, "?").split(":")[0] for a in added}))
        prot.suppressed[sorted(added)] = True
        fixed = None
    raise ProtectionError(f"secondary suppression did not converge in {settings.max_rounds} rounds")


def audit(prot: Protection, settings: AuditSettings) -> AuditReport:
    """The attack on the final pattern: every primary cell, every measure, every union.

    From scratch, unless every target passed a linked round's attack on a pattern whose feasible set the
    final one holds (Attested.covers: only determined cells published since, other cells only hidden) and
    settings.independent is off: then those attacks are the audit's, and only the unions, which depend on
    which cells are hidden, are judged again. The intervals are then those of the rounds' patterns: the
    same where nothing was hidden since, else inside the final ones. On the 5% month's smallest zone a
    fresh audit was 37% of the zone's time; on its largest, where the union rule hid cells after the
    rounds' attacks, 253 s."""
    _check_modelled(prot.system)
    system = prot.system
    attacker = Attacker(system, prot.suppressed, settings.exact)
    attested, targets = prot.attested, _targets(system, prot.reasons)
    step = attested.step if attested is not None else None
    if attested is not None and not settings.independent and attested.covers(prot.suppressed, settings.exact, targets):
        attacks, earlier, fresh = [attested.attacks[v] for v in targets], attested.lp_solved, False
        if step is not None and bool(np.all(prot.suppressed[step.pattern])):
            attacker.absorb(*step.seen)  # feasible here too: this pattern hides all that one did
    else:
        attacks, earlier, fresh = attacker.attack_all(targets), 0, True
    # Both ways: the hidden cells of a row, and those the published cells do not determine (unions.py).
    if not fresh and step is not None and np.array_equal(step.pattern, prot.suppressed):
        determined = step.determined  # the same feasible set and hidden cells: the same answer
    else:
        determined = determined_vars(attacker, {v for v, a in zip(targets, attacks, strict=True) if a.ok})
    unions = {tuple(nodes): problem for nodes, problem, _, _ in
              [*unsafe_unions(system, attacker), *unsafe_unions(system, attacker, None, determined)]}
    return AuditReport(attacks, [(list(nodes), problem) for nodes, problem in unions.items()],
                       earlier + attacker.lp_solved, fresh)
