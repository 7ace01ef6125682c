"""How big each city of the stats benchmark is: daily detections drawn to the national anchors, and the
vehicles that make them (no Spark, no register: the unit tests check this without either).

Anchors (docs of the pilot, /work/shared/DESIGN.md "Real volumes"): Utrecht's zone about 63,500
detections a day, a 45-city national roll-out about 1.4 million a day. City sizes follow a rank-size
(Zipf) law, the usual heavy-tailed law of city sizes; its exponent is solved so that 45 cities headed
by Utrecht sum to the national estimate. Seeded lognormal noise moves the other 44 off the exact law
(real cities are not on it), they are rescaled to the national sum again and kept below Utrecht.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NATIONAL_DAILY = 1_400_000  # detections a day over 45 zones
UTRECHT_DAILY = 63_500  # the largest zone
CITIES = 45
DAYS = 28  # February 2026, the benchmark month
NOISE_SIGMA = 0.3
CAP = 0.95  # no other city within 5% of Utrecht, so it stays the largest at any scale
SEED = 16
# Detections of one visit day (bench/stats_month.py draws them): the way in, a second way in for one
# visit in five, the way out for 93% (a missed one closes the stay by the gap rule).
REENTRY, EXIT_SEEN = 0.2, 0.93
DETECTIONS_PER_VISIT = 1 + REENTRY + EXIT_SEEN
# Visitor types of docs/statistics.md by distinct days seen in the zone in the month: Eenmalig 1,
# Incidenteel 2-14, Dagelijks 15 or more. Shares of a city's vehicles: most are seen once, a few
# (commuters, delivery rounds) nearly every working day.
VISITORS = {"Eenmalig": 0.55, "Incidenteel": 0.38, "Dagelijks": 0.07}
INCIDENTAL_DAYS = np.arange(2, 15)
INCIDENTAL_P = 0.65 ** (INCIDENTAL_DAYS - 2) / (0.65 ** (INCIDENTAL_DAYS - 2)).sum()  # geometric: 2 most often
DAILY_DAYS = np.arange(15, DAYS + 1)  # uniform


def mean_days() -> float:
    """Expected distinct days a city's vehicle is seen in the month."""
    return float(VISITORS["Eenmalig"] * 1 + VISITORS["Incidenteel"] * (INCIDENTAL_DAYS * INCIDENTAL_P).sum()
                 + VISITORS["Dagelijks"] * DAILY_DAYS.mean())


def zipf_exponent(cities: int = CITIES, ratio: float = NATIONAL_DAILY / UTRECHT_DAILY) -> float:
    """a with sum over rank r = 1..cities of r**-a equal to ratio (the national total in Utrechts)."""
    ranks = np.arange(1, cities + 1, dtype=float)
    lo, hi = 0.0, 10.0  # the sum falls with a: cities at a = 0, near 1 at large a
    if not 1.0 < ratio <= cities:
        raise ValueError(f"{cities} cities cannot sum to {ratio:.2f} times the largest")
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if (ranks ** -mid).sum() > ratio else (lo, mid)
    return (lo + hi) / 2


def _largest_remainder(values: np.ndarray, total: int) -> np.ndarray:
    """Integers summing to total, each the floor or ceiling of values scaled to that total."""
    exact = values / values.sum() * total
    out = np.floor(exact).astype(np.int64)
    out[np.argsort(-(exact - out), kind="stable")[: total - out.sum()]] += 1
    return out


def city_volumes(scale: float = 1.0, seed: int = SEED, cities: int = CITIES) -> np.ndarray:
    """Detections a day per city, int64 of length cities; city 0 is Utrecht-sized and the largest.

    At scale 1 they sum to NATIONAL_DAILY exactly and city 0 has UTRECHT_DAILY; a smaller scale
    multiplies every city (rounded, at least 1, the total round(NATIONAL_DAILY * scale)), keeping the
    shape. Same seed, same volumes. Raises ValueError for a scale that leaves fewer detections than cities.
    """
    rng = np.random.default_rng(seed)
    a = zipf_exponent(cities)
    rest = UTRECHT_DAILY * np.arange(2, cities + 1, dtype=float) ** -a * rng.lognormal(0, NOISE_SIGMA, cities - 1)
    cap, target = CAP * UTRECHT_DAILY, NATIONAL_DAILY - UTRECHT_DAILY
    rest *= target / rest.sum()
    for _ in range(cities):  # water-filling: what the cap cuts off goes to the cities below it
        over = rest > cap
        if not over.any():
            break
        rest[over] = cap
        rest[~over] *= (target - cap * over.sum()) / rest[~over].sum()
    exact = np.concatenate([[float(UTRECHT_DAILY)], rest]) * scale
    total = round(NATIONAL_DAILY * scale)
    if total < cities:
        raise ValueError(f"scale {scale} leaves {total} detections a day for {cities} cities")
    out = _largest_remainder(np.maximum(exact, 1.0), total)
    return np.maximum(out, 1)


@dataclass(frozen=True)
class CitySize:
    daily: int  # detections a day
    vehicles: int  # distinct vehicles in the month


def city_sizes(scale: float = 1.0, seed: int = SEED, cities: int = CITIES) -> list[CitySize]:
    """Each city's daily detections and the vehicles that, with the visitor mix, make them in DAYS days."""
    per_vehicle = DETECTIONS_PER_VISIT * mean_days()
    return [CitySize(int(d), max(1, round(int(d) * DAYS / per_vehicle))) for d in city_volumes(scale, seed, cities)]
