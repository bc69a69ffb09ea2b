"""``healthmon anomalies score`` before a series has completed its first week: a lasting change then
may be the week's own cycle (a first weekend), which nothing in the series can yet tell from an
outage. It is raised once; its growth over the following hours is not news."""

from __future__ import annotations

import numpy as np
import pytest

from healthmon.ml.anomaly_method import EntityScorer

SEEDS = (11, 13, 21)  # development seeds
START = 1_704_067_200.0  # 2024-01-01, a Monday
DAY = 86_400.0


def _flags(t: np.ndarray, x: np.ndarray) -> np.ndarray:
    s = EntityScorer()
    return np.array([s.update(float(a), float(b)).is_anomaly for a, b in zip(t, x)])


def _weekly(step: float, seed: int, days: float = 7.0) -> tuple[np.ndarray, np.ndarray]:
    # weekdays around 100 with a daily wave of 10, weekends 25 lower, noise of 3
    rng = np.random.default_rng(seed)
    t = START + step * np.arange(int(days * DAY / step))
    weekend = ((t - START) // DAY) % 7 >= 5
    return t, 100 - 25 * weekend + 10 * np.sin(2 * np.pi * (t - START) / DAY) + rng.normal(0, 3.0, len(t))


@pytest.mark.parametrize("step", [300.0, 1800.0, 3600.0])
def test_the_first_weekend_raises_one_alert_not_a_run_of_escalations(step):
    # a daily profile that has seen only weekdays expects the weekday level all weekend, and the
    # CUSUM and the averages grew with every point of it, each growth an escalation (before: 4, 12-13
    # and 9-10 flags a series; now 1, 1-3 and 1-2: a weekend point farther out than the flagged one
    # still escalates, as a burst that still rises must)
    flags = {}
    for seed in SEEDS:
        t, x = _weekly(step, seed)
        flags[seed] = int(_flags(t, x)[t >= START + 5 * DAY].sum())
    assert all(n <= 3 for n in flags.values()) and sum(flags.values()) <= 2 * len(SEEDS), flags


def test_an_outage_in_the_first_week_is_still_flagged():
    # a level series that drops by 8 spreads for half a day on its fourth day: raised, once or more
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        t = START + 1800.0 * np.arange(7 * 48)
        x = 50 + rng.normal(0, 2.0, len(t))
        x[3 * 48 + 10: 3 * 48 + 34] -= 16.0
        assert _flags(t, x)[3 * 48 + 10: 3 * 48 + 40].any(), seed


def test_taxi_demands_first_saturday_raises_one_alert():
    # taxi-like demand at 5 minutes (Poisson counts, two daily peaks, weekends 35 % quieter): on its
    # first Saturday the daily profile expects a weekday peak, and the low peak, rising, is farther out
    # point by point (before: 4 flags on seed 11, 2 on seed 42). In the first week an escalation needs
    # a point half again as far out as the alert's last flagged one
    from benchmarks.anomaly_properties import _taxi

    flags = {}
    for seed in (11, 13, 21, 42, 99, 555, 1234):
        rng = np.random.default_rng(seed)
        t = START + 300.0 * np.arange(int(7 * DAY / 300))
        x = rng.poisson(400 * _taxi(t)).astype(float)
        flags[seed] = int(_flags(t, x)[t >= START + 5 * DAY].sum())
    assert all(n <= 1 for n in flags.values()), flags
