"""Start a run and watch it live: used by ``healthmon bundle run`` and ``healthmon jobs run-now``."""

from __future__ import annotations

import json
import time

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

STATE_STYLE = {"SUCCESS": "green", "FAILED": "red", "TIMEDOUT": "red", "CANCELED": "yellow",
               "UPSTREAM_FAILED": "red dim", "UPSTREAM_CANCELED": "yellow dim", "EXCLUDED": "dim",
               "SUCCESS_WITH_FAILURES": "yellow", "MAXIMUM_CONCURRENT_RUNS_REACHED": "yellow"}


def _duration(task: dict) -> str:
    start = task.get("start_time") or 0
    if not start or task["state"]["life_cycle_state"] in ("PENDING", "BLOCKED", "QUEUED"):
        return ""
    end = task.get("end_time") or int(time.time() * 1000)
    return f"{max(0, end - start) / 1000:.1f}s"


def _described(job_parameters: dict[str, str], task_parameters: dict) -> list[str]:
    """``name=value`` for job parameters, ``kind.name=value`` or ``kind=[...]`` for task parameters."""
    parts = [f"{name}={value}" for name, value in job_parameters.items()]
    for kind, values in task_parameters.items():
        if isinstance(values, list):  # python_params: positional
            parts.append(f"{kind}={json.dumps(values)}")
        else:
            parts += [f"{kind}.{k}={v}" for k, v in values.items()]
    return parts


def _parameters(run: dict, repairs: dict[int, dict] | None) -> str | None:
    """The values the run was given (job parameters, then run-now's task parameter kinds), so a
    child run of a ``run_job_task`` or a repaired run shows what its tasks received; then what
    each repair was given."""
    lines = []
    parts = _described({p["name"]: p.get("value", "") for p in run.get("job_parameters") or []},
                       run.get("overriding_parameters") or {})
    if parts:
        lines.append("Parameters: " + ", ".join(parts))
    for repair_id, given in (repairs or {}).items():
        task_kinds = {k: v for k, v in given.items() if k != "job_parameters"}
        lines.append(f"Repair {repair_id} given: " + ", ".join(_described(given.get("job_parameters") or {},
                                                                          task_kinds)))
    return escape("\n".join(lines)) if lines else None


def render(run: dict, repairs: dict[int, dict] | None = None) -> Table:
    """The run's tasks; under them its parameters and (``repairs``: ``service.repair_parameters``)
    what each repair was given."""
    state = run["state"]
    result = state.get("result_state") or state["life_cycle_state"]
    title = f"Run {run['run_id']} of {escape(run.get('run_name', ''))}: {result}"
    table = Table(title=title, title_justify="left", caption=_parameters(run, repairs), caption_justify="left")
    for col in ("task", "state", "attempt", "duration", "run_id"):
        table.add_column(col)
    for t in run.get("tasks", []):
        st = t["state"]
        label = st.get("result_state") or st["life_cycle_state"]
        table.add_row(t["task_key"], f"[{STATE_STYLE.get(label, '')}]{label}[/]" if label in STATE_STYLE else label,
                      str(t.get("attempt_number", 0)), _duration(t), str(t["run_id"]))
    return table


def run_and_watch(job_id: int, *, job_parameters: dict[str, str] | None = None,
                  notebook_params: dict[str, str] | None = None, python_named_params: dict[str, str] | None = None,
                  python_params: list[str] | None = None, only: list[str] | None = None, wait: bool = True) -> int:
    """Start a run of ``job_id``; with ``wait``, show live task progress and return 0 only on SUCCESS."""
    from healthmon.jobs import service
    from healthmon.jobs.recovery import reap_orphans

    console = Console()
    reap_orphans()
    run_id = service.run_now(job_id, job_parameters=job_parameters, notebook_params=notebook_params,
                             python_named_params=python_named_params, python_params=python_params, only=only,
                             only_given_as="--only")
    run = service.get_run(run_id)
    console.print(f"Run URL: {run['run_page_url']}  (run_id {run_id})")
    if not wait:
        return 0
    try:
        with Live(render(run), console=console, refresh_per_second=4, transient=not console.is_terminal) as live:
            last_reap = time.monotonic()
            # Rebuilding a run of hundreds of tasks costs CPU the run needs: refresh those slower.
            interval = 0.25 if len(run.get("tasks", [])) < 100 else 1.0
            while run["state"]["life_cycle_state"] not in ("TERMINATED", "SKIPPED", "INTERNAL_ERROR"):
                time.sleep(interval)
                run = service.get_run(run_id)
                live.update(render(run))
                if time.monotonic() - last_reap > 5:
                    reap_orphans(run_ids=[run_id])
                    last_reap = time.monotonic()
    except KeyboardInterrupt:
        service.cancel_run(run_id)
        console.print(f"Canceling run {run_id}...")
        service.wait_for_run(run_id, timeout=60)
        return 130
    if not console.is_terminal:
        console.print(render(run))
    return report(console, run)


def report(console: Console, run: dict) -> int:
    state = run["state"]
    result = state.get("result_state") or state["life_cycle_state"]
    style = STATE_STYLE.get(result, "")
    console.print(
        f"[{style}]Run {run['run_id']} {result}[/]"
        + (f": {escape(state['state_message'])}" if state.get("state_message") else "")
    )
    from healthmon.jobs import service

    for t in run.get("tasks", []):
        if t["state"].get("result_state") in ("FAILED", "TIMEDOUT"):
            try:
                out = service.get_run_output(t["run_id"])
            except Exception:
                continue
            message = escape(out.get("error") or t["state"].get("state_message", ""))
            console.print(f"[red]Task {t['task_key']} (run_id {t['run_id']}):[/] {message}", highlight=False)
            if out.get("error_trace"):
                console.print(out["error_trace"].rstrip(), markup=False, highlight=False)
    return 0 if result == "SUCCESS" else 1


__all__ = ["run_and_watch", "render", "report"]
