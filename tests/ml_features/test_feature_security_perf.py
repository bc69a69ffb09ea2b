"""security_features and performance_features on hand-made gold rows."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from mlf_gold import CATALOG, GOLD, day, rows_by_key, ts, write_gold

from healthmon.lakehouse import Lakehouse
from healthmon.ml.features import FEATURE_TABLES, compute_feature_table


@pytest.fixture
def lh():
    return Lakehouse.from_env()


def _event(user, when, action="getTable", service="unityCatalog", table=None, ip="10.0.0.1", failed=False, n=[0]):
    n[0] += 1
    return {
        "event_id": f"e{n[0]}", "user_identity_email": user, "event_time": when,
        "action_name": action, "service_name": service, "source_ip_address": ip,
        "request_params": {"tableName": table} if table else {}, "is_failed_action": failed,
    }


def test_security_daily_counts_and_user_types(lh):
    d = day(0)
    alice = "alice@corp.com"
    rows = [
        _event(alice, ts(d, 0, 30), table="a.b.t1"),          # off hours (0-6 inclusive)
        _event(alice, ts(d, 6, 59), table="a.b.t1"),          # off hours
        _event(alice, ts(d, 7, 0), table="a.b.t2", ip="10.0.0.2"),
        _event(alice, ts(d, 13), action="updatePermissions", service="accounts", failed=True),
        _event(alice, ts(d, 14), action="deleteTable", service="jobs"),
        _event("System-User", ts(d)),
        _event("etl-spn@corp.com", ts(d)),
        _event("DBX_automation", ts(d)),
        _event("1234", ts(d)),
        _event(None, ts(d)),                                   # no identity: dropped
    ]
    write_gold(lh, "fact_audit_logs", rows)
    table = FEATURE_TABLES["security_features"]
    data, _ = compute_feature_table(lh, table, CATALOG, GOLD)
    assert data.column_names == list(table.columns)
    by = rows_by_key(data, "user_id")
    assert set(by) == {(alice,), ("System-User",), ("etl-spn@corp.com",), ("DBX_automation",), ("1234",)}
    a = by[(alice,)]
    assert a["event_count"] == 5
    assert a["tables_accessed"] == 2
    assert a["off_hours_events"] == 2 and a["off_hours_rate"] == pytest.approx(0.4)
    assert a["unique_source_ips"] == 2
    assert a["failed_auth_count"] == 1 and a["failed_auth_ratio"] == pytest.approx(0.2)
    assert a["unique_action_types"] == 3 and a["unique_services_accessed"] == 3
    assert a["sensitive_data_access"] == 2 and a["sensitive_access_rate"] == pytest.approx(0.4)
    assert (a["user_type"], a["is_human_user"], a["is_service_principal"]) == ("HUMAN_USER", 1, 0)
    assert by[("System-User",)]["user_type"] == "SYSTEM" and by[("System-User",)]["is_system_user"] == 1
    assert by[("etl-spn@corp.com",)]["user_type"] == "SERVICE_PRINCIPAL"
    assert by[("DBX_automation",)]["is_service_principal"] == 1
    assert by[("1234",)]["user_type"] == "UNKNOWN"
    assert "user_type" not in table.features


def test_security_burst_and_lateral_movement(lh):
    bob = "bob@corp.com"
    rows = []
    for n in range(7):
        rows += [_event(bob, ts(day(n), 12, m)) for m in range(10)]
    rows += [_event(bob, ts(day(7), 12, s // 60, s % 60), service=f"svc{s % 6}") for s in range(300)]
    write_gold(lh, "fact_audit_logs", rows)
    by = rows_by_key(compute_feature_table(lh, FEATURE_TABLES["security_features"], CATALOG, GOLD)[0], "event_date")
    burst = by[(day(7),)]
    window = [10] * 6 + [300]
    assert burst["avg_event_count_7d"] == pytest.approx(statistics.mean(window))
    z = (300 - statistics.mean(window)) / statistics.stdev(window)
    assert burst["event_count_z_score"] == pytest.approx(z)
    assert burst["is_activity_burst"] == (1.0 if z > 2 else 0.0)
    assert burst["lateral_movement_risk"] == 1  # 6 distinct services > 5
    assert by[(day(3),)]["is_activity_burst"] == 0 and by[(day(3),)]["event_count_z_score"] == 0


def _query(wh, end, duration, read=0, written=0, status="FINISHED", spill=0, queue=0, n=[0]):
    n[0] += 1
    return {
        "statement_id": f"q{n[0]}", "compute_warehouse_id": wh, "end_time": end,
        "total_duration_ms": duration, "read_bytes": read, "written_bytes": written,
        "execution_status": status, "spilled_local_bytes": spill, "waiting_at_capacity_duration_ms": queue,
    }


def test_performance_daily_statistics(lh):
    d = day(0)
    durations = [100, 200, 300, 400, 90_000]
    rows = [_query("wh1", ts(d, 9, i), dur, read=1000, written=500) for i, dur in enumerate(durations)]
    rows += [
        _query("wh1", ts(d, 9, 0, 30), 1000, status="FAILED", spill=10),
        _query("wh1", ts(d, 10), 1000, queue=500, read=11 * 1024**3),
        _query(None, ts(d), 5),  # not on a warehouse: dropped
    ]
    write_gold(lh, "fact_query_history", rows)
    table = FEATURE_TABLES["performance_features"]
    data, _ = compute_feature_table(lh, table, CATALOG, GOLD)
    assert data.column_names == list(table.columns) and data.num_rows == 1
    r = data.to_pylist()[0]
    all_durations = durations + [1000, 1000]
    assert r["query_count"] == 7
    assert r["total_duration_ms"] == sum(all_durations)
    for p, name in ((50, "p50_duration_ms"), (95, "p95_duration_ms"), (99, "p99_duration_ms")):
        assert r[name] == pytest.approx(np.percentile(all_durations, p))  # exact, linear interpolation
    assert r["error_count"] == 1 and r["spill_count"] == 1 and r["sla_breach_count"] == 1
    assert r["high_queue_count"] == 1 and r["large_query_count"] == 1
    # efficient = no spill, queue <= 10% of duration, duration <= 60 s: the four short finished ones
    assert r["efficient_query_count"] == 4 and r["query_efficiency_rate"] == pytest.approx(4 / 7)
    assert r["active_minutes"] == 6  # 09:00-09:04 (the failed one shares 09:00) and 10:00
    assert r["queries_per_minute"] == pytest.approx(7 / 6)
    assert r["read_write_ratio"] == pytest.approx((5000 + 11 * 1024**3) / 2500)
    assert r["avg_queue_time_ms"] == pytest.approx(500 / 7)


def test_performance_regression_against_seven_rows_earlier(lh):
    rows = []
    for n in range(8):
        dur = 1000 if n < 7 else 1500
        rows.append(_query("wh", ts(day(n)), dur))
    write_gold(lh, "fact_query_history", rows)
    by = rows_by_key(compute_feature_table(lh, FEATURE_TABLES["performance_features"], CATALOG, GOLD)[0], "query_date")
    last = by[(day(7),)]
    assert last["p99_duration_lag7"] == 1000
    assert last["duration_regression_pct"] == pytest.approx(50.0)
    assert last["is_duration_regressing"] == 1
    assert by[(day(6),)]["p99_duration_lag7"] == 0 and by[(day(6),)]["is_duration_regressing"] == 0
    assert last["avg_p99_duration_7d"] == pytest.approx((6 * 1000 + 1500) / 7)


def test_security_detector_counts_and_trailing_baseline_exclude_today(lh):
    """Exports, grant changes and failed logins are counted per user-day, and the *_prev28
    baselines average the user's previous active days only (today's burst is not its own baseline)."""
    carol = "carol@corp.com"
    rows = []
    for n in range(3):  # three ordinary days: one download a day, one grant on day 1
        rows.append(_event(carol, ts(day(n), 10), action="downloadQueryResult", service="databrickssql"))
        rows.append(_event(carol, ts(day(n), 11), table=f"a.b.t{n}"))
        if n == 1:
            rows.append(_event(carol, ts(day(n), 12), action="updatePermissions", service="unityCatalog", table="a.b.t0"))
    burst = day(3)
    rows += [_event(carol, ts(burst, 20, m), action="workspaceExport", service="workspace") for m in range(5)]
    rows += [_event(carol, ts(burst, 21, m), action="addPrincipalToGroup", service="accounts") for m in range(3)]
    rows += [_event(carol, ts(burst, 22, m), action="changeClusterAcl", service="clusters") for m in range(2)]
    rows += [_event(carol, ts(burst, 3, m), action="login", service="accounts", failed=True, ip=f"1.2.3.{m}") for m in range(4)]
    rows.append(_event(carol, ts(burst, 4), action="getTable", failed=True, table="a.b.t9"))  # failed, not a login
    write_gold(lh, "fact_audit_logs", rows)
    by = rows_by_key(compute_feature_table(lh, FEATURE_TABLES["security_features"], CATALOG, GOLD)[0], "event_date")
    first, second, b = by[(day(0),)], by[(day(1),)], by[(burst,)]
    assert (first["data_export_events"], first["grant_change_events"]) == (1, 0)
    assert second["grant_change_events"] == 1
    assert first["avg_event_count_prev28"] == 0  # no history yet
    assert second["avg_event_count_prev28"] == first["event_count"]
    assert b["data_export_events"] == 5
    assert b["grant_change_events"] == 5  # 3 group additions + 2 ACL changes
    assert b["failed_login_count"] == 4 and b["failed_auth_count"] == 5
    assert b["avg_data_export_prev28"] == pytest.approx(1.0)
    assert b["avg_grant_changes_prev28"] == pytest.approx(1 / 3)
    assert b["avg_event_count_prev28"] == pytest.approx(statistics.mean([2, 3, 2]))
    assert b["avg_failed_auth_prev28"] == 0


def _scan(wh, end, text, read, pruned=True, cached=False):
    row = _query(wh, end, 1000, read=0 if cached else read)
    files = 0 if cached else max(1, read // 100)
    row.update(statement_text=text, read_files=files, pruned_files=0 if (cached or not pruned) else 3 * files)
    return row


def test_performance_template_bytes_ratio_against_its_own_history(lh):
    rows = []
    for n in range(9):
        regressed = n == 8
        for i in range(5):  # a regular template: 5 scans a day
            rows.append(_scan("wh", ts(day(n), 9, i), "SELECT a", 5000 if regressed else 500, pruned=not regressed))
        rows.append(_scan("wh", ts(day(n), 9, 30), "SELECT a", 0, cached=True))  # result cache: not a scan
        for i in range(2):  # a rare template (2 scans a day): never scored, even when it surges
            rows.append(_scan("wh", ts(day(n), 10, i), "SELECT rare", 90_000 if n == 8 else 100))
    write_gold(lh, "fact_query_history", rows)
    by = rows_by_key(compute_feature_table(lh, FEATURE_TABLES["performance_features"], CATALOG, GOLD)[0], "query_date")
    last = by[(day(8),)]
    assert last["max_template_bytes_ratio"] == pytest.approx(10.0)  # median 5000 vs its 8-day mean 500
    assert last["templates_over_3x_bytes"] == 1
    assert last["scan_count"] == 7 and last["unpruned_scan_count"] == 5
    assert last["unpruned_scan_rate"] == pytest.approx(5 / 7)
    assert last["avg_unpruned_scan_rate_28d"] == 0  # today excluded from its own baseline
    # fewer than 7 days of the template's history: no ratio yet
    assert by[(day(6),)]["max_template_bytes_ratio"] == 0
    assert by[(day(7),)]["max_template_bytes_ratio"] == pytest.approx(1.0)
    assert by[(day(7),)]["avg_bytes_per_query_28d"] == pytest.approx((5 * 500 + 2 * 100) / 8)
