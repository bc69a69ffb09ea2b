"""security_features' novelty columns: tables a user reads that it has not touched in its previous
28 days, summed over the last 7 days, and securables it grants on that it has not granted on in its
previous 56 days, and exports summed over the last 7 days — each with a trailing baseline that excludes today (and, for the 7-day sum, the
sums that overlap today's). Expected values are counted by hand from the events below."""

from __future__ import annotations

import statistics

import pytest
from mlf_gold import CATALOG, GOLD, day, rows_by_key, ts, write_gold

from healthmon.lakehouse import Lakehouse
from healthmon.ml.features import FEATURE_TABLES, compute_feature_table

USER = "a@corp.com"


@pytest.fixture
def lh():
    return Lakehouse.from_env()


def _event(when, action, params, n=[0]):
    n[0] += 1
    return {
        "event_id": f"n{n[0]}", "user_identity_email": USER, "event_time": when, "action_name": action,
        "service_name": "unityCatalog", "source_ip_address": "10.0.0.1", "request_params": params,
    }


def _read(d, table):
    return _event(ts(day(d), 10), "getTable", {"tableName": table})


@pytest.fixture
def by_day(lh):
    rows = [_read(d, "t1") for d in range(70)]  # the user's daily table: active every day
    rows.append(_read(10, "t9"))  # new, but the user has been active for less than 28 days
    rows += [_read(1, "t4"), _read(31, "t4")]  # 30 days apart: new again on day 31
    rows += [_read(30, "t2"), _read(35, "t2")]  # new on day 30, familiar on day 35
    rows.append(_read(33, "t3"))
    rows += [_event(ts(day(d), 15, k), "downloadQueryResult", {}) for d, k in ((40, 0), (41, 0), (41, 1))]
    grant = "updatePermissions"
    rows.append(_event(ts(day(20), 11), grant, {"tableName": "t1"}))  # active for less than 56 days
    rows.append(_event(ts(day(60), 11), grant, {"tableName": "t1"}))  # granted 40 days before
    rows.append(_event(ts(day(60), 12), grant, {"tableName": "t5"}))  # never granted on: new
    rows.append(_event(ts(day(61), 11), "addPrincipalToGroup", {"groupName": "g1"}))  # new
    rows.append(_event(ts(day(62), 11), "changeClusterAcl", {"clusterId": "c1"}))  # new
    rows.append(_event(ts(day(62), 12), grant, {"tableName": "t5"}))  # granted on 2 days before
    write_gold(lh, "fact_audit_logs", rows)
    table = compute_feature_table(lh, FEATURE_TABLES["security_features"], CATALOG, GOLD)[0]
    return {d: r for (u, d), r in rows_by_key(table, "user_id", "event_date").items()}


def test_new_tables_in_the_last_7_days(by_day):
    expected = {10: 0, 29: 0, 30: 1, 31: 2, 33: 3, 36: 3, 37: 2, 38: 1, 40: 0,
                60: 0}  # a grant on t5 is no read of it
    assert {d: by_day[day(d)]["new_tables_7d"] for d in expected} == expected


def test_new_tables_baseline_ends_7_active_days_back(by_day):
    # day 45: the 28 sums of days 11..38 (1, 2, 2, 3, 3, 3, 3, 2, 1 on days 30..38, else 0)
    r = by_day[day(45)]
    assert r["avg_new_tables_7d_prev28"] == pytest.approx(20 / 28)
    sums = [0] * 19 + [1, 2, 2, 3, 3, 3, 3, 2, 1]
    assert r["std_new_tables_7d_prev28"] == pytest.approx(statistics.stdev(sums))
    assert r["max_new_tables_7d_prev35"] == 3
    assert by_day[day(37)]["avg_new_tables_7d_prev28"] == pytest.approx(1 / 28)  # days 3..30: day 30's 1


def test_new_grant_securables(by_day):
    expected = {20: 0, 59: 0, 60: 1, 61: 1, 62: 1, 63: 0}
    assert {d: by_day[day(d)]["new_grant_securables"] for d in expected} == expected
    r = by_day[day(63)]  # the previous 28 days: days 35..62
    assert r["avg_new_grant_securables_prev28"] == pytest.approx(3 / 28)
    assert r["std_new_grant_securables_prev28"] == pytest.approx(statistics.stdev([0] * 25 + [1] * 3))
    assert r["max_new_grant_securables_prev35"] == 1
    assert by_day[day(60)]["avg_new_grant_securables_prev28"] == 0  # today excluded


def test_exports_in_the_last_7_days_and_their_baseline(by_day):
    expected = {39: 0, 40: 1, 41: 3, 46: 3, 47: 2, 48: 0}
    assert {d: by_day[day(d)]["data_export_7d"] for d in expected} == expected
    r = by_day[day(55)]  # the 28 sums of days 21..48: 1 on day 40, 3 on days 41..46, 2 on day 47
    assert r["avg_data_export_7d_prev28"] == pytest.approx(21 / 28)
    assert r["max_data_export_7d_prev35"] == 3
