"""reduce_rows leaves the picks A'y = z allows as they were: checked against least squares on small systems."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp

from anpr.disclosure import Rules
from jobs.stats.sdc.lp import solve_milp
from jobs.stats.sdc.small_sums import VEHICLES, reduce_rows, small_sum, small_sums


def allowed(rows: np.ndarray, z: np.ndarray) -> bool:
    """Whether some y has rows @ y = z (rows: members x weights, dense)."""
    if rows.shape[1] == 0:
        return not z.any()
    y = np.linalg.lstsq(rows, z, rcond=None)[0]
    return bool(np.linalg.norm(rows @ y - z) < 1e-8)


def random_rows(rng: np.random.Generator, members: int, weights: int) -> np.ndarray:
    """Members in one to four rows each, +-1, as the equality rows hold cells (a third in two: the doubletons)."""
    out = np.zeros((members, weights))
    for i in range(members):
        at = rng.choice(weights, size=min(weights, int(rng.choice([1, 2, 2, 3, 4]))), replace=False)
        out[i, at] = rng.choice([-1.0, 1.0], size=len(at))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_the_reduced_equations_allow_the_same_picks(seed):
    rng = np.random.default_rng(seed)
    members, weights = int(rng.integers(6, 30)), int(rng.integers(3, 20))
    rows = random_rows(rng, members, weights)
    candidate = rng.random(members) < 0.3
    reduced, kept = reduce_rows(sp.csr_matrix(rows), candidate)
    assert set(np.flatnonzero(candidate)) <= set(kept.tolist())
    assert reduced.shape[0] == len(kept) and reduced.shape[0] <= members and reduced.shape[1] <= weights
    on = np.searchsorted(kept, np.flatnonzero(candidate))
    for _ in range(60):
        picks = rng.random(int(candidate.sum())) < 0.5
        full = np.zeros(members)
        full[np.flatnonzero(candidate)] = picks
        mine = np.zeros(len(kept))
        mine[on] = picks
        assert allowed(rows, full) == allowed(reduced.toarray(), mine)
    # and the sums the rows do fix: each candidate's row-space picks (one per weight, its column restricted)
    for w in range(weights):
        column = rows[:, w]
        if np.all(column[~candidate] == 0) and np.all(np.isin(column[candidate], [0, 1])):
            mine = np.zeros(len(kept))
            mine[on] = column[candidate]
            assert allowed(reduced.toarray(), mine)


def test_a_doubleton_ties_two_weights_and_a_singleton_zeroes_one():
    # member 0 (not a candidate): y0 - y1 = 0; member 1: y2 = 0; members 2, 3 candidates: z2 = y0 + y2, z3 = y1
    rows = np.array([[1, -1, 0], [0, 0, 1], [1, 0, 1], [0, 1, 0]], dtype=float)
    reduced, kept = reduce_rows(sp.csr_matrix(rows), np.array([False, False, True, True]))
    assert kept.tolist() == [2, 3] and reduced.toarray().tolist() == [[1.0], [1.0]]  # z2 = z3 = y0


@pytest.mark.parametrize("seed", range(60))
def test_the_milp_with_highs_presolve_gives_the_verdict_and_optimum_it_gives_without(seed):
    """small_sum trusts HiGHS's presolve (30 times faster on GM9044-ZE1's passage counts); an earlier review
    saw wrong optima from another HiGHS's. Its verdicts, on small_sum's own formulation (A'y = z, z 0/1 on the
    candidates, at least at_least picks, their summed size under a floor), must match the plain search's."""
    rng = np.random.default_rng(seed)
    members, weights = int(rng.integers(8, 40)), int(rng.integers(4, 24))
    rows = random_rows(rng, members, weights)
    candidate = np.flatnonzero(rng.random(members) < 0.4)
    k, size = len(candidate), rng.integers(1, 4, size=len(candidate)).astype(float)
    at_least, floor = int(rng.integers(1, 4)), float(rng.integers(3, 10))
    pick = sp.csr_matrix((-np.ones(k), (candidate, np.arange(k))), shape=(members, k))
    parts = {"eq": (sp.hstack([sp.csr_matrix(rows), pick], format="csr"), np.zeros(members)),
             "ub": (sp.csr_matrix(np.vstack([np.concatenate([np.zeros(weights), -np.ones(k)]),
                                             np.concatenate([np.zeros(weights), size])])),
                    np.array([-at_least, floor - 1]))}
    cost = np.concatenate([np.zeros(weights), np.ones(k)])
    lower = np.concatenate([np.full(weights, -np.inf), np.zeros(k)])
    upper = np.concatenate([np.full(weights, np.inf), np.ones(k)])
    fast, plain = (solve_milp(cost, parts, lower, upper, np.arange(weights, weights + k), 10_000, presolve)
                   for presolve in (True, False))
    assert (fast is None) == (plain is None)
    if fast is not None and plain is not None:
        assert cost @ fast == pytest.approx(cost @ plain)
        picks = np.zeros(members)
        picks[candidate] = np.round(fast[weights:])
        assert np.linalg.norm(rows @ fast[:weights] - picks) < 1e-6  # a true fixed sum, not presolve's


def test_a_set_is_sought_at_each_rules_floor_not_only_at_the_strictest():
    """A review's group: table A (10 vehicles) holds five cells of 2 vehicles, table B (15) six; each table's
    published total fixes its cells' sum. One search at 15 returned A's five (10 vehicles, safe by A's own
    rule, so union_problem passed it) and never B's six (12 vehicles, below B's 15)."""
    strict, loose = Rules(min_vehicles=15), Rules(min_vehicles=10)
    n_a, n = 5, 11
    rules = [loose] * n_a + [strict] * (n - n_a)
    vehicles = np.full(n, 2.0)

    class Reg:
        def stat(self, name: str) -> np.ndarray:
            return vehicles.copy()

    registry = Reg()
    registry.rules = rules  # type: ignore[attr-defined]
    rows = np.zeros((2, n + 2))
    rows[0, :n_a], rows[1, n_a:n] = -1.0, -1.0
    rows[0, n], rows[1, n + 1] = 1.0, 1.0  # the two totals, published
    nodes = np.array([*range(n), -1, -1])
    system = SimpleNamespace(eq=sp.csr_matrix(rows), eq_csc=lambda: sp.csc_matrix(rows), registry=registry, joint={},
                             var_node=nodes.tolist(),
                             nodes=lambda: nodes, subject=lambda v: SimpleNamespace(rules=rules[nodes[v]]))
    assert small_sum(system, np.arange(n), np.arange(n), VEHICLES, 5) == tuple(range(n_a, n))  # type: ignore[arg-type]


def test_disjoint_sets_are_found_one_after_another_up_to_the_limit():
    """Three rows of five cells of one vehicle each, their totals published: each five is a fixed sum below the
    10-vehicle rule. One set a search left GM9044-ZE1's protection one companion per linked round."""
    rules, n = Rules(min_vehicles=10), 15
    vehicles = np.ones(n)

    class Reg:
        def stat(self, name: str) -> np.ndarray:
            return vehicles.copy()

    registry = Reg()
    registry.rules = [rules] * n  # type: ignore[attr-defined]
    rows = np.zeros((3, n + 3))
    for r in range(3):
        rows[r, 5 * r:5 * r + 5], rows[r, n + r] = -1.0, 1.0
    nodes = np.array([*range(n), -1, -1, -1])
    system = SimpleNamespace(eq=sp.csr_matrix(rows), eq_csc=lambda: sp.csc_matrix(rows), registry=registry, joint={},
                             var_node=nodes.tolist(),
                             nodes=lambda: nodes, subject=lambda v: SimpleNamespace(rules=rules))
    found = small_sums(system, np.arange(n), np.arange(n), VEHICLES, 5, 8)  # type: ignore[arg-type]
    assert sorted(found) == [tuple(range(5 * r, 5 * r + 5)) for r in range(3)]
    assert len(small_sums(system, np.arange(n), np.arange(n), VEHICLES, 5, 2)) == 2  # type: ignore[arg-type]
