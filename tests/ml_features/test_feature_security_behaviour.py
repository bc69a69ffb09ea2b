"""security_features' population columns: failures a user shares with other users on the same
day — the failed actions of all users from one of its failing source IPs — against that IP's
usual number (known at d: today's events and the previous 28 calendar days, never later ones)."""

from __future__ import annotations

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
