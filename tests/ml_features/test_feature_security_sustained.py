"""security_features' slow-and-quiet columns on hand-made gold rows: the sustained rise of data
read against the user's own scale (a windowed CUSUM, Page's cumulative sum restarted at its
minimum, of daily z-scores against the user's previous days of the same kind), and how rare a
grant's kind is for the user and its peers. Both are known at d (today against earlier days)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from mlf_gold import CATALOG, GOLD, day, rows_by_key, ts, write_gold

from healthmon.lakehouse import Lakehouse
from healthmon.ml.features import FEATURE_TABLES, compute_feature_table
from healthmon.ml.features import security as sec


@pytest.fixture
def lh():
    return Lakehouse.from_env()


def _event(user, when, action="getTable", table=None, params=None, n=[0]):
    n[0] += 1
    return {
        "event_id": f"s{n[0]}", "user_identity_email": user, "event_time": when, "action_name": action,
        "service_name": "unityCatalog", "source_ip_address": "10.0.0.1",
        "request_params": params if params is not None else ({"tableName": table} if table else {}),
        "is_failed_action": False,
    }


def _build(lh, rows):
    write_gold(lh, "fact_audit_logs", rows)
    return compute_feature_table(lh, FEATURE_TABLES["security_features"], CATALOG, GOLD)[0]


def _reference_elevation(dates: list, counts: list) -> list[float]:
    """The documented statistic computed directly: per day the z-score of ln(1 + count) against
    the previous LEVEL_ROWS days of the same kind (weekday/weekend), spread floored, clipped,
    minus the slack; then the largest sum over the last 1..SUSTAINED_ROWS days ending today."""
    frame = pd.DataFrame({"date": pd.to_datetime(dates), "level": np.log1p(np.asarray(counts, float))})
    frame["weekend"] = frame["date"].dt.day_of_week >= 5
    steps = np.zeros(len(frame))
    for i in range(len(frame)):
        same = frame.iloc[:i]
        same = same[same["weekend"] == frame["weekend"].iloc[i]].tail(sec.LEVEL_ROWS)["level"]
        if len(same) >= sec.MIN_LEVEL_HISTORY:
            z = (frame["level"].iloc[i] - same.mean()) / max(same.std(), sec.LOG_SPREAD_FLOOR)
            steps[i] = min(max(z, sec.Z_FLOOR), sec.Z_CAP) - sec.CUSUM_SLACK
    out = []
    for i in range(len(frame)):
        sums = [steps[j:i + 1].sum() for j in range(max(0, i - sec.SUSTAINED_ROWS + 1), i + 1)]
        out.append(max(0.0, *sums))
    return out


def test_a_sustained_rise_accumulates_and_a_single_busy_day_decays(lh):
    slow, busy = "slow@corp.com", "busy@corp.com"
    rows, plan = [], {slow: {}, busy: {}}
    for n in range(70):
        d = day(n)  # 2024-01-01 is a Monday
        weekend = d.weekday() >= 5
        usual = 3 if weekend else 20 + (n % 3) - 1  # 19-21 reads on weekdays, a few at weekends
        plan[slow][d] = 50 if n >= 63 and not weekend else usual  # 2.5x for the last week's weekdays
        plan[busy][d] = 100 if n == 63 else usual  # one 5x day, then its usual again
    for user, by_day in plan.items():
        for d, k in by_day.items():
            rows += [_event(user, ts(d, 9, i % 60, i // 60), table=f"c.s.t{i % 7}") for i in range(k)]
    by = rows_by_key(_build(lh, rows), "user_id", "event_date")
    for user, by_day in plan.items():
        dates = sorted(by_day)
        got = [by[(user, d)]["access_elevation_14d"] for d in dates]
        assert got == pytest.approx(_reference_elevation(dates, [by_day[d] for d in dates]), abs=1e-9)
        assert all(by[(user, d)]["data_access_events"] == by_day[d] for d in dates)
    rise = [by[(slow, day(n))]["access_elevation_14d"] for n in range(63, 68)]  # Mon-Fri of the rise
    assert all(b > a for a, b in zip(rise, rise[1:]))
    spike = [by[(busy, day(n))]["access_elevation_14d"] for n in range(63, 68)]
    assert spike[0] == pytest.approx(sec.Z_CAP - sec.CUSUM_SLACK)  # one day is capped
    assert all(b < a for a, b in zip(spike, spike[1:]))  # and decays on ordinary days
    assert rise[2] > spike[0]  # three days at 2.5x outweigh one day at 5x
    # ordinary weeks (weekends included) stay far below: weekends are compared with weekends
    assert max(by[(slow, day(n))]["access_elevation_14d"] for n in range(20, 63)) < 1.0


def test_grant_rarity_against_the_users_own_grants_and_its_peers(lh):
    peers = [f"p{i}@corp.com" for i in range(4)]
    rows = [_event(p, ts(day(n), 10), action="updatePermissions", table="c.s.t")
            for p in peers for n in range(21)]
    d = day(21)
    rows.append(_event(peers[0], ts(d, 10), action="addPrincipalToGroup", params={"groupName": "admins"}))
    rows.append(_event(peers[1], ts(d, 10), action="updatePermissions", table="c.s.t"))
    rows.append(_event("new@corp.com", ts(d, 10), action="updatePermissions", table="c.s.t"))
    rows.append(_event("etl-spn@corp.com", ts(d, 10), action="updatePermissions", table="c.s.t"))
    rows.append(_event("reader@corp.com", ts(d, 10), table="c.s.t"))
    by = rows_by_key(_build(lh, rows), "user_id", "event_date")
    w = sec.GRANT_PEER_WEIGHT
    history = 4 * 21  # the humans' grants of the previous days, all of one kind
    common = (history + 0.5) / (history + 1)
    # a kind neither the user nor its peers ever granted
    assert by[(peers[0], d)]["grant_rarity"] == pytest.approx(-math.log(w * 0.5 / (history + 1) / (21 + w)))
    # the user's own routine grant
    assert by[(peers[1], d)]["grant_rarity"] == pytest.approx(-math.log((21 + w * common) / (21 + w)))
    # a user without grant history: its peers' routine grant is not rare
    assert by[("new@corp.com", d)]["grant_rarity"] == pytest.approx(-math.log(common))
    # a service principal's peers are service principals (none granted before)
    assert by[("etl-spn@corp.com", d)]["grant_rarity"] == pytest.approx(math.log(2.0))
    assert by[("reader@corp.com", d)]["grant_rarity"] == 0.0
    assert by[(peers[0], day(0))]["grant_rarity"] == pytest.approx(-math.log(w * 0.5 / w))  # no history at all
    assert by[(peers[0], d)]["grant_rarity"] > 7 > 0.1 > by[("new@corp.com", d)]["grant_rarity"]
