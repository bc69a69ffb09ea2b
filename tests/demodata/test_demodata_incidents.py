"""Injected incidents are visible in the ordinary columns of the raw gold tables, only in the
test period, and the signals they move also occur without incidents (no giveaway columns)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from healthmon.demodata.incidents import KINDS


@pytest.fixture(scope="module")
def g(generated):
    pdf = {n: t.to_pandas() for n, t in generated["arrow"].items()}
    inc = pdf["ground_truth_incidents"]
    return pdf, inc


def _window(df, col, row):
    return df[(df[col] >= row.start_time) & (df[col] < row.end_time)]


def _before(df, col, row):
    return df[df[col] < row.start_time]


def test_every_kind_injected_in_test_period(g, generated):
    pdf, inc = g
    assert set(inc["kind"]) == set(KINDS)
    days = generated["gen"]["days"]
    last_day = pdf["fact_usage"]["usage_date"].max()
    test_start = pd.Timestamp(last_day - dt.timedelta(days=round(days * 0.2) - 1), tz="UTC")
    assert (inc["start_time"] >= test_start).all()
    assert set(inc["domain"]) == {"cost", "security", "performance", "reliability", "quality"}


def _incidents(inc, kind):
    rows = inc[inc["kind"] == kind]
    assert len(rows), kind
    return rows.itertuples()


def test_cost_spike_visible_in_usage(g):
    pdf, inc = g
    u = pdf["fact_usage"].assign(q=lambda d: d["usage_quantity"].astype(float))
    for row in _incidents(inc, "cost_spike"):
        c = u[u["usage_metadata_cluster_id"] == row.cluster_id]
        during = _window(c, "usage_start_time", row).groupby("usage_date")["q"].sum()
        before = _before(c, "usage_start_time", row).groupby("usage_date")["q"].sum()
        assert during.mean() > 2.5 * before.median(), row.incident_id


@pytest.mark.parametrize("kind", ["runaway_job", "sla_breach"])
def test_job_volume_incidents_visible_in_runs_and_usage(g, kind):
    pdf, inc = g
    runs = pdf["fact_job_run_timeline"]
    for row in _incidents(inc, kind):
        r = runs[runs["job_id"] == row.job_id]
        during, before = _window(r, "period_start_time", row), _before(r, "period_start_time", row)
        assert during["run_duration_seconds"].median() > 2.0 * before["run_duration_seconds"].median(), row.incident_id
        if kind == "sla_breach":
            assert (during["result_state"] == "TIMED_OUT").mean() > 0.5, row.incident_id


def test_untagged_spend_visible_in_usage_and_dim_job(g):
    pdf, inc = g
    u, jobs = pdf["fact_usage"], pdf["dim_job"]
    for row in _incidents(inc, "untagged_spend"):
        j = u[u["usage_metadata_job_id"] == row.job_id]
        assert _before(j, "usage_start_time", row)["is_tagged"].all()
        assert not _window(j, "usage_start_time", row)["is_tagged"].any()
        assert len(jobs[jobs["job_id"] == row.job_id]["tags"].iloc[0]) == 0


def test_failing_streak_after_upgrade(g):
    pdf, inc = g
    runs, clusters = pdf["fact_job_run_timeline"], pdf["dim_cluster"]
    for row in _incidents(inc, "failing_job_streak_after_upgrade"):
        r = runs[runs["job_id"] == row.job_id]
        fail = lambda d: d["result_state"].isin(["FAILED", "ERROR"]).mean()  # noqa: E731
        assert fail(_window(r, "period_start_time", row)) >= 0.3, row.incident_id
        assert fail(_before(r, "period_start_time", row)) < 0.2
        c = clusters[clusters["cluster_id"] == row.cluster_id].iloc[0]
        assert c["dbr_version"].startswith("17.") and c["change_time"] <= row.start_time


def test_credential_stuffing_visible_in_audit(g):
    pdf, inc = g
    a = pdf["fact_audit_logs"]
    for row in _incidents(inc, "credential_stuffing"):
        mine = a[a["user_identity_email"] == row.user_name]
        w = _window(mine, "event_time", row)
        failed = w[w["is_failed_action"] & (w["action_name"] == "login")]
        assert len(failed) >= 100
        usual = set(_before(mine, "event_time", row)["source_ip_address"])
        assert len(set(failed["source_ip_address"]) - usual) >= 10


def test_exfiltration_visible_in_audit_and_queries(g):
    pdf, inc = g
    a, q = pdf["fact_audit_logs"], pdf["fact_query_history"]
    for row in _incidents(inc, "data_exfiltration"):
        mine = a[a["user_identity_email"] == row.user_name]
        dl = mine["action_name"].isin(["downloadQueryResult", "workspaceExport"])
        before_per_day = mine[dl & (mine["event_time"] < row.start_time)].groupby("event_date").size().reindex(
            mine["event_date"].unique(), fill_value=0).mean()
        assert dl[(mine["event_time"] >= row.start_time) & (mine["event_time"] < row.end_time)].sum() > 5 * max(before_per_day, 1)
        qb = q[q["executed_by"] == row.user_name]
        assert _window(qb, "start_time", row)["read_bytes"].sum() > 5 * max(1, _before(qb, "start_time", row)["read_bytes"].median())


def test_privilege_escalation_visible_in_audit(g):
    pdf, inc = g
    a = pdf["fact_audit_logs"]
    grants = {"updatePermissions", "addPrincipalToGroup", "changeClusterAcl"}
    for row in _incidents(inc, "privilege_escalation"):
        mine = a[a["user_identity_email"] == row.user_name]
        w = _window(mine, "event_time", row)
        assert w["action_name"].isin(grants).sum() >= 5
        assert w["is_sensitive_action"].sum() >= 3  # updatePermissions matches gold's "permission" rule
        joins = w[w["action_name"] == "addPrincipalToGroup"]
        assert any(dict(p).get("groupName") == "admins" for p in joins["request_params"])
        usual = _before(mine, "event_time", row)
        assert usual["action_name"].isin(grants).sum() <= 2  # not something this user normally does


def test_query_regression_visible_in_query_history(g):
    pdf, inc = g
    q = pdf["fact_query_history"]
    for row in _incidents(inc, "query_performance_regression"):
        wq = q[(q["compute_warehouse_id"] == row.warehouse_id) & ~q["from_result_cache"]]
        during, before = _window(wq, "start_time", row), _before(wq, "start_time", row)
        # the same statement text now scans far more and prunes nothing
        ratio = (during.groupby("statement_text")["read_bytes"].median()
                 / before.groupby("statement_text")["read_bytes"].median()).dropna()
        worst = ratio.idxmax()
        assert ratio.max() > 4, row.incident_id
        assert (during[during["statement_text"] == worst]["pruned_files"] == 0).all()
        assert (before[before["statement_text"] == worst]["pruned_files"] > 0).all()


def test_stale_table_visible_in_snapshots_and_monitor(g):
    pdf, inc = g
    s, dq = pdf["fact_table_snapshots"], pdf["fact_data_quality_monitoring_table_results"]
    for row in _incidents(inc, "stale_table"):
        cat, sch, name = row.table_name.split(".")
        t = s[(s["table_catalog"] == cat) & (s["table_schema"] == sch) & (s["table_name"] == name)]
        start, end = row.start_time.date(), row.end_time.date()
        w = t[(t["snapshot_date"] >= start) & (t["snapshot_date"] < end)]
        assert (w["commits_1d"] == 0).all() and w["last_commit_time"].nunique() == 1
        m = dq[(dq["catalog_name"] == cat) & (dq["schema_name"] == sch) & (dq["table_name"] == name)]
        if len(m):
            assert (_window(m, "event_time", row)["freshness_status"] == "Unhealthy").any()


def test_schema_change_visible_in_snapshots(g):
    pdf, inc = g
    s = pdf["fact_table_snapshots"]
    for row in _incidents(inc, "schema_change"):
        cat, sch, name = row.table_name.split(".")
        day = s[(s["table_catalog"] == cat) & (s["table_schema"] == sch) & (s["table_name"] == name)
                & (s["snapshot_date"] == row.start_time.date())].iloc[0]
        assert day["columns_removed"] >= 1
        prev = s[(s["table_catalog"] == cat) & (s["table_schema"] == sch) & (s["table_name"] == name)
                 & (s["snapshot_date"] == row.start_time.date() - dt.timedelta(days=1))].iloc[0]
        assert prev["schema_hash"] != day["schema_hash"]


def test_signals_also_occur_without_incidents(g, generated):
    """The columns incidents move are ordinary signals, not flags only incidents set: they all
    occur before the test period, where there are no incidents at all."""
    pdf, inc = g
    first_incident = inc["start_time"].min()
    runs = pdf["fact_job_run_timeline"]
    train = runs[runs["period_start_time"] < first_incident]
    assert train["result_state"].isin(["FAILED", "ERROR"]).any()
    assert (train["trigger_type"] == "ONETIME").any()
    a = pdf["fact_audit_logs"]
    a = a[a["event_time"] < first_incident]
    assert a["is_failed_action"].any() and (a[a["action_name"] == "login"]["is_failed_action"]).any()
    assert a["action_name"].isin(["updatePermissions", "addPrincipalToGroup"]).any()
    assert a["action_name"].isin(["downloadQueryResult", "workspaceExport"]).any()
    u = pdf["fact_usage"]
    assert (~u[(u["usage_start_time"] < first_incident) & u["usage_metadata_job_id"].notna()]["is_tagged"]).any()
    q = pdf["fact_query_history"]
    q = q[q["start_time"] < first_incident]
    assert (q["spilled_local_bytes"] > 0).any() and (q["total_duration_ms"] > 60_000).any()
    dq = pdf["fact_data_quality_monitoring_table_results"]
    assert (dq[dq["event_time"] < first_incident]["status"] == "Unhealthy").any()


def test_upstream_failures_explain_downstream_failures():
    """dim_job.description names a job's upstream; downstream runs fail far more often on days
    the upstream failed (an observable cause, not noise)."""
    from healthmon.demodata.arrowgen import decode
    from healthmon.demodata.generator import iter_batches

    got = {}
    for name, table in iter_batches(workspaces=10, days=60, seed=4, scale="medium"):
        if name in ("dim_job", "fact_job_run_timeline"):
            got[name] = decode(table).to_pandas()
        if len(got) == 2:
            break
    jobs, runs = got["dim_job"], got["fact_job_run_timeline"]
    ups = jobs["description"].str.extract(r"runs after job (\d+)")[0]
    pairs = dict(zip(jobs["job_id"][ups.notna()], ups[ups.notna()]))
    assert len(pairs) >= 5
    failed = runs.assign(f=runs["result_state"].isin(["FAILED", "ERROR"]))
    daily = failed[failed["trigger_type"] == "CRON"].groupby(["job_id", "run_date"])["f"].any()
    up_failed, up_ok = [], []
    for down, up in pairs.items():
        for day, f in daily.xs(down, level=0).items():
            (up_failed if daily.get((up, day), False) else up_ok).append(f)
    assert len(up_failed) >= 10
    assert sum(up_failed) / len(up_failed) > 3 * max(sum(up_ok) / len(up_ok), 0.01)


def _run_runtimes(pdf):
    runs, clusters = pdf["fact_job_run_timeline"], pdf["dim_cluster"]
    from healthmon.ml.models.migration import runtime_rank

    rank = dict(zip(clusters["cluster_id"], clusters["dbr_version"].map(runtime_rank)))
    first = runs["compute_ids"].map(lambda ids: ids[0] if ids is not None and len(ids) else None)
    return runs.assign(cluster=first, rank=first.map(lambda c: rank.get(c)))


def test_routine_runtime_upgrades_happen_before_the_test_period_and_are_visible(g, generated):
    """Jobs on job clusters move to newer runtimes throughout the period (not only in the
    incident): each move is a new cluster definition whose dim_cluster row has the newer
    dbr_version, so a run's runtime is readable from compute_ids alone."""
    pdf, inc = g
    runs = _run_runtimes(pdf)
    runs = runs[runs["rank"].notna()].sort_values("period_start_time")
    incident_jobs = set(inc.loc[inc["kind"] == "failing_job_streak_after_upgrade", "job_id"])
    days = generated["gen"]["days"]
    start = pd.Timestamp(runs["period_start_time"].min()).normalize()
    test_start = start + pd.Timedelta(days=days - round(days * 0.2))
    upgrades = []
    for job, r in runs.groupby("job_id"):
        daily = r.groupby(r["period_start_time"].dt.normalize())["rank"].max()
        steps = daily[daily.diff() > 0]
        if job not in incident_jobs:
            assert (daily.diff().dropna() >= 0).all(), f"job {job} moved to an older runtime"
        upgrades += [(job, d) for d in steps.index]
    assert len(upgrades) >= 3
    assert any(pd.Timestamp(d).tz_localize(None) < test_start.tz_localize(None) for _, d in upgrades), "no upgrade before the test period"
    # every upgrade changes the cluster id (a new job-cluster definition)
    for job, d in upgrades:
        r = runs[runs["job_id"] == job]
        assert r.loc[r["period_start_time"].dt.normalize() == d, "cluster"].iloc[0] != \
            r.loc[r["period_start_time"].dt.normalize() < d, "cluster"].iloc[-1]


def test_broken_routine_upgrades_fail_their_first_runs_and_breakage_has_causes():
    """The world's upgrades: whether one breaks depends on the version jump, Photon, the
    task count, the oldest runtime and the job's flakiness (plus noise); a broken one raises
    the failure log-odds of its first days."""
    import numpy as np

    from healthmon.demodata.world import SCALES, build_world

    w = build_world(11, SCALES["medium"], 20, 180, dt.date(2026, 9, 30))
    assert len(w.upgrade_job) > 100
    d = w.upgrade_day
    assert (d < 108).sum() > 30 and ((d >= 108) & (d < 144)).sum() > 10 and (d >= 144).sum() > 10
    assert (w.upgrade_to > w.upgrade_from).all()
    assert (w.job_compute[w.upgrade_job] == 0).all()
    j = w.upgrade_job
    photon = w.job_photon[j]
    assert w.upgrade_breaks[photon].mean() > w.upgrade_breaks[~photon].mean() + 0.1
    big = (w.upgrade_to - w.upgrade_from) >= 2
    assert w.upgrade_breaks[big].mean() > w.upgrade_breaks[~big].mean()
    assert 0.05 < w.upgrade_breaks.mean() < 0.6  # neither certain nor absent
    assert (w.upgrade_fail_logit[w.upgrade_breaks] > 3).all() and (w.upgrade_fail_logit[~w.upgrade_breaks] == 0).all()
    # the job's current definition carries the last upgrade's runtime
    for e in np.nonzero(w.upgrade_day == np.array([w.upgrade_day[w.upgrade_job == x].max() for x in w.upgrade_job]))[0]:
        assert w.cluster_dbr[w.job_cluster[w.upgrade_job[e]]] == w.upgrade_to[e]
