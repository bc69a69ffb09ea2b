"""Run rows → Jobs API JSON (the shapes of ``databricks.sdk.service.jobs.Run``/``RunTask``/``RunOutput``).

A "row" is a ``RunRecord`` or a ``store.runs.RunRow`` (``RUN_COLUMNS`` as a named tuple: the
server's read path skips the ORM): only attributes are read, JSON columns through ``_j``.
"""

from __future__ import annotations

import os
from typing import Any

from healthmon.jobs import refs
from healthmon.store.jsontext import loads
from healthmon.store.runs import RunRecord


def _j(row: Any, name: str) -> Any:
    return loads(getattr(row, f"{name}_json"))

V2_STATE = {
    "QUEUED": "QUEUED",
    "PENDING": "PENDING",
    "RUNNING": "RUNNING",
    "TERMINATING": "TERMINATING",
    "TERMINATED": "TERMINATED",
    "SKIPPED": "TERMINATED",
    "INTERNAL_ERROR": "TERMINATED",
    "BLOCKED": "BLOCKED",
    "WAITING_FOR_RETRY": "WAITING",
}

TASK_TYPES = (
    "notebook_task", "spark_python_task", "python_wheel_task", "run_job_task", "condition_task",
    "for_each_task", "sql_task", "dbt_task", "pipeline_task", "spark_jar_task", "spark_submit_task",
)


def _server_url() -> str:
    # Default: where `healthmon server` listens when started without options, so a run started
    # from the CLI links to the UI that `bundle summary` links its jobs to.
    return os.environ.get("HEALTHMON_SERVER_URL", "http://127.0.0.1:8080").rstrip("/")


def run_page_url(run_id: int, job_id: int | None, base: str | None = None) -> str:
    if base is None:
        base = _server_url()
    if not job_id:  # a one-time (runs/submit) run has no job page
        return f"{base}/runs/{run_id}"
    return f"{base}/jobs/{job_id}/runs/{run_id}"


def state(row: RunRecord) -> dict[str, Any]:
    s: dict[str, Any] = {"life_cycle_state": row.life_cycle_state, "state_message": row.state_message or ""}
    if row.result_state:
        s["result_state"] = row.result_state
    if row.user_cancelled_or_timedout:
        s["user_cancelled_or_timedout"] = True
    return s


def status(row: RunRecord) -> dict[str, Any]:
    st: dict[str, Any] = {"state": V2_STATE.get(row.life_cycle_state, "TERMINATED")}
    if row.termination_code:
        st["termination_details"] = {
            "code": row.termination_code,
            "type": row.termination_type or "SUCCESS",
            "message": row.state_message or "",
        }
    if row.life_cycle_state == "QUEUED":
        st["queue_details"] = {"code": "ACTIVE_RUNS_LIMIT_REACHED", "message": row.state_message or "Queued"}
    return st


def _durations(row: RunRecord) -> dict[str, int]:
    end = row.end_time or 0
    run_duration = (end - row.start_time) if end and row.start_time else 0
    return {
        "setup_duration": row.setup_duration or 0,
        "execution_duration": row.execution_duration or 0,
        "cleanup_duration": 0,
        "run_duration": run_duration,
        "queue_duration": row.queue_duration or 0,
    }


# Task settings fields a RunTask repeats (besides its task type's own field).
_TASK_FIELDS = frozenset(("depends_on", "run_if", "description", "timeout_seconds", "max_retries",
                          "min_retry_interval_millis", "retry_on_timeout", "environment_key", "disabled"))
_TASK_TYPE_SET = frozenset(TASK_TYPES)


def task_dict(row: RunRecord, iterations: list[RunRecord] | None = None, base_url: str | None = None) -> dict[str, Any]:
    settings = _j(row, "settings") or {}
    d: dict[str, Any] = {
        "run_id": row.run_id,
        "task_key": row.task_key,
        "attempt_number": row.attempt_number,
        "start_time": row.start_time,
        "end_time": row.end_time,
        "state": state(row),
        "status": status(row),
        "run_page_url": run_page_url(row.run_id, row.job_id, base_url),
        **_durations(row),
    }
    for key, value in settings.items():
        if key in _TASK_FIELDS:
            d[key] = value
        elif key in _TASK_TYPE_SET:  # a copy: the outcome is added below; a malformed one shown as stored
            d[key] = dict(value) if isinstance(value, dict) else value
    if "condition_task" in d:
        out = _j(row, "output") or {}
        if "outcome" in out:
            d["condition_task"]["outcome"] = out["outcome"]
    if "for_each_task" in d and iterations is not None:
        stats: dict[str, int] = {}
        for it in iterations:
            bucket = "succeeded" if it.result_state == "SUCCESS" else "failed" if it.result_state else "active"
            stats[bucket] = stats.get(bucket, 0) + 1
        d["for_each_task"]["stats"] = {"task_run_stats": {
            "total_iterations": len(iterations),
            "succeeded_iterations": stats.get("succeeded", 0),
            "failed_iterations": stats.get("failed", 0),
            "active_iterations": stats.get("active", 0),
            "completed_iterations": stats.get("succeeded", 0) + stats.get("failed", 0),
        }}
    return d


def run_dict(row: RunRecord, tasks: list[RunRecord], job_settings: dict[str, Any] | None = None,
             iterations: dict[int, list[RunRecord]] | None = None) -> dict[str, Any]:
    if job_settings is not None:
        settings = job_settings
    else:  # only job parameters are read from the (possibly large) settings snapshot
        settings = _j(row, "settings") if '"parameters"' in (row.settings_json or "") else {}
    params = _j(row, "params") or {}
    base_url = _server_url()
    d: dict[str, Any] = {
        "run_id": row.run_id,
        "job_id": row.job_id,
        "job_run_id": row.run_id,
        "number_in_job": row.run_id,
        "original_attempt_run_id": row.run_id,
        "run_name": row.run_name,
        "run_type": row.run_type,
        "trigger": row.trigger,
        "creator_user_name": row.creator_user_name,
        "attempt_number": row.attempt_number,
        "start_time": row.start_time,
        "end_time": row.end_time,
        "state": state(row),
        "status": status(row),
        "run_page_url": run_page_url(row.run_id, row.job_id, base_url),
        **_durations(row),
        "setup_duration": 0,
        "execution_duration": 0,
    }
    job_params = params.get("job_parameters") or {}
    defaults = refs.job_parameter_defaults(settings)
    if defaults or job_params:  # JobParameter {name, default, value}, all strings
        d["job_parameters"] = [
            {"name": n, "default": defaults.get(n, ""), "value": str(job_params.get(n, defaults.get(n, "")))}
            for n in dict.fromkeys([*defaults, *job_params])
        ]
    # RunParameters: the task parameter kinds run-now gave (job parameters are in job_parameters).
    overriding = {kind: params[kind] for kind in refs.TASK_PARAMETER_KINDS if params.get(kind)}
    if overriding:
        d["overriding_parameters"] = overriding
    if tasks:
        iterations = iterations or {}
        d["tasks"] = [task_dict(t, iterations.get(t.run_id), base_url) for t in tasks]
    history = _j(row, "repair") or []
    if history:
        # The SDK's RepairHistoryItem has no field for the parameters a repair was given: they
        # stay in the run's record (service.repair_parameters), out of the API's body.
        d["repair_history"] = [{k: v for k, v in h.items() if k != "parameters"} for h in history]
    if row.parent_run_id:
        d["description"] = f"Started by run_job_task of run {row.parent_run_id}"
    if not row.job_id:  # a one-time run (runs/submit) belongs to no job
        del d["job_id"]
    return d


def output_dict(row: RunRecord, metadata: dict[str, Any], logs: tuple[str, bool] | None) -> dict[str, Any]:
    out = _j(row, "output") or {}
    d: dict[str, Any] = {"metadata": metadata}
    if "notebook_output" in out:
        d["notebook_output"] = out["notebook_output"]
    elif "notebook_task" in (_j(row, "settings") or {}):
        d["notebook_output"] = {}
    if out.get("error"):
        d["error"] = out["error"]
    if out.get("error_trace"):
        d["error_trace"] = out["error_trace"]
    if "run_job_output" in out:
        d["run_job_output"] = out["run_job_output"]
    if logs is not None:
        d["logs"], d["logs_truncated"] = logs
    return d
