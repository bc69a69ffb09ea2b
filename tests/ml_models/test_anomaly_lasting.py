"""One lasting change, one alert: a level or spread change that stays is not flagged again and again.

On real data a lasting change is labelled once, with a window of a day or two around its start: every
flag it raises later, after its quiet day, is a false alarm."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.anomaly_properties import run_lasting
from healthmon.ml.anomaly_method import score_series


def test_a_lasting_change_raises_no_new_alert_after_its_first_day():
    # level up / down by 4 spreads and noise of 3 spreads added, from 70 % of the series to its end, on
    # white noise, AR(0.9) and a daily cycle at 30-minute and hourly spacing (18 series). Once the quiet
    # day after the first flag ended, the level-shift channel (whose recent window needs 36 points to
    # move its median: 36 hours of hourly data) and the spread channel flagged the same change again:
    # 30 flags more than a day after the first, 3.9 flags per found change
    result = run_lasting(families=("gaussian", "ar1_0.9", "daily"), spacings=("30min", "1h"))["summary"]
    assert result["found"] >= 17  # of 18: what was found before
    assert result["late_flags"] <= 3
    # 2.24 before the weekly profile's starting error: its forecasts a week behind at the one-week
    # mark had filled the score history of AR(0.9) with large values, and its hourly shifts now
    # escalate three more times within their first day (1 -> 4 flags each)
    assert result["flags_per_found"] <= 2.6


def _hourly_ar(seed: int, n: int = 4000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.normal(0, 1, n)
    v = np.empty(n)
    v[0] = 0.0
    for i in range(1, n):
        v[i] = 0.9 * v[i - 1] + e[i]
    return 50 + v


def test_a_new_change_after_the_series_settled_is_a_new_alert():
    # hourly AR(0.9), ten seeds: a surge of 10 spreads for 6 hours (flagged), back to normal, and 36
    # hours after it a ramp up by 4 spreads over 80 hours, which the forecasters follow and only the
    # level-shift channel sees, later than a day after the surge's alert and within the span of its
    # windows. The series went back to its level after the surge, so that alert is over and the ramp
    # is news (6 of 10 found, as before the one-alert rule; 1 of 10 if an alert never settled)
    found = 0
    for seed in range(21, 31):
        v = _hourly_ar(seed)
        spread = np.std(v[:2880])
        v[2880:2886] += 10 * spread
        start = 2916
        v[start:] += np.minimum(np.arange(len(v) - start) / 80, 1.0) * 4 * spread
        t = pd.date_range("2024-01-01", periods=len(v), freq="h")
        flags = score_series(pd.DataFrame({"t": t, "v": v}), time_column="t", value_column="v")["is_anomaly"]
        found += bool(flags.to_numpy()[start:start + 160].any())
    assert found >= 5
