"""The stats benchmark's city sizes hold to the national anchors at every scale, without Spark."""

from __future__ import annotations

import numpy as np
import pytest

from bench.stats_sizes import (
    CITIES,
    DAYS,
    DETECTIONS_PER_VISIT,
    NATIONAL_DAILY,
    UTRECHT_DAILY,
    city_sizes,
    city_volumes,
    mean_days,
)


def test_national_scale_sums_to_the_estimate_with_utrecht_largest():
    volumes = city_volumes(1.0)
    assert len(volumes) == CITIES == 45
    assert volumes.sum() == NATIONAL_DAILY == 1_400_000
    assert volumes[0] == UTRECHT_DAILY == 63_500
    assert volumes[1:].max() < UTRECHT_DAILY
    # heavy-tailed but not degenerate: the smallest city is several times smaller than Utrecht
    assert volumes.min() < UTRECHT_DAILY / 3 and volumes.min() > 0


def test_seeded_and_deterministic():
    assert np.array_equal(city_volumes(1.0, seed=3), city_volumes(1.0, seed=3))
    assert not np.array_equal(city_volumes(1.0, seed=3), city_volumes(1.0, seed=4))
    assert city_sizes(0.05) == city_sizes(0.05)


@pytest.mark.parametrize("scale", [0.5, 0.05, 0.002])
def test_a_smaller_scale_keeps_the_shape(scale):
    full, small = city_volumes(1.0), city_volumes(scale)
    assert small.sum() == round(NATIONAL_DAILY * scale)
    assert small[0] == small.max() == round(UTRECHT_DAILY * scale)
    assert np.abs(small - full * scale).max() <= 1


def test_vehicles_make_the_month_of_detections():
    sizes = city_sizes(1.0)
    month = sum(s.vehicles for s in sizes) * mean_days() * DETECTIONS_PER_VISIT
    assert month == pytest.approx(NATIONAL_DAILY * DAYS, rel=1e-4)
    assert sizes[0].vehicles == max(s.vehicles for s in sizes)


def test_too_small_a_scale_is_refused():
    with pytest.raises(ValueError, match="cities"):
        city_volumes(1e-6)
