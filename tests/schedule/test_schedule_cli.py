"""CLI: healthmon jobs pause|unpause|next-runs and healthmon scheduler --once."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sched_helpers import add_job, schedule
from typer.testing import CliRunner

from healthmon.cli.main import app
from healthmon.store import schedule as S
from healthmon.store.db import Database
from healthmon.store.jobs import JobRecord

HEALTHMON = str(Path(sys.executable).parent / "healthmon")
runner = CliRunner()
SEED = schedule("0 0 3 ? * SUN", tz="America/Los_Angeles", paused=True, name="orchestrator")


def settings_of(job_id):
    with Database.from_settings().session() as s:
        return s.get(JobRecord, job_id).settings


def test_next_runs_text_shows_zone_utc_and_description():
    job = add_job(SEED)
    result = runner.invoke(app, ["jobs", "next-runs", "--job-id", str(job), "--count", "3"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "At 03:00, only on Sunday (America/Los_Angeles)" in out and "PAUSED" in out
    lines = [l for l in out.splitlines() if l.strip()[:1].isdigit()]
    assert len(lines) == 3
    for line in lines:
        _, local, utc = line.split()
        local_t, utc_t = dt.datetime.fromisoformat(local), dt.datetime.fromisoformat(utc.replace("Z", "+00:00"))
        assert local_t == utc_t and local_t.hour == 3 and local_t.weekday() == 6
        assert utc_t.hour in (10, 11)  # 03:00 PDT / PST


def test_next_runs_json():
    job = add_job(SEED)
    result = runner.invoke(app, ["jobs", "next-runs", "--job-id", str(job), "--count", "5", "-o", "json"])
    data = json.loads(result.output)
    trig, = data["triggers"]
    assert trig["kind"] == "schedule" and trig["pause_status"] == "PAUSED" and len(trig["next_runs"]) == 5
    utcs = [dt.datetime.fromisoformat(r["utc"].replace("Z", "+00:00")) for r in trig["next_runs"]]
    assert all((b - a) == dt.timedelta(days=7) or (b - a) in (dt.timedelta(days=7, hours=1), dt.timedelta(days=6, hours=23))
               for a, b in zip(utcs, utcs[1:]))


def test_pause_and_unpause_edit_settings_and_reset_the_cursor():
    job = add_job(schedule("0 0 * ? * *", paused=False, name="hourly") | {"continuous": None})
    result = runner.invoke(app, ["jobs", "pause", "--job-id", str(job)])
    assert result.exit_code == 0 and "schedule PAUSED" in result.output
    assert settings_of(job)["schedule"]["pause_status"] == "PAUSED"
    before = dt.datetime.now(dt.timezone.utc)
    result = runner.invoke(app, ["jobs", "unpause", "--job-id", str(job)])
    assert result.exit_code == 0 and "schedule UNPAUSED" in result.output
    assert settings_of(job)["schedule"]["pause_status"] == "UNPAUSED"
    with Database.from_settings().session() as s:
        cursor = S.get_state(s, job, "schedule").cursor
    assert cursor >= int(before.timestamp() * 1000) - 1


@pytest.mark.slow
def test_errors_exit_1_without_traceback():
    job = add_job({"name": "adhoc", "tasks": []})
    env = dict(os.environ)
    for args, words in ((["jobs", "pause", "--job-id", str(job)], "no schedule, trigger or continuous"),
                        (["jobs", "next-runs", "--job-id", "999"], "Job 999 does not exist")):
        proc = subprocess.run([HEALTHMON, *args], capture_output=True, text=True, env=env)
        assert proc.returncode == 1 and words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    # A value outside the option's set is a usage error (exit 2), as click's own are.
    proc = subprocess.run([HEALTHMON, "scheduler", "--once", "--catch-up", "sometimes"], capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 2 and "--catch-up" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.slow
def test_scheduler_once_starts_a_real_run(tmp_path, workspace_files):
    from healthmon.jobs import service

    script = workspace_files / "t.py"
    script.write_text("print('hi')\n")
    job = service.create_job({"name": "every-second", "schedule": {"quartz_cron_expression": "* * * ? * *",
                                                                   "timezone_id": "UTC"},
                              "tasks": [{"task_key": "t", "spark_python_task": {"python_file": str(script)}}]})
    time.sleep(1.1)  # a whole second (a fire time) passes after the job's creation
    proc = subprocess.run([HEALTHMON, "scheduler", "--once", "--quiet", "--grace", "0"], capture_output=True, text=True,
                          env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    line, = proc.stdout.splitlines()  # catch-up "latest": one run, not one per missed second
    assert line.startswith(f"job {job}: schedule:") and "started run" in line
    run_id = int(line.rsplit(" ", 1)[1])
    run = service.wait_for_run(run_id, timeout=60)
    assert run["trigger"] == "PERIODIC" and run["state"]["result_state"] == "SUCCESS"
