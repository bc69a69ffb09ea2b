"""run_and_watch (contract used by `healthmon bundle run`) and queued-run cancellation."""

from __future__ import annotations

from jobs_helpers import nb_task
from healthmon.jobs import service
from healthmon.jobs.cli_support import run_and_watch


def test_run_and_watch_exit_codes_and_output(ws, capsys):
    ok = service.create_job({"name": "w-ok", "parameters": [{"name": "x", "default": "1"}],
                             "tasks": [nb_task("t", ws.notebook("ok", "assert dbutils.widgets.get('x') == '2'"))]})
    assert run_and_watch(ok, job_parameters={"x": "2"}) == 0
    out = capsys.readouterr().out
    assert "Run URL:" in out and "SUCCESS" in out
    bad = service.create_job({"name": "w-bad", "tasks": [nb_task("a", ws.notebook("bad", "raise ValueError('nope 123')")),
                                                        nb_task("b", ws.notebook("b", "pass"))]})
    assert run_and_watch(bad) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "ValueError: nope 123" in out
    # --only runs the named tasks only; --no-wait returns at once with the run started.
    assert run_and_watch(bad, only=["b"]) == 0
    runs = service.list_runs(job_id=bad, expand_tasks=True)["runs"]
    assert [t["task_key"] for t in runs[0]["tasks"]] == ["b"]
    assert run_and_watch(ok, job_parameters={"x": "2"}, wait=False) == 0
    latest = service.list_runs(job_id=ok, limit=1)["runs"][0]
    assert service.wait_for_run(latest["run_id"], timeout=60)["state"]["result_state"] == "SUCCESS"


def test_cancel_while_queued(ws):
    nb = ws.notebook("slow", "import time\ntime.sleep(2)")
    job = service.create_job({"name": "q", "queue": {"enabled": True}, "tasks": [nb_task("s", nb)]})
    first = service.run_now(job)
    second = service.run_now(job)
    assert service.get_run(second)["state"]["life_cycle_state"] == "QUEUED"
    service.cancel_run(second)
    run = service.wait_for_run(second, timeout=30)
    assert run["state"]["result_state"] == "CANCELED" and "queued" in run["state"]["state_message"]
    assert {t["state"]["result_state"] for t in run["tasks"]} == {"CANCELED"}
    assert service.wait_for_run(first, timeout=60)["state"]["result_state"] == "SUCCESS"
