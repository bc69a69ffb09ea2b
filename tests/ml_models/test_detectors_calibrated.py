"""The calibrated detectors (healthmon.ml.models.calibrated / detectors): tail probabilities with
known answers, their combination, the false-alarm budget, evidence, and causality of the
per-entity baselines they read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import nbinom, poisson

from healthmon.ml.features import FEATURE_TABLES
from healthmon.ml.models import MODELS
from healthmon.ml.models import baselines as bl
from healthmon.ml.models.baseline_estimator import BaselineEstimator
from healthmon.ml.models import detectors as det
from healthmon.ml.models.calibrated import (
    COUNT_PRIOR, CalibratedDetector, Signal, TailCalibrator, combine_pvalues, negbin_surprise, statistic,
)


# ----------------------------------------------------------------------------- statistics
def test_count_surprise_is_the_poisson_or_negative_binomial_tail():
    # variance = mean: Poisson(mean + prior)
    got = negbin_surprise([3.0], [1.0], [1.0])[0]
    assert got == pytest.approx(-np.log10(poisson.sf(2, 1.0 + COUNT_PRIOR)))
    # variance 4x the mean: negative binomial with that mean and variance
    mu, var = 2.0 + COUNT_PRIOR, 4 * (2.0 + COUNT_PRIOR)
    n, p = mu ** 2 / (var - mu), mu / var
    got = negbin_surprise([10.0], [2.0], [var])[0]
    assert got == pytest.approx(-np.log10(nbinom.sf(9, n, p)))
    # over-dispersion makes the same count less surprising; nothing happened = no surprise
    assert got < negbin_surprise([10.0], [2.0], [2.0])[0]
    assert negbin_surprise([0.0], [5.0], [5.0])[0] == 0.0


def test_a_recent_peak_raises_the_expected_count():
    signal = Signal("exports", "count", "mean", "std", peak="peak")
    usual = statistic(signal, [180.0], [3.0], [2.0], [190.0])[0]  # last month-end's 190 exports
    new = statistic(signal, [180.0], [3.0], [2.0], [5.0])[0]
    assert usual < 1.0 < new


def test_a_first_action_is_compared_with_what_peers_do_on_an_ordinary_day():
    # grants: almost every user-day has none (peer mean 0.02 a day); nobody has any history
    rng = np.random.default_rng(5)
    n = 10_000
    grants = (rng.random(n) < 0.02).astype(float)
    X = np.column_stack([grants, np.zeros(n), np.zeros(n)])
    model = CalibratedDetector((Signal("g", "count", "g_mean", "g_std"),), ("g", "g_mean", "g_std")).fit(X)
    assert model.priors_[0] == pytest.approx(grants.mean(), rel=1e-9)
    two = np.array([[2.0, 0.0, 0.0]])
    # P(N >= 2) for Poisson(0.02) instead of Poisson(0.5): far more surprising
    assert model.statistics(two)[0, 0] == pytest.approx(-np.log10(poisson.sf(1, grants.mean())))
    assert model.statistics(two)[0, 0] > 2 * statistic(Signal("g", "count", "m"), [2.0], [0.0])[0]
    assert model.evidence(two)["expected_value"][0] == pytest.approx(grants.mean())


def test_level_statistic_is_a_one_sided_robust_z_with_a_floor():
    s = Signal("dbu", "level", "expected", "spread")
    z = statistic(s, [150.0, 80.0, 110.0], [100.0, 100.0, 100.0], [10.0, 10.0, 0.0])
    assert z == pytest.approx([5.0, 0.0, 1.0])  # quiet days are not anomalies; spread floored at 10 %


def test_tail_calibrator_matches_a_known_exponential_tail():
    rng = np.random.default_rng(0)
    cal = TailCalibrator.fit(rng.exponential(1.0, 50_000))
    assert cal.survival([1.0])[0] == pytest.approx(np.exp(-1.0), rel=0.03)  # empirical part
    for x in (6.0, 9.0):  # beyond the 98th percentile (~3.9): the fitted exponential tail
        assert cal.survival([x])[0] == pytest.approx(np.exp(-x), rel=0.35)
    grid = np.linspace(0, 30, 301)
    p = cal.survival(grid)
    assert np.all(np.diff(p) <= 1e-15) and p[-1] > 0  # monotone, never zero
    assert cal.survival([-1.0])[0] == pytest.approx(1.0)


def test_combinations_have_their_textbook_values():
    p = np.array([[0.01, 0.5], [0.05, 0.05], [1.0, 1.0]])
    assert combine_pvalues(p, "minp") == pytest.approx([0.02, 0.1, 1.0])  # Bonferroni min-p
    x = -2 * np.log(0.05 * 0.05)  # Fisher, 2 signals: chi2 with 4 df, sf = e^{-x/2}(1 + x/2)
    assert combine_pvalues(p, "fisher")[1] == pytest.approx(np.exp(-x / 2) * (1 + x / 2))
    with pytest.raises(ValueError):
        combine_pvalues(p, "mean")


def _null_counts(rng, n):
    """Ordinary user-days: each user with its own Poisson rate; columns metric, mean, std."""
    rate = rng.gamma(2.0, 3.0, n)
    return np.column_stack([rng.poisson(rate), rate, np.sqrt(rate)]).astype(float)


def test_combined_score_is_calibrated_on_ordinary_rows():
    rng = np.random.default_rng(1)
    signals = (Signal("a", "count", "a_mean", "a_std"), Signal("b", "count", "b_mean", "b_std"))
    cols = ("a", "a_mean", "a_std", "b", "b_mean", "b_std")
    model = CalibratedDetector(signals, cols).fit(np.hstack([_null_counts(rng, 20_000), _null_counts(rng, 20_000)]))
    fresh = np.hstack([_null_counts(rng, 20_000), _null_counts(rng, 20_000)])
    p = 10 ** -model.score(fresh)
    for alpha in (0.01, 0.05):  # Bonferroni: P(p <= alpha) <= alpha, and not far below it
        assert alpha / 4 < np.mean(p <= alpha) <= alpha * 1.15


def test_a_surge_is_flagged_with_its_evidence_and_quiet_days_are_not():
    rng = np.random.default_rng(2)
    signals = (Signal("exports", "count", "exp_mean", "exp_std"), Signal("dbu", "level", "dbu_expected", "dbu_std"))
    cols = ("exports", "exp_mean", "exp_std", "dbu", "dbu_expected", "dbu_std")

    def ordinary(n):
        dbu_expected = rng.uniform(50, 500, n)
        return np.column_stack([_null_counts(rng, n), dbu_expected * rng.normal(1, 0.05, n), dbu_expected, 0.05 * dbu_expected])

    model = CalibratedDetector(signals, cols).fit(ordinary(5000)).set_threshold(4.0)
    rows = np.array([
        [40.0, 3.0, 1.7, 100.0, 100.0, 5.0],   # 40 exports against a usual 3
        [3.0, 3.0, 1.7, 190.0, 100.0, 5.0],    # DBUs at 1.9x the expected level
        [0.0, 3.0, 1.7, 40.0, 100.0, 5.0],     # a quiet day
    ])
    assert list(model.predict(rows)) == [-1, -1, 1]
    assert model.score_samples(rows)[0] == pytest.approx(-model.score(rows)[0])
    ev = model.evidence(rows)
    assert list(ev["evidence_metric"][:2]) == ["exports", "dbu"]
    assert ev["expected_value"][0] == pytest.approx(3.0 + COUNT_PRIOR) and ev["observed_value"][0] == 40.0
    assert ev["expected_value"][1] == pytest.approx(100.0) and ev["observed_value"][1] == 190.0
    assert ev["evidence_p_value"][0] < ev["evidence_p_value"][2]
    assert np.mean(model.predict(ordinary(5000)) == -1) < 0.002


def _two_signals(rng, n, incident):
    """Signal a rises (2-4x its mean) on incident rows; signal b is a heavy-tailed count that
    incidents do not touch (the noisy signal that would set a min-p threshold)."""
    a = _null_counts(rng, n)
    a[incident, 0] = rng.poisson(a[incident, 1] * rng.uniform(2, 4, incident.sum()))
    b_rate = rng.gamma(0.3, 10.0, n)
    b = np.column_stack([rng.negative_binomial(0.5, 0.5 / (0.5 + b_rate)), b_rate, np.sqrt(b_rate)]).astype(float)
    return np.hstack([a, b])


def test_learned_combination_weighs_the_signal_incidents_move_and_stays_calibrated():
    rng = np.random.default_rng(3)
    signals = (Signal("a", "count", "a_mean", "a_std"), Signal("b", "count", "b_mean", "b_std"))
    cols = ("a", "a_mean", "a_std", "b", "b_mean", "b_std")
    n = 20_000
    train_inc = rng.random(n) < 0.01
    X_train = _two_signals(rng, n, train_inc)
    X_test_inc = rng.random(n) < 0.01
    X_test = _two_signals(rng, n, X_test_inc)
    minp = CalibratedDetector(signals, cols).fit(X_train)
    learned = CalibratedDetector(signals, cols, "learned").fit(X_train).learn_combination(X_train, train_inc)
    assert learned.weights_[0] > 3 * learned.weights_[1]
    top = n // 100  # the budget: flag the top 1 % of rows
    hits = {name: X_test_inc[np.argsort(-m.score(X_test))[:top]].mean() for name, m in
            (("minp", minp), ("learned", learned))}
    assert hits["learned"] > hits["minp"] + 0.05
    # still a calibrated p-value on ordinary rows
    p = 10 ** -learned.score(X_test[~X_test_inc])
    for alpha in (0.01, 0.05):
        assert alpha / 2 < np.mean(p <= alpha) <= alpha * 1.3
    ev = learned.evidence(X_test[X_test_inc][:50])
    assert (ev["evidence_metric"] == "a").mean() > 0.8


def test_without_enough_incident_rows_the_combination_stays_min_p():
    rng = np.random.default_rng(4)
    signals = (Signal("a", "count", "a_mean", "a_std"), Signal("b", "count", "b_mean", "b_std"))
    cols = ("a", "a_mean", "a_std", "b", "b_mean", "b_std")
    X = _two_signals(rng, 5000, np.zeros(5000, bool))
    few = np.zeros(5000, bool)
    few[:3] = True
    plain = CalibratedDetector(signals, cols).fit(X)
    model = CalibratedDetector(signals, cols, "learned").fit(X).learn_combination(X, few)
    assert model.weights_ is None
    assert model.score(X) == pytest.approx(plain.score(X))


def test_budget_threshold_allows_exactly_the_budgeted_false_events():
    # 10 entities x 30 days, budget 0.2 per entity-month -> at most 2 false events
    dates = np.tile(pd.date_range("2026-01-01", periods=30).to_numpy(), 10)
    entities = np.repeat([f"e{i}" for i in range(10)], 30)
    scores = np.zeros(300)
    scores[[5, 40, 75, 110]] = [9.0, 8.0, 7.0, 6.0]  # four isolated days, e1's is an incident
    incidents = pd.DataFrame({"entity": ["e1"], "start": [pd.Timestamp(dates[40])], "end": [pd.Timestamp(dates[40])]})
    thr = bl.budget_threshold(scores, entities, dates, incidents, 0.2)
    assert thr == 7.0  # 9 and 7 are false (2), 8 is the incident; 6 would be a third false event


def test_best_f1_rule_takes_the_budget_as_a_cap_not_a_target():
    # 10 entities x 30 days, budget 0.2 per entity-month -> at most 2 false events. Scores: 9 on
    # e1's incident, then 8 and 7 false. "lowest" spends the budget (threshold 7: precision 1/3);
    # "best_f1" stops where F1 is best (threshold 9: precision 1, recall 1).
    dates = np.tile(pd.date_range("2026-01-01", periods=30).to_numpy(), 10)
    entities = np.repeat([f"e{i}" for i in range(10)], 30)
    scores = np.zeros(300)
    scores[[40, 75, 110, 145]] = [9.0, 8.0, 7.0, 6.0]
    incidents = pd.DataFrame({"entity": ["e1"], "start": [pd.Timestamp(dates[40])], "end": [pd.Timestamp(dates[40])]})
    assert bl.budget_threshold(scores, entities, dates, incidents, 0.2) == 7.0
    assert bl.budget_threshold(scores, entities, dates, incidents, 0.2, rule="best_f1") == 9.0
    # No incident caught within the budget: F1 prefers no threshold, the budget decides.
    none = incidents.assign(entity="e9")
    assert bl.budget_threshold(scores, entities, dates, none, 0.2, rule="best_f1") == 8.0
    # Recall counts only the incidents asked for; an incident of another kind still makes a flag true.
    other = pd.DataFrame({"entity": ["e3"], "start": [pd.Timestamp(dates[110])], "end": [pd.Timestamp(dates[110])]})
    both = pd.concat([incidents, other], ignore_index=True)
    assert bl.budget_threshold(scores, entities, dates, both, 0.2, rule="best_f1", recall_incidents=other) == 7.0
    with pytest.raises(ValueError, match="rule"):
        bl.budget_threshold(scores, entities, dates, incidents, 0.2, rule="highest")


# ----------------------------------------------------------------------------- the seven specs
@pytest.mark.parametrize("name", sorted(det.SIGNALS))
def test_every_detector_reads_columns_of_its_table_and_flags_by_budget(name):
    spec = MODELS[name]
    assert spec.kind == "anomaly" and spec.features is None  # every column: a single one can be shipped instead
    table = FEATURE_TABLES[spec.feature_table]
    assert set(det.columns(name)) <= set(table.features)
    assert spec.hyperparameters["false_events_per_entity_month"] > 0
    assert spec.hyperparameters["threshold_rule"] in bl.THRESHOLD_RULES
    cols = list(table.features)
    X = np.random.default_rng(3).gamma(2.0, 2.0, size=(300, len(cols)))
    model = spec.build(cols).fit(X)
    assert set(np.unique(model.predict(X))) <= {-1, 1}
    assert list(model.evidence(X[:3]).columns[:3]) == ["evidence_metric", "expected_value", "observed_value"]


def test_shipped_baseline_flags_by_its_threshold_and_explains_itself():
    b = bl.BestFeature(column="x", sign=1.0)
    est = BaselineEstimator(b, ["x", "y"], "anomaly").fit(np.zeros((3, 2))).set_threshold(5.0)
    X = np.array([[6.0, 0.0], [1.0, 9.0]])
    assert list(est.predict(X)) == [-1, 1]
    assert list(-est.score_samples(X)) == [6.0, 1.0]
    ev = est.evidence(X)
    assert list(ev["evidence_metric"]) == ["x", "x"] and list(ev["observed_value"]) == [6.0, 1.0]


# ----------------------------------------------------------------------------- causality
def _audit(user, day, n_exports, n_reads):
    from mlf_gold import ts

    rows = []
    for i in range(n_exports):
        rows.append({"event_id": f"{user}{day}x{i}", "user_identity_email": user, "event_time": ts(day, 9),
                     "action_name": "downloadQueryResult", "service_name": "sql", "source_ip_address": "10.0.0.1",
                     "request_params": {}, "is_failed_action": False})
    for i in range(n_reads):
        rows.append({"event_id": f"{user}{day}r{i}", "user_identity_email": user, "event_time": ts(day, 10),
                     "action_name": "getTable", "service_name": "unityCatalog", "source_ip_address": "10.0.0.1",
                     "request_params": {"tableName": f"c.s.t{i}"}, "is_failed_action": False})
    return rows


def test_appending_later_days_never_changes_earlier_baselines_or_scores():
    """Security features (the per-user baselines) built on 30 days, then on 40: the first 30 days'
    detector inputs and scores are identical."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "ml_features"))
    from mlf_gold import CATALOG, GOLD, day, write_gold

    from healthmon.lakehouse import Lakehouse
    from healthmon.ml.features import compute_feature_table

    rng = np.random.default_rng(4)
    plan = [(u, d, int(rng.poisson(2)), int(rng.poisson(5))) for d in range(40) for u in ("a@x.com", "b@x.com")]
    plan[-1] = ("b@x.com", 39, 60, 40)  # a late surge

    def build(days):
        lh = Lakehouse.from_env()
        rows = [r for u, d, e, t in plan if d < days for r in _audit(u, day(d), e, t)]
        write_gold(lh, "fact_audit_logs", rows)
        frame = compute_feature_table(lh, FEATURE_TABLES["security_features"], CATALOG, GOLD)[0].to_pandas()
        return frame.sort_values(["user_id", "event_date"]).reset_index(drop=True)

    short, long = build(30), build(40)
    cols = list(det.columns("user_behavior_baseline"))
    early = pd.to_datetime(long["event_date"]) < pd.to_datetime(short["event_date"]).max() + pd.Timedelta(days=1)
    pd.testing.assert_frame_equal(short[cols], long.loc[early, cols].reset_index(drop=True))
    model = det.factory("user_behavior_baseline")(cols).fit(short[cols].to_numpy(float))
    assert np.array_equal(model.score(short[cols].to_numpy(float)), model.score(long.loc[early, cols].to_numpy(float)))
    assert model.score(long[cols].to_numpy(float))[-1] > model.score(short[cols].to_numpy(float)).max()
