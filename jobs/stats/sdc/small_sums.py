"""Sets of any size of hidden counts whose sum the equality rows fix while their cells together hold too few
vehicles or owners: one MILP per group of the rows (`small_sum`), on rows reduced exactly first
(`reduce_rows`). The union rule (jobs/stats/sdc/unions.py) judges what it finds."""

from __future__ import annotations

from collections import deque

import numpy as np
import scipy.sparse as sp

from anpr.disclosure import Rules
from jobs.stats.sdc.lp import solve_milp
from jobs.stats.sdc.system import System

VEHICLES, OWNERS = "min_vehicles", "min_owners"  # the rules small_sum searches sets of any size for
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
    release cannot then be judged."""
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
    rows = system.eq[:, members].tocsr()
    rows = rows[np.flatnonzero(np.diff(rows.indptr))].T.tocsr()  # members x their rows, for every floor
    for floor in sorted(set(floors.tolist()), reverse=True):
        found = _search(system, members, rows, counts, vehicles, size, floors, floor, max(at_least, 2), named)
        if found is not None:
            return found
    return None


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
    try:
        x = solve_milp(np.concatenate([np.zeros(n_rows), np.ones(k), np.zeros(n_owners)]),
                       {"eq": (equations, np.zeros(equations.shape[0])), "ub": (bounds, limits)},
                       np.concatenate([np.full(n_rows, -np.inf), np.zeros(k + n_owners)]),
                       np.concatenate([np.full(n_rows, np.inf), np.ones(k + n_owners)]),
                       np.arange(n_rows, width), _MILP_NODES)
    except ArithmeticError as exc:  # the node limit, with no such sum found yet
        raise ArithmeticError(f"the union rule's search for small fixed sums ended without a verdict ({exc})") from None
    if x is None:  # infeasible: no such sum
        return None
    return tuple(sorted(int(v) for v in cand[x[n_rows:n_rows + k] > 0.5]))


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
