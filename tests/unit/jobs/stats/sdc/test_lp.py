"""The audit's kept HiGHS models: feasibility solves (reach) beside exact extremes on one model."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from jobs.stats.sdc.lp import ComponentLP

# x0 + x1 + x2 = 10 and x0 <= 7 + x2 (0 <= x): x0 lies in [0, 8.5], x1 in [0, 10]
PARTS = {"eq": (sp.csr_matrix(np.array([[1.0, 1.0, 1.0]])), np.array([10.0])),
         "ub": (sp.csr_matrix(np.array([[1.0, 0.0, -1.0]])), np.array([7.0]))}


def model() -> ComponentLP:
    return ComponentLP(np.arange(3), PARTS, np.zeros(3))


@pytest.mark.parametrize(("bound", "sign", "reached"), [(8.0, -1.0, True), (8.5, -1.0, True), (8.6, -1.0, False),
                                                        (0.0, 1.0, True), (-0.5, 1.0, False)])
def test_a_point_is_found_exactly_where_the_column_can_reach_the_bound(bound, sign, reached):
    lp = model()
    assert lp.extreme(1, -1.0) == pytest.approx(10.0)  # a basis to start from, as the audit's models have
    assert lp.reach(0, bound, sign) is reached
    if reached:
        [point] = lp.points
        assert sign * (point[0] - bound) <= 1e-7
        assert point.sum() == pytest.approx(10.0) and point[0] - point[2] <= 7.0 + 1e-7 and (point >= -1e-9).all()
    else:
        assert lp.points == []


def test_the_bound_of_a_reach_lasts_for_that_solve_only():
    lp = model()
    assert not lp.reach(0, 9.0, -1.0)  # a first solve, failing, then the exact extremes from what it left
    assert lp.extreme(0, -1.0) == pytest.approx(8.5)
    assert lp.reach(0, 1.0, 1.0)
    assert lp.extreme(0, 1.0) == pytest.approx(0.0)
    assert lp.extreme(1, -1.0) == pytest.approx(10.0)
