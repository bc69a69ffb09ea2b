"""No fingerprints: nothing in the synthetic account gives the incidents away.

On a small account built by the real generator and the real feature pipeline
(``compute_feature_table``: the feature SQL and cleaning the ML layer trains on), every column a
detector reads (``MODELS[...].features`` of the anomaly models) and every raw daily per-entity
series of each domain varies on NON-incident TRAINING rows: at least ``MIN_NONZERO`` of them are
non-zero and they take more than a handful of values. A column that is zero everywhere except
next to injected incidents would let a detector learn the generator's recipe instead of
behaviour. The raw tables are checked the same way (every signal an incident moves also occurs
outside incidents), and so are the harmless oddities and the job names.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

ACCOUNT = dict(workspaces=6, days=120, seed=23, scale="small")
MIN_NONZERO = 0.05
MIN_DISTINCT = 5
TRAIN_FRACTION = 0.6  # the models' time split: train on the first 60 % of dates

# The raw daily per-entity series of each domain (the per-entity baselines' inputs).
RAW_SERIES = {
    "cost_features": ("daily_dbu", "daily_cost", "untagged_dbu_share", "max_workload_dbu_ratio"),
    "security_features": ("event_count", "tables_accessed", "unique_source_ips", "failed_auth_count",
                          "failed_login_count", "data_export_events", "grant_change_events", "off_hours_events",
                          "sensitive_data_access"),
    "performance_features": ("query_count", "p95_duration_ms", "total_bytes_read", "spill_count", "error_count",
                             "sla_breach_count", "unpruned_scan_count", "max_template_bytes_ratio"),
    "reliability_features": ("total_runs", "failed_runs", "avg_duration_sec", "max_duration_sec"),
    "quality_features": ("commits_1d", "rows_written_1d", "tables_not_written_1d", "max_days_since_commit",
                         "schema_changes_1d", "breaking_schema_changes_1d", "dq_unhealthy_tables",
                         "max_staleness_surprise", "max_idle_days_daily_jobs"),
}
DOMAIN = {"cost_features": ("cost", "workspace_id"), "security_features": ("security", "user_name"),
          "performance_features": ("performance", "warehouse_id"), "reliability_features": ("reliability", "job_id"),
          "quality_features": ("quality", "table_name")}
GOLD = ("ground_truth_incidents", "ground_truth_benign_events", "fact_job_run_timeline", "fact_audit_logs",
        "fact_usage", "fact_query_history", "fact_table_snapshots", "fact_data_quality_monitoring_table_results",
        "dim_job")


@pytest.fixture(scope="module")
def account(tmp_path_factory):
    from healthmon.demodata import generate
    from healthmon.lakehouse import Lakehouse
    from healthmon.ml.features.pipeline import compute_feature_table
    from healthmon.ml.features.registry import FEATURE_TABLES

    home = tmp_path_factory.mktemp("fingerprints_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEALTHMON_HOME", str(home))
        generate("fp", "gold", **ACCOUNT)
        lh = Lakehouse.from_env()
        features = {name: compute_feature_table(lh, table, "fp", "gold")[0].to_pandas()
                    for name, table in FEATURE_TABLES.items()}
        gold = {name: lh.read_table(f"fp.gold.{name}").to_pandas() for name in GOLD}
    return {"features": features, "gold": gold}


def _detector_inputs(table: str) -> set[str]:
    from healthmon.ml.models import MODELS
    from healthmon.ml.models.detectors import SIGNALS, columns

    return {c for name, spec in MODELS.items() if spec.kind == "anomaly" and spec.feature_table == table
            for c in (*(spec.features or ()), *(columns(name) if name in SIGNALS else ()))}


def _non_incident_training_rows(frame: pd.DataFrame, table: str, incidents: pd.DataFrame) -> pd.DataFrame:
    from healthmon.ml.features.registry import FEATURE_TABLES

    entity_key, date_key = FEATURE_TABLES[table].primary_keys
    dates = pd.to_datetime(frame[date_key])
    span = (dates.max() - dates.min()).days + 1
    train = (dates < dates.min() + pd.Timedelta(days=round(span * TRAIN_FRACTION))).to_numpy()
    domain, column = DOMAIN[table]
    inc = incidents[incidents["domain"] == domain]
    entity = inc[column].astype("string")
    if domain == "quality":
        entity = entity.str.split(".").str[0]  # quality rows are per catalog
    hit = np.zeros(len(frame), bool)
    keys = frame[entity_key].astype(str).to_numpy()
    for e, s, t in zip(entity, inc["start_time"], inc["end_time"]):
        if pd.notna(e):
            s, t = pd.Timestamp(s).tz_localize(None).normalize(), pd.Timestamp(t).tz_localize(None)
            hit |= (keys == e) & (dates >= s).to_numpy() & (dates < t).to_numpy()
    return frame[train & ~hit]


@pytest.mark.parametrize("table", sorted(RAW_SERIES))
def test_detector_inputs_and_raw_series_vary_on_non_incident_training_rows(account, table):
    rows = _non_incident_training_rows(account["features"][table], table, account["gold"]["ground_truth_incidents"])
    assert len(rows) >= 200, len(rows)
    columns = sorted(_detector_inputs(table) | set(RAW_SERIES[table]))
    degenerate = {}
    for c in columns:
        v = rows[c]
        nonzero, distinct = float((v != 0).mean()), int(v.nunique())
        if nonzero < MIN_NONZERO or distinct < MIN_DISTINCT:
            degenerate[c] = (round(nonzero, 3), distinct)
    assert not degenerate, f"{table}: (non-zero share, distinct values) on {len(rows)} non-incident training rows: {degenerate}"


def _outside(df: pd.DataFrame, time_col: str, key_col: str, incidents: pd.DataFrame, inc_col: str) -> pd.DataFrame:
    """Rows whose entity is not inside one of its incidents (a day of margin on both sides)."""
    keep = np.ones(len(df), bool)
    t = df[time_col]
    for e, s, end in zip(incidents[inc_col], incidents["start_time"], incidents["end_time"]):
        if pd.notna(e):
            keep &= ~((df[key_col] == e) & (t >= s - pd.Timedelta(days=1)) & (t < end + pd.Timedelta(days=1))).to_numpy()
    return df[keep]


def test_every_signal_incidents_move_also_occurs_outside_incidents(account):
    g = account["gold"]
    inc = g["ground_truth_incidents"]
    runs = _outside(g["fact_job_run_timeline"], "period_start_time", "job_id", inc, "job_id")
    for state in ("FAILED", "TIMED_OUT"):
        assert (runs["result_state"] == state).any(), state
    assert {"LIBRARY_INSTALLATION_ERROR", "CLOUD_FAILURE"} <= set(runs["termination_code"])
    assert (runs["trigger_type"] == "ONETIME").any()
    audit = _outside(g["fact_audit_logs"], "event_time", "user_identity_email", inc, "user_name")
    failed_login = audit[audit["is_failed_action"] & audit["action_name"].isin(["login", "tokenLogin"])]
    per_user_day = failed_login.groupby(["user_identity_email", "event_date"]).size()
    assert per_user_day.max() >= 5  # bursts of failed logins (expired tokens, forgotten passwords)
    grants = audit[audit["action_name"].isin(["updatePermissions", "addPrincipalToGroup", "changeClusterAcl"])]
    assert grants.groupby(["user_identity_email", "event_date"]).size().max() >= 8  # onboarding bursts
    assert grants["user_identity_email"].nunique() >= 10  # not an admin-only action
    exports = audit[audit["action_name"].isin(["downloadQueryResult", "workspaceExport"])]
    assert exports.groupby(["user_identity_email", "event_date"]).size().max() >= 30  # scheduled bulk exports
    reads = audit[audit["action_name"] == "getTable"]
    tables = reads.groupby(["user_identity_email", "event_date"])["request_params"].agg(
        lambda p: len({dict(x).get("tableName") for x in p}))
    assert tables.max() >= 8  # access reviews read many tables (all of a small workspace)
    usage = _outside(g["fact_usage"], "usage_start_time", "usage_metadata_job_id", inc, "job_id")
    tagged_jobs = set(usage.loc[usage["is_tagged"] & usage["usage_metadata_job_id"].notna(), "usage_metadata_job_id"])
    lost = usage[~usage["is_tagged"] & usage["usage_metadata_job_id"].isin(tagged_jobs)]
    assert len(lost)  # tag churn: tagged jobs running untagged for a while
    q = _outside(g["fact_query_history"], "start_time", "compute_warehouse_id", inc, "warehouse_id")
    scans = q[q["read_files"] > 0]
    assert 0.02 < (scans["pruned_files"] == 0).mean() < 0.9  # some statements never prune
    assert (q["spilled_local_bytes"] > 0).any() and (q["total_duration_ms"] > 60_000).any()
    snaps = g["fact_table_snapshots"]
    assert (snaps["columns_removed"] + snaps["columns_type_changed"] >= 2).any()  # refactors
    dq = g["fact_data_quality_monitoring_table_results"]
    assert (dq["freshness_status"] == "Unhealthy").any() and (dq["completeness_status"] == "Unhealthy").any()


def test_benign_oddities_in_every_period_and_never_labelled(account):
    from healthmon.demodata.benign import BENIGN_KINDS, CALENDAR_KINDS

    g = account["gold"]
    benign, inc = g["ground_truth_benign_events"], g["ground_truth_incidents"]
    frequent = {k for k, (_, rate) in BENIGN_KINDS.items() if rate >= 0.3} | set(CALENDAR_KINDS)
    assert frequent <= set(benign["kind"]), frequent - set(benign["kind"])
    assert not set(benign["kind"]) & set(inc["kind"])
    start = benign["start_time"].min().normalize()
    days = ACCOUNT["days"]
    edges = [start + pd.Timedelta(days=round(days * f)) for f in (0.6, 0.8)]
    period = np.digitize(benign["start_time"].astype("int64"), [e.value // 1000 for e in edges])
    assert set(period) == {0, 1, 2}  # training, validation and test


def test_benign_oddities_visible_in_raw_tables(account):
    g = account["gold"]
    benign, runs, audit = g["ground_truth_benign_events"], g["fact_job_run_timeline"], g["fact_audit_logs"]
    win = lambda df, col, r: df[(df[col] >= r.start_time) & (df[col] < r.end_time)]  # noqa: E731
    for r in benign[benign["kind"] == "planned_pause"].itertuples():
        assert len(win(runs[runs["job_id"] == r.job_id], "period_start_time", r)) == 0
    for r in benign[benign["kind"] == "scheduled_bulk_export"].itertuples():
        mine = win(audit[audit["user_identity_email"] == r.user_name], "event_time", r)
        assert mine["action_name"].isin(["downloadQueryResult", "workspaceExport"]).sum() >= r.magnitude
    for r in benign[benign["kind"] == "expired_token_retries"].itertuples():
        mine = win(audit[audit["user_identity_email"] == r.user_name], "event_time", r)
        assert ((mine["action_name"] == "tokenLogin") & (mine["response_status_code"] == 401)).sum() >= r.magnitude
    for r in benign[benign["kind"] == "travel"].itertuples():
        mine = audit[audit["user_identity_email"] == r.user_name]
        usual = set(mine[mine["event_time"] < r.start_time]["source_ip_address"])
        assert set(win(mine, "event_time", r)["source_ip_address"]) - usual


def test_job_names_do_not_give_the_team_tag_away(account):
    """Tags are not derivable from job names: many names carry no team word, several words are
    shared by teams, some tagged jobs carry another team's word, some jobs are untagged or
    renamed (runs and usage carry the old name before the rename)."""
    from healthmon.demodata.world import SCALES, TEAM_NAME_WORDS, build_world

    w = build_world(7, SCALES["medium"], 20, 180, dt.date(2026, 9, 30))
    tagged = [j for j in range(len(w.job_id)) if w.job_tags[j]]
    assert 0.6 < len(tagged) / len(w.job_id) < 0.85
    team = [w.job_tags[j]["team"] for j in tagged]
    has_own_word = [any(w.job_name[j].startswith(x + "_") for x in TEAM_NAME_WORDS[t]) for j, t in zip(tagged, team)]
    starts_with_team = [w.job_name[j].startswith(t + "_") for j, t in zip(tagged, team)]
    assert np.mean(starts_with_team) < 0.4 and np.mean(has_own_word) < 0.7
    first_word_teams: dict[str, set] = {}
    for j, t in zip(tagged, team):
        first_word_teams.setdefault(w.job_name[j].split("_")[0], set()).add(t)
    assert sum(len(ts) >= 2 for ts in first_word_teams.values()) >= 5
    usage = account["gold"]["fact_usage"].sort_values("usage_start_time")
    jobs = account["gold"]["dim_job"].set_index("job_id")["name"]
    renamed = 0
    for job, names in usage[usage["usage_metadata_job_id"].notna()].groupby("usage_metadata_job_id")["usage_metadata_job_name"]:
        assert names.notna().all() and (names != "").all()
        if names.nunique() > 1:
            renamed += 1
            assert names.nunique() == 2 and names.iloc[-1] == jobs[job] and names.iloc[0] != jobs[job]
    assert renamed >= 1
