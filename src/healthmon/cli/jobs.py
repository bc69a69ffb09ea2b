"""``healthmon jobs``: list, get, create, reset, delete, run-now, list-runs (Databricks CLI verbs).

Heavy modules (SQLAlchemy via the service) are imported inside the commands.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from healthmon.cli.checks import id_option
from healthmon.cli.run_params import parse_json
from healthmon.errors import InvalidParameterError

app = typer.Typer(no_args_is_help=True)


class Output(str, Enum):
    text = "text"
    json = "json"


OutputOpt = typer.Option(Output.text, "--output", "-o", help="text (table) or json (Jobs API shape).")
# Commands whose answer is one API object print its JSON either way, as `databricks jobs get` does.
JsonOutputOpt = typer.Option(Output.text, "--output", "-o", help="text or json: both print the Jobs API JSON.")


PythonParamsOpt = typer.Option(
    None, "--python-params",
    help='Positional parameters of the Python file and wheel tasks, a JSON list: \'["a","b"]\'.')
NotebookParamsOpt = typer.Option(
    None, "--notebook-params", help='Notebook tasks\' widget values, a JSON object: \'{"name": "value"}\'.')
PythonNamedParamsOpt = typer.Option(
    None, "--python-named-params",
    help='Python wheel tasks\' named parameters, a JSON object: \'{"name": "value"}\'.')
ParamsOpt = typer.Option(None, "--params", help="Job parameters, name=value[,name2=value2] (repeatable).")


def task_parameters(notebook_params: str | None, python_named_params: str | None,
                    python_params: str | None) -> dict:
    """The legacy CLI's JSON task parameter flags, parsed for ``service.run_now`` / ``repair_run``."""
    from healthmon.cli.run_params import parse_json_list, parse_json_map

    return {"notebook_params": parse_json_map("--notebook-params", notebook_params),
            "python_named_params": parse_json_map("--python-named-params", python_named_params),
            "python_params": parse_json_list("--python-params", python_params)}


def print_json(data) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True))


def _ms(ts: int | None) -> str:
    if not ts:
        return ""
    import datetime as dt

    return dt.datetime.fromtimestamp(ts / 1000).strftime("%Y-%m-%d %H:%M:%S")


def runs_table(runs: list[dict]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table()
    for c in ("run_id", "job_id", "run_name", "trigger", "life_cycle_state", "result_state", "start_time", "duration"):
        table.add_column(c)
    for r in runs:
        dur = (
            f"{(r['end_time'] - r['start_time']) / 1000:.1f}s"
            if r.get("end_time") and r.get("start_time")
            else ""
        )
        table.add_row(str(r["run_id"]), str(r.get("job_id", "")), escape(r.get("run_name", "")), r.get("trigger", ""),
                      r["state"]["life_cycle_state"], r["state"].get("result_state", ""), _ms(r.get("start_time")), dur)
    Console().print(table)


@app.command("list")
def list_cmd(name: Optional[str] = typer.Option(None, "--name"),
             limit: int = typer.Option(100, "--limit", min=1, max=100),
             output: Output = OutputOpt) -> None:
    """List jobs."""
    from healthmon.jobs import service

    data = service.list_jobs(name=name, limit=limit)
    if output == Output.json:
        print_json(data)
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table()
    for c in ("job_id", "name", "tasks", "creator", "created"):
        table.add_column(c)
    for j in data["jobs"]:
        settings = j["settings"]
        table.add_row(str(j["job_id"]), escape(str(settings.get("name") or "")), str(len(settings.get("tasks") or [])),
                      escape(j["creator_user_name"]), _ms(j["created_time"]))
    Console().print(table)


@app.command("get")
def get_cmd(job_id: int = id_option("--job-id"), output: Output = JsonOutputOpt) -> None:
    """Show a job (Jobs API Job JSON)."""
    from healthmon.jobs import service

    print_json(service.get_job(job_id))


def _load_json(path_or_text: str) -> dict:
    """``--json`` inline, or ``@file`` (as the Databricks CLI reads it)."""
    from healthmon.cli.checks import input_file

    where = "--json"
    text = path_or_text
    if path_or_text.startswith("@"):
        path = input_file(Path(path_or_text[1:]), "--json @file:")
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidParameterError(f"{where}: cannot read ({getattr(exc, 'strerror', None) or exc}).") from None
    return parse_json(where, text)


@app.command("create")
def create_cmd(json_: str = typer.Option(..., "--json", help="JobSettings JSON, or @file.json")) -> None:
    """Create a job from JobSettings JSON; prints {"job_id": N}."""
    from healthmon.jobs import service

    print_json({"job_id": service.create_job(_load_json(json_))})


@app.command("reset")
def reset_cmd(job_id: int = id_option("--job-id"), json_: str = typer.Option(..., "--json")) -> None:
    """Replace a job's settings."""
    from healthmon.jobs import service

    data = _load_json(json_)
    # The Jobs API's reset body ({"job_id", "new_settings"}) or the settings alone.
    settings = data["new_settings"] if isinstance(data, dict) and "new_settings" in data else data
    service.reset_job(job_id, settings)


@app.command("delete")
def delete_cmd(job_id: int = id_option("--job-id")) -> None:
    """Delete a job."""
    from healthmon.jobs import service

    service.delete_job(job_id)


@app.command("run-now")
def run_now_cmd(
    job_id: int = id_option("--job-id"),
    params: Optional[list[str]] = ParamsOpt,
    only: Optional[str] = typer.Option(None, "--only", help="Comma-separated task keys to run."),
    notebook_params: Optional[str] = NotebookParamsOpt,
    python_named_params: Optional[str] = PythonNamedParamsOpt,
    python_params: Optional[str] = PythonParamsOpt,
    no_wait: bool = typer.Option(False, "--no-wait", help="Return once the run is started."),
    output: Output = OutputOpt,
) -> None:
    """Start a run and (by default) watch it until it ends; exit code 0 only on SUCCESS."""
    from healthmon.cli.run_params import parse_key_values

    only_keys = [k for k in (only or "").split(",") if k] or None
    given = {"job_parameters": parse_key_values("--params", params),
             **task_parameters(notebook_params, python_named_params, python_params)}
    if output == Output.json:
        from healthmon.jobs import service

        run_id = service.run_now(job_id, **given, only=only_keys, only_given_as="--only")
        run = service.get_run(run_id) if no_wait else service.wait_for_run(run_id)
        print_json(run)
        raise typer.Exit(0 if no_wait or run["state"].get("result_state") == "SUCCESS" else 1)
    from healthmon.jobs.cli_support import run_and_watch

    raise typer.Exit(run_and_watch(job_id, **given, only=only_keys, wait=not no_wait))


@app.command("list-runs")
def list_runs_cmd(
    job_id: Optional[int] = id_option("--job-id", None),
    limit: int = typer.Option(25, "--limit"),
    offset: int = typer.Option(0, "--offset"),
    active_only: bool = typer.Option(False, "--active-only"),
    completed_only: bool = typer.Option(False, "--completed-only"),
    expand_tasks: bool = typer.Option(False, "--expand-tasks"),
    output: Output = OutputOpt,
) -> None:
    """List runs, newest first."""
    from healthmon.jobs import service
    from healthmon.jobs.recovery import reap_orphans

    reap_orphans()
    data = service.list_runs(job_id=job_id, active_only=active_only, completed_only=completed_only,
                             limit=limit, offset=offset, expand_tasks=expand_tasks)
    if output == Output.json:
        print_json(data)
    else:
        runs_table(data["runs"])


@app.command("cancel-all-runs")
def cancel_all_cmd(job_id: int = id_option("--job-id")) -> None:
    """Cancel every active run of a job."""
    from healthmon.jobs import service

    service.cancel_all_runs(job_id)
