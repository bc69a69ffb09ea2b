"""What each of the seven detectors watches: its signals (``signals.Signal``) and its
false-alarm budget. The scoring itself is ``calibrated.CalibratedDetector``; docs/models.md
("The seven detectors") says why each signal is there and how the designs were chosen.

Every signal is a behaviour of the entity compared with the entity's own history known at d
(feature-table columns built from trailing windows that exclude today) — never a pattern of a
particular incident.
"""

from __future__ import annotations

from healthmon.ml.models.signals import Signal


def _count(metric: str, base: str) -> Signal:
    """A security count against the user's previous 28 active days (mean and spread) and the
    largest day of its previous 35 (its recent peak)."""
    return Signal(metric, "count", f"avg_{base}_prev28", f"std_{base}_prev28", peak=f"max_{base}_prev35")


# --- security (user-days of security_features) -----------------------------------------------
EVENTS = _count("event_count", "event_count")
TABLES = _count("tables_accessed", "tables_accessed")
EXPORTS = _count("data_export_events", "data_export")
GRANTS = _count("grant_change_events", "grant_changes")
FAILED = _count("failed_auth_count", "failed_auth")
FAILED_LOGINS = _count("failed_login_count", "failed_login")
IPS = _count("unique_source_ips", "source_ips")
OFF_HOURS = _count("off_hours_events", "off_hours")
# A population pattern: failed actions of all users today from one of this user's failing source
# IPs, against that IP's usual number a day (a spray is small per user but shared by many users).
SHARED_FAILURES = Signal("failed_events_same_ip", "count", "usual_failed_events_same_ip")
# Rows the user's SQL statements returned today against the median of its previous 28 active days
# (ln((1 + x) / (1 + median))): data pulled out through query results; the median is not moved by
# the attack's own earlier days, so an exfiltration that lasts weeks stays visible.
RESULT_ROWS = Signal("produced_rows", "log_ratio", "median_produced_rows_prev28")

# --- cost (workspace-days of cost_features) ----------------------------------------------------
COST = (
    # the workspace's DBUs against the mean of its last 4 same weekdays (weekly seasonality)
    Signal("daily_dbu", "level", "expected_dbu_same_weekday", "std_dbu_prev28"),
    # one workload (job, cluster, warehouse) against its own 28-day mean
    Signal("max_workload_dbu_ratio", "ratio"),
    # that workload's excess as a share of the day's DBUs (large for the workspace, not only for the job)
    Signal("top_workload_surge_share", "value"),
    # a job's input per run against the median of its own runs (and its last month-end close), on
    # two run days in a row (a weekly job's one run): the bytes its own cluster's nodes received
    # (a reprocessing job reads several times its input while start-up and per-task overhead keep
    # its duration, and so its DBUs, near usual), else its run duration (serverless: no node
    # timeline, little overhead); the duration of every job scored lower beside it than without
    # it (docs/models.md)
    Signal("max_job_input_ratio", "ratio"),
    # DBUs of workloads that were tagged in their history and are untagged today
    Signal("lost_tags_dbu_share", "value"),
)

# --- performance (warehouse-days of performance_features) -------------------------------------
PERFORMANCE = (
    Signal("max_template_bytes_ratio", "ratio"),  # a regular statement text against its own 28 days
    Signal("avg_bytes_per_query", "log_ratio", "avg_bytes_per_query_28d"),
    Signal("unpruned_scan_rate", "log_ratio", "avg_unpruned_scan_rate_28d"),
    Signal("spill_rate", "log_ratio", "avg_spill_rate_28d"),
)

# --- quality (catalog-days of quality_features) -----------------------------------------------
# No schema-change signal: breaking changes are routine in most catalogs, and columns touched by
# the largest one added false events without catching a schema incident (docs/models.md).
QUALITY = (
    Signal("max_staleness_surprise", "value"),  # a table unwritten for longer than its own history makes likely
    Signal("stale_days_with_idle_writer", "value"),  # an overdue daily table while a daily job of the catalog idles
    Signal("max_overdue_days_daily_tables", "value"),  # days the most overdue daily-written table went unwritten
)

SIGNALS: dict[str, tuple[Signal, ...]] = {
    "cost_anomaly_detector": COST,
    "security_threat_detector": (FAILED_LOGINS, FAILED, IPS, EXPORTS, GRANTS, TABLES, SHARED_FAILURES,
                                 RESULT_ROWS),
    "exfiltration_detector": (EXPORTS, TABLES, EVENTS, RESULT_ROWS),
    "privilege_escalation_detector": (GRANTS, FAILED),
    "user_behavior_baseline": (EVENTS, TABLES, EXPORTS, GRANTS, FAILED, FAILED_LOGINS, IPS, OFF_HOURS,
                               SHARED_FAILURES),
    "performance_regression_detector": PERFORMANCE,
    "data_drift_detector": QUALITY,
}

# At most this many false events per entity per 30 days of the validation period (the flag
# threshold; ``baselines.budget_threshold``). Per domain, because entities differ in number and
# in what a person can review: hundreds of users, 20 workspaces, a few dozen warehouses and
# catalogs. Chosen on the development seeds' validation periods (docs/models.md).
BUDGET = {"security": 0.1, "cost": 1.0, "performance": 0.1, "quality": 1.0}
# Where within that budget the threshold sits (``baselines.THRESHOLD_RULES``; the detector and its
# baselines get the same rule). ``lowest`` spends the budget; ``best_f1`` takes it as a cap and
# stops at the validation period's best detection F1. Per detector, where the development seeds'
# figures justify it (docs/models.md, "Where within the budget"): ``best_f1`` raised the mean
# and the minimum only for user behaviour; it lowered the minimum of the others (cost and
# privilege escalation by far: a ranking whose top is no cleaner than the rest of its flags, or a
# maximum placed on two or three validation incidents, does not carry to the next month).
THRESHOLD_RULE = {"user_behavior_baseline": "best_f1"}

# How each detector combines its signals (``CalibratedDetector.combine``). ``learned``: weights
# from the training period's incidents (min-p where there are too few), for the domains whose
# signals differ mostly in how noisy they are; ``minp`` for the security detectors, whose incident
# kinds each move a different signal, so weights learned from the kinds seen in training starve
# the signals of the others (docs/models.md, "The seven detectors").
COMBINE = {
    "cost_anomaly_detector": "learned",
    "performance_regression_detector": "learned",
    "data_drift_detector": "learned",
}
ALGORITHM = {"minp": "calibrated_min_p", "learned": "calibrated_learned_weights"}


def columns(name: str) -> tuple[str, ...]:
    """The feature columns a detector reads, in a fixed order."""
    out: list[str] = []
    for s in SIGNALS[name]:
        out += [c for c in s.columns() if c not in out]
    return tuple(out)


def combination(name: str) -> str:
    return COMBINE.get(name, "minp")


def algorithm(name: str) -> str:
    """The spec's ``algorithm`` tag: the calibrated detector and its combination rule."""
    return ALGORITHM.get(combination(name), f"calibrated_{combination(name)}")


def factory(name: str, combine: str | None = None):
    signals, rule = SIGNALS[name], combine or combination(name)

    def build(cols):
        from healthmon.ml.models.calibrated import CalibratedDetector

        return CalibratedDetector(signals=signals, columns=tuple(cols), combine=rule)

    return build


def hyperparameters(name: str, domain: str) -> dict:
    return {"signals": ", ".join(f"{s.name}:{s.family}" for s in SIGNALS[name]), "combine": combination(name),
            "false_events_per_entity_month": BUDGET[domain], "threshold_rule": THRESHOLD_RULE.get(name, "lowest")}
