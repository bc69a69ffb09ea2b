"""healthmon evaluate end to end on a small synthetic account: a detector against injected
incidents, a forecaster against seasonal naive; EVALUATION.md and the MLflow run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.ml_models.synthetic_features import feature_frame
from tests.ml_models.test_model_training import CAT, FEAT, GOLD, train, write_features


def _cost_frame_with_spikes():
    frame = feature_frame("cost_features", entities=5, days=120, seed=21)
    frame = frame.sort_values(["workspace_id", "usage_date"]).reset_index(drop=True)
    dates = pd.to_datetime(frame["usage_date"])
    # The per-workload evidence the cost detector reads: ordinary days have small surges of one
    # workload over its own baseline and no lost tags.
    frame["top_workload_surge_share"] = np.random.default_rng(5).beta(1, 30, len(frame)) * 0.5
    frame["lost_tags_dbu_share"] = 0.0
    spikes = []
    for k, ws in enumerate(sorted(frame["workspace_id"].unique())):
        day = dates.min() + pd.Timedelta(days=100 + 3 * k)
        row = (frame["workspace_id"] == ws) & (dates == day)
        # A spike as the feature build would show it: DBU x8 against unchanged history.
        frame.loc[row, "daily_dbu"] *= 8
        frame.loc[row, "daily_cost"] *= 8
        frame.loc[row, ["z_score_7d", "z_score_30d"]] = 6.0
        frame.loc[row, "top_workload_surge_share"] = 7 / 8  # one workload's x8: 7/8 of the day above its baseline
        spikes.append((ws, day))
    return frame, spikes


@pytest.mark.slow
def test_evaluate_writes_markdown_and_logs_mlflow(tmp_path):
    from healthmon.lakehouse import Lakehouse
    from healthmon.ml.evaluation import evaluate_all

    frame, spikes = _cost_frame_with_spikes()
    write_features("cost_features", frame)
    incidents = pd.DataFrame({
        "incident_id": [f"i{k}" for k in range(len(spikes))], "kind": "cost_spike", "domain": "cost",
        "workspace_id": [ws for ws, _ in spikes], "job_id": None, "user_name": None, "warehouse_id": None,
        "cluster_id": None, "table_name": None, "sku_name": None,
        "start_time": [pd.Timestamp(d, tz="UTC") for _, d in spikes],
        "end_time": [pd.Timestamp(d, tz="UTC") + pd.Timedelta(days=1) for _, d in spikes],
        "magnitude": 8.0, "description": "x8 spend", "evidence_tables": [["fact_usage"]] * len(spikes),
    })
    lh = Lakehouse.from_env()
    lh.create_schema(f"{CAT}.{GOLD}")
    lh.write_table(f"{CAT}.{GOLD}.ground_truth_incidents", incidents, mode="overwrite")
    assert train("cost_anomaly_detector")["status"] == "SUCCESS"
    assert train("budget_forecaster")["status"] == "SUCCESS"

    out = tmp_path / "EVALUATION.md"
    summary = evaluate_all(catalog=CAT, gold_schema=GOLD, feature_schema=FEAT, output=out,
                           models=["cost_anomaly_detector", "budget_forecaster", "job_failure_predictor"])
    det = summary["models"]["cost_anomaly_detector"]
    assert det["status"] == "EVALUATED" and det["incidents"] == len(spikes)
    assert det["detected_incidents"] == len(spikes)  # x8 spikes are found
    assert 0 < det["precision"] <= 1 and det["f1"] == pytest.approx(2 * det["precision"] * det["recall"] / (det["precision"] + det["recall"]))
    assert det["recall_by_kind"]["cost_spike"]["incidents"] == len(spikes)
    assert det["false_events_per_entity_week"] >= 0
    # Thresholded on validation (a false-alarm budget; the model's own flag rate), scored on the same rows.
    assert {"robust_z_28d:daily_dbu@budget", "robust_z_28d:daily_dbu@model_rate"} <= set(det["baselines"])
    fc = summary["models"]["budget_forecaster"]
    assert fc["status"] == "EVALUATED" and fc["metric"] == "mape" and fc["rows_compared"] > 0
    assert {"seasonal_naive", "entity_mean", "mean_last_4_same_weekday", "mean_28d", "last_value"} <= set(fc["baselines"])
    best = min(fc["baselines"].items(), key=lambda kv: kv[1]["value"])
    assert fc["best_baseline"] == best[0]
    assert fc["margin"] == pytest.approx(1 - fc["value"] / best[1]["value"])
    assert fc["met"] == (fc["margin"] > 0)
    assert summary["models"]["job_failure_predictor"]["status"] == "NO_CHAMPION"
    text = out.read_text()
    assert "| cost_anomaly_detector | anomaly |" in text and "| budget_forecaster | regression |" in text
    assert "job_failure_predictor" in text and "NO_CHAMPION" in text

    import mlflow

    run = mlflow.get_run(summary["mlflow_run_id"])
    assert run.data.metrics["cost_anomaly_detector.f1"] == pytest.approx(det["f1"])
    assert run.data.metrics["budget_forecaster.target_met"] in (0.0, 1.0)


def test_incidents_map_to_feature_entities_and_test_window():
    from healthmon.ml.evaluation import incidents_for

    inc = pd.DataFrame({
        "domain": ["quality", "quality", "cost"], "kind": ["stale_table", "schema_change", "cost_spike"],
        "workspace_id": ["w1", "w1", "w2"], "user_name": None, "warehouse_id": None, "job_id": None,
        "table_name": ["cat_a.sales.orders", "cat_b.x.y", None],
        "start_time": pd.to_datetime(["2025-03-01 10:00", "2025-01-01 00:00", "2025-03-02 00:00"], utc=True),
        "end_time": pd.to_datetime(["2025-03-03 00:00", "2025-01-02 00:00", "2025-03-03 00:00"], utc=True),
    })
    q = incidents_for(inc, "quality", pd.Timestamp("2025-02-01"), pd.Timestamp("2025-03-31"))
    assert list(q["entity"]) == ["cat_a"]  # catalog of the table; the January one is outside
    assert q.loc[0, "start"] == pd.Timestamp("2025-03-01") and q.loc[0, "end"] == pd.Timestamp("2025-03-02")  # end exclusive
    c = incidents_for(inc, "cost", pd.Timestamp("2025-02-01"), pd.Timestamp("2025-03-31"))
    assert list(c["entity"]) == ["w2"]


def _cli(*args, cwd):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "healthmon.cli.main", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.mark.slow
def test_evaluate_cli_reports_models_without_champion_and_rejects_bad_names(tmp_path):
    out = tmp_path / "EVAL.md"
    res = _cli("evaluate", "--catalog", "nocat", "--output", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    text = out.read_text()
    from healthmon.ml.models import MODELS

    assert text.count("NO_CHAMPION") >= len(MODELS) and f"**0 of {len(MODELS)}** models" in text
    bad = _cli("evaluate", "--catalog", "bad-name", cwd=tmp_path)
    assert bad.returncode == 1 and "catalog" in bad.stderr and "Traceback" not in bad.stderr
    for args, says, code in ((("--seed", "7"), "demo's or a development seed", 1),
                             (("--seeds", "-1"), "Invalid value for '--seeds'", 2),
                             (("--seeds", "2", "--scale", "huge"), "Invalid --scale 'huge'", 2)):
        res = _cli("evaluate", *args, cwd=tmp_path)
        assert res.returncode == code and says in res.stderr and "Traceback" not in res.stderr, res.stderr
