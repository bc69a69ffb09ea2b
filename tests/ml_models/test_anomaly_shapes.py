"""``healthmon anomalies score`` on shapes real metrics have and nab-dev does not: values on a grid
(quantised), square waves. Every flag on a series with nothing in it is a false alarm; a real spike
on such a series must still be found."""

from __future__ import annotations

import math

import numpy as np
import pytest

from healthmon.ml.anomaly_method import GRID_VALUES, EntityScorer, _Grid

SEEDS = (11, 13, 21, 42, 99)  # development seeds
START = 1_704_067_200.0  # 2024-01-01, a Monday


def _flags(t: np.ndarray, x: np.ndarray) -> np.ndarray:
    s = EntityScorer()
    return np.array([s.update(float(a), float(b)).is_anomaly for a, b in zip(t, x)])


@pytest.mark.parametrize("seed", SEEDS)
def test_a_quantised_series_on_one_value_is_quiet_and_a_real_spike_is_flagged(seed):
    # a load average of 0.5 in steps of 0.25, one point in 30 one step off: its median |residual|
    # is 0, so without a floor from the value grid one step off was a 30-sigma event (1.5-2 false
    # alarms per 1,000 in the harness). A spike of 8 steps is still an anomaly.
    rng = np.random.default_rng(seed)
    t = START + 300 * np.arange(4000)
    x = 0.5 + 0.25 * (rng.random(len(t)) < 0.03) * rng.choice([-1.0, 1.0], len(t))
    assert _flags(t, x).sum() == 0
    x[2800] += 8 * 0.25
    flags = _flags(t, x)
    assert flags[2800] and flags.sum() == 1


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_a_square_wave_with_irregular_spacing_raises_no_flag(seed):
    # a thermostat's set point, 18.5 / 21.0, switching twice a day; jittered 5-minute steps, so the
    # switch falls now in one 5-minute bucket of the daily profile, now in the next: a full step off
    # what the profile expects, on a series whose residuals are otherwise 0 (without the grid floor
    # 1, 5 and 4 flags on these seeds)
    rng = np.random.default_rng(seed)
    t = START + np.round(np.cumsum(300 * rng.uniform(0.6, 1.4, 4000)))
    x = np.where(((t - START - 6 * 3600) % 86_400) < 43_200, 21.0, 18.5)
    assert _flags(t, x).sum() == 0


def _jittered(rng: np.random.Generator, n: int) -> np.ndarray:
    # 5-minute steps jittered by up to 40 %, a few gaps of hours to days, a few repeated times
    steps = 300 * rng.uniform(0.6, 1.4, n)
    gaps = rng.random(n) < 0.003
    steps[gaps] = rng.uniform(2 * 3600, 3 * 86_400, gaps.sum())
    steps[rng.random(n) < 0.005] = 0.0
    return START + np.round(np.cumsum(steps))


@pytest.mark.parametrize("seed", SEEDS)
def test_a_count_square_wave_with_irregular_spacing_is_quiet_and_a_real_spike_is_flagged(seed):
    # jobs running: 10 at night, 50 by day, jittered times. Counts get no grid floor (their Poisson
    # floor is sqrt 10 at night), so a 5-minute bucket that jittered times put on both sides of the
    # rise expects 10 for a 50 (12 z), and after a gap of days a bucket never seen is forecast by the
    # level alone (on these seeds 0, 1, 1, 6 and 7 flags before neighbouring buckets counted)
    rng = np.random.default_rng(seed)
    t = _jittered(rng, 4000)
    x = np.where(((t - START - 6 * 3600) % 86_400) < 43_200, 50.0, 10.0)
    assert _flags(t, x).sum() == 0
    hour = ((t - START) % 86_400) / 3600
    night = np.flatnonzero((hour > 1) & (hour < 4) & (np.arange(len(x)) > 3000))[0]
    x[night] = 90.0  # 25 Poisson z at night, and far from any bucket's forecast
    flags = _flags(t, x)
    assert flags[night] and flags.sum() == 1


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_rare_jumps_of_a_two_valued_count_are_still_flagged(seed):
    # counts of 0, now and then a 20 (NAB's art_increase_spike_density): the step between its
    # values is the whole event, so counts keep their Poisson floor and get no grid floor (with
    # it a 20 was 1.35 z and nothing was flagged)
    rng = np.random.default_rng(seed)
    t = START + 300 * np.arange(4000)
    x = np.zeros(len(t))
    x[rng.choice(np.arange(2000, 4000), 6, replace=False)] = 20.0
    flags = _flags(t, x)
    assert flags.sum() >= 2 and not flags[x == 0].any()


def test_the_grid_is_the_smallest_step_between_distinct_values():
    g = _Grid()
    assert g.noise() == 0.0
    for v in (0.5, 0.5, 1.25, 0.75):
        g.add(v)
    assert g.step == 0.25 and g.noise() == 0.125
    g.add(0.1 + 0.2)  # 0.30000000000000004 is a new value: a step of 0.2 from 0.5
    assert math.isclose(g.step, 0.2)
    g.add(0.3)  # 4e-17 from the value above: float noise, not a grid step
    assert math.isclose(g.step, 0.2)
    # a series with many distinct values has no useful grid: stop collecting
    for v in np.linspace(1000, 2000, GRID_VALUES):
        g.add(float(v))
    assert not g.open and g.values == [] and g.step < 1.0
