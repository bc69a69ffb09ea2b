"""Scheduler passes against a real workspace database (SQLite file): claims, catch-up after
restart, pause transitions, stale claims, failures, event triggers."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sched_helpers import Recorder, add_job, at, schedule, set_settings

from healthmon.schedule.daemon import Scheduler
from healthmon.store import schedule as S
from healthmon.store.db import Database


def fires(job_id=None):
    with Database.from_settings().session() as s:
        return [(f.fire_key, f.status, f.run_id) for f in S.list_fires(s, job_id)]


def make(rec, **kw):
    kw.setdefault("poll_seconds", 0)
    kw.setdefault("reload_seconds", 0)
    return Scheduler(start_run=rec, **kw)


def test_fires_once_on_time_and_a_second_scheduler_does_not_refire():
    job = add_job(schedule("0 0 * ? * *"), created=at(2026, 1, 1, 9, 30))
    rec = Recorder()
    a, b = make(rec), make(rec)
    assert a.tick(at(2026, 1, 1, 9, 59, 59)) == []
    got = a.tick(at(2026, 1, 1, 10, 0, 0, 200000))
    assert [(s.job_id, s.fire_time, s.run_id) for s in got] == [(job, at(2026, 1, 1, 10), 1000)]
    assert a.tick(at(2026, 1, 1, 10, 0, 1)) == []
    assert b.tick(at(2026, 1, 1, 10, 0, 2)) == []
    assert rec.calls == [(job, "PERIODIC", "tester@example.com")]
    assert fires(job) == [("schedule:2026-01-01T10:00:00+00:00", "STARTED", 1000)]


@pytest.mark.parametrize("policy,expected_hours", [("latest", [15]), ("all", [11, 12, 13, 14, 15]), ("none", [])])
def test_restart_catch_up_policy(policy, expected_hours):
    job = add_job(schedule("0 0 * ? * *"), created=at(2026, 1, 1, 9, 30))
    rec = Recorder()
    make(rec).tick(at(2026, 1, 1, 10, 0, 1))  # fires 10:00, then "crashes"
    restarted = make(rec, catch_up=policy)
    got = restarted.tick(at(2026, 1, 1, 15, 20))
    assert [s.fire_time.hour for s in got] == expected_hours
    assert len(rec.calls) == 1 + len(expected_hours)
    # and nothing more on the next pass, nor from yet another instance
    assert restarted.tick(at(2026, 1, 1, 15, 21)) == []
    assert make(rec, catch_up=policy).tick(at(2026, 1, 1, 15, 22)) == []
    keys = [k for k, _, _ in fires(job)]
    assert len(keys) == len(set(keys)) == 1 + len(expected_hours)


def test_new_job_starts_from_its_creation_time():
    add_job(schedule("0 0 3 ? * *"), created=at(2026, 1, 5, 12))
    rec = Recorder()
    assert make(rec).tick(at(2026, 1, 5, 12, 1)) == []  # 3 AM that day was before creation
    assert [s.fire_time for s in make(rec).tick(at(2026, 1, 6, 3, 0, 1))] == [at(2026, 1, 6, 3)]


def test_paused_never_fires_and_unpausing_does_not_catch_up():
    job = add_job(schedule("0 0 * ? * *", paused=True), created=at(2026, 1, 1))
    rec = Recorder()
    sched = make(rec)
    for hour in (1, 2, 3):
        assert sched.tick(at(2026, 1, 1, hour, 0, 1)) == []
    set_settings(job, schedule("0 0 * ? * *", paused=False))
    assert sched.tick(at(2026, 1, 1, 3, 30)) == []  # the paused period's fires are not caught up
    assert [s.fire_time for s in sched.tick(at(2026, 1, 1, 4, 0, 1))] == [at(2026, 1, 1, 4)]


def test_failed_start_is_recorded_and_other_jobs_still_fire():
    bad = add_job(schedule("0 0 * ? * *"), created=at(2026, 1, 1))
    good = add_job(schedule("0 0 * ? * *"), created=at(2026, 1, 1))
    rec = Recorder(fail_for={bad})
    got = make(rec).tick(at(2026, 1, 1, 1, 0, 1))
    assert {(s.job_id, s.run_id is None) for s in got} == {(bad, True), (good, False)}
    (key, status, run_id), = fires(bad)
    assert status == "FAILED" and run_id is None
    assert fires(good)[0][1] == "STARTED"


def test_invalid_schedule_is_skipped_not_fatal():
    add_job(schedule("0 0 3 * * SUN"), created=at(2026, 1, 1))
    good = add_job(schedule("0 0 * ? * *"), created=at(2026, 1, 1))
    rec = Recorder()
    assert [s.job_id for s in make(rec).tick(at(2026, 1, 1, 1, 0, 1))] == [good]


def test_stale_claim_of_a_dead_scheduler_is_taken_over_once():
    job = add_job(schedule("0 0 * ? * *"), created=at(2026, 1, 1))
    db = Database.from_settings()
    # A scheduler claimed the 01:00 fire and died before starting the run.
    claim = S.claim_fire(db, job_id=job, fire_key="schedule:2026-01-01T01:00:00+00:00", kind="schedule",
                         trigger_type="PERIODIC", fire_time_ms=int(at(2026, 1, 1, 1).timestamp() * 1000),
                         claimed_by="dead:1", cursor_ms=int(at(2026, 1, 1, 1).timestamp() * 1000))
    assert claim is not None
    rec = Recorder()
    fresh = make(rec, stale_seconds=3600)
    assert fresh.tick(at(2026, 1, 1, 1, 0, 2)) == []  # not stale yet: nothing, and no re-claim
    time.sleep(0.05)
    s1, s2 = make(rec, stale_seconds=0.01), make(rec, stale_seconds=0.01)
    s1.tick(at(2026, 1, 1, 1, 0, 3))
    s2.tick(at(2026, 1, 1, 1, 0, 3))
    assert rec.calls == [(job, "PERIODIC", "tester@example.com")]
    assert fires(job) == [("schedule:2026-01-01T01:00:00+00:00", "STARTED", 1000)]


def test_periodic_trigger():
    job = add_job({"name": "p", "trigger": {"periodic": {"interval": 4, "unit": "HOURS"}}}, created=at(2026, 1, 1, 0, 10))
    rec = Recorder()
    sched = make(rec)
    assert sched.tick(at(2026, 1, 1, 4, 0)) == []
    assert [(s.fire_time, s.kind) for s in sched.tick(at(2026, 1, 1, 4, 10, 1))] == [(at(2026, 1, 1, 4, 10), "periodic")]
    assert rec.calls == [(job, "PERIODIC", "tester@example.com")]


def test_next_wake_is_the_next_fire():
    add_job(schedule("0 30 * ? * *"), created=at(2026, 1, 1))
    sched = make(Recorder(), reload_seconds=3600)
    sched.tick(at(2026, 1, 1, 10, 0))
    assert sched.next_wake(at(2026, 1, 1, 10, 0)) == at(2026, 1, 1, 10, 30)


def test_file_arrival_through_the_scheduler(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "old.csv").write_text("a\n")
    job = add_job({"name": "f", "trigger": {"file_arrival": {"url": str(inbox)}}})
    rec = Recorder()
    a, b = make(rec), make(rec)
    now = dt.datetime.now(dt.timezone.utc)
    assert a.tick(now) == []  # baseline: existing files do not fire
    (inbox / "sub").mkdir()
    (inbox / "sub" / "new.csv").write_text("b\n")
    (inbox / ".tmp-writing").write_text("c\n")  # hidden temp files are ignored
    got = a.tick(now) + b.tick(now)
    assert [(s.job_id, s.kind, s.fire_key) for s in got] == [(job, "file_arrival", "file_arrival:1")]
    assert rec.calls == [(job, "FILE_ARRIVAL", "tester@example.com")]
    assert a.tick(now) == [] and b.tick(now) == []


def test_volume_url_maps_under_the_workspace(healthmon_home):
    from healthmon.schedule.observe import local_path

    assert local_path("/Volumes/main/raw/landing/in") == healthmon_home / "volumes" / "main" / "raw" / "landing" / "in"
    assert local_path("dbfs:/Volumes/main/raw/landing") == healthmon_home / "volumes" / "main" / "raw" / "landing"
    from healthmon.errors import HealthmonError

    with pytest.raises(HealthmonError):
        local_path("s3://bucket/x")


def test_table_update_through_the_scheduler():
    import pyarrow as pa
    from deltalake import write_deltalake

    from healthmon.lakehouse.paths import TableName
    from healthmon.settings import Settings

    root = Settings.from_env().lakehouse_root
    path_a = TableName.parse("main.gold.a").path(root)
    path_b = TableName.parse("main.gold.b").path(root)
    write_deltalake(str(path_a), pa.table({"x": [1]}))
    job = add_job({"name": "t", "trigger": {"table_update": {"table_names": ["main.gold.a", "main.gold.b"],
                                                              "condition": "ALL_UPDATED"}}})
    rec = Recorder()
    sched = make(rec)
    now = dt.datetime.now(dt.timezone.utc)
    assert sched.tick(now) == []  # baseline: a at v0, b missing
    write_deltalake(str(path_a), pa.table({"x": [2]}), mode="append")
    assert sched.tick(now) == []  # ALL_UPDATED: b not yet
    write_deltalake(str(path_b), pa.table({"x": [1]}))
    got = sched.tick(now)
    assert [(s.job_id, s.fire_key) for s in got] == [(job, "table_update:1")]
    assert rec.calls == [(job, "TABLE", "tester@example.com")]
    assert sched.tick(now) == []


def test_run_forever_fires_on_time_and_stops_promptly():
    import threading

    job = add_job(schedule("* * * ? * *"), created=dt.datetime.now(dt.timezone.utc))
    starts: list[float] = []

    def start_run(job_id, trigger, user):
        starts.append(time.time())
        return len(starts)

    sched = Scheduler(start_run=start_run, reload_seconds=60)
    thread = threading.Thread(target=sched.run_forever, daemon=True)
    thread.start()
    time.sleep(2.6)
    sched.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    keys = [k for k, _, _ in fires(job)]
    assert len(keys) >= 2 and len(keys) == len(set(keys))
    # each fire started within a second of its fire time (the loop sleeps until the next one)
    with Database.from_settings().session() as s:
        rows = S.list_fires(s, job)
    assert all(0 <= r.claimed_at - r.fire_time < 1000 for r in rows), [(r.fire_time, r.claimed_at) for r in rows]
