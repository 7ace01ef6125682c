"""Sets of any size of hidden counts whose sum the equality rows fix while their cells together hold too few
vehicles or owners, or two owners hold too much of them: one MILP per group of the rows (`small_sum`,
`dominant_sum`), on rows reduced exactly first (`reduce_rows`). The union rule (jobs/stats/sdc/unions.py)
judges what it finds."""

from __future__ import annotations

import logging
from collections import deque

import numpy as np
import scipy.sparse as sp

from anpr.disclosure import Rules
from jobs.stats.sdc.cells import owner_bound
from jobs.stats.sdc.lp import solve_milp
from jobs.stats.sdc.system import System

VEHICLES, OWNERS, DOMINANCE = "min_vehicles", "min_owners", "dominance"  # the rules searched for sets of any size
log = logging.getLogger(__name__)
_MILP_NODES = 100_000  # branch-and-bound nodes per MILP (deterministic, unlike a time limit)


def rules_of(system: System, var: int) -> Rules:
    """The rules a count of a joint system is judged by: its own release's, or its cell's for a difference."""
    about = system.joint.get(var)
    return (about or system.subject(var)).rules


def population(system: System, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per count: the vehicles and owners of the population it counts (its cell's, for this release's; for
    another release's count or a difference, System.joint's). Where they are unknown (a difference between
    two earlier releases), a vehicle count is judged by its own value (the population holds at least that
    many vehicles: judging by it hides more, never less) and a passage or trip count is never small (inf)."""
    reg, node = system.registry, system.nodes()[counts]
    vehicles, owners = reg.stat("V")[np.maximum(node, 0)], reg.stat("O")[np.maximum(node, 0)]
    for i in np.flatnonzero(node < 0):
        v = int(counts[i])
        about = system.joint[v]
        own_vehicles = system.base[v] if system.var_measure[v] == "V" else np.inf
        vehicles[i] = about.vehicles if about.vehicles is not None else own_vehicles
        owners[i] = about.owners if about.owners is not None else np.inf
    return vehicles, owners


def small_sum(system: System, members: np.ndarray, counts: np.ndarray, rule: str,
              at_least: int) -> tuple[int, ...] | None:
    """At least at_least (and two) of counts whose sum the equality rows fix while their cells together hold
    fewer vehicles (rule VEHICLES) or owners (OWNERS) than the rules allow, and at least one vehicle:
    variable ids in increasing order, as few as the search finds; None when there is none. members: the
    hidden variables of one group of the equality rows; counts: those of one measure and kind, of which
    only counts of cells below the rule can be picked (a larger cell cannot be in a small union). Vehicles
    and owners are summed over the cells (an upper bound on the union's: a vehicle can be in two cells), of
    their populations for another release's counts and for differences (`population`).

    The search of sets of two to four (unions.py `_cancelling`) misses larger ones: in a seventh review's
    zone, rows 41 and 45 hold only five small cells and the Bus column, and the total minus the published
    rows minus the hidden Bus cells fixed those five cells at 8 vehicles (16 of 44 random zones of that
    shape passed), and where only passages are published, their 16 passages. It never sees another
    release's counts either: with the total and the vans published in two releases of a month, 10 late
    vans and 5 late buses between them, d(Bus) + d(Vrachtauto) is fixed at the 5 late buses (7 of 7 seeds;
    an eighth review: the same on passages, 21 of 30 random months).

    A sum is fixed when its vector lies in the row space of the equality rows over the hidden variables: a
    MILP (HiGHS) looks for row weights y and 0/1 picks z with A'y = z on every hidden variable and z only
    on the candidates, at least one picked vehicle and the picked size at most the rule's floor - 1, on the
    rows `reduce_rows` leaves, with HiGHS's presolve (GM9044-ZE1's passage counts, 4,716 candidates in one
    group of 13,986 hidden counts: 54 s of CPU on the reduced rows without presolve, 2.6 s with it; a test
    compares the verdicts with and without). For the owner rule on this release's cells the union's owners
    are counted: a 0/1 variable per owner its cells name, z_j <= w_o, at most the floor - 1 of them.
    Deterministic: no time limit, a node limit (_MILP_NODES); reaching it raises ArithmeticError, as the
    release cannot then be judged. Rule DOMINANCE: `dominant_sum`."""
    if rule == DOMINANCE:
        return dominant_sum(system, members, counts, at_least)
    rules = [rules_of(system, int(v)) for v in counts]
    vehicles, owners = population(system, counts)
    size = vehicles if rule == VEHICLES else owners
    floors = np.array([r.min_vehicles if rule == VEHICLES else r.min_owners for r in rules], dtype=np.float64)
    # this release's cells name their owners (below the owner rule a cell's sample holds them all): the
    # union's owners are counted, not summed
    named = rule == OWNERS and bool(np.all(system.nodes()[counts] >= 0))
    # A union is judged by the strictest rule among its cells (cells.union_problem): one search per floor,
    # over the cells whose own floor is at most it and at least one at it. A single search at the group's
    # strictest floor could return a set only that floor condemns, which union_problem then passes, and
    # miss one of cells with a stricter rule (a review: tables of 10 and 15 vehicles in one group).
    rows = _member_rows(system, members)
    for floor in sorted(set(floors.tolist()), reverse=True):
        found = _search(system, members, rows, counts, vehicles, size, floors, floor, max(at_least, 2), named)
        if found is not None:
            return found
    return None


def small_sums(system: System, members: np.ndarray, counts: np.ndarray, rule: str, at_least: int,
               limit: int) -> list[tuple[int, ...]]:
    """Up to limit disjoint sets small_sum finds: each searched among the counts the sets before it left."""
    out: list[tuple[int, ...]] = []
    while len(out) < limit:
        found = small_sum(system, members, counts, rule, at_least)
        if found is None:
            break
        out.append(found)
        counts = np.setdiff1d(counts, found)
    return out


def _search(system: System, members: np.ndarray, rows: sp.csr_matrix, counts: np.ndarray, vehicles: np.ndarray,
            size: np.ndarray, floors: np.ndarray, floor: float, at_least: int, named: bool) -> tuple[int, ...] | None:
    """small_sum's MILP at one floor: picks of counts whose own floor is at most floor, one at least at it.
    rows: the equality rows over members (members x rows)."""
    keep = (size < floor) & (floors <= floor)
    if keep.any() and not named:
        # the other picks hold at least the fewest vehicles (owners) each: on the Utrecht-sized zone's largest
        # group (4,025 passage counts of cells below the rule) the MILP took 102 s of CPU without this
        keep &= size <= floor - 1 - (at_least - 1) * size[keep].min()
    cand, vehicles, size, strict = counts[keep], vehicles[keep], size[keep], floors[keep] == floor
    if len(cand) < at_least or not strict.any():
        return None
    candidate = np.zeros(len(members), dtype=bool)
    candidate[np.searchsorted(members, cand)] = True
    rows, kept = reduce_rows(rows, candidate)
    on = np.searchsorted(kept, np.searchsorted(members, cand))  # each candidate's equation (all are kept)
    n_rows, k = rows.shape[1], len(cand)
    links, n_owners = _owner_links(system, cand, n_rows) if named else (sp.csr_matrix((0, n_rows + k)), 0)
    width = n_rows + k + n_owners
    pick = sp.csr_matrix((-np.ones(k), (on, np.arange(k))), shape=(rows.shape[0], k))
    # columns: y (row weights, free), z (picks, 0/1), w (owners, 0/1, if named); at least one vehicle,
    # at_least picks, one pick at the floor, the size (summed, or the owners named) below the floor
    totals = np.zeros((4, width))
    totals[0, n_rows:n_rows + k], totals[1, n_rows:n_rows + k], totals[2, n_rows:n_rows + k] = vehicles, 1.0, strict
    totals[3, n_rows + k:] = 1.0
    if not named:
        totals[3, n_rows:n_rows + k] = size
    equations = sp.hstack([rows, pick, sp.csr_matrix((rows.shape[0], n_owners))], format="csr")
    # the lower limits as -x <= -b, the size at most the floor - 1, each z <= its w
    bounds = sp.vstack([sp.csr_matrix(-totals[:3]), sp.csr_matrix(totals[3:]), links], format="csr")
    limits = np.concatenate([[-1.0, -at_least, -1.0, floor - 1.0], np.zeros(links.shape[0])])
    return _solve(cand, n_rows, equations, bounds, limits, np.arange(n_rows, width))


def _member_rows(system: System, members: np.ndarray) -> sp.csr_matrix:
    """The equality rows over members, as members x their rows."""
    by_member = system.eq_csc()[:, members]
    present, at = np.unique(by_member.indices, return_inverse=True)  # the rows holding any member, renumbered
    out = sp.csr_matrix((by_member.data, at.ravel(), by_member.indptr), shape=(len(members), len(present)))
    out.sort_indices()
    return out


def _solve(cand: np.ndarray, n_rows: int, equations: sp.csr_matrix, bounds: sp.csr_matrix, limits: np.ndarray,
           integral: np.ndarray) -> tuple[int, ...] | None:
    """The fewest picks of cand (columns n_rows.. of the model) with equations = 0 and bounds <= limits, free
    row weights before them and 0/1 columns after: the picked variable ids, increasing; None if there are
    none. ArithmeticError at the node limit without an answer."""
    k, width = len(cand), equations.shape[1]
    try:
        x = solve_milp(np.concatenate([np.zeros(n_rows), np.ones(k), np.zeros(width - n_rows - k)]),
                       {"eq": (equations, np.zeros(equations.shape[0])), "ub": (bounds, limits)},
                       np.concatenate([np.full(n_rows, -np.inf), np.zeros(width - n_rows)]),
                       np.concatenate([np.full(n_rows, np.inf), np.ones(width - n_rows)]), integral, _MILP_NODES)
    except ArithmeticError as exc:  # the node limit, with no such sum found yet
        raise ArithmeticError(f"the union rule's search for small fixed sums ended without a verdict ({exc})") from None
    if x is None:  # infeasible: no such sum
        return None
    return tuple(sorted(int(v) for v in cand[x[n_rows:n_rows + k] > 0.5]))


def dominant_sum(system: System, members: np.ndarray, counts: np.ndarray, at_least: int) -> tuple[int, ...] | None:
    """At least at_least of counts (this release's, one measure, in one group of the equality rows: members)
    whose sum the rows fix while the dominance rule fails on their cells' union as union_problem judges it:
    the n largest owners' bounds (cells.owner_bound, summed over the cells) hold more than k% of its
    passages, or of its vehicles where a cell publishes no passages. Variable ids, increasing; None when
    there is none; None as well for another release's counts or differences, whose owners are not at hand
    (not judged for dominance), and where more than _DOMINANCE_CANDIDATES counts could be in such a set (not
    searched: the MILP's relaxation is weak, minutes on a city's passage counts).

    By the bound's construction a union's bound is at most the sum of its cells' own, so a failing set holds
    a cell that fails on its own (a primary cell), and a cell whose shortfall exceeds the surplus of every
    failing cell together cannot be in one: only the others are candidates. One MILP per rule pair (n, k)
    the union can take as its strictest (the largest n and the smallest k among its cells: union_problem),
    and per measure judged: the picks y, z of small_sum, a 0/1 w per owner the candidates list (at most n
    of them), u_io <= z_i, u_io <= w_o per listed entry, and the bound exceeding k% by at least _SLACK."""
    if not len(counts) or np.any(system.nodes()[counts] < 0):
        return None
    reg, nodes = system.registry, system.nodes()[counts]
    rules = [rules_of(system, int(v)) for v in counts]
    ns = np.array([r.dominance_n for r in rules])
    ks = np.array([r.dominance_k for r in rules])
    has_p = np.array(["P" in reg.measures[int(n)] for n in nodes])
    rows = None
    for n in sorted(set(ns.tolist()), reverse=True):
        for k in sorted(set(ks.tolist())):
            allowed = (ns <= n) & (ks >= k)
            for measure in ("P", "V"):
                # a union is judged on passages when every cell publishes them, else on vehicles
                keep = allowed & has_p if measure == "P" else allowed
                if keep.sum() < at_least or not (keep & (ns == n)).any() or not (keep & (ks == k)).any():
                    continue
                rows = _member_rows(system, members) if rows is None else rows
                found = _dominance_search(system, members, rows, counts[keep], measure, int(n), float(k),
                                          ns[keep] == n, ks[keep] == k, None if measure == "P" else ~has_p[keep],
                                          at_least)
                if found is not None:
                    return found
    return None


_SLACK = 1e-3  # in hundredths of passages (vehicles): the bound must exceed k% by this, clear of the MILP's tolerance
# Candidates above which the dominance search is not run: the exact search over GM9000-ZE1's passage counts (one
# group, 4,132 candidates) took 53 s of CPU to find none, over GM9044-ZE1's 674 s; every vehicle and trip group
# of those zones, and every passage group but that one, holds fewer than 200 and takes milliseconds.
_DOMINANCE_CANDIDATES = 500


def _dominance_search(system: System, members: np.ndarray, rows: sp.csr_matrix, counts: np.ndarray, measure: str,
                      n: int, k: float, exact_n: np.ndarray, exact_k: np.ndarray, without_p: np.ndarray | None,
                      at_least: int) -> tuple[int, ...] | None:
    """dominant_sum's MILP at one rule pair and measure. exact_n, exact_k: the candidates whose own rule is
    at n, at k (the set holds one of each); without_p: for the vehicles, the candidates publishing no
    passages (the set holds one of them: a set whose cells all publish passages is judged on passages)."""
    reg, nodes = system.registry, system.nodes()[counts]
    amounts = np.array([float(reg.values(measure)[int(v)]) for v in nodes])
    bounds_of = [owner_bound(reg, int(v), measure) for v in nodes]
    caps = np.array([cap for cap, _ in bounds_of])
    own = np.array([n * cap + sum(sorted((b for _, b in listed), reverse=True)[:n]) for cap, listed in bounds_of])
    surplus = 100 * own - k * amounts  # > 0: the cell fails on its own
    gain = surplus[surplus > 0].sum()
    keep = surplus > -gain
    if gain <= 0 or keep.sum() < at_least or not (keep & exact_n).any() or not (keep & exact_k).any() \
            or (without_p is not None and not (keep & without_p).any()):
        return None
    if keep.sum() > _DOMINANCE_CANDIDATES:
        system.dominance_unsearched = max(system.dominance_unsearched, int(keep.sum()))
        log.info("dominance of fixed sums of five or more %s counts not searched: %d candidates (limit %d)",
                 system.var_measure[int(counts[0])], int(keep.sum()), _DOMINANCE_CANDIDATES)
        return None
    cand, caps, amounts = counts[keep], caps[keep], amounts[keep]
    listed = [bounds_of[i][1] for i in np.flatnonzero(keep)]
    candidate = np.zeros(len(members), dtype=bool)
    candidate[np.searchsorted(members, cand)] = True
    rows, kept = reduce_rows(rows, candidate)
    on = np.searchsorted(kept, np.searchsorted(members, cand))
    n_rows, c = rows.shape[1], len(cand)
    entries = [(j, owner, beyond) for j, pairs in enumerate(listed) for owner, beyond in pairs if beyond > 0]
    owners = {o: i for i, o in enumerate(sorted({o for _, o, _ in entries}))}
    n_u, n_w = len(entries), len(owners)
    z0, u0, w0 = n_rows, n_rows + c, n_rows + c + n_u
    width = w0 + n_w
    pick = sp.csr_matrix((-np.ones(c), (on, np.arange(c))), shape=(rows.shape[0], c))
    equations = sp.hstack([rows, pick, sp.csr_matrix((rows.shape[0], n_u + n_w))], format="csr")
    # rows of "<=": at_least picks, one at n, one at k, (one without passages), at most n owners, the bound
    # over k% (negated), then u_e <= z_j and u_e <= w_o
    totals = np.zeros((6, width))
    totals[0, z0:u0] = -1.0
    totals[1, z0:u0], totals[2, z0:u0] = -exact_n[keep].astype(float), -exact_k[keep].astype(float)
    if without_p is not None:
        totals[3, z0:u0] = -without_p[keep].astype(float)
    totals[4, w0:] = 1.0
    totals[5, z0:u0] = -(100 * n * caps - k * amounts)
    totals[5, u0:w0] = [-100 * beyond for _, _, beyond in entries]
    e = np.arange(n_u)
    links = sp.csr_matrix((np.tile([1.0, -1.0], 2 * n_u),
                           (np.repeat(np.arange(2 * n_u), 2),
                            np.column_stack([u0 + e, z0 + np.array([j for j, _, _ in entries], dtype=np.int64),
                                             u0 + e, w0 + np.array([owners[o] for _, o, _ in entries],
                                                                   dtype=np.int64)]).ravel())),
                          shape=(2 * n_u, width))
    limits = np.concatenate([[-float(at_least), -1.0, -1.0, -1.0 if without_p is not None else 0.0, float(n),
                              -_SLACK], np.zeros(2 * n_u)])
    bounds = sp.vstack([sp.csr_matrix(totals), links], format="csr")
    return _solve(cand, n_rows, equations, bounds, limits, np.concatenate([np.arange(z0, u0), np.arange(w0, width)]))


def _owner_links(system: System, cand: np.ndarray, n_rows: int) -> tuple[sp.csr_matrix, int]:
    """z_j <= w_o for each owner o of candidate j's cell (columns as small_sum's: n_rows weights, the
    picks, then one per owner named), and how many owners are named. A cell below the owner rule holds
    fewer owners than its sample keeps (Registry "osample", the smallest owner hashes up to the rule), so
    the sample names them all."""
    reg, nodes, k = system.registry, system.nodes()[cand], len(cand)
    named = [reg.contributors(int(n), "osample") for n in nodes]
    index = {o: i for i, o in enumerate(sorted({o for owners in named for o in owners}))}
    pairs = [(j, index[o]) for j, owners in enumerate(named) for o in owners]
    rows = np.repeat(np.arange(len(pairs)), 2)
    cols = np.array([c for j, o in pairs for c in (n_rows + j, n_rows + k + o)], dtype=np.int64)
    values = np.tile([1.0, -1.0], len(pairs))
    return sp.csr_matrix((values, (rows, cols)), shape=(len(pairs), n_rows + k + len(index))), len(index)


def reduce_rows(rows: sp.csr_matrix, candidate: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """The equations A'y = z of small_sum (one per member: rows' row, over the row weights y; z = 0 where
    not candidate) with what they say on their own substituted away, exactly (the entries are integers):
    - a non-candidate's equation in one weight sets it to 0: the weight goes;
    - one in two weights of equal size, a y_a + b y_b = 0, ties y_b = -a/b y_a: y_b is replaced;
    - a weight in one non-candidate's equation only satisfies it whatever the others: both go.
    Each step leaves the set of z the equations allow as it was. Returns the remaining equations (members x
    remaining weights) and the indices of their members, increasing: every candidate's among them (one
    whose weights all went says z = 0)."""
    n_mem, n_col = rows.shape
    eqs = [dict(zip(rows.indices[rows.indptr[i]:rows.indptr[i + 1]].tolist(),
                    rows.data[rows.indptr[i]:rows.indptr[i + 1]].astype(np.int64).tolist(), strict=True))
           for i in range(n_mem)]
    where: list[set[int]] = [set() for _ in range(n_col)]
    for i, eq in enumerate(eqs):
        for c in eq:
            where[c].add(i)
    alive = np.ones(n_mem, dtype=bool)
    short = deque(i for i in range(n_mem) if not candidate[i] and len(eqs[i]) <= 2)
    single = deque(c for c in range(n_col) if len(where[c]) == 1)

    def changed(i: int) -> None:
        if not candidate[i] and len(eqs[i]) <= 2:
            short.append(i)

    def drop(i: int) -> None:
        """Member i's equation goes; its weights are in one equation fewer."""
        alive[i] = False
        for c in eqs[i]:
            where[c].discard(i)
            if len(where[c]) == 1:
                single.append(c)
        eqs[i] = {}

    while short or single:
        if short:
            i = short.popleft()
            if not alive[i] or len(eqs[i]) > 2:
                continue
            eq = eqs[i]
            if len(eq) == 1:
                (c,) = eq
                for m in where[c] - {i}:  # y_c = 0
                    del eqs[m][c]
                    changed(m)
                where[c] = {i}
            elif len(eq) == 2:
                (a, alpha), (b, beta) = eq.items()
                if abs(alpha) != abs(beta):
                    continue  # kept: the tie would leave whole numbers
                ratio = -alpha // beta  # y_b = ratio y_a, ratio +-1
                for m in where[b] - {i}:
                    total = eqs[m].get(a, 0) + ratio * eqs[m].pop(b)
                    if total:
                        eqs[m][a] = total
                        where[a].add(m)
                    else:
                        eqs[m].pop(a, None)
                        where[a].discard(m)
                        if len(where[a]) == 1:
                            single.append(a)
                    changed(m)
                where[b] = {i}
            drop(i)
        else:
            c = single.popleft()
            if len(where[c]) == 1:
                (i,) = where[c]
                if alive[i] and not candidate[i]:
                    drop(i)
    # every candidate stays (one whose equation lost all its weights has z = 0)
    kept = np.flatnonzero(alive & (candidate | np.fromiter((bool(eq) for eq in eqs), dtype=bool, count=n_mem)))
    at = {c: j for j, c in enumerate(sorted({c for i in kept for c in eqs[i]}))}
    lengths = [len(eqs[i]) for i in kept]
    cols = np.fromiter((at[c] for i in kept for c in eqs[i]), dtype=np.int64, count=sum(lengths))
    values = np.fromiter((v for i in kept for v in eqs[i].values()), dtype=np.float64, count=sum(lengths))
    return sp.csr_matrix((values, cols, np.concatenate([[0], np.cumsum(lengths)])), shape=(len(kept), len(at))), kept
