"""Real processes against a real database: two schedulers racing, a scheduler killed and
restarted, and the real jobs runtime starting the runs. Exactly one run per fire time."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sched_helpers import add_job, schedule

from healthmon.store import schedule as S
from healthmon.store.db import Database

HERE = Path(__file__).resolve().parent
HEALTHMON = str(Path(sys.executable).parent / "healthmon")
UTC = dt.timezone.utc

DATABASES = ["sqlite"]
if os.environ.get("HEALTHMON_TEST_POSTGRES_URL"):
    DATABASES.append(pytest.param("postgres", marks=pytest.mark.postgres))


@pytest.fixture
def database(request, monkeypatch):
    """The workspace database for a test: the per-test SQLite file, or a private database
    created on the PostgreSQL server of HEALTHMON_TEST_POSTGRES_URL (dropped afterwards)."""
    if request.param != "postgres":
        yield "sqlite"
        return
    from sqlalchemy import create_engine, text

    base = os.environ["HEALTHMON_TEST_POSTGRES_URL"]
    name = f"hm_sched_{os.getpid()}_{int(time.time() * 1000)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    monkeypatch.setenv("HEALTHMON_DATABASE_URL", base.rsplit("/", 1)[0] + "/" + name)
    try:
        yield "postgres"
    finally:
        Database.from_settings().engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def fire_rows(job_ids=None):
    with Database.from_settings().session() as s:
        rows = S.list_fires(s)
    return [r for r in rows if job_ids is None or r.job_id in job_ids]


@pytest.mark.slow
@pytest.mark.parametrize("database", DATABASES, indirect=True)
def test_two_scheduler_processes_race_exactly_one_start_per_fire(tmp_path, database):
    created = dt.datetime.now(UTC) - dt.timedelta(seconds=1)
    # 40 jobs firing every second and 10 every two seconds: every tick is contested.
    jobs = [add_job(schedule("* * * ? * *", name=f"s{i}"), created=created) for i in range(40)]
    jobs += [add_job(schedule("*/2 * * ? * *", name=f"t{i}"), created=created) for i in range(10)]
    outs = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, str(HERE / "race_worker.py"), str(o), str(go), "4.0"],
                              env=dict(os.environ)) for o in outs]
    deadline = time.time() + 60
    while not all(Path(str(o) + ".ready").exists() for o in outs):
        assert time.time() < deadline and all(p.poll() is None for p in procs), "workers did not start"
        time.sleep(0.05)
    (tmp_path / "go.tmp").write_text(str(time.time() + 0.5))
    (tmp_path / "go.tmp").rename(go)
    for p in procs:
        assert p.wait(timeout=60) == 0
    started = [json.loads(line) for o in outs for line in o.read_text().splitlines()]
    per_fire = Counter((s["job_id"], s["fire_key"]) for s in started)
    assert per_fire and max(per_fire.values()) == 1, [k for k, v in per_fire.items() if v > 1]
    # Both really competed: each tried to claim many of the same fires (which one wins a
    # contested transaction is up to the database; on PostgreSQL one may win them all).
    tried = [{(r["job_id"], r["fire_key"]) for r in map(json.loads, Path(str(o) + ".requested").read_text().splitlines())}
             for o in outs]
    contested = tried[0] & tried[1]
    assert len(contested) >= len(per_fire) // 2, (len(contested), len(per_fire))
    assert set(per_fire) <= tried[0] | tried[1]
    rows = fire_rows(set(jobs))
    assert {(r.job_id, r.fire_key) for r in rows} == set(per_fire)
    assert all(r.status == "STARTED" for r in rows)
    # no fire time lost: each every-second job has a contiguous run of fire times
    for job in jobs[:40]:
        times = sorted(dt.datetime.fromisoformat(k.split(":", 1)[1]) for (j, k) in per_fire if j == job)
        gaps = {(b - a).total_seconds() for a, b in zip(times, times[1:])}
        assert gaps == {1.0}, (job, times)


def _scheduler_proc(log_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([HEALTHMON, "scheduler", "--reload-interval", "0.5", *args],
                            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT, env=dict(os.environ))


@pytest.mark.slow
def test_killed_and_restarted_scheduler_neither_loses_nor_duplicates(tmp_path, workspace_files):
    from healthmon.jobs import service

    script = workspace_files / "task.py"
    script.write_text("print('scheduled run')\n")
    job = service.create_job({
        "name": "every2s", "max_concurrent_runs": 50,
        "schedule": {"quartz_cron_expression": "*/2 * * ? * *", "timezone_id": "UTC"},
        "tasks": [{"task_key": "t", "spark_python_task": {"python_file": str(script)}}],
    })
    log = tmp_path / "scheduler.log"
    first = _scheduler_proc(log, "--grace", "1")
    _wait_for_fires(job, 2, first, log)
    first.send_signal(signal.SIGKILL)  # a crash, not a clean stop
    first.wait()
    killed_at = dt.datetime.now(UTC)
    time.sleep(5)  # two or three fire times pass while no scheduler runs
    restarted_at = dt.datetime.now(UTC)
    second = _scheduler_proc(log, "--grace", "1")
    _wait_for_fires(job, len(fire_rows({job})) + 3, second, log)
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=20) == 128 + signal.SIGTERM, log.read_text()  # README: exit codes

    rows = fire_rows({job})
    assert all(r.status == "STARTED" for r in rows), [(r.fire_key, r.status, r.message) for r in rows]
    times = [dt.datetime.fromtimestamp(r.fire_time / 1000, UTC) for r in rows]
    assert len(times) == len(set(times))
    times.sort()
    before = [t for t in times if t <= killed_at]
    after = [t for t in times if t > killed_at]
    down = list(_every_2s(killed_at, restarted_at))  # fire times while no scheduler ran
    assert len(before) >= 1 and len(after) >= 1 and len(down) >= 2, (times, log.read_text())
    assert all((b - a).total_seconds() == 2 for a, b in zip(before, before[1:])), before
    # catch-up "latest": the first fire after the restart is a single catch-up fire at or after
    # the latest missed time; the other missed times are skipped, none is run twice or lost after.
    assert set(after) & set(down) <= {down[-1]}, (after, down)
    assert after[0] >= down[-1]
    assert all((b - a).total_seconds() == 2 for a, b in zip(after, after[1:])), after
    # each fire started exactly one run, with trigger PERIODIC
    runs = service.list_runs(job_id=job, limit=100)["runs"]
    assert sorted(r["run_id"] for r in runs) == sorted(r.run_id for r in rows)
    assert {r["trigger"] for r in runs} == {"PERIODIC"}
    for r in rows:
        service.wait_for_run(r.run_id, timeout=60)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_scheduler_cleanly_with_128_plus_signal(tmp_path, workspace_files, signum):
    """README, *Errors and exit codes*: interrupted by Ctrl-C / SIGTERM, the command's clean-up
    runs and it exits 130 / 143 with "Interrupted (SIG...)."; for the scheduler the clean-up is
    the end of its tick, so every fire it claimed has its run started, and those runs (processes
    of their own) finish after it is gone."""
    from healthmon.jobs import service

    script = workspace_files / "task.py"
    script.write_text("import time; time.sleep(1); print('scheduled run')\n")
    job = service.create_job({
        "name": "every1s", "max_concurrent_runs": 50,
        "schedule": {"quartz_cron_expression": "* * * ? * *", "timezone_id": "UTC"},
        "tasks": [{"task_key": "t", "spark_python_task": {"python_file": str(script)}}],
    })
    log = tmp_path / "scheduler.log"
    proc = _scheduler_proc(log, "--grace", "1")
    _wait_for_fires(job, 2, proc, log)
    proc.send_signal(signum)
    sent = time.monotonic()
    assert proc.wait(timeout=20) == 128 + signum, log.read_text()
    assert time.monotonic() - sent < 5, log.read_text()
    output = log.read_text()
    assert output.rstrip().splitlines()[-1] == f"Interrupted ({signal.Signals(signum).name}).", output
    assert "Traceback" not in output
    rows = fire_rows({job})
    assert rows and all(r.status == "STARTED" for r in rows), [(r.fire_key, r.status, r.message) for r in rows]
    for r in rows:
        assert service.wait_for_run(r.run_id, timeout=60)["state"]["result_state"] == "SUCCESS"


def _wait_for_fires(job: int, count: int, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while len([r for r in fire_rows({job}) if r.status == "STARTED"]) < count:
        assert proc.poll() is None and time.time() < deadline, log.read_text()
        time.sleep(0.1)


def _every_2s(start: dt.datetime, end: dt.datetime):
    t = start.replace(microsecond=0) + dt.timedelta(seconds=1)
    while t <= end:
        if t.second % 2 == 0 and t > start:
            yield t
        t += dt.timedelta(seconds=1)


@pytest.mark.slow
def test_continuous_job_starts_the_next_run_when_the_previous_ends(tmp_path, workspace_files):
    from healthmon.jobs import service
    from healthmon.schedule.daemon import Scheduler

    script = workspace_files / "task.py"
    script.write_text("import time; time.sleep(0.5)\n")
    job = service.create_job({"name": "cont", "continuous": {"pause_status": "UNPAUSED"},
                              "tasks": [{"task_key": "t", "spark_python_task": {"python_file": str(script)}}]})
    sched = Scheduler(poll_seconds=0, reload_seconds=0)
    other = Scheduler(poll_seconds=0, reload_seconds=0)
    first = sched.tick() + other.tick()
    assert [(s.job_id, s.kind, s.fire_key) for s in first] == [(job, "continuous", "continuous:1")]
    assert sched.tick() == [] and other.tick() == []  # the run is active: no second one
    run = service.wait_for_run(first[0].run_id, timeout=60)
    assert run["trigger"] == "CONTINUOUS"
    deadline = time.time() + 10
    second = []
    while not second and time.time() < deadline:
        second = sched.tick() + other.tick()
        time.sleep(0.05)
    assert [s.fire_key for s in second] == ["continuous:2"]
    service.cancel_run(second[0].run_id)
    service.wait_for_run(second[0].run_id, timeout=60)


@pytest.mark.slow
def test_scheduled_fires_respect_max_concurrent_runs(tmp_path, workspace_files):
    """Each fire is one run; the runtime decides (max_concurrent_runs=1, no queue: SKIPPED)."""
    from healthmon.jobs import service
    from healthmon.schedule.daemon import Scheduler

    script = workspace_files / "slow.py"
    script.write_text("import time; time.sleep(3)\n")
    created = dt.datetime.now(UTC).replace(microsecond=0)
    job = service.create_job({"name": "one-at-a-time", "max_concurrent_runs": 1,
                              "schedule": {"quartz_cron_expression": "0 * * ? * *", "timezone_id": "UTC"},
                              "tasks": [{"task_key": "t", "spark_python_task": {"python_file": str(script)}}]})
    sched = Scheduler(reload_seconds=0)
    minute = created.replace(second=0) + dt.timedelta(minutes=1)
    first = sched.tick(minute + dt.timedelta(seconds=1))
    second = sched.tick(minute + dt.timedelta(minutes=1, seconds=1))
    assert len(first) == len(second) == 1
    runs = [service.wait_for_run(s.run_id, timeout=60) for s in first + second]
    assert runs[0]["state"]["result_state"] == "SUCCESS"
    assert runs[1]["state"]["life_cycle_state"] == "SKIPPED"
    assert {r["trigger"] for r in runs} == {"PERIODIC"}
