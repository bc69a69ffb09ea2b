"""The 25 Health Monitor models (spec §3), each differing only in what is specific to it.

Targets follow the spec's preface: forecasters and classifiers predict the entity's FUTURE
(next observation or next 7 days) from features known at d; detectors have no label and are
scored against ``ground_truth_incidents``. docs/models.md explains every choice.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from healthmon.ml.models import baselines as bl, detectors as det, targets as t
from healthmon.ml.models.spec import HISTORY_PREFIX, ModelSpec


def _estimators():
    """The algorithms (scikit-learn, XGBoost), imported when a model is built rather than when
    the specs are read: the server reads them for every page and needs none of it."""
    from healthmon.ml.models import estimators

    return estimators


def _gbr(**kw):
    return lambda cols: _estimators().gradient_boosting(**kw)


# In ``relative_inputs``: the entity's MAPE-optimal level known at d (``hist_<target>_median``).
LEVEL = "entity_median"


def _relative_inputs(cols, names: tuple[str, ...]) -> tuple[str, ...]:
    named = (_history_column(cols, "median") if c == LEVEL else c for c in names)
    return tuple(c for c in named if c is not None and c in cols)


def _rel(factor, nums, dens=(), *, relative_inputs: tuple[str, ...] = (), **kw):
    """GBR relative to factor x prod(nums) / prod(dens), told how far each of ``relative_inputs``
    (other recent levels; ``LEVEL``: the entity's long-run level) sits from that reference."""

    def build(cols):
        return _estimators().relative_gradient_boosting(
            cols, (factor, tuple(nums), tuple(dens)), relative_inputs=_relative_inputs(cols, relative_inputs), **kw)

    return build


# Cost forecasters learn log(target / reference) from a few scale-free history features; the
# ratio is mostly noise around a weekly cycle and a growth trend, so the boosting is shallow and
# heavily regularised (chosen on the VALIDATION period of the development account, seed 11).
COST_GBR: dict[str, Any] = {"max_depth": 2, "n_estimators": 300, "min_samples_leaf": 100}
COST_HISTORY = ("cost_7d", "cost_prev_7d", "avg_cost_28d", "cost_week_over_week", "cost_7d_vs_28d",
                "day_of_week", "is_weekend", "day_of_month")
# Like every supervised model, each explicit-list forecaster also sees its own label history
# known at d (healthmon.ml.features.label_history): the entity's mean and MAPE-optimal level
# (weighted median) of its resolved labels are baselines it must beat, and shipping one needs
# its column among the model's features.
def _own_history(target: str, stats: tuple[str, ...] = ("mean", "median")) -> tuple[str, ...]:
    return tuple(f"{HISTORY_PREFIX}{target}_{stat}" for stat in stats)


BUDGET_FEATURES = (*COST_HISTORY, "cost_next_dow_avg_4w", "daily_cost", "z_score_7d", "dbu_change_pct_7d",
                   *_own_history("daily_cost_sum_next_1d"))
CHARGEBACK_FEATURES = (
    *COST_HISTORY,
    "cost_next_dow_avg_4w",
    "daily_cost",
    "z_score_7d",
    "z_score_30d",
    "dbu_change_pct_7d",
    # The count of resolved weeks too: without it the model lost 1.5 points of margin (dev seeds).
    *_own_history("daily_cost_sum_next_7d", ("mean", "count", "median")),
)
JOB_COST_FEATURES = (
    "jobs_on_all_purpose_cost_7d",
    "jobs_on_all_purpose_cost_prev_7d",
    "avg_jobs_on_all_purpose_cost_28d",
    "jobs_on_all_purpose_cost",
    "jobs_on_all_purpose_count",
    "day_of_week",
    "day_of_month",
    "cost_week_over_week",
    "cost_7d_vs_28d",
    *_own_history("jobs_on_all_purpose_cost_sum_next_7d"),
)
# A runtime upgrade's risk: the runtime it leaves, Photon, job size, and how flaky the job already
# is. Few labelled upgrades (~100 in training): few features, shallow trees (seed 11 validation).
MIGRATION_FEATURES = ("dbr_version_num", "is_photon", "task_count", "rolling_failure_rate_30d", "total_runs")
# Next week's peak load vs the mean of the last four weekly peaks (same development procedure).
CAPACITY_FEATURES = (
    "avg_weekly_peak_4w",
    "max_query_count_7d",
    "max_query_count_prev_7d",
    "avg_query_count_28d",
    "max_query_count_28d",
    "std_query_count_28d",
    "query_count_lag7",
    "query_count",
    "avg_query_count_7d",
    "day_of_week",
    "is_weekend",
)


def _xgb(**kw):
    return lambda cols: _estimators().xgb_classifier(**kw)


def _history_column(cols, stat: str) -> str | None:
    """The model's own label-history column of ``stat`` among its features (select_features
    passes a model only its own ``hist_<target>_*``)."""
    found = [c for c in cols if c.startswith(HISTORY_PREFIX) and c.endswith(f"_{stat}")]
    return found[0] if len(found) == 1 else None


def _xgb_on_history(**kw):
    """XGBoost that learns a correction to the entity's label rate known at d; plain XGBoost
    when the feature table has no label history (a table built by an older healthmon)."""

    def build(cols):
        rate, count = _history_column(cols, "mean"), _history_column(cols, "count")
        if rate is None or count is None:
            return _estimators().xgb_classifier()
        return _estimators().xgb_reference_classifier(cols, rate, count, **kw)

    return build


def _rel_level(relative_inputs: tuple[str, ...] = (), **kw):
    """GBR relative to the entity's MAPE-optimal level known at d (``hist_<target>_median``, the
    servable ``entity_median_feature`` baseline), told how far each of ``relative_inputs`` (its
    recent levels) sits from that level; the plain log-target GBR when the feature table has no
    label history (a table built by an older healthmon)."""

    def build(cols):
        level = _history_column(cols, "median")
        if level is None:
            return _estimators().gradient_boosting()
        rel = _relative_inputs(cols, relative_inputs)
        return _estimators().relative_gradient_boosting(cols, (1.0, (level,), ()), relative_inputs=rel, **kw)

    return build


def _cols(*names):
    return tuple(names)


# --- detectors: each entity against its own behaviour (healthmon.ml.models.detectors: the
# signals; calibrated.CalibratedDetector: calibrated tail probabilities, their combination, a
# false-alarm budget on the validation period; docs/models.md "The seven detectors").
# A detector's spec reads every numeric column of its table (features=None): the calibrated
# detector picks its signals' columns by name, and any single feature can then be shipped in its
# place when it does better on validation (training.choose_detector).


# --- targets ---------------------------------------------------------------------------------
def _failed_next(nxt: pd.DataFrame, cur: pd.DataFrame) -> pd.Series:
    return nxt["failed_runs"] > 0


def _sla_breach_next(nxt: pd.DataFrame, cur: pd.DataFrame) -> pd.Series:
    # The SLA is fixed at d from the job's own history: 1.5 x its 30-run average duration.
    sla = 1.5 * pd.to_numeric(cur["rolling_avg_duration_30d"], errors="coerce")
    return (nxt["max_duration_sec"] > sla) & (sla > 0)


def _recovers_next(nxt: pd.DataFrame, cur: pd.DataFrame) -> pd.Series:
    return (nxt["failed_runs"] == 0) & (nxt["successful_runs"] > 0)


def _had_failure(frame: pd.DataFrame) -> pd.Series:
    return pd.to_numeric(frame["failed_runs"], errors="coerce") > 0


# Thresholds chosen from the distribution of the TRAINING period of the demo data (about the
# 90th percentile; the original's 0.3 and 0.1 are never reached there, giving one class).
SPILL_THRESHOLD = 0.10
SLOW_THRESHOLD = 0.025


def _spill_next(nxt, cur):
    return nxt["spill_rate"] > SPILL_THRESHOLD


def _slow_next(nxt, cur):
    return nxt["sla_breach_rate"] > SLOW_THRESHOLD


def _serverless_week(win: pd.DataFrame) -> pd.Series:
    share = np.divide(win["serverless_cost"], win["daily_cost"], out=np.zeros(len(win)), where=win["daily_cost"] > 0)
    return pd.Series(share > 0.5, index=win.index)


def _warehouse_size_class(win: pd.DataFrame) -> pd.Series:
    """0 = downsize, 1 = keep, 2 = upsize, from NEXT week's queueing and load.
    Upsize when queries waited at capacity for more than 10 % of their total time; downsize
    when nothing queued and the warehouse averaged under one query a minute."""
    queue_share = np.divide(
        win["total_queue_time_ms"], win["total_duration_ms"], out=np.zeros(len(win)), where=win["total_duration_ms"] > 0
    )
    qpm = win["queries_per_minute"]
    cls = np.where(queue_share > 0.10, 2, np.where((queue_share < 0.005) & (qpm < 1.0), 0, 1))
    return pd.Series(cls, index=win.index)


def _any_breaking_change(win):
    return win["breaking_schema_changes_1d"] > 0


def _migration_enrich(frame: pd.DataFrame, read_gold) -> pd.DataFrame:
    from healthmon.ml.models.migration import runtime_upgrade_failures

    return runtime_upgrade_failures(frame, read_gold)


def _migration_rule(nxt, cur):
    return nxt["failed_after_upgrade"] > 0


def _upgraded_next(frame: pd.DataFrame) -> pd.Series:
    # Rows whose job is upgraded to a new runtime before its next run: the population at risk.
    return pd.to_numeric(frame.get("upgrade_before_next", pd.Series(0, index=frame.index)), errors="coerce") > 0


T = t  # short alias inside the table below


# --- baselines (docs/models.md "Baselines"): what each model must beat on the same rows -------
def _forecast_baselines(*references: bl.ReferenceInput) -> tuple:
    """Seasonal naive, the entity's mean and MAPE-optimal level (1/y-weighted median) of its
    labels known at d, and the model's reference inputs."""
    return (bl.SeasonalNaive(), bl.EntityHistory("entity_mean", "mean"), bl.EntityHistory("entity_median", "median"),
            *references)


def _classifier_baselines(*references: bl.ReferenceInput) -> tuple:
    """The entity's label rate and last label known at d, the best single feature (chosen on
    validation, with its sign), and named reference inputs."""
    return (
        bl.EntityHistory("entity_label_rate", "mean"),
        bl.EntityHistory("last_label", "last"),
        bl.BestFeature(),
        *references,
    )


def _detector_baselines(raw_series: str) -> tuple:
    """A robust z-score of the entity's raw daily series over its trailing 28 days, and the best
    single feature of the table (chosen on incidents before the test period); both thresholded
    by a false-alarm budget on the validation period."""
    return (bl.RobustZ(raw_series, f"robust_z_28d:{raw_series}"), bl.BestFeature("best_single_feature"))


_REF = bl.ReferenceInput

_SPECS = [
    # ---------------------------------------------------------------- cost (cost_features)
    ModelSpec(
        name="cost_anomaly_detector",
        domain="cost",
        kind="anomaly",
        algorithm=det.algorithm("cost_anomaly_detector"),
        factory=det.factory("cost_anomaly_detector"),
        feature_table="cost_features",
        prediction_table="cost_anomaly_predictions",
        task_key="train_cost_anomaly_detector",
        notebook="cost/train_cost_anomaly_detector",
        use_case="cost_anomaly_detection",
        hyperparameters=det.hyperparameters("cost_anomaly_detector", "cost"),
        required_columns=det.columns("cost_anomaly_detector"),
    ),
    ModelSpec(
        name="budget_forecaster",
        domain="cost",
        kind="regression",
        algorithm="gradient_boosting",
        factory=_rel(1.0, ("cost_next_dow_avg_4w",), relative_inputs=("avg_cost_28d", "daily_cost", "cost_7d", LEVEL),
                     **COST_GBR),
        feature_table="cost_features",
        prediction_table="budget_forecast_predictions",
        task_key="train_budget_forecaster",
        notebook="cost/train_budget_forecaster",
        use_case="budget_forecasting",
        features=BUDGET_FEATURES,
        target=T.next_window("daily_cost", 1, "sum", description="the workspace's list cost of the next day (d+1)"),
    ),
    ModelSpec(
        name="job_cost_optimizer",
        domain="cost",
        kind="regression",
        algorithm="gradient_boosting",
        factory=_rel_level(
            ("avg_jobs_on_all_purpose_cost_28d", "jobs_on_all_purpose_cost_7d", "jobs_on_all_purpose_cost"), **COST_GBR
        ),
        feature_table="cost_features",
        prediction_table="job_cost_optimizer_predictions",
        task_key="train_job_cost_optimizer",
        notebook="cost/train_job_cost_optimizer",
        use_case="job_cluster_savings",
        features=JOB_COST_FEATURES,
        target=T.next_window(
            "jobs_on_all_purpose_cost",
            7,
            "sum",
            scale=0.4,
            description=("savings available over the next 7 days by moving jobs off all-purpose compute: 0.4 x "
                         "next-7-day jobs-on-all-purpose cost"),
        ),
    ),
    ModelSpec(
        name="chargeback_attribution",
        domain="cost",
        kind="regression",
        algorithm="gradient_boosting",
        factory=_rel(7.0, ("avg_cost_28d",), **COST_GBR),
        feature_table="cost_features",
        prediction_table="chargeback_predictions",
        task_key="train_chargeback_attribution",
        notebook="cost/train_chargeback_attribution",
        use_case="chargeback_attribution",
        features=CHARGEBACK_FEATURES,
        target=T.next_window(
            "daily_cost",
            7,
            "sum",
            description="the workspace's total list cost over the next 7 days (the amount to charge back next week)",
        ),
    ),
    ModelSpec(
        name="commitment_recommender",
        domain="cost",
        kind="binary",
        algorithm="xgboost",
        factory=_xgb_on_history(),
        feature_table="cost_features",
        prediction_table="commitment_recommendations",
        task_key="train_commitment_recommender",
        notebook="cost/train_commitment_recommender",
        use_case="commitment_recommendation",
        target=T.window_event(
            "serverless_majority_next_7d",
            ("serverless_cost", "daily_cost"),
            7,
            _serverless_week,
            aggs={"serverless_cost": "sum", "daily_cost": "sum"},
            description=("1 if serverless makes up more than half of the workspace's cost over the next 7 days (a "
                         "serverless commitment would pay off)"),
        ),
        leakage_note=(
            "Whether serverless is most of a workspace's spend is a property of the workspace that persists "
            "from week to week, so the workspace's own label rate known at d (hist_*_mean: only weeks that "
            "ended by d) ranks next week's label almost perfectly. The entity_label_rate baseline and the "
            "within-entity AUC show how much the model adds."
        ),
    ),
    ModelSpec(
        name="tag_recommender",
        domain="cost",
        kind="multiclass",
        algorithm="random_forest",
        factory=lambda cols: _estimators().tfidf_random_forest([c for c in cols if c != "job_name"]),
        feature_table="cost_features",
        prediction_table="tag_recommendations",
        task_key="train_tag_recommender",
        notebook="cost/train_tag_recommender",
        use_case="tag_recommendation",
        features=(
            "daily_dbu",
            "daily_cost",
            "avg_dbu_7d",
            "avg_dbu_30d",
            "jobs_on_all_purpose_cost",
            "all_purpose_inefficiency_ratio",
        ),
        trainer="job_tags",
        min_train_rows=20,
        hyperparameters={"tfidf_max_features": 50, "n_estimators": 100, "max_depth": 10},
    ),
    # ---------------------------------------------------------------- security (security_features)
    ModelSpec(
        name="security_threat_detector",
        domain="security",
        kind="anomaly",
        algorithm=det.algorithm("security_threat_detector"),
        factory=det.factory("security_threat_detector"),
        feature_table="security_features",
        prediction_table="security_threat_predictions",
        task_key="train_security_threat_detector",
        notebook="security/train_security_threat_detector",
        use_case="threat_detection",
        hyperparameters=det.hyperparameters("security_threat_detector", "security"),
        required_columns=det.columns("security_threat_detector"),
    ),
    ModelSpec(
        name="exfiltration_detector",
        domain="security",
        kind="anomaly",
        algorithm=det.algorithm("exfiltration_detector"),
        factory=det.factory("exfiltration_detector"),
        feature_table="security_features",
        prediction_table="exfiltration_predictions",
        task_key="train_exfiltration_detector",
        notebook="security/train_exfiltration_detector",
        use_case="exfiltration_detection",
        hyperparameters=det.hyperparameters("exfiltration_detector", "security"),
        required_columns=det.columns("exfiltration_detector"),
    ),
    ModelSpec(
        name="privilege_escalation_detector",
        domain="security",
        kind="anomaly",
        algorithm=det.algorithm("privilege_escalation_detector"),
        factory=det.factory("privilege_escalation_detector"),
        feature_table="security_features",
        prediction_table="privilege_escalation_predictions",
        task_key="train_privilege_escalation_detector",
        notebook="security/train_privilege_escalation",
        use_case="privilege_escalation_detection",
        hyperparameters=det.hyperparameters("privilege_escalation_detector", "security"),
        required_columns=det.columns("privilege_escalation_detector"),
    ),
    ModelSpec(
        name="user_behavior_baseline",
        domain="security",
        kind="anomaly",
        algorithm=det.algorithm("user_behavior_baseline"),
        factory=det.factory("user_behavior_baseline"),
        feature_table="security_features",
        prediction_table="user_behavior_predictions",
        task_key="train_user_behavior_baseline",
        notebook="security/train_user_behavior_baseline",
        use_case="behavior_baselining",
        hyperparameters=det.hyperparameters("user_behavior_baseline", "security"),
        required_columns=det.columns("user_behavior_baseline"),
    ),
    # ---------------------------------------------------------------- performance (performance_features)
    ModelSpec(
        name="query_performance_forecaster",
        domain="performance",
        kind="regression",
        algorithm="gradient_boosting",
        factory=_rel_level(("avg_duration_7d", "avg_duration_ms")),
        feature_table="performance_features",
        prediction_table="query_performance_predictions",
        task_key="train_query_forecaster",
        notebook="performance/train_query_forecaster",
        use_case="query_latency_forecasting",
        target=T.next_day_value(
            "avg_duration_ms", description="the warehouse's mean query duration on its next active day"
        ),
    ),
    ModelSpec(
        name="warehouse_optimizer",
        domain="performance",
        kind="multiclass",
        algorithm="xgboost",
        factory=_xgb(),
        feature_table="performance_features",
        prediction_table="warehouse_optimizer_predictions",
        task_key="train_warehouse_optimizer",
        notebook="performance/train_warehouse_optimizer",
        use_case="warehouse_sizing",
        target=T.window_event(
            "recommended_size_change",
            ("total_queue_time_ms", "total_duration_ms", "queries_per_minute"),
            7,
            _warehouse_size_class,
            aggs={"total_queue_time_ms": "sum", "total_duration_ms": "sum", "queries_per_minute": "mean"},
            description=("0 downsize / 1 keep / 2 upsize, from the NEXT 7 days: upsize if queries waited at capacity "
                         "> 10 % of their time, downsize if nothing queued and load < 1 query/min"),
        ),
    ),
    ModelSpec(
        name="cluster_capacity_planner",
        domain="performance",
        kind="regression",
        algorithm="gradient_boosting",
        factory=_rel(1.0, ("avg_weekly_peak_4w",), **COST_GBR),
        feature_table="performance_features",
        prediction_table="cluster_capacity_predictions",
        task_key="train_cluster_capacity_planner",
        notebook="performance/train_cluster_capacity_planner",
        use_case="capacity_planning",
        features=CAPACITY_FEATURES,
        target=T.next_window(
            "query_count",
            7,
            "max",
            description="peak daily query count of the warehouse over the next 7 days (the load to provision for)",
        ),
    ),
    ModelSpec(
        name="performance_regression_detector",
        domain="performance",
        kind="anomaly",
        algorithm=det.algorithm("performance_regression_detector"),
        factory=det.factory("performance_regression_detector"),
        feature_table="performance_features",
        prediction_table="performance_regression_predictions",
        task_key="train_performance_regression_detector",
        notebook="performance/train_regression_detector",
        use_case="regression_detection",
        hyperparameters=det.hyperparameters("performance_regression_detector", "performance"),
        required_columns=det.columns("performance_regression_detector"),
    ),
    ModelSpec(
        name="dbr_migration_risk_scorer",
        domain="performance",
        kind="binary",
        algorithm="xgboost",
        factory=_xgb(n_estimators=60, max_depth=2),
        feature_table="reliability_features",
        prediction_table="dbr_migration_predictions",
        task_key="train_dbr_migration_risk_scorer",
        notebook="performance/train_dbr_migration_risk_scorer",
        use_case="migration_risk_scoring",
        target=T.next_event(
            "fails_after_runtime_upgrade",
            ("failed_after_upgrade",),
            _migration_rule,
            row_condition=_upgraded_next,
            row_filter="rows whose job moves to a newer Databricks Runtime before its next run",
            reference_columns=("upgrade_before_next",),
            description=("1 if the job's first run day on a newer Databricks Runtime (gold dim_cluster.dbr_version "
                         "via the task timeline) has a failed run"),
        ),
        enrich=_migration_enrich,
        features=MIGRATION_FEATURES,
        min_train_rows=20,
    ),
    ModelSpec(
        name="cache_hit_predictor",
        domain="performance",
        kind="binary",
        algorithm="xgboost",
        factory=_xgb_on_history(),
        feature_table="performance_features",
        prediction_table="cache_hit_predictions",
        task_key="train_cache_hit_predictor",
        notebook="performance/train_cache_hit_predictor",
        use_case="spill_prediction",
        target=T.next_event(
            "high_spill_next_day",
            ("spill_rate",),
            _spill_next,
            description="1 if more than 10 % of the warehouse's queries spill to disk on its next active day",
        ),
        leakage_note=(
            "Spilling is mostly a property of the warehouse (its size against its workload), so the "
            "warehouse's own spill history at d ranks the label almost perfectly; no feature holds the "
            "next day. The entity_label_rate baseline and the within-entity AUC show how much is left."
        ),
    ),
    ModelSpec(
        name="query_optimization_recommender",
        domain="performance",
        kind="binary",
        algorithm="xgboost",
        factory=_xgb_on_history(),
        feature_table="performance_features",
        prediction_table="query_optimization_predictions",
        task_key="train_query_optimization_recommender",
        notebook="performance/train_query_optimization_recommender",
        use_case="query_optimization",
        target=T.next_event(
            "sla_breaches_next_day",
            ("sla_breach_rate",),
            _slow_next,
            description="1 if more than 2.5 % of the warehouse's queries exceed 60 s on its next active day",
        ),
    ),
    # ---------------------------------------------------------------- reliability (reliability_features)
    ModelSpec(
        name="job_failure_predictor",
        domain="reliability",
        kind="binary",
        algorithm="xgboost",
        factory=_xgb_on_history(),
        feature_table="reliability_features",
        prediction_table="job_failure_predictions",
        task_key="train_failure_predictor",
        notebook="reliability/train_job_failure_predictor",
        use_case="failure_prediction",
        target=T.next_event(
            "fails_next_run_day",
            ("failed_runs",),
            _failed_next,
            description="1 if the job has a FAILED run on its next run day (within 7 days)",
        ),
    ),
    ModelSpec(
        name="job_duration_forecaster",
        domain="reliability",
        kind="regression",
        algorithm="gradient_boosting",
        factory=_rel_level(("rolling_avg_duration_30d", "avg_duration_sec")),
        feature_table="reliability_features",
        prediction_table="duration_predictions",
        task_key="train_duration_forecaster",
        notebook="reliability/train_job_duration_forecaster",
        use_case="duration_forecasting",
        target=T.next_day_value("avg_duration_sec", description="the job's mean run duration on its next run day"),
    ),
    ModelSpec(
        name="sla_breach_predictor",
        domain="reliability",
        kind="binary",
        algorithm="xgboost",
        factory=_xgb_on_history(),
        feature_table="reliability_features",
        prediction_table="sla_breach_predictions",
        task_key="train_sla_breach_predictor",
        notebook="reliability/train_sla_breach_predictor",
        use_case="sla_breach_prediction",
        target=T.next_event(
            "breaches_sla_next_run_day",
            ("max_duration_sec",),
            _sla_breach_next,
            reference_columns=("rolling_avg_duration_30d",),
            description=("1 if a run on the job's next run day lasts more than 1.5x the job's 30-run average "
                         "duration known at d"),
        ),
    ),
    ModelSpec(
        name="retry_success_predictor",
        domain="reliability",
        kind="binary",
        algorithm="xgboost",
        factory=_xgb_on_history(),
        feature_table="reliability_features",
        prediction_table="retry_success_predictions",
        task_key="train_retry_success_predictor",
        notebook="reliability/train_retry_success_predictor",
        use_case="retry_success_prediction",
        target=T.next_event(
            "recovers_next_run_day",
            ("failed_runs", "successful_runs"),
            _recovers_next,
            row_condition=_had_failure,
            row_filter="days on which the job had at least one FAILED run",
            reference_columns=("failed_runs",),
            description="after a day with a failure: 1 if the job's next run day succeeds without any failure",
        ),
        min_train_rows=20,
    ),
    ModelSpec(
        name="pipeline_health_scorer",
        domain="reliability",
        kind="regression",
        algorithm="gradient_boosting",
        factory=_gbr(),
        feature_table="reliability_features",
        prediction_table="pipeline_health_predictions",
        task_key="train_pipeline_health_scorer",
        notebook="reliability/train_pipeline_health_scorer",
        use_case="pipeline_health_scoring",
        target=T.next_window(
            "success_rate",
            7,
            "mean",
            scale=100.0,
            description="health score 0-100: the job's mean success rate over its run days in the next 7 days x 100",
        ),
    ),
    # ---------------------------------------------------------------- quality (quality_features)
    ModelSpec(
        name="data_drift_detector",
        domain="quality",
        kind="anomaly",
        algorithm=det.algorithm("data_drift_detector"),
        factory=det.factory("data_drift_detector"),
        feature_table="quality_features",
        prediction_table="data_drift_predictions",
        task_key="train_drift_detector",
        notebook="quality/train_drift_detector",
        use_case="drift_detection",
        min_train_rows=10,
        hyperparameters=det.hyperparameters("data_drift_detector", "quality"),
        required_columns=det.columns("data_drift_detector"),
    ),
    ModelSpec(
        name="data_freshness_predictor",
        domain="quality",
        kind="regression",
        algorithm="gradient_boosting",
        factory=_gbr(),
        feature_table="quality_features",
        prediction_table="freshness_predictions",
        task_key="train_freshness_predictor",
        notebook="quality/train_freshness_predictor",
        use_case="freshness_prediction",
        target=T.next_day_value(
            "max_days_since_commit",
            description="days since the stalest table of the catalog was last written, at its next daily snapshot",
        ),
        min_train_rows=20,
    ),
    ModelSpec(
        name="schema_change_predictor",
        domain="quality",
        kind="binary",
        algorithm="xgboost",
        factory=_xgb_on_history(),
        feature_table="quality_features",
        prediction_table="schema_change_predictions",
        task_key="train_schema_change_predictor",
        notebook="quality/train_schema_change_predictor",
        use_case="schema_change_prediction",
        # Strictly after d (a 7-day count from d+1 would share 6 of its 7 days with the row's own
        # schema_changes_7d). Breaking changes only, the next day: an added column breaks no reader,
        # and a busy catalog changes some schema almost every week (a 7-day "any change" label is
        # positive on ~98 % of catalog-days and says nothing).
        target=T.window_event(
            "breaking_schema_change_next_day",
            ("breaking_schema_changes_1d",),
            1,
            _any_breaking_change,
            aggs={"breaking_schema_changes_1d": "sum"},
            description="1 if the catalog has a breaking schema change (a column dropped or retyped) on d+1",
        ),
        min_train_rows=20,
    ),
]

# Per model, the baselines of docs/models.md: reference inputs are named for what they are.
BASELINES: dict[str, tuple] = {
    "cost_anomaly_detector": _detector_baselines("daily_dbu"),
    "budget_forecaster": _forecast_baselines(
        _REF("mean_last_4_same_weekday", "cost_next_dow_avg_4w"),
        _REF("mean_28d", "avg_cost_28d"),
        _REF("last_value", "daily_cost"),
    ),
    "job_cost_optimizer": _forecast_baselines(
        _REF("mean_28d_x7_x0.4", "avg_jobs_on_all_purpose_cost_28d", 0.4 * 7),
        _REF("last_7d_x0.4", "jobs_on_all_purpose_cost_7d", 0.4),
    ),
    "chargeback_attribution": _forecast_baselines(
        _REF("mean_28d_x7", "avg_cost_28d", 7.0),
        _REF("last_7d_sum", "cost_7d"),
        _REF("mean_last_4_same_weekday_x7", "cost_next_dow_avg_4w", 7.0),
    ),
    "commitment_recommender": _classifier_baselines(),
    "security_threat_detector": _detector_baselines("event_count"),
    "exfiltration_detector": _detector_baselines("tables_accessed"),
    "privilege_escalation_detector": _detector_baselines("grant_change_events"),
    "user_behavior_baseline": _detector_baselines("event_count"),
    "query_performance_forecaster": _forecast_baselines(
        _REF("last_value", "avg_duration_ms"), _REF("mean_7d", "avg_duration_7d")
    ),
    "warehouse_optimizer": (bl.EntityHistory("last_label", "last"),),
    "cluster_capacity_planner": _forecast_baselines(
        _REF("mean_last_4_weekly_peaks", "avg_weekly_peak_4w"), _REF("peak_7d", "max_query_count_7d")
    ),
    "performance_regression_detector": _detector_baselines("total_bytes_read"),
    "dbr_migration_risk_scorer": _classifier_baselines(_REF("failure_rate_30d", "rolling_failure_rate_30d")),
    "cache_hit_predictor": _classifier_baselines(
        _REF("spill_rate_today", "spill_rate"), _REF("spill_rate_28d", "avg_spill_rate_28d")
    ),
    "query_optimization_recommender": _classifier_baselines(_REF("slow_rate_today", "sla_breach_rate")),
    "job_failure_predictor": _classifier_baselines(_REF("failure_rate_30d", "rolling_failure_rate_30d")),
    "job_duration_forecaster": _forecast_baselines(
        _REF("last_value", "avg_duration_sec"), _REF("mean_30_runs", "rolling_avg_duration_30d")
    ),
    "sla_breach_predictor": _classifier_baselines(),
    "retry_success_predictor": _classifier_baselines(_REF("success_rate_today", "success_rate")),
    "pipeline_health_scorer": _forecast_baselines(
        _REF("success_rate_today_x100", "success_rate", 100.0),
        _REF("success_rate_30d_x100", "rolling_failure_rate_30d", -100.0, 100.0),
    ),
    "data_drift_detector": _detector_baselines("schema_changes_1d"),
    "data_freshness_predictor": _forecast_baselines(_REF("last_value", "max_days_since_commit")),
    "schema_change_predictor": _classifier_baselines(
        _REF("breaking_changes_today", "breaking_schema_changes_1d"), _REF("changes_last_7d", "schema_changes_7d")
    ),
    # tag_recommender has its own baselines (most frequent tag of the workspace, nearest job name): tags.py
}


def _history_baselines(spec: ModelSpec) -> tuple:
    """The entity's label history known at d, read from the feature table's ``hist_*`` columns
    (healthmon.ml.features.label_history): servable twins of ``entity_label_rate`` /
    ``entity_mean`` / ``entity_median`` / ``last_label``, so a model that cannot beat its entity's own history on
    the validation period ships it. None where the labels need gold tables (no such column)."""
    if spec.target is None or spec.custom or spec.enrich is not None:
        return ()
    mean, last = (f"{HISTORY_PREFIX}{spec.target.name}_{stat}" for stat in ("mean", "last"))
    if spec.features is not None and not {mean, last} & set(spec.features):
        return ()  # an explicit feature list without its history: the baseline would not be servable
    if spec.kind == "multiclass":
        return (_REF("last_label_feature", last),)
    if spec.kind == "regression":
        return (_REF("entity_mean_feature", mean),
                _REF("entity_median_feature", f"{HISTORY_PREFIX}{spec.target.name}_median"))
    return (_REF("entity_label_rate_feature", mean),)


_SPECS = [replace(spec, baselines=(*BASELINES.get(spec.name, ()), *_history_baselines(spec))) for spec in _SPECS]

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}
DOMAINS = ("cost", "security", "performance", "reliability", "quality")
