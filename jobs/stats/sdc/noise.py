"""Optional noise on published counts: rounding, or cell-key perturbation.

Cell keys are sums of 32-bit record keys (per vehicle for unique vehicles, per passage for passages and
trips; see jobs/stats/tables/enrich.py), taken modulo 2**32. A cell key depends only on which records a cell
holds, so the same population gets the same noise in every table it appears in. The audit always
attacks the exact values: noise only ever widens what an attacker can infer.
"""

from __future__ import annotations

import numpy as np

from anpr.disclosure import NoiseSettings

KEY_RANGE = float(2**32)


def rounded(values: np.ndarray, base: int, floor: int = 0) -> np.ndarray:
    """Half-up to a multiple of base, never below the first multiple at or above floor."""
    out = np.floor(values / base + 0.5) * base
    lowest = np.ceil(floor / base) * base
    return np.where(values >= floor, np.maximum(out, lowest), out).astype(np.int64)


def perturbed(values: np.ndarray, keys: np.ndarray, noise: NoiseSettings, floor: int = 0) -> np.ndarray:
    """value + d, with d in -max..+max drawn by the cell key from the configured probabilities.

    A value pushed below floor is reflected (value + |d|), so a published count never goes below the
    frequency threshold it passed.
    """
    cumulative = np.cumsum(noise.cellkey_probabilities)
    u = np.asarray(keys, dtype=np.float64) / KEY_RANGE
    shift = np.searchsorted(cumulative, u, side="right").clip(max=len(cumulative) - 1) - noise.cellkey_max
    out = values + shift
    return np.where(out < floor, values + np.abs(shift), out).astype(np.int64)


def apply_noise(method: str, values: np.ndarray, keys: np.ndarray, noise: NoiseSettings, floor: int) -> np.ndarray:
    if method == "round":
        return rounded(values, noise.round_base, floor)
    if method == "cellkey":
        return perturbed(values, keys, noise, floor)
    return np.asarray(values, dtype=np.int64)
