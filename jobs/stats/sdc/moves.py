"""Cheap proofs of room: from a feasible point, how far can one suppressed count move on its own?

A count that is a cell of sums (and not itself a published sum) can move if the unpublished margins above
it move with it: raising a 4.2 vehicle cell by t raises the unpublished total of its day part by t, and
nothing else in any equality. That is a chain: the count, its unknown margin, that margin's unknown
margin, ... . Along a chain every equality stays put, so the step is limited only by the inequalities
(vehicles <= passages, a cell <= its margin, ...) and the lower bounds: from any feasible point, the
step each way is a ratio test. Each step gives a feasible point, so it widens what is proven of the
count's interval without an LP. Counts in no equality at all (vehicles of the passage tables) are the
chains of length one.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jobs.stats.sdc.system import System

_LONGEST = 6  # members of a chain: the margins above a cell are few, a longer chain is not one


def _segment_min(values: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Per segment of a compressed layout: the smallest of its values (inf for an empty segment)."""
    out = np.full(len(indptr) - 1, np.inf)
    filled = np.diff(indptr) > 0
    if values.size:
        out[filled] = np.minimum.reduceat(values, indptr[:-1][filled])
    return out


class Moves:
    """Chains of the suppressed counts under one suppression pattern, and the steps they allow."""

    def __init__(self, system: System, unknown: np.ndarray) -> None:
        self.system = system
        eq_csc = system.eq_csc()
        owners, members = [], []
        for var in np.flatnonzero(unknown & system.cells()):
            chain = self._chain(int(var), eq_csc, unknown)
            if chain is not None:
                owners.append(int(var))
                members.append(chain)
        self.vars = np.array(owners, dtype=np.int64)
        rows = np.repeat(np.arange(len(members)), [len(m) for m in members])
        cols = np.concatenate(members) if members else np.zeros(0, dtype=np.int64)
        self.chains = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(members), system.size))
        # per chain, how each inequality changes along it
        self.effect = (system.ub @ self.chains.T).tocsc() if system.ub.shape[0] else None

    def _chain(self, var: int, eq_csc: sp.csc_matrix, unknown: np.ndarray) -> np.ndarray | None:
        chain, frontier = [var], [var]
        while frontier:
            u = frontier.pop()
            for row in eq_csc.indices[eq_csc.indptr[u]:eq_csc.indptr[u + 1]]:
                margin, cells = self.system.margins[row]
                if u == margin:
                    continue  # a sum of the chain's member: balanced by the member it came from, or not a chain
                if not unknown[margin] or len(chain) >= _LONGEST:
                    return None  # a published sum above it: it cannot move alone
                if margin not in chain:
                    chain.append(margin)
                    frontier.append(margin)
        # every equality stays put along the chain: per row, the chain's coefficients sum to zero (the
        # chain's own columns only; a product with the whole matrix cost 10 s a national-volume zone)
        balance: dict[int, float] = {}
        for u in chain:
            lo, hi = eq_csc.indptr[u], eq_csc.indptr[u + 1]
            for row, coef in zip(eq_csc.indices[lo:hi].tolist(), eq_csc.data[lo:hi].tolist(), strict=True):
                balance[row] = balance.get(row, 0.0) + coef
        if any(abs(v) > 1e-9 for v in balance.values()):
            return None
        return np.array(chain, dtype=np.int64)

    def steps(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(variables, how far each can go up, how far down) from the feasible point x."""
        if not len(self.vars):
            return self.vars, np.zeros(0), np.zeros(0)
        members = self.chains
        down = _segment_min(x[members.indices] - self.system.lower[members.indices], members.indptr)
        up = np.full(len(self.vars), np.inf)
        if self.effect is not None:
            slack = np.maximum(-(self.system.ub @ x), 0.0)
            effect = self.effect
            ratio = slack[effect.indices] / np.maximum(np.abs(effect.data), 1e-12)
            up = _segment_min(np.where(effect.data > 1e-12, ratio, np.inf), effect.indptr)
            down = np.minimum(down, _segment_min(np.where(effect.data < -1e-12, ratio, np.inf), effect.indptr))
        return self.vars, up, np.maximum(down, 0.0)
