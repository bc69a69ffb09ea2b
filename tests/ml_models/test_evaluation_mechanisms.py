"""The evaluation's mechanisms on hand-made data: baselines (known-at-d history, reference inputs,
best single feature, robust z-score, false-alarm budget), within-entity AUC, the bootstrap, the
multi-seed aggregation with its n/a rules, verdicts and fresh seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from healthmon.ml import evaluation as ev
from healthmon.ml import evaluation_seeds as es
from healthmon.ml.models import MODELS
from healthmon.ml.models import baselines as bl
from healthmon.ml.models.baseline_estimator import BaselineEstimator


def _frame(entities=2, days=40, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for e in range(entities):
        for d in pd.date_range("2025-01-01", periods=days, freq="D"):
            rows.append({"job_id": f"j{e}", "run_date": d.date(), "failed_runs": float(rng.random() < 0.3 * (e + 1)),
                         "rolling_failure_rate_30d": 0.3 * (e + 1), "noise": rng.random()})
    return pd.DataFrame(rows)


def _periods(frame, spec, val="2025-01-25", test="2025-02-01"):
    d = pd.to_datetime(frame[spec.date_key])
    return np.where(d >= test, "test", np.where(d >= val, "validation", "train"))


def test_entity_history_reads_only_labels_resolved_by_d():
    spec = MODELS["job_failure_predictor"]  # horizon 7 days
    frame = pd.DataFrame({"job_id": "j", "run_date": pd.date_range("2025-01-01", periods=20).date})
    labels = np.zeros(20)
    labels[0] = 1.0  # resolves on day 7 (0 + horizon)
    labels[12:] = np.nan
    ctx = bl.Context(spec, frame, labels, _periods(frame, spec, "2025-01-10", "2025-01-15"), [])
    rate = bl.EntityHistory("entity_label_rate", "mean").fit(ctx).score(frame)
    last = bl.EntityHistory("last_label", "last").fit(ctx).score(frame)
    fallback = float(np.mean(labels[:9]))  # the training period's rate
    assert np.allclose(rate[:7], fallback)  # nothing resolved yet: the training rate
    assert rate[7] == 1.0 and last[7] == 1.0  # day 0's label is known on day 7
    assert rate[8] == pytest.approx(0.5) and last[8] == 0.0  # days 0 and 1 known on day 8
    # A later label cannot move an earlier day's score.
    labels2 = labels.copy()
    labels2[5] = 1.0
    rate2 = bl.EntityHistory("entity_label_rate", "mean").fit(bl.Context(spec, frame, labels2, ctx.periods, [])).score(frame)
    np.testing.assert_allclose(rate2[7:12], rate[7:12])  # day 5 resolves on day 12, after these rows


def test_reference_input_and_best_feature_with_its_sign():
    spec = MODELS["job_failure_predictor"]
    frame = _frame(entities=3, days=60)
    y = frame["failed_runs"].to_numpy()
    frame["anti"] = -y + np.random.default_rng(1).normal(0, 0.1, len(y))  # strongly, negatively related
    ctx = bl.Context(spec, frame, y, _periods(frame, spec, "2025-02-01", "2025-02-15"), ["noise", "anti"])
    best = bl.BestFeature().fit(ctx)
    assert best.column == "anti" and best.sign == -1.0 and bl.baseline_label(best) == "best_single_feature:-anti"
    ref = bl.ReferenceInput("x7", "rolling_failure_rate_30d", 7.0, 1.0)
    np.testing.assert_allclose(ref.score(frame), frame["rolling_failure_rate_30d"] * 7 + 1)
    assert bl.servable([best, ref, bl.EntityHistory()], ["anti", "rolling_failure_rate_30d"]) == [best, ref]
    assert bl.servable([best, ref], ["anti"]) == [best]  # a baseline reading a column the model lacks cannot ship


def test_baseline_estimator_serves_a_baseline_like_a_model():
    ref = bl.ReferenceInput("mean_28d", "b")
    X = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    reg = BaselineEstimator(ref, ["a", "b"], "regression").fit(X)
    np.testing.assert_allclose(reg.predict(X), [10, 20, 30])
    clf = BaselineEstimator(ref, ["a", "b"], "binary").fit(X)
    p = clf.predict_proba(X)
    assert p.shape == (3, 2) and np.all(np.diff(p[:, 1]) > 0) and np.allclose(p.sum(axis=1), 1)
    assert list(clf.predict(X)) == [0, 1, 1] and list(clf.classes_) == [0, 1]


def test_robust_z_uses_the_trailing_window_without_today():
    spec = MODELS["cost_anomaly_detector"]
    days = pd.date_range("2025-01-01", periods=40)
    values = np.r_[np.tile([10.0, 12.0], 19), 10.0, 100.0]
    frame = pd.DataFrame({"workspace_id": "w", "usage_date": days.date, "daily_dbu": values})
    z = bl.RobustZ("daily_dbu").fit(bl.Context(spec, frame, None, np.array(["train"] * 40), [])).score(frame)
    assert z[:7].tolist() == [0.0] * 7  # fewer than 7 days of history: no score
    assert z[-1] > 20 and abs(z[-2]) < 2  # the surge stands out, an ordinary day does not


def test_budget_threshold_allows_one_false_event_per_entity_month():
    dates = np.array(pd.date_range("2025-01-01", periods=30).to_numpy())
    scores = np.zeros(30)
    scores[[3, 10, 20]] = [5.0, 4.0, 3.0]
    ent = np.array(["w"] * 30)
    thr = bl.budget_threshold(scores, ent, dates, None)  # one entity, 30 days: one false event allowed
    assert thr == 5.0
    inc = pd.DataFrame({"entity": ["w"], "start": [pd.Timestamp("2025-01-11")], "end": [pd.Timestamp("2025-01-11")]})
    assert bl.budget_threshold(scores, ent, dates, inc) == 4.0  # the day-10 flag is a true event


@pytest.mark.parametrize("name", ["performance_regression_detector", "cost_anomaly_detector"])
def test_detector_baselines_at_model_rate_get_the_detectors_own_rule(name):
    # "@budget": the lowest threshold within one false event per entity-month, whatever the model;
    # "@model_rate": the detector's own budget placed by its own threshold rule.
    spec = MODELS[name]
    days = pd.date_range("2025-01-01", periods=30)
    dates = np.tile(days.to_numpy(), 10)
    ent = np.repeat([f"w{i}" for i in range(10)], 30)
    scores = np.zeros(300)
    scores[[10, 45, 80, 115, 150, 185]] = [9.0, 8.0, 7.0, 6.0, 5.0, 4.0]  # only w0's day 10 is an incident
    inc = pd.DataFrame({"entity": ["w0"], "start": [days[10]], "end": [days[10]], "kind": ["x"]})
    out = ev.detector_thresholds(spec, scores, ent, dates, inc)
    assert out["budget"] == bl.budget_threshold(scores, ent, dates, inc)
    rule, budget = spec.hyperparameters["threshold_rule"], spec.hyperparameters["false_events_per_entity_month"]
    assert out["model_rate"] == bl.budget_threshold(scores, ent, dates, inc, budget, rule=rule)
    assert out["model_rate"] == (9.0 if rule == "best_f1" else bl.budget_threshold(scores, ent, dates, inc, budget))


def test_within_entity_auc_ignores_between_entity_differences():
    # Entity a always fails more than b, and the score knows only that: overall AUC is high,
    # within-entity AUC is 0.5 (ties).
    ent = np.array(["a"] * 4 + ["b"] * 4)
    y = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    score = np.array([0.9] * 4 + [0.1] * 4)
    auc, pos = ev.within_entity_auc(ent, y, score)
    assert auc == pytest.approx(0.5) and pos == 4
    good = np.array([0.9, 0.9, 0.9, 0.1, 0.9, 0.1, 0.1, 0.1])
    assert ev.within_entity_auc(ent, y, good)[0] == pytest.approx(1.0)


def test_recall_by_kind_says_na_below_three_cases():
    inc = pd.DataFrame({"entity": ["u1", "u2", "u3", "u4"], "kind": ["spray", "spray", "spray", "exfil"],
                        "start": pd.to_datetime(["2025-01-05"] * 4), "end": pd.to_datetime(["2025-01-05"] * 4)})
    flags = pd.DataFrame({"entity": ["u1", "u2", "u4"], "date": pd.to_datetime(["2025-01-05"] * 3)})
    out = ev.recall_by(flags, inc, "kind")
    assert out["spray"]["recall"] == pytest.approx(2 / 3) and out["spray"]["incidents"] == 3
    assert out["exfil"]["recall"] is None and out["exfil"]["na"] == "n/a (1 cases)"


def test_verdict_and_margin_per_kind():
    assert ev.margin(8.0, 10.0, lower_better=True) == pytest.approx(0.2)  # MAPE 8 vs 10: 20 % better
    assert ev.margin(0.8, 0.85, lower_better=False) == pytest.approx(-0.05)
    res = ev._with_verdict({"value": 9.0, "baselines": {"a": {"value": 10.0}, "b": {"value": 8.0}, "c": {"value": None}}}, lower_better=True)
    assert res["best_baseline"] == "b" and res["margin"] == pytest.approx(1 - 9 / 8) and not res["met"]
    assert ev.verdict({"status": "EVALUATED", **res}) == "**below baseline**"
    assert ev.verdict({"status": "EVALUATED", "value": None, "na": "n/a (4 positives)"}) == "n/a (4 positives)"
    assert ev.verdict({"status": "EVALUATED", "algorithm": "baseline:last_value", **res}) == "ships baseline"


def test_bootstrap_ci_brackets_the_mean_and_is_reproducible():
    v = [0.1, 0.2, 0.15, 0.12, 0.18, 0.11, 0.19, 0.14, 0.16, 0.13]
    lo, hi = es.bootstrap_ci(v)
    assert lo < np.mean(v) < hi and (lo, hi) == es.bootstrap_ci(v)
    assert hi - lo < 0.06
    assert all(x != x for x in es.bootstrap_ci([]))  # NaN
    d = es.describe([1.0, None, float("nan"), 3.0])
    assert d["n"] == 2 and d["mean"] == 2.0 and d["min"] == 1.0 and d["std"] == pytest.approx(np.sqrt(2))


def _seed(seed, value, baseline, algorithm="xgboost", status="EVALUATED", **extra):
    return {"seed": seed, "status": "SUCCESS", "models": {"m": {
        "status": status, "metric": "roc_auc", "value": value, "algorithm": algorithm,
        "baselines": {"rate": {"value": baseline},
                      "best_single_feature:x": {"value": None if baseline is None else baseline - 0.1}}, **extra}}}


def test_aggregate_pairs_seeds_and_reports_gaps():
    seeds = [_seed(s, 0.8 + 0.01 * k, 0.7 + 0.01 * k) for k, s in enumerate(range(100, 108))]
    seeds.append(_seed(200, None, None, na="n/a (4 positives)"))
    seeds.append({"seed": 201, "status": "FAILED", "models": {}})
    seeds.append(_seed(202, None, None, status="NO_CHAMPION", note="training skipped: single class"))
    e = es.aggregate(seeds, {"m": "binary"})["m"]
    assert e["model"]["n"] == 8 and e["best_baseline"] == "rate"
    assert e["margin"]["mean"] == pytest.approx(0.1) and e["margin"]["ci95"][0] > 0
    assert e["verdict"] == "beats baseline"
    assert "best_single_feature" in e["baselines"]  # the chosen column differs per seed: one row
    text = " ".join(e["missing"])
    assert "seed 200: n/a (4 positives)" in text and "seed 201: not run" in text and "seed 202: NO_CHAMPION" in text


def test_aggregate_verdicts_ship_baseline_miss_and_na():
    loses = [_seed(s, 0.70 + 0.02 * (s % 2), 0.71) for s in range(10)]
    assert es.aggregate(loses, {"m": "binary"})["m"]["verdict"] == "does not beat baseline"
    shipped = [_seed(s, 0.71, 0.70, algorithm="baseline:best_single_feature:x") for s in range(10)]
    assert es.aggregate(shipped, {"m": "binary"})["m"]["verdict"].startswith("ships baseline (best_single_feature:x")
    few = [_seed(s, 0.9, 0.7) for s in range(2)]
    assert es.aggregate(few, {"m": "binary"})["m"]["verdict"] == "n/a (2 seeds with a figure)"


def test_fresh_seeds_never_include_demo_or_development_seeds():
    draws = iter([7, 11, 5, 5, 13, 6, 99, 8])
    assert es.draw_seeds(3, randbelow=lambda n: next(draws)) == [5, 6, 8]
    assert 7 not in es.draw_seeds(50) and not set(es.DEVELOPMENT_SEEDS) & set(es.draw_seeds(50))


def test_every_model_declares_baselines_and_the_markdown_renders():
    for name, spec in MODELS.items():
        assert spec.baselines or spec.custom, name
    seeds = [_seed(s, 0.8, 0.7) for s in range(5)]
    agg = es.aggregate(seeds, {n: s.kind for n, s in MODELS.items()})
    report = {"seeds": list(range(5)), "scale": "small", "finished_at": "now", "wall_seconds": 60.0, "workers": 2,
              "models": agg, "per_seed": seeds}
    text = es.render_markdown(report, nab_section="## Real series\n\nfigures")
    assert "| job_failure_predictor | binary |" in text and "n/a (0 seeds with a figure)" in text
    assert text.rstrip().endswith("this file`.") and "## Real series" in text


def _budget_rows(days=120, seed=0):
    from tests.ml_models.synthetic_features import feature_frame

    spec = MODELS["budget_forecaster"]
    rows = feature_frame("cost_features", entities=3, days=days, seed=seed)
    from healthmon.ml.models import frames as fr

    periods = fr.split_for(spec, rows).period(rows[spec.date_key]).to_numpy()
    features = list(spec.features)
    return spec, rows, periods, features


def test_champion_candidates_ship_a_baseline_only_when_it_wins_on_validation():
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import LinearRegression

    from healthmon.ml.models import frames as fr
    from healthmon.ml.training import choose_scorer

    spec, rows, periods, features = _budget_rows()
    y = rows["cost_next_dow_avg_4w"].to_numpy() * np.random.default_rng(2).uniform(0.95, 1.05, len(rows))
    X = fr.clean_features(rows, features)
    train = periods == "train"
    weak = DummyRegressor().fit(X[train], y[train])
    scorer, algorithm, contest = choose_scorer(spec, weak, rows, y, periods, features, X[train])
    assert algorithm == "baseline:mean_last_4_same_weekday" and isinstance(scorer, BaselineEstimator)
    np.testing.assert_allclose(scorer.predict(X), rows["cost_next_dow_avg_4w"])
    assert contest["candidate_mean_last_4_same_weekday_validation_mape"] < contest["candidate_ml_validation_mape"]
    # Seasonal naive and the entity's history are yardsticks, not candidates: they read other rows.
    assert not any("seasonal_naive" in k or "entity_mean_validation" in k for k in contest)
    assert "candidate_entity_mean_feature_validation_mape" in contest  # its label-history twin is servable
    # The rule that ships is the one with the best figure on the recent record (validation plus
    # the last weeks of training), logged beside its validation figure.
    rules = {k.removeprefix("candidate_").removesuffix("_recent_mape"): v for k, v in contest.items()
             if k.endswith("_recent_mape")}
    assert set(rules) == {k.removeprefix("candidate_").removesuffix("_validation_mape") for k in contest
                          if k.endswith("_validation_mape") and k != "candidate_ml_validation_mape"}
    assert algorithm.removeprefix("baseline:").replace(":", "_") == min(rules, key=rules.get)

    exact_y = rows["cost_next_dow_avg_4w"].to_numpy() * 1.5 + 3.0
    strong = LinearRegression().fit(X[train], exact_y[train])
    scorer, algorithm, _ = choose_scorer(spec, strong, rows, exact_y, periods, features, X[train])
    assert scorer is strong and algorithm == spec.algorithm
    # A model no better than the baseline (here: the same forecasts) does not replace it.
    class SameAsReference:
        def predict(self, X):
            return X[:, features.index("cost_next_dow_avg_4w")]

    if "cost_next_dow_avg_4w" in features:
        _, algorithm, contest = choose_scorer(spec, SameAsReference(), rows, y, periods, features, X[train])
        assert algorithm.startswith("baseline:") and contest["selection_ml_margin_over_baseline"] <= 0
    # Detectors and custom models keep their model: no labels to choose on.
    det = MODELS["cost_anomaly_detector"]
    assert choose_scorer(det, weak, rows, None, periods, features, X[train])[1] == det.algorithm


def test_the_rule_that_ships_is_the_best_on_the_recent_record_not_on_validation_alone():
    """Two close rules: the last value wins the short validation period by luck, the 28-day mean
    is better over the validation period and the last weeks of training together: the 28-day mean
    ships. The ML model is judged on validation only, against the validation-best rule."""
    from sklearn.dummy import DummyRegressor

    from healthmon.ml.models import frames as fr
    from healthmon.ml.training import RECENT_TRAINING_WEEKS, choose_scorer, recent_record

    spec, rows, periods, features = _budget_rows(days=200)
    dates = pd.to_datetime(rows[spec.date_key])
    recent = recent_record(rows[spec.date_key], periods)
    assert recent[periods == "validation"].all() and not recent[periods == "test"].any()
    train_recent = recent & (periods == "train")
    assert train_recent.any() and (~recent & (periods == "train")).any()
    last_train = dates[periods == "train"].max()
    assert dates[train_recent].min() == last_train - pd.Timedelta(days=7 * RECENT_TRAINING_WEEKS - 1)

    rng = np.random.default_rng(3)
    last, mean28 = rows["daily_cost"].to_numpy(float), rows["avg_cost_28d"].to_numpy(float)
    val = periods == "validation"
    # Label = the 28-day mean with 5 % noise, except on validation, where it is the last value
    # with 4 % noise: the last value wins there, by a little.
    y = mean28 * rng.uniform(0.95, 1.05, len(rows))
    y[val] = last[val] * rng.uniform(0.96, 1.04, val.sum())
    assert np.all(y > 0)
    X = fr.clean_features(rows, features)
    train = periods == "train"
    weak = DummyRegressor().fit(X[train], y[train])
    _, algorithm, contest = choose_scorer(spec, weak, rows, y, periods, features, X[train])
    assert contest["candidate_last_value_validation_mape"] < contest["candidate_mean_28d_validation_mape"]
    assert contest["candidate_mean_28d_recent_mape"] < contest["candidate_last_value_recent_mape"]
    assert algorithm == "baseline:mean_28d"


def test_tag_baselines_most_frequent_in_workspace_and_nearest_name():
    known = pd.DataFrame({"workspace_id": ["w1", "w1", "w1", "w2"],
                          "job_name": ["finance_ledger_ingest", "finance_close", "ml_feature_build", "ops_backup"],
                          "tag_value": ["finance", "finance", "ml", "ops"]})
    test = pd.DataFrame({"workspace_id": ["w1", "w2", "w3"], "job_name": ["ml_feature_refresh", "ledger_export", "zzz"]})
    out = ev.tag_baselines(known, test)
    assert list(out["most_frequent_tag_in_workspace"]) == ["finance", "ops", "finance"]  # w3: overall most frequent
    assert list(out["nearest_job_name"]) == ["ml", "finance", "finance"]  # no shared token: the workspace rule


def test_an_interrupted_run_is_reported_from_its_log_naming_what_did_not_finish(tmp_path):
    import json

    log = tmp_path / "eval.seeds.jsonl"
    head = {"drawn": [1, 2, 3, 4], "scale": "medium", "workers": 2, "load_average_5min": 1.0,
            "started_at": "2026-01-01T00:00:00+00:00"}
    lines = [head] + [_seed(s, 0.8 + 0.01 * s, 0.7) for s in (1, 2, 3)]
    log.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    report = es.report_from_log(log, output=tmp_path / "EVALUATION.md", json_path=tmp_path / "eval.json")
    assert report["seeds"] == [1, 2, 3] and report["not_finished"] == [4]
    text = (tmp_path / "EVALUATION.md").read_text()
    assert "Incomplete run: 1 of 4 drawn accounts did not finish (4)" in text
    assert json.loads((tmp_path / "eval.json").read_text())["not_finished"] == [4]
    log.write_text('{"seed": 1}\n')
    from healthmon.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError):
        es.report_from_log(log, output=None, json_path=None)


def test_weighted_roc_auc_matches_scikit_learn_with_sample_weights_and_ties():
    from sklearn.metrics import roc_auc_score

    from healthmon.ml.models.metrics import weighted_roc_auc

    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 400)
    score = np.round(y * 0.6 + rng.normal(0, 0.5, 400), 1)  # rounded: many ties
    w = rng.integers(0, 4, 400).astype(float)
    assert weighted_roc_auc(y, score, w) == pytest.approx(roc_auc_score(y, score, sample_weight=w))
    assert weighted_roc_auc(y, score, np.ones(400)) == pytest.approx(roc_auc_score(y, score))


def test_one_standard_error_rule_keeps_the_baseline_unless_the_model_is_clearly_better():
    from healthmon.ml.models.metrics import clearly_better, paired_entity_bootstrap

    rng = np.random.default_rng(9)
    entities = np.repeat(np.arange(40), 25)
    y = rng.integers(0, 2, len(entities))
    base = y * 0.5 + rng.normal(0, 1, len(y))
    # The same scores: no margin, no spread, the baseline stays.
    edge, se = paired_entity_bootstrap("binary", y, base, base, entities)
    assert edge == 0 and se == 0 and not clearly_better(edge, se)
    # Far better scores on every entity: a margin well beyond its standard error.
    good = y * 3.0 + rng.normal(0, 1, len(y))
    edge, se = paired_entity_bootstrap("binary", y, good, base, entities)
    assert edge > 0.2 and clearly_better(edge, se)
    # A forecast edge measured as the relative MAPE reduction.
    actual = rng.uniform(50, 150, len(y))
    edge, se = paired_entity_bootstrap("regression", actual, actual * 1.01, actual * 1.10, entities)
    assert edge == pytest.approx(0.9) and clearly_better(edge, se)


def test_rank_auc_equals_scikit_learn_per_column():
    from sklearn.metrics import roc_auc_score

    from healthmon.ml.models.metrics import rank_auc

    rng = np.random.default_rng(4)
    y = rng.random(300) < 0.2
    X = np.column_stack([y + rng.normal(0, 1, 300), np.round(rng.normal(0, 1, 300), 1), np.zeros(300) + y])
    np.testing.assert_allclose(rank_auc(y, X), [roc_auc_score(y, X[:, j]) for j in range(3)], rtol=0, atol=1e-12)
