"""Injected incidents: everywhere in the timeline, each kind in the test period, with magnitude
classes, and each visible in the ordinary columns of the raw gold tables. (That the columns they
move also vary without incidents is tested on the features: test_demodata_fingerprints.py.)"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from healthmon.demodata.incidents import CLASSES, KINDS

DOMAINS = {"cost", "security", "performance", "reliability", "quality"}
FAILED = ["FAILED", "ERROR"]


@pytest.fixture(scope="module")
def g(generated):
    pdf = {n: t.to_pandas() for n, t in generated["arrow"].items()}
    return pdf, pdf["ground_truth_incidents"]


def _test_start(pdf, days: int) -> pd.Timestamp:
    first = pd.Timestamp(pdf["fact_usage"]["usage_date"].min())
    return (first + pd.Timedelta(days=days - max(1, round(days * 0.2)))).tz_localize("UTC")


def _window(df, col, row):
    return df[(df[col] >= row.start_time) & (df[col] < row.end_time)]


def _before(df, col, row, days: int | None = None):
    lo = row.start_time - pd.Timedelta(days=days) if days else pd.Timestamp.min.tz_localize("UTC")
    return df[(df[col] < row.start_time) & (df[col] >= lo)]


def _incidents(inc, kind, classes=CLASSES):
    rows = inc[(inc["kind"] == kind) & inc["magnitude_class"].isin(classes)]
    assert len(inc[inc["kind"] == kind]), kind
    return list(rows.itertuples())


def test_incidents_across_the_timeline_every_kind_in_the_test_period(g, generated):
    pdf, inc = g
    assert set(inc["kind"]) == set(KINDS)
    assert set(inc["domain"]) == DOMAINS
    assert set(inc["magnitude_class"]) <= set(CLASSES) and set(inc["magnitude_class"]) == set(CLASSES)
    test_start = _test_start(pdf, generated["gen"]["days"])
    for kind, rows in inc.groupby("kind"):
        assert (rows["start_time"] < test_start).any(), f"{kind}: none before the test period"
        assert (rows["start_time"] >= test_start).any(), f"{kind}: none in the test period"
    for kind, rows in inc.groupby("kind"):  # every magnitude is in its class's range
        for r in rows.itertuples():
            lo, hi = KINDS[kind].magnitude[r.magnitude_class]
            assert lo - 0.5 <= r.magnitude <= hi + 0.5, (kind, r.magnitude_class, r.magnitude)
    first = pd.Timestamp(pdf["fact_usage"]["usage_date"].min()).tz_localize("UTC")
    assert (inc["start_time"] >= first + pd.Timedelta(days=7)).all()  # after a warm-up
    assert inc["group_id"].notna().all() and (inc["end_time"] > inc["start_time"]).all()


def test_cost_spike_visible_in_usage(g):
    pdf, inc = g
    u = pdf["fact_usage"].assign(q=lambda d: d["usage_quantity"].astype(float))
    for row in _incidents(inc, "cost_spike"):
        c = u[u["usage_metadata_cluster_id"] == row.cluster_id]
        during = _window(c, "usage_start_time", row)["q"].sum() / max(1, (row.end_time - row.start_time).days)
        before = _before(c, "usage_start_time", row).groupby("usage_date")["q"].sum()
        assert during > 1.3 * before.median(), row.incident_id


@pytest.mark.parametrize("kind", ["runaway_job", "sla_breach"])
def test_job_volume_incidents_visible_in_runs(g, kind):
    pdf, inc = g
    runs = pdf["fact_job_run_timeline"]
    for row in _incidents(inc, kind, ("moderate", "blatant")):
        r = runs[runs["job_id"] == row.job_id]
        during, before = _window(r, "period_start_time", row), _before(r, "period_start_time", row, 21)
        assert during["run_duration_seconds"].median() > 1.5 * before["run_duration_seconds"].median(), row.incident_id
        if kind == "sla_breach":
            assert (during["result_state"] == "TIMED_OUT").mean() > 0.5, row.incident_id


def test_every_runaway_job_runs_in_its_window(g):
    # a weekly job off its weekday (or a paused one) would make an incident no table shows
    pdf, inc = g
    runs = pdf["fact_job_run_timeline"]
    for row in _incidents(inc, "runaway_job"):
        assert len(_window(runs[runs["job_id"] == row.job_id], "period_start_time", row)), row.incident_id


def test_workload_surge_adds_a_share_of_the_workspace_dbus(g):
    pdf, inc = g
    u = pdf["fact_usage"].assign(q=lambda d: d["usage_quantity"].astype(float))
    for row in _incidents(inc, "workload_surge"):
        mine = (u[u["usage_metadata_job_id"] == row.job_id] if pd.notna(row.job_id)
                else u[u["usage_metadata_cluster_id"] == row.cluster_id])
        during = _window(mine, "usage_start_time", row).groupby("usage_date")["q"].sum().mean()
        before = _before(mine, "usage_start_time", row, 21).groupby("usage_date")["q"].sum().mean()
        assert during > before, row.incident_id


def test_untagged_spend_visible_in_usage(g):
    pdf, inc = g
    u, audit = pdf["fact_usage"], pdf["fact_audit_logs"]
    for row in _incidents(inc, "untagged_spend"):
        j = u[u["usage_metadata_job_id"] == row.job_id]
        assert not _window(j, "usage_start_time", row)["is_tagged"].any()
        assert _before(j, "usage_start_time", row, 3)["is_tagged"].all()
        resets = _window(audit[audit["action_name"] == "resetJob"], "event_time", row)
        assert len(resets) >= 1


def test_failing_streak_after_upgrade(g):
    pdf, inc = g
    runs, clusters = pdf["fact_job_run_timeline"], pdf["dim_cluster"]
    for row in _incidents(inc, "failing_job_streak_after_upgrade"):
        c = clusters[clusters["cluster_id"] == row.cluster_id].iloc[0]
        assert c["dbr_version"].startswith("17.") and c["change_time"] <= row.start_time
        if row.magnitude_class != "subtle":
            r = runs[runs["job_id"] == row.job_id]
            assert _window(r, "period_start_time", row)["result_state"].isin(FAILED).mean() >= 0.3, row.incident_id


def _failed_logins(audit, row):
    w = _window(audit[audit["user_identity_email"] == row.user_name], "event_time", row)
    return w[w["is_failed_action"] & (w["action_name"] == "login")]


def test_credential_stuffing_visible_in_audit(g):
    pdf, inc = g
    a = pdf["fact_audit_logs"]
    for row in _incidents(inc, "credential_stuffing"):
        failed = _failed_logins(a, row)
        assert len(failed) >= 0.9 * row.magnitude
        usual = set(_before(a[a["user_identity_email"] == row.user_name], "event_time", row)["source_ip_address"])
        assert len(set(failed["source_ip_address"]) - usual) >= 3


def test_password_spray_is_a_few_failures_for_each_of_many_users(g):
    pdf, inc = g
    a = pdf["fact_audit_logs"]
    sprays = inc[inc["kind"] == "password_spray"]
    assert len(sprays)
    for group, rows in sprays.groupby("group_id"):
        assert len(rows) >= 3 and rows["workspace_id"].nunique() == 1 and rows["user_name"].is_unique
        ips = set()
        for row in rows.itertuples():
            failed = _failed_logins(a, row)
            assert int(row.magnitude) <= len(failed) <= int(row.magnitude) + 3, row.incident_id
            ips |= set(failed["source_ip_address"])
        assert len(ips) <= 3 + len(rows)  # one attacker's few IPs (plus the users' own typos)


def _exports(audit, user):
    mine = audit[audit["user_identity_email"] == user]
    return mine[mine["action_name"].isin(["downloadQueryResult", "workspaceExport"])]


def test_exfiltrations_visible_in_audit_and_queries(g):
    pdf, inc = g
    a, q = pdf["fact_audit_logs"], pdf["fact_query_history"]
    for row in _incidents(inc, "data_exfiltration"):
        assert len(_window(_exports(a, row.user_name), "event_time", row)) >= 3
        assert len(_window(q[q["executed_by"] == row.user_name], "start_time", row)) >= 3
    for row in _incidents(inc, "low_and_slow_exfiltration"):
        ex = _exports(a, row.user_name)
        days = max(1, (row.end_time - row.start_time).days)
        before = _before(ex, "event_time", row, 28)
        assert len(_window(ex, "event_time", row)) / days > len(before) / 28, row.incident_id
    for row in _incidents(inc, "read_only_exfiltration"):
        mine = _window(a[a["user_identity_email"] == row.user_name], "event_time", row)
        tables = {dict(p).get("tableName") for p in mine[mine["action_name"] == "getTable"]["request_params"]}
        tables |= {dict(p).get("tableName") for p in mine[mine["action_name"] == "generateTemporaryTableCredential"]["request_params"]}
        assert len(tables - {None}) >= 0.8 * row.magnitude, row.incident_id


def test_grants_visible_in_audit(g):
    pdf, inc = g
    a = pdf["fact_audit_logs"]
    grants = {"updatePermissions", "addPrincipalToGroup", "changeClusterAcl"}
    for kind in ("privilege_escalation", "unusual_grant"):
        for row in _incidents(inc, kind):
            w = _window(a[a["user_identity_email"] == row.user_name], "event_time", row)
            assert w["action_name"].isin(grants).sum() >= row.magnitude, row.incident_id
            if kind == "privilege_escalation":
                joins = w[w["action_name"] == "addPrincipalToGroup"]
                assert any(dict(p).get("groupName") == "admins" for p in joins["request_params"])


def test_query_regression_visible_in_query_history(g):
    pdf, inc = g
    q = pdf["fact_query_history"]
    for row in _incidents(inc, "query_performance_regression"):
        wq = q[(q["compute_warehouse_id"] == row.warehouse_id) & ~q["from_result_cache"]]
        during, before = _window(wq, "start_time", row), _before(wq, "start_time", row)
        # one statement text that always pruned files now prunes none and scans more bytes
        unpruned = lambda d: (d["pruned_files"] == 0).groupby(d["statement_text"]).mean()  # noqa: E731
        lost = ((unpruned(before) < 0.1) & (unpruned(during) > 0.8)).reindex(during["statement_text"].unique(), fill_value=False)
        assert lost.any(), row.incident_id
        text = lost[lost].index[0]
        ratio = (during[during["statement_text"] == text]["read_bytes"].median()
                 / before[before["statement_text"] == text]["read_bytes"].median())
        assert ratio > 1.2, row.incident_id


def _table_snapshots(s, fq):
    cat, sch, name = fq.split(".")
    return s[(s["table_catalog"] == cat) & (s["table_schema"] == sch) & (s["table_name"] == name)]


@pytest.mark.parametrize("kind", ["stale_table", "failing_writer"])
def test_unwritten_tables_visible_in_snapshots_and_runs(g, kind):
    pdf, inc = g
    s, runs = pdf["fact_table_snapshots"], pdf["fact_job_run_timeline"]
    for row in _incidents(inc, kind):
        t = _table_snapshots(s, row.table_name)
        start, end = row.start_time.date(), row.end_time.date()
        w = t[(t["snapshot_date"] >= start) & (t["snapshot_date"] < end)]
        assert len(w) and (w["commits_1d"] == 0).all(), row.incident_id
        r = _window(runs[runs["job_id"] == row.job_id], "period_start_time", row)
        if kind == "stale_table":
            assert len(r) == 0  # paused: no run at all
        else:
            assert len(r) > 0 and r["result_state"].isin(FAILED + ["TIMED_OUT"]).all()  # running, failing


def test_schema_change_visible_in_snapshots(g):
    pdf, inc = g
    s = pdf["fact_table_snapshots"]
    for row in _incidents(inc, "schema_change"):
        t = _table_snapshots(s, row.table_name)
        day = t[t["snapshot_date"] == row.start_time.date()].iloc[0]
        prev = t[t["snapshot_date"] == row.start_time.date() - dt.timedelta(days=1)].iloc[0]
        assert day["columns_removed"] + day["columns_type_changed"] >= row.magnitude
        assert prev["schema_hash"] != day["schema_hash"]


def test_incidents_of_a_domain_never_overlap_on_its_entity(g):
    """The evaluation matches a domain's incidents on one entity (a user, a warehouse, a job, a
    table): two of them never overlap there, so each label is unambiguous."""
    _, inc = g
    for domain, col in (("security", "user_name"), ("performance", "warehouse_id"), ("reliability", "job_id"),
                        ("quality", "table_name")):
        rows = inc[(inc["domain"] == domain) & inc[col].notna()].sort_values("start_time")
        for _, r in rows.groupby(col):
            assert (r["start_time"].iloc[1:].to_numpy() >= r["end_time"].iloc[:-1].to_numpy()).all(), (domain, col)


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
    failed = runs.assign(f=runs["result_state"].isin(FAILED))
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
    test_start = _test_start(pdf, generated["gen"]["days"])
    upgrades = []
    for job, r in runs.groupby("job_id"):
        daily = r.groupby(r["period_start_time"].dt.normalize())["rank"].max()
        steps = daily[daily.diff() > 0]
        if job not in incident_jobs:
            assert (daily.diff().dropna() >= 0).all(), f"job {job} moved to an older runtime"
        upgrades += [(job, d) for d in steps.index]
    assert len(upgrades) >= 3
    assert any(d < test_start for _, d in upgrades), "no upgrade before the test period"
    for job, d in upgrades:  # every upgrade changes the cluster id (a new job-cluster definition)
        r = runs[runs["job_id"] == job]
        assert r.loc[r["period_start_time"].dt.normalize() == d, "cluster"].iloc[0] != \
            r.loc[r["period_start_time"].dt.normalize() < d, "cluster"].iloc[-1]


def test_upgrade_breakage_has_visible_and_hidden_causes():
    """Whether a routine upgrade breaks a job depends on the version jump, Photon, the task
    count, the oldest runtime and the job's flakiness — and on causes no column records
    (custom libraries, a release's own regressions, noise): the visible causes predict it
    better than chance but far from perfectly."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from healthmon.demodata.world import SCALES, build_world

    X, y = [], []
    for seed in (11, 12, 13):
        w = build_world(seed, SCALES["medium"], 20, 180, dt.date(2026, 9, 30))
        j = w.upgrade_job
        assert (w.upgrade_to > w.upgrade_from).all() and (w.job_compute[j] == 0).all()
        X.append(np.c_[w.upgrade_to - w.upgrade_from, w.job_photon[j], w.job_tasks[j], w.upgrade_from == 0, w.job_bias[j]])
        y.append(w.upgrade_breaks)
        assert (w.upgrade_fail_logit[w.upgrade_breaks] > 3).all() and (w.upgrade_fail_logit[~w.upgrade_breaks] == 0).all()
        d = w.upgrade_day
        assert (d < 108).sum() > 30 and ((d >= 108) & (d < 144)).sum() > 10 and (d >= 144).sum() > 10
    X, y = np.vstack(X), np.concatenate(y)
    assert 0.05 < y.mean() < 0.6  # neither certain nor absent
    photon = X[:, 1] == 1
    assert y[photon].mean() > y[~photon].mean() + 0.1
    auc = roc_auc_score(y, LogisticRegression(max_iter=1000).fit(X, y).predict_proba(X)[:, 1])
    assert 0.65 < auc < 0.9, auc  # in-sample, with the true functional form: an upper bound for any model
