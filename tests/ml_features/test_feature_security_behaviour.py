"""security_features' population columns: failures a user shares with other users on the same
day — the failed actions of all users from one of its failing source IPs — against that IP's
usual number (known at d: today's events and the previous 28 calendar days, never later ones).
And the rows a user's statements returned per day against the median of its previous active days."""

from __future__ import annotations

import itertools

import pytest
from mlf_gold import CATALOG, GOLD, day, rows_by_key, ts, write_gold

from healthmon.lakehouse import Lakehouse
from healthmon.ml.features import FEATURE_TABLES, compute_feature_table

SPRAY_IP, OFFICE_IP = "203.0.113.7", "10.0.0.1"


@pytest.fixture
def lh():
    return Lakehouse.from_env()


def _event(user, when, action="login", ip=OFFICE_IP, failed=True, n=[0]):
    n[0] += 1
    return {
        "event_id": f"b{n[0]}", "user_identity_email": user, "event_time": when, "action_name": action,
        "service_name": "accounts", "source_ip_address": ip, "request_params": {}, "is_failed_action": failed,
    }


def _build(lh, rows):
    write_gold(lh, "fact_audit_logs", rows)
    return compute_feature_table(lh, FEATURE_TABLES["security_features"], CATALOG, GOLD)[0]


def test_failed_events_from_one_ip_today_against_that_ips_usual_number(lh):
    rows = []
    for d in range(30):  # the office IP: two users fail from it once a day (expired passwords)
        rows += [_event(f"o{i}@corp.com", ts(day(d), 9, i)) for i in range(2)]
    d = day(30)
    # a spray: four users, two failed logins each, from an IP that never failed before
    rows += [_event(f"u{i}@corp.com", ts(d, 4, 10 * i + k), ip=SPRAY_IP) for i in range(4) for k in range(2)]
    rows.append(_event("u0@corp.com", ts(d, 8), ip=OFFICE_IP))  # u0 also fails from the office
    rows.append(_event("u5@corp.com", ts(d, 4), ip="10.5.5.5"))  # failing alone
    rows.append(_event("u6@corp.com", ts(d, 4), action="getTable", ip=SPRAY_IP, failed=False))  # no failure
    rows.append(_event("u7@corp.com", ts(day(31), 4), ip=SPRAY_IP))  # the next day
    rows += [_event(f"o{i}@corp.com", ts(d, 9, i)) for i in range(2)]
    by = rows_by_key(_build(lh, rows), "user_id", "event_date")

    def pair(user, when):
        r = by[(user, when)]
        return r["failed_events_same_ip"], r["usual_failed_events_same_ip"]

    for i in range(1, 4):
        assert pair(f"u{i}@corp.com", d) == (8, 0)
    # u0 fails from both IPs: the one whose failures most exceed its usual number is reported
    assert pair("u0@corp.com", d) == (8, 0)
    assert pair("o0@corp.com", d) == (3, pytest.approx(2.0))  # o0, o1 and u0 against 2 a day
    assert pair("o0@corp.com", day(1)) == (2, pytest.approx(2 / 28))  # one earlier day in 28
    assert pair("u5@corp.com", d) == (1, 0)
    assert pair("u6@corp.com", d) == (0, 0)
    assert pair("u7@corp.com", day(31)) == (1, pytest.approx(8 / 28))  # yesterday's spray is the IP's history


_statement_ids = itertools.count()


def _statement(user, end, rows, start=None):
    return {"statement_id": f"s{next(_statement_ids)}", "executed_by": user, "compute_warehouse_id": "wh1",
            "start_time": start or end, "end_time": end, "produced_rows": rows}


def test_rows_returned_by_a_users_statements_per_day_against_the_median_of_its_previous_days(lh):
    ann, bob = "ann@corp.com", "bob@corp.com"
    audit = [_event(u, ts(day(d), 9), action="getTable", failed=False) for u in (ann, bob) for d in range(6)]
    write_gold(lh, "fact_audit_logs", audit)
    write_gold(lh, "fact_query_history", [
        _statement(ann, ts(day(0), 10), 100), _statement(ann, ts(day(0), 11), 20),   # day 0: 120
        _statement(ann, ts(day(1), 10), 10),                                          # day 1: 10
        _statement(ann, ts(day(2), 0, 1), 500, start=ts(day(1), 23, 50)),  # ran over midnight: the day it ended
        _statement(ann, ts(day(2), 12), None),        # no row count: 0
        # day 3: nothing ran
        _statement(ann, ts(day(4), 23, 59), 1_000_000),                               # day 4
        _statement(ann, ts(day(5), 8), 40),
        _statement(ann, ts(day(7), 8), 9_999),        # a day without audit events: no row, no history
        _statement(bob, ts(day(4), 10), 7),           # another user's statement is not ann's
        _statement(None, ts(day(4), 10), 5_000),      # no user
    ])
    by = rows_by_key(compute_feature_table(lh, FEATURE_TABLES["security_features"], CATALOG, GOLD)[0],
                     "user_id", "event_date")

    def pair(user, d):
        r = by[(user, day(d))]
        return r["produced_rows"], r["median_produced_rows_prev28"]

    assert pair(ann, 0) == (120, 0)                   # no earlier day
    assert pair(ann, 1) == (10, 120)
    assert pair(ann, 2) == (500, pytest.approx(65))   # median of 120, 10
    assert pair(ann, 3) == (0, 120)                   # median of 120, 10, 500
    assert pair(ann, 4) == (1_000_000, pytest.approx(65))  # median of 120, 10, 500, 0
    assert pair(ann, 5) == (40, 120)                  # one large day does not move the median
    assert pair(bob, 4) == (7, 0)
    assert (ann, day(7)) not in by


def test_rows_returned_are_zero_without_a_query_history(lh):
    write_gold(lh, "fact_audit_logs", [_event("ann@corp.com", ts(day(d), 9), failed=False) for d in range(3)])
    if lh.table_exists(f"{CATALOG}.{GOLD}.fact_query_history"):
        lh.drop_table(f"{CATALOG}.{GOLD}.fact_query_history")
    rows = compute_feature_table(lh, FEATURE_TABLES["security_features"], CATALOG, GOLD)[0].to_pylist()
    assert [(r["produced_rows"], r["median_produced_rows_prev28"]) for r in rows] == [(0, 0)] * 3
