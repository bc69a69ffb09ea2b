"""`healthmon jobs list-runs` lists one-time runs (runs/submit: no job behind them) next to job runs."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from jobs_helpers import nb_task
from healthmon.cli.main import app
from healthmon.jobs import service


def test_list_runs_shows_a_one_time_run_without_a_job_id(ws):
    nb = ws.notebook("once", "print('once')")
    run_id = service.submit_run({"run_name": "adhoc", "tasks": [nb_task("once", nb)]})
    service.wait_for_run(run_id, timeout=120)

    table = CliRunner().invoke(app, ["jobs", "list-runs"])
    assert table.exit_code == 0, table.output
    assert str(run_id) in table.output and "adhoc" in table.output

    listed = json.loads(CliRunner().invoke(app, ["jobs", "list-runs", "-o", "json"]).output)["runs"]
    mine = [r for r in listed if r["run_id"] == run_id]
    assert mine and "job_id" not in mine[0] and mine[0]["run_type"] == "SUBMIT_RUN"
