"""healthmon anomalies score: causal scoring of any CSV series, through the real CLI."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from healthmon.ml.anomaly_method import score_series


def _series(days: int = 150, entities: int = 3, seed: int = 0, spike_day: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for e in range(entities):
        d = pd.date_range("2024-01-01", periods=days, freq="D")
        v = 100 * (e + 1) * (1 + 0.3 * (d.day_of_week < 5)) * (1 + 0.08 * rng.standard_normal(days))
        if spike_day < days:
            v[spike_day + e] *= 4
        frames.append(pd.DataFrame({"day": d.strftime("%Y-%m-%d"), "workspace": f"ws{e}", "cost": v}))
    return pd.concat(frames, ignore_index=True)


def test_scores_are_causal_appending_future_rows_changes_nothing_before():
    full = _series(days=150)
    cut = full[pd.to_datetime(full["day"]) < pd.Timestamp("2024-04-20")]
    a = score_series(full, time_column="day", value_column="cost", entity_column="workspace")
    b = score_series(cut, time_column="day", value_column="cost", entity_column="workspace")
    past = a.loc[cut.index]
    np.testing.assert_allclose(past["anomaly_score"].to_numpy(), b["anomaly_score"].to_numpy(), equal_nan=True)
    assert (past["is_anomaly"].to_numpy() == b["is_anomaly"].to_numpy()).all()
    assert b["anomaly_score"].notna().sum() > 100


def test_injected_spikes_are_flagged_and_regular_weeks_are_not():
    frame = _series(days=150)
    out = score_series(frame, time_column="day", value_column="cost", entity_column="workspace")
    flagged = out[out["is_anomaly"]]
    spikes = {(f"ws{e}", (pd.Timestamp("2024-01-01") + pd.Timedelta(days=120 + e)).strftime("%Y-%m-%d")) for e in range(3)}
    assert spikes <= set(zip(flagged["workspace"], flagged["day"]))
    assert len(flagged) <= len(spikes) + 3  # weekday/weekend cycle is not an anomaly
    assert out["anomaly_score"].head(5).isna().all()  # warm-up: no history, no score


def test_hourly_series_without_entity_column():
    rng = np.random.default_rng(1)
    t = pd.date_range("2024-01-01", periods=24 * 28, freq="h")
    v = 50 + 20 * np.sin(np.arange(len(t)) * 2 * np.pi / 24) + rng.standard_normal(len(t))
    v[500] = 250
    out = score_series(pd.DataFrame({"ts": t, "v": v}), time_column="ts", value_column="v")
    assert out.loc[500, "is_anomaly"]
    assert out["is_anomaly"].sum() <= 3


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "healthmon.cli.main", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.mark.slow
def test_cli_writes_score_and_flag_per_row(tmp_path):
    src = tmp_path / "daily_cost.csv"
    _series(days=130).to_csv(src, index=False)
    out = tmp_path / "scored.csv"
    res = _cli("anomalies", "score", "--input", str(src), "--time-column", "day", "--value-column", "cost",
               "--entity-column", "workspace", "--output", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    scored = pd.read_csv(out)
    assert len(scored) == 390 and {"anomaly_score", "is_anomaly", "expected_value"} <= set(scored.columns)
    assert scored["is_anomaly"].sum() >= 3
    bad = _cli("anomalies", "score", "--input", str(src), "--time-column", "when", "--value-column", "cost", cwd=tmp_path)
    assert bad.returncode == 1
    assert "'when' is not a column" in bad.stderr and "Traceback" not in bad.stderr
