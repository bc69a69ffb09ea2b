"""Evaluation figures as the report and the Models page read them from the evaluation's JSON."""

from __future__ import annotations

import json

from healthmon.ml.model_figures import NOT_EVALUATED, load_evaluation, parse_evaluation


def test_multi_seed_entry_reads_as_figure_spread_baseline_and_verdict():
    ev = parse_evaluation({"finished_at": "t", "models": {"budget_forecaster": {
        "kind": "regression", "metric": "mape", "higher_is_better": False,
        "model": {"n": 8, "mean": 9.1, "std": 1.2}, "best_baseline": "seasonal_naive",
        "baselines": {"seasonal_naive": {"n": 8, "mean": 10.8}},
        "verdict": "ships baseline (seasonal_naive, chosen on validation in 5 of 8 seeds)", "missing": [],
        "scorers": {"baseline:seasonal_naive": 5, "gbr": 3}}}}, "/a/EVALUATION.json")
    f = ev.figure("budget_forecaster")
    assert f.text() == ("MAPE 9.100 ± 1.200 over 8 fresh accounts vs seasonal_naive 10.800: "
                        "ships baseline (seasonal_naive, chosen on validation in 5 of 8 seeds)")
    assert f.badge == "ships"
    assert ev.figure("tag_recommender").text() == "not evaluated (not in EVALUATION.json)"


def test_a_model_without_figure_says_why():
    ev = parse_evaluation({"models": {"sla_breach_predictor": {
        "kind": "binary", "metric": "roc_auc", "model": {"n": 0, "mean": None}, "baselines": {}, "best_baseline": None,
        "verdict": "n/a (0 seeds with a figure)", "missing": ["seed 7: NO_CHAMPION (no Champion version)"]}}})
    f = ev.figure("sla_breach_predictor")
    assert f.text() == "n/a (0 seeds with a figure) (seed 7: NO_CHAMPION (no Champion version))" and f.badge == "na"


def test_one_account_shape_and_a_miss_reads_as_a_miss():
    ev = parse_evaluation({"evaluated_at": "t", "models": {
        "job_failure_predictor": {"status": "EVALUATED", "metric": "roc_auc", "value": 0.71, "higher_is_better": True,
                                  "best_baseline": "failure_rate_30d", "best_baseline_value": 0.74},
        "sla_breach_predictor": {"status": "NO_CHAMPION", "note": "no Champion version"}}})
    assert ev.figure("job_failure_predictor").text() == "ROC-AUC 0.710 on one account vs failure_rate_30d 0.740: does not beat baseline"
    assert ev.figure("sla_breach_predictor").text() == "n/a (no Champion version)"


def test_missing_or_broken_file_is_not_evaluated(tmp_path, monkeypatch):
    monkeypatch.setenv("HEALTHMON_EVALUATION", str(tmp_path / "none.json"))
    assert load_evaluation() is NOT_EVALUATED
    assert NOT_EVALUATED.figure("budget_forecaster").text() == "not evaluated"
    broken = tmp_path / "EVALUATION.json"
    broken.write_text("{not json")
    monkeypatch.setenv("HEALTHMON_EVALUATION", str(broken))
    assert load_evaluation() is NOT_EVALUATED
    broken.write_text(json.dumps({"models": {}}))
    assert load_evaluation().source == str(broken)
