"""``healthmon runs``: get, get-output, cancel, repair, logs, list (legacy Databricks CLI verbs)."""

from __future__ import annotations

from typing import Optional

import typer

from healthmon.cli.checks import id_option
from healthmon.cli.jobs import (
    JsonOutputOpt,
    NotebookParamsOpt,
    Output,
    OutputOpt,
    PythonNamedParamsOpt,
    PythonParamsOpt,
    print_json,
    runs_table,
    task_parameters,
)

app = typer.Typer(no_args_is_help=True)


@app.command("get")
def get_cmd(
    run_id: int = id_option("--run-id"),
    include_history: bool = typer.Option(False, "--include-history"),
    output: Output = OutputOpt,
) -> None:
    """Show a run with its task runs."""
    from healthmon.jobs import service
    from healthmon.jobs.recovery import reap_orphans

    reap_orphans()
    run = service.get_run(run_id, include_history=include_history)
    if output == Output.json:
        print_json(run)
        return
    from rich.console import Console

    from healthmon.jobs.cli_support import render

    if "tasks" in run or "task_key" not in run:
        Console().print(render(run, service.repair_parameters(run_id)))
        st = run["state"]
        typer.echo(f"{st['life_cycle_state']} {st.get('result_state', '')} {st.get('state_message', '')}".strip())
    else:
        print_json(run)


@app.command("get-output")
def get_output_cmd(run_id: int = id_option("--run-id"), output: Output = JsonOutputOpt) -> None:
    """The output of a task run (notebook result, error and trace, logs of Python tasks)."""
    from healthmon.jobs import service

    print_json(service.get_run_output(run_id))


@app.command("list")
def list_cmd(job_id: Optional[int] = id_option("--job-id", None), limit: int = typer.Option(25, "--limit"),
             active_only: bool = typer.Option(False, "--active-only"),
             completed_only: bool = typer.Option(False, "--completed-only"), output: Output = OutputOpt) -> None:
    """List runs (same as ``jobs list-runs``)."""
    from healthmon.jobs import service
    from healthmon.jobs.recovery import reap_orphans

    reap_orphans()
    data = service.list_runs(job_id=job_id, limit=limit, active_only=active_only, completed_only=completed_only)
    print_json(data) if output == Output.json else runs_table(data["runs"])


@app.command("cancel")
def cancel_cmd(
    run_id: int = id_option("--run-id"), wait: bool = typer.Option(True, "--wait/--no-wait")
) -> None:
    """Cancel a run (its running tasks' processes are killed)."""
    from healthmon.jobs import service

    service.cancel_run(run_id)
    if wait:
        run = service.wait_for_run(run_id, timeout=120)
        typer.echo(f"Run {run['run_id']} {run['state'].get('result_state') or run['state']['life_cycle_state']}")


@app.command("repair")
def repair_cmd(
    run_id: int = id_option("--run-id"),
    rerun_tasks: Optional[str] = typer.Option(None, "--rerun-tasks", help="Comma-separated task keys."),
    rerun_all_failed_tasks: bool = typer.Option(False, "--rerun-all-failed-tasks"),
    rerun_dependent_tasks: bool = typer.Option(
        False, "--rerun-dependent-tasks", help="Also re-run dependents that succeeded before."),
    params: Optional[list[str]] = typer.Option(
        None, "--params", help="Job parameters for the repair, name=value (repeatable); others keep the run's."),
    notebook_params: Optional[str] = NotebookParamsOpt,
    python_named_params: Optional[str] = PythonNamedParamsOpt,
    python_params: Optional[str] = PythonParamsOpt,
    latest_repair_id: Optional[int] = typer.Option(
        None, "--latest-repair-id", help="Refuse the repair unless this is the run's latest repair."),
    no_wait: bool = typer.Option(False, "--no-wait"),
    output: Output = OutputOpt,
) -> None:
    """Re-run tasks of a finished run (and their dependents that did not succeed) inside the same run."""
    from healthmon.cli.run_params import parse_key_values
    from healthmon.errors import InvalidParameterError
    from healthmon.jobs import service

    keys = [k for k in (rerun_tasks or "").split(",") if k]
    if not keys and not rerun_all_failed_tasks:
        raise InvalidParameterError("runs repair needs --rerun-tasks a,b or --rerun-all-failed-tasks.")
    repair_id = service.repair_run(run_id, rerun_tasks=keys or None, rerun_all_failed_tasks=rerun_all_failed_tasks,
                                   rerun_tasks_given_as="--rerun-tasks", rerun_dependent_tasks=rerun_dependent_tasks,
                                   job_parameters=parse_key_values("--params", params),
                                   **task_parameters(notebook_params, python_named_params, python_params),
                                   latest_repair_id=latest_repair_id)
    if no_wait:
        print_json({"repair_id": repair_id})
        return
    run = service.wait_for_run(run_id)
    if output == Output.json:
        print_json(run)
    else:
        from rich.console import Console

        from healthmon.jobs.cli_support import render, report

        console = Console()
        console.print(render(run, service.repair_parameters(run_id)))
        raise typer.Exit(report(console, run))
    raise typer.Exit(0 if run["state"].get("result_state") == "SUCCESS" else 1)


@app.command("logs")
def logs_cmd(
    run_id: int = id_option("--run-id"),
    task: Optional[str] = typer.Option(None, "--task", help="Task key (job runs)."),
    all_attempts: bool = typer.Option(False, "--all-attempts"),
) -> None:
    """Print the captured stdout/stderr of a task run (or of every task of a job run)."""
    from healthmon.errors import NotFoundError
    from healthmon.jobs.logs import read_logs
    from healthmon.settings import Settings
    from healthmon.store.db import Database
    from healthmon.store.runs import get_run, latest_task_runs, task_runs

    with Database.from_settings(Settings.from_env()).session() as s:
        row = get_run(s, run_id)
        if row.task_key is not None:
            rows = [row]
        else:
            rows = task_runs(s, run_id) if all_attempts else list(latest_task_runs(s, run_id).values())
            if task:
                rows = [r for r in rows if r.task_key == task]
                if not rows:
                    keys = ", ".join(sorted(latest_task_runs(s, run_id))) or "none"
                    raise NotFoundError(f"Run {run_id} has no task {task!r} (tasks: {keys}).")
        items = [(r.task_key, r.run_id, r.attempt_number, r.log_dir) for r in rows]
    for key, rid, attempt, log_dir in items:
        text, truncated = read_logs(log_dir)
        typer.echo(f"===== {key} (run_id {rid}, attempt {attempt}){' [truncated]' if truncated else ''} =====")
        if text:
            typer.echo(text, nl=not text.endswith("\n"))
