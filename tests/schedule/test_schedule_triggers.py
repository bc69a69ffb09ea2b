"""Pure trigger logic: parsing job settings, catch-up planning, file arrival, table update,
continuous, pause status."""

from __future__ import annotations

import datetime as dt

import pytest

from healthmon.errors import HealthmonError
from healthmon.schedule import triggers as T

UTC = dt.timezone.utc


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


HOURLY = {"schedule": {"quartz_cron_expression": "0 0 * ? * *", "timezone_id": "UTC"}}


def hourly():
    return T.job_triggers(HOURLY)[0]


# --- settings -------------------------------------------------------------------------------

def test_job_triggers_reads_every_kind():
    settings = {
        "schedule": {"quartz_cron_expression": "0 0 3 ? * SUN", "timezone_id": "America/Los_Angeles",
                     "pause_status": "PAUSED"},
        "trigger": {"periodic": {"interval": 4, "unit": "HOURS"},
                    "file_arrival": {"url": "/Volumes/c/s/v/in", "min_time_between_triggers_seconds": 60},
                    "table_update": {"table_names": ["c.s.t"], "condition": "ALL_UPDATED"}},
        "continuous": {"pause_status": "UNPAUSED"},
    }
    got = T.job_triggers(settings, created=at(2026, 1, 1))
    assert [t.kind for t in got] == ["schedule", "periodic", "file_arrival", "table_update", "continuous"]
    assert [t.trigger_type for t in got] == ["PERIODIC", "PERIODIC", "FILE_ARRIVAL", "TABLE", "CONTINUOUS"]
    assert got[0].paused and not got[1].paused and not got[4].paused
    assert got[0].tz.key == "America/Los_Angeles"
    assert got[2].min_between == 60 and got[3].condition == "ALL_UPDATED"
    assert "Sunday" in got[0].describe()


@pytest.mark.parametrize("settings,words", [
    ({"schedule": {"quartz_cron_expression": "0 0 3 * * SUN", "timezone_id": "UTC"}}, "day-of-week"),
    ({"schedule": {"quartz_cron_expression": "0 0 3 ? * *", "timezone_id": "Nowhere/City"}}, "timezone_id"),
    ({"schedule": {"quartz_cron_expression": "0 0 3 ? * *", "pause_status": "STOPPED"}}, "pause_status"),
    ({"trigger": {"periodic": {"interval": 0, "unit": "HOURS"}}}, "interval"),
    ({"trigger": {"periodic": {"interval": 1, "unit": "YEARS"}}}, "unit"),
    ({"trigger": {"table_update": {"table_names": []}}}, "table_names"),
    ({"trigger": {"table_update": {"table_names": ["a.b.c"], "condition": "SOME"}}}, "condition"),
    ({"trigger": {"file_arrival": {"url": "/x", "wait_after_last_change_seconds": -1}}}, "wait_after"),
])
def test_bad_settings_name_the_job_and_field(settings, words):
    with pytest.raises(HealthmonError) as info:
        T.job_triggers(settings, job="Job 'nightly' (id 7)")
    assert words in str(info.value) and "nightly" in str(info.value)


def test_periodic_counts_from_creation():
    trig = T.job_triggers({"trigger": {"periodic": {"interval": 2, "unit": "DAYS"}}}, created=at(2026, 1, 1, 9, 30))[0]
    assert trig.next_after(at(2026, 1, 1)) == at(2026, 1, 3, 9, 30)
    assert trig.next_after(at(2026, 1, 3, 9, 30)) == at(2026, 1, 5, 9, 30)
    weekly = T.job_triggers({"trigger": {"periodic": {"interval": 1, "unit": "WEEKS"}}}, created=at(2026, 1, 1))[0]
    assert weekly.next_after(at(2026, 1, 20)) == at(2026, 1, 22)
    assert weekly.describe() == "Every 1 week"


def test_pause_status_edit():
    settings = {"name": "x", "schedule": {"quartz_cron_expression": "0 0 3 ? * *", "timezone_id": "UTC"},
                "continuous": {}}
    paused = T.set_pause_status(settings, True)
    assert T.pause_status(paused) == {"schedule": "PAUSED", "continuous": "PAUSED"}
    assert T.pause_status(settings) == {"schedule": "UNPAUSED", "continuous": "UNPAUSED"}  # input untouched
    assert T.pause_status(T.set_pause_status(paused, False)) == {"schedule": "UNPAUSED", "continuous": "UNPAUSED"}
    assert all(t.paused for t in T.job_triggers(paused))


# --- catch-up -------------------------------------------------------------------------------

def test_on_time_fire():
    plan = T.plan_timed(hourly(), at(2026, 1, 1, 9, 59), at(2026, 1, 1, 10, 0, 0, 300000))
    assert plan.fires == [at(2026, 1, 1, 10)] and plan.cursor == at(2026, 1, 1, 10, 0, 0, 300000)


def test_nothing_due():
    plan = T.plan_timed(hourly(), at(2026, 1, 1, 10, 0, 1), at(2026, 1, 1, 10, 30))
    assert plan.fires == [] and plan.cursor == at(2026, 1, 1, 10, 30)


@pytest.mark.parametrize("policy,expected", [
    ("latest", [at(2026, 1, 1, 15)]),
    ("all", [at(2026, 1, 1, h) for h in range(11, 16)]),
    ("none", []),
])
def test_catch_up_after_downtime(policy, expected):
    # down from 10:30 to 15:20: fires 11:00..15:00 were missed
    plan = T.plan_timed(hourly(), at(2026, 1, 1, 10, 30), at(2026, 1, 1, 15, 20), policy=policy)
    assert plan.fires == expected
    assert plan.cursor == at(2026, 1, 1, 15, 20)


def test_catch_up_all_is_capped_and_resumes():
    trig = hourly()
    plan = T.plan_timed(trig, at(2026, 1, 1), at(2026, 1, 2), policy="all", cap=10)
    assert plan.fires == [at(2026, 1, 1, h) for h in range(1, 11)] and plan.cursor == at(2026, 1, 1, 10)
    rest = T.plan_timed(trig, plan.cursor, at(2026, 1, 2), policy="all", cap=100)
    assert rest.fires == [at(2026, 1, 1, h) for h in range(11, 24)] + [at(2026, 1, 2)]


def test_latest_of_a_high_frequency_schedule_after_a_long_outage():
    every_second = T.job_triggers({"schedule": {"quartz_cron_expression": "* * * ? * *", "timezone_id": "UTC"}})[0]
    plan = T.plan_timed(every_second, at(2026, 1, 1), at(2026, 2, 1, 0, 0, 0), policy="latest",
                        grace=dt.timedelta(0))
    assert plan.fires == [at(2026, 2, 1)]


def test_on_time_fire_wins_over_missed_ones():
    plan = T.plan_timed(hourly(), at(2026, 1, 1, 5, 30), at(2026, 1, 1, 10, 0, 20), policy="latest")
    assert plan.fires == [at(2026, 1, 1, 10)] and plan.skipped


def test_unknown_policy():
    with pytest.raises(HealthmonError):
        T.plan_timed(hourly(), at(2026, 1, 1), at(2026, 1, 2), policy="some")


# --- file arrival ---------------------------------------------------------------------------

def fa(min_between=0, wait=0, paused=False):
    return T.FileArrivalTrigger(url="/in", min_between=min_between, wait_after_change=wait, paused=paused)


def test_file_arrival_baseline_then_new_files():
    d = T.file_arrival_decision(fa(), None, {"old.csv": 100.0}, 1000.0)
    assert not d.fire and d.changed and d.state["seen"] == ["old.csv"]
    same = T.file_arrival_decision(fa(), d.state, {"old.csv": 100.0}, 1010.0)
    assert not same.fire
    new = T.file_arrival_decision(fa(), d.state, {"old.csv": 100.0, "a/new.csv": 1005.0}, 1010.0)
    assert new.fire and new.state["seen"] == ["a/new.csv", "old.csv"] and new.state["last_fire"] == 1010.0
    again = T.file_arrival_decision(fa(), new.state, {"old.csv": 100.0, "a/new.csv": 1005.0}, 1020.0)
    assert not again.fire


def test_file_arrival_wait_after_last_change():
    state = {"seen": [], "last_fire": None}
    d = T.file_arrival_decision(fa(wait=60), state, {"x": 1000.0}, 1030.0)
    assert not d.fire and d.retry_at == 1060.0
    assert T.file_arrival_decision(fa(wait=60), state, {"x": 1000.0}, 1060.0).fire
    # still being written: a later mtime pushes the fire back
    assert not T.file_arrival_decision(fa(wait=60), state, {"x": 1050.0}, 1060.0).fire


def test_file_arrival_min_time_between_triggers():
    state = {"seen": ["a"], "last_fire": 1000.0}
    d = T.file_arrival_decision(fa(min_between=300), state, {"a": 1.0, "b": 1100.0}, 1200.0)
    assert not d.fire and d.retry_at == 1300.0
    assert T.file_arrival_decision(fa(min_between=300), state, {"a": 1.0, "b": 1100.0}, 1300.0).fire


def test_file_arrival_paused():
    state = {"seen": [], "last_fire": None}
    assert not T.file_arrival_decision(fa(paused=True), state, {"x": 1.0}, 100.0).fire


# --- table update ---------------------------------------------------------------------------

def tu(condition="ANY_UPDATED", min_between=0, wait=0):
    return T.TableUpdateTrigger(table_names=("c.s.a", "c.s.b"), condition=condition, min_between=min_between,
                                wait_after_change=wait, paused=False)


def test_table_update_any():
    base = T.table_update_decision(tu(), None, {"c.s.a": (3, 10.0), "c.s.b": (None, None)}, 100.0)
    assert not base.fire and base.state["versions"] == {"c.s.a": 3, "c.s.b": -1}
    assert not T.table_update_decision(tu(), base.state, {"c.s.a": (3, 10.0), "c.s.b": (None, None)}, 110.0).fire
    created = T.table_update_decision(tu(), base.state, {"c.s.a": (3, 10.0), "c.s.b": (0, 105.0)}, 110.0)
    assert created.fire and created.state["versions"] == {"c.s.a": 3, "c.s.b": 0}


def test_table_update_all():
    state = {"versions": {"c.s.a": 3, "c.s.b": 5}, "last_fire": None}
    one = T.table_update_decision(tu("ALL_UPDATED"), state, {"c.s.a": (4, 10.0), "c.s.b": (5, 1.0)}, 100.0)
    assert not one.fire and "c.s.b" in one.reason
    both = T.table_update_decision(tu("ALL_UPDATED"), state, {"c.s.a": (4, 10.0), "c.s.b": (7, 20.0)}, 100.0)
    assert both.fire and both.state["versions"] == {"c.s.a": 4, "c.s.b": 7}


def test_table_update_wait_after_last_change():
    state = {"versions": {"c.s.a": 3, "c.s.b": 5}, "last_fire": None}
    d = T.table_update_decision(tu(wait=120), state, {"c.s.a": (4, 1000.0), "c.s.b": (5, 1.0)}, 1060.0)
    assert not d.fire and d.retry_at == 1120.0


# --- continuous -----------------------------------------------------------------------------

def test_continuous():
    trig = T.ContinuousTrigger(paused=False)
    assert T.continuous_decision(trig, active_runs=0, fire_in_flight=False)
    assert not T.continuous_decision(trig, active_runs=1, fire_in_flight=False)
    assert not T.continuous_decision(trig, active_runs=0, fire_in_flight=True)
    assert not T.continuous_decision(T.ContinuousTrigger(paused=True), active_runs=0, fire_in_flight=False)
