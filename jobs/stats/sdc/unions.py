"""The union rule: a row whose total the attacker knows discloses the sum of its cells he does not know.

Known means published, pinned by the equalities (Attacker.solved) or, for the determination-aware check,
fixed by the published cells at all (Attacker.determined: min = max over the feasible set). Hidden cells
that are determined give their sum away as surely as published ones: a row whose total and all but three
small cells are determined discloses those three cells' sum even if the determined cells are suppressed,
and publishing them (protect.release_determined) only makes that visible. On the 5% month's zone
GM9032-ZE1 that is what the audit refused: two secondary cells and their row's total, all determined,
were published again after the last round, leaving three cells of 9 vehicles as the row's only unknowns.
Rows also combine: the determination-aware check judges the sets of two to four cells (and, below the
vehicle or owner rule or over the dominance rule, of any number, and in a joint system of several releases
the differences between them) whose sum rows added and subtracted fix (`fixed_sums`).
"""

from __future__ import annotations

from collections.abc import Container

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import lsqr
from threadpoolctl import threadpool_limits

from jobs.stats.sdc.audit import Attacker
from jobs.stats.sdc.cells import union_problem
from jobs.stats.sdc.small_sums import DOMINANCE, OWNERS, VEHICLES, population, rules_of, small_sums
from jobs.stats.sdc.system import System, components

Judged = dict[tuple[int, ...], str | None]
_PROBES = 4  # random null-space vectors per search for fixed sums (fixed_sums)
_ZERO = 1e-7  # relative: entries of the probes within this of cancelling cancel
_BLOCK = 1 << 20  # queries per block of the triple and quadruple searches: their candidates stay arrays of ~30 MB
# disjoint sets of five or more per group, measure, kind and rule (fixed_sums): with one, GM9044-ZE1's
# protection took one union companion per linked round of about 70 s, 22 rounds on end
_SETS = 8


def _hidden(attacker: Attacker, determined: np.ndarray | None) -> np.ndarray:
    hidden = attacker.unknown.copy()
    hidden[list(attacker.solved)] = False
    return hidden if determined is None else hidden & ~determined


def _margins(system: System) -> np.ndarray:
    """Each equality row's total, in the order of System.margin_cells' rows."""
    return np.fromiter((m for m, _ in system.margins), dtype=np.int64, count=len(system.margins))


def unsafe_unions(system: System, attacker: Attacker, judged: Judged | None = None,
                  determined: np.ndarray | None = None) -> list[tuple[list[int], str, int, list[int]]]:
    """Rows with a known total whose hidden cells, summed, break a rule: (nodes, rule, total, cells); with
    determined, also sets of two to four hidden cells whose sum rows combine to fix (`fixed_sums`: total is
    then the first cell, cells those of its cells' rows).

    determined: per variable, whether the published cells fix it (determined_vars); such variables count
    as known. judged: union_problem's verdicts by nodes, kept across the rounds of one protection (a
    union's verdict depends on its cells alone, and most rows' hidden cells do not change between rounds).
    """
    reg, out = system.registry, []
    judged = {} if judged is None else judged
    checked: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
    hidden = _hidden(attacker, determined)
    # rows with a known total and at least two, not all, of their cells hidden, all of them nodes
    counts = system.margin_cells()
    hidden_n = counts @ hidden.astype(np.float64)
    aux = counts @ (hidden & (system.nodes() < 0)).astype(np.float64)
    margins = _margins(system)
    lengths = np.asarray(counts.sum(axis=1)).ravel()
    # All cells hidden: their sum is the total itself, which passed the rules as a published cell.
    rows = np.flatnonzero(~hidden[margins] & (hidden_n >= 2) & (hidden_n < lengths) & (aux == 0))

    def problem_of(nodes: tuple[int, ...], where: tuple[int, ...] = ()) -> str | None:
        """The rule the union of nodes breaks; None as well for a union found already in this call in the
        same place (where: the nodes of the row disclosing it), or at all for a fixed sum (where ())."""
        if (nodes, where) in checked:
            return None
        checked.update({(nodes, where), (nodes, ())})
        if nodes not in judged:
            judged[nodes] = union_problem(reg, nodes)
        return judged[nodes]

    for r in rows:
        margin, cells = system.margins[r]
        nodes = tuple(system.var_node[c] for c in cells if hidden[c])
        # Each row that discloses the union needs a companion of its own: one population is a cell of several
        # tables, so one pair of hidden cells can be all a row of each holds hidden. Reported once per union,
        # GM9044-ZE1's hydrogen bus and trucks took a round of their own for each of three rows.
        problem = problem_of(nodes, tuple(sorted({system.var_node[c] for c in cells})))
        if problem:
            out.append((list(nodes), problem, margin, cells))
    if determined is None:  # the sums rows combine into are judged where determination is known
        return out
    by_var = attacker.eq_csc  # per variable (column): its equality rows
    node = system.nodes()
    for members in fixed_sums(system, hidden):
        others = [system.joint[v] for v in members if v in system.joint]
        if others:  # counts of an earlier release or differences: fixed_sums found them below a rule
            vehicles = population(system, np.asarray(members))[0].sum()
            small = vehicles < max(rules_of(system, v).min_vehicles for v in members)
            nodes, problem = tuple(sorted({t.node for t in others})), VEHICLES if small else OWNERS
        else:
            nodes = tuple(sorted({system.var_node[v] for v in members}))
            problem = problem_of(nodes) if len(nodes) >= 2 else None
        if problem:
            # a companion comes from the rows that fix the sum: those of its cells; for another release's
            # counts, through the rows tying them to this release's, those of this release's counts reached
            reached = in_rows(system, by_var, np.asarray(members))
            if others:
                reached = np.union1d(reached, in_rows(system, by_var, reached[node[reached] >= 0]))
            out.append((list(nodes), problem, members[0], reached.tolist()))
    return out


def in_rows(system: System, by_var: sp.csc_matrix, variables: np.ndarray) -> np.ndarray:
    """The variables of the equality rows these variables are in, increasing."""
    if not len(variables):
        return np.zeros(0, dtype=np.int64)
    rows = np.unique(np.concatenate([by_var.indices[by_var.indptr[v]:by_var.indptr[v + 1]] for v in variables]))
    return np.unique(system.eq[rows].indices).astype(np.int64)


def fixed_sums(system: System, hidden: np.ndarray, probes: int = _PROBES) -> list[tuple[int, ...]]:
    """Pairs, triples and quadruples of hidden cell counts of one measure whose sum the equality rows fix
    though no count of them is fixed alone, nor any pair of them, and per group, measure and rule up to _SETS
    disjoint sets of counts of any size whose cells together break the vehicle or owner rule (`small_sums`;
    in a joint system also counts of another release, or differences): variable ids in increasing order.

    Rows combine: in a 3x3 table whose six small cells form a cycle, row 41 + row 49 - column Vrachtauto
    gives h(41, Bestelauto) + h(49, Bus) exactly (a fifth review: 7 vehicles of 2 owners, or one company's
    whole fleet), which no single row discloses; in a 3x4 table, row 1 + row 2 - column a can fix three
    cells (a sixth review: one company's 9 vehicles; in 12 of 106 random zones that passed, a sum of three
    broke a rule); in a 3x5 table, row 1 + row 2 - column a can fix four cells and no pair or triple of
    them (one company's 2 + 2 + 2 + 2 vehicles passed the audit before quadruples were searched). A sum c.x
    is fixed exactly when c is orthogonal to the null space of the equality rows over the hidden variables:
    each probe is a random vector projected onto that null space (least squares against the rows, seeded),
    and a set is kept when its entries cancel in every probe. A sum
    that is not fixed cancels in a probe with probability zero; numerical noise is held off by a relative
    tolerance (_ZERO). Sums of five or more cells are searched by a MILP per rule instead (`small_sum`):
    meeting in the middle they would take O(n^3) memory or time.
    Raises ArithmeticError when least squares does not find the null space (the release is then refused).
    """
    key = np.packbits(hidden).tobytes() + bytes([probes])
    if system.fixed_sums_memo is not None and system.fixed_sums_memo[0] == key:
        return list(system.fixed_sums_memo[1])
    found = _fixed_sums(system, hidden, probes)
    system.fixed_sums_memo = (key, found)
    return list(found)


def _fixed_sums(system: System, hidden: np.ndarray, probes: int) -> list[tuple[int, ...]]:
    node = system.nodes()
    joint = np.zeros(system.size, dtype=bool)
    joint[list(system.joint)] = True
    own = hidden & (node >= 0)  # counts of this release's cells
    cols = np.flatnonzero(own | (hidden & joint))
    if len(cols) < 2:
        return []
    probe = _null_probes(system, hidden, cols, probes)
    scale = _ZERO * max(1.0, float(np.abs(probe).max()))
    # Counts of different groups of the equality rows never cancel (their probes are independent), so the
    # search runs per group and measure: quadratic in the largest group, not in the zone.
    every = components(system, hidden, inequalities=False)
    group = every[cols]
    measure = np.asarray(system.var_measure, dtype=object)[cols]
    moving = ~np.all(np.abs(probe) <= scale, axis=1)  # a count fixed alone is the single-count attack's
    mine_own = own[cols]
    out: list[tuple[int, ...]] = []
    sel = np.flatnonzero(moving & mine_own)
    for part in _by_key(group[sel], measure[sel]).values():
        mine = sel[part]
        out += [tuple(int(cols[mine[i]]) for i in found) for found in _cancelling(probe[mine], scale)]
    # Sets of any size whose cells together break the vehicle or owner rule (owners named by this release's
    # cells, summed for other releases' counts and differences) or, of this release's cells, the dominance
    # rule: a MILP per group, measure, kind of count
    # (this release's cells, an earlier release's, the differences between two releases) and rule, its
    # answer checked against the probes.
    about = np.array(["" if v not in system.joint else system.joint[v].about for v in cols.tolist()], dtype=object)
    members_of = _by_key(every)
    # A search that found nothing stays empty while the hidden counts only grow, its group holds the counts of
    # one group of then at most, and no count it could pick joined it: a sum of counts hidden before that is
    # fixed now was fixed before (the null space of the rows over the hidden counts only grows), in the group
    # searched then. (Where groups merged, a sum of a fixed pair of one and a fixed triple of the other is
    # searched anew: a review's zone.) The rounds of one protection add a companion or two at a time: on a
    # 60-vehicle zone publishing a fuel-group table the four searches of its rounds took 10.7, 1.7, 3.4 and
    # 1.0 s of CPU this way, 10.7 s each without.
    earlier = system.small_sums_memo
    if earlier is not None and np.any(earlier[0] & ~hidden):
        earlier = None  # the hidden counts did not only grow: every search runs
    new = hidden if earlier is None else hidden & ~earlier[0]
    open_: dict[tuple[object, ...], np.ndarray] = {}  # per measure, kind, rule: groups whose search found some
    for (g, m, kind), part in sorted(_by_key(group, measure, about).items()):
        counts, members = cols[part], members_of[(g,)]
        unmerged = earlier is not None and len(np.unique(earlier[2][members[~new[members]]])) <= 1
        found_then = earlier[1] if earlier is not None and unmerged else None
        # Dominance only on this release's cells: the owners of another release's cells and of differences
        # are not at hand.
        for rule in (VEHICLES, OWNERS) if kind else (VEHICLES, OWNERS, DOMINANCE):
            if found_then is not None and not _pickable(system, counts, new[counts], rule) and \
                    ((m, kind, rule) not in found_then or not found_then[(m, kind, rule)][members].any()):
                continue
            # A fixed set of this release's counts breaking a rule splits into minimal fixed sets (a fixed
            # set's part that is fixed leaves the rest fixed), and one of them breaks it too (a union's
            # share of any two owners is its parts' shares averaged): one of two to four cells is judged
            # above (_cancelling, union_problem), a single one is the single-count attack's. So only sets of
            # five or more are searched here.
            unsearched, system.dominance_unsearched = system.dominance_unsearched, 0
            try:
                sets = small_sums(system, members, counts, rule, 2 if kind else 5, _SETS)
                if sets or system.dominance_unsearched:
                    open_.setdefault((m, kind, rule), np.zeros(system.size, dtype=bool))[members] = True
            finally:
                system.dominance_unsearched = max(unsearched, system.dominance_unsearched)
            for found in sets:
                if not np.all(np.abs(probe[np.searchsorted(cols, found)].sum(axis=0)) <= len(found) * scale):
                    raise ArithmeticError("the union rule's MILP found a fixed sum the null-space probes do not "
                                          "confirm")
                if found not in out:
                    out.append(found)
    system.small_sums_memo = (hidden.copy(), open_, every)
    return sorted(out)


def _pickable(system: System, counts: np.ndarray, among: np.ndarray, rule: str) -> bool:
    """Whether small_sum(counts, rule) could pick any of counts[among]: for the vehicle and owner rules, a
    count whose population is below the strictest floor of counts (small_sum searches at each floor); for
    dominance, any."""
    if not among.any() or rule == DOMINANCE:
        return bool(among.any())
    vehicles, owners = population(system, counts[among])
    floor = max(getattr(rules_of(system, int(v)), rule) for v in counts)
    return bool(np.any((vehicles if rule == VEHICLES else owners) < floor))


def _by_key(*keys: np.ndarray) -> dict[tuple[object, ...], np.ndarray]:
    """The positions (increasing) of each distinct combination of the keys' values (arrays of one length), by
    that combination: one sort instead of a scan of every array per combination (5,881 groups and measures on
    GM9044-ZE1, several seconds a search)."""
    if not len(keys[0]):
        return {}
    codes = [np.unique(k, return_inverse=True)[1].ravel() for k in keys]
    order = np.lexsort(codes[::-1])  # stable: positions stay increasing within a combination
    stacked = np.column_stack([c[order] for c in codes])
    starts = np.concatenate([[0], np.flatnonzero(np.any(stacked[1:] != stacked[:-1], axis=1)) + 1])
    values = [k.tolist() for k in keys]
    parts = np.split(order, starts[1:])
    return {tuple(v[order[a]] for v in values): part for a, part in zip(starts, parts, strict=True)}


def _null_probes(system: System, hidden: np.ndarray, cols: np.ndarray, probes: int) -> np.ndarray:
    """Per variable of cols (rows) and probe (columns): a random vector of the null space of the equality
    rows over the hidden variables."""
    free = np.flatnonzero(hidden)
    rows = system.eq[:, free].tocsr()
    rows = rows[np.flatnonzero(np.diff(rows.indptr))]
    where = np.searchsorted(free, cols)
    rng = np.random.default_rng(len(free))  # seeded, so a release's verdict is reproducible
    if rows.shape[0] == 0:  # nothing ties the hidden counts: every vector is in the null space
        return rng.standard_normal((len(cols), probes))
    at = rows.T.tocsr()
    out = np.empty((len(cols), probes))
    # lsqr's vectors are long enough for OpenBLAS to share each norm among threads, and short enough that
    # sharing loses: on the Utrecht-sized zone beside other work 20 s of CPU per search, 3.9 s on one thread
    with threadpool_limits(limits=1, user_api="blas"):
        for k in range(probes):
            z = rng.standard_normal(len(free))
            w = z - at @ lsqr(at, z, atol=1e-13, btol=1e-13, iter_lim=20 * len(free))[0]
            if np.linalg.norm(rows @ w) > 1e-6 * np.linalg.norm(z):
                raise ArithmeticError("the union rule's sum search did not converge: the null space of the "
                                      "equality rows was not found to 1e-6")
            out[:, k] = w[where]
    return out


def _cancelling(probe: np.ndarray, scale: float) -> list[tuple[int, ...]]:
    """Row index pairs, triples and quadruples, increasing, whose probe rows sum to zero within scale per
    summand, none holding a smaller such set. No row is zero (the caller's), so no triple holds a
    cancelling pair."""
    pairs = _pairs(probe, scale, np.argsort(probe[:, 0], kind="stable"))
    if len(probe) < 3:
        return pairs
    sums = _PairSums(probe, scale)
    return pairs + _triples(probe, scale, sums) + _quadruples(probe, scale, set(pairs), sums)


def _pairs(probe: np.ndarray, scale: float, order: np.ndarray) -> list[tuple[int, ...]]:
    """Sorted on the first probe, the row each row needs is found by binary search: O(n log n). The window is
    closed and a little wider than the check after it (a sum at exactly the tolerance was missed), so the
    check alone decides, as for triples and quadruples."""
    first, reach = probe[order, 0], 2 * scale * (1 + 1e-6)
    out: list[tuple[int, ...]] = []
    for i in range(len(probe)):
        lo = np.searchsorted(first, -probe[i, 0] - reach, side="left")
        hi = np.searchsorted(first, -probe[i, 0] + reach, side="right")
        out += [(i, int(j)) for j in order[lo:hi] if j > i and np.all(np.abs(probe[i] + probe[j]) <= 2 * scale)]
    return out


class _PairSums:
    """Every pair i < j of probe rows (left, right), its sums on the first two probes (first, second), and
    the pairs sorted on bins of those sums a little over 8 scale wide in both (keys, order): the pairs whose
    sum with a query's (a, b) is within 4 scale of zero in both lie in at most two runs of the sorted keys
    (the query's two bins of the first probe, each with the run of bins of the second). Meeting in the
    middle on the first probe alone made 504 million candidates for the 25.6 million pairs of GM9044-ZE1's
    largest group (the sums crowd near zero), sifted one by one on the second probe: 27 s of its 32 s
    quadruple search. O(n^2) memory: about 1 GB there."""

    def __init__(self, probe: np.ndarray, scale: float) -> None:
        self.left, self.right = (a.astype(np.int32) for a in np.triu_indices(len(probe), 1))
        second = 1 % probe.shape[1]
        self.first = probe[self.left, 0] + probe[self.right, 0]
        self.second = probe[self.left, second] + probe[self.right, second]
        self.width = 8.04 * scale  # 2 x (4 scale and its margins, matches) meets at most two bins
        q0, q1 = (np.floor(v / self.width).astype(np.int64) for v in (self.first, self.second))
        self.low0, self.low1 = int(q0.min()) - 2, int(q1.min()) - 2
        self.span = int(q1.max()) - self.low1 + 3  # a query's second-probe bins are clipped into [0, span)
        if (int(q0.max()) - self.low0 + 3) * self.span >= 1 << 62:  # the keys' products stay in int64
            raise ArithmeticError("the union rule's sum search got a tolerance too small for its bins")
        key = (q0 - self.low0) * self.span + (q1 - self.low1)
        del q0, q1
        self.order = np.argsort(key)
        self.keys = key[self.order]

    def matches(self, first: np.ndarray, second: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
        """(query positions, pairs) whose sums with a query's (a of first, b of second) are within tol of zero
        on both probes (tol at most 4 scale), with a relative margin of 1e-6: a superset of the sets the
        callers' checks on every probe pass, whatever order they sum in, so those checks alone decide.
        Raises ArithmeticError if the values are too coarse for the bins (three bins in one interval)."""
        tol *= 1 + 1e-6
        ends = [(np.floor((-v + sign * 1.001 * tol) / self.width).astype(np.int64) - low)
                for v, low in ((first, self.low0), (second, self.low1)) for sign in (-1, 1)]
        bin_lo, bin_hi, lo1, hi1 = ends[0], ends[1], np.clip(ends[2], 0, self.span - 1), np.clip(ends[3], 0,
                                                                                                self.span - 1)
        if np.any(bin_hi - bin_lo > 1):
            raise ArithmeticError("the union rule's sum search lost precision: its tolerance spans three bins")
        who, items = [], []
        for bin0, use in ((bin_lo, None), (bin_hi, bin_hi != bin_lo)):
            start = np.searchsorted(self.keys, bin0 * self.span + lo1, side="left")
            hits = np.searchsorted(self.keys, bin0 * self.span + hi1, side="right") - start
            if use is not None:
                hits[~use] = 0
            total = int(hits.sum())
            if total:
                who.append(np.repeat(np.arange(len(first)), hits))
                items.append(self.order[np.repeat(start - np.cumsum(hits) + hits, hits) + np.arange(total)])
        if not who:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        at, item = np.concatenate(who), np.concatenate(items)
        keep = (np.abs(first[at] + self.first[item]) <= tol) & (np.abs(second[at] + self.second[item]) <= tol)
        return at[keep], item[keep]


def _triples(probe: np.ndarray, scale: float, sums: _PairSums) -> list[tuple[int, ...]]:
    """Each row met with the pairs whose sums are its negative (_PairSums.matches), then checked on every
    probe: O(n log n) beyond the pairs' sort."""
    tol = 3 * scale
    k, pair = sums.matches(probe[:, 0], probe[:, 1 % probe.shape[1]], tol)
    i, j = sums.left[pair], sums.right[pair]
    keep = k > j
    i, j, k = i[keep], j[keep], k[keep]
    cancel = np.all(np.abs((probe[i] + probe[j]) + probe[k]) <= tol, axis=1)
    return sorted((int(a), int(b), int(c)) for a, b, c in zip(i[cancel], j[cancel], k[cancel], strict=True))


def _quadruples(probe: np.ndarray, scale: float, pairs: set[tuple[int, ...]],
                sums: _PairSums | None = None) -> list[tuple[int, ...]]:
    """Two disjoint pairs whose sums cancel, met in the middle (_PairSums.matches, in blocks of queries),
    then checked on every probe: O(n^2 log n) time and O(n^2) memory. A quadruple holding a cancelling pair
    is two such pairs, judged as pairs: left out. (One holding a cancelling triple would hold a zero row.)"""
    tol = 4 * scale
    if len(probe) < 4:
        return []
    sums = sums or _PairSums(probe, scale)
    found: set[tuple[int, ...]] = set()
    # queries from the largest key down: the keys they need ascend, so the binary searches walk the array once
    for end in range(len(sums.order), 0, -_BLOCK):
        mine = sums.order[np.arange(end - 1, max(end - _BLOCK, 0) - 1, -1)]
        at, other = sums.matches(sums.first[mine], sums.second[mine], tol)
        mine = mine[at]
        keep = other > mine  # each once
        mine, other = mine[keep], other[keep]
        four = np.column_stack([sums.left[mine], sums.right[mine], sums.left[other], sums.right[other]])
        four = four[(four[:, :2, None] != four[:, None, 2:]).all(axis=(1, 2))]
        cancel = np.all(np.abs(probe[four].sum(axis=1)) <= tol, axis=1)
        found.update(tuple(int(i) for i in quad) for quad in np.sort(four[cancel], axis=1))
    return sorted(quad for quad in found
                  if not any((quad[a], quad[b]) in pairs for a in range(4) for b in range(a + 1, 4)))


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
