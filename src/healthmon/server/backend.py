"""The REST layer's single door into the jobs runtime (``healthmon.jobs.service``).

The service is imported lazily (the server starts, and serves auth and UI, without it) and
its return values are normalised here to what the routes need, so a change in the service's
conventions is absorbed in one place.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import time
from types import ModuleType
from typing import Any

from healthmon import permissions
from healthmon.errors import NotFoundError
from healthmon.server.errors import ApiError
from healthmon.store.auth import Principal

# Marked the hidden job behind a runs/submit run before one-time runs were native; workspaces
# created then still hold such jobs, which stay out of jobs/list.
EPHEMERAL_KEY = "healthmon_one_time_run"


def service() -> ModuleType:
    try:
        return importlib.import_module("healthmon.jobs.service")
    except ModuleNotFoundError as exc:
        if exc.name != "healthmon.jobs.service":
            raise
        raise ApiError("TEMPORARILY_UNAVAILABLE", "The jobs runtime is not installed in this build.", 503) from None


def _call(name: str, *args: Any, **kwargs: Any) -> Any:
    fn = getattr(service(), name, None)
    if fn is None:
        raise ApiError("NOT_IMPLEMENTED", f"The jobs runtime does not implement {name} yet.", 501)
    accepted = _keywords(fn)
    if accepted is not None:
        kwargs = {k: v for k, v in kwargs.items() if k in accepted}
    return fn(*args, **kwargs)


@functools.lru_cache(maxsize=64)
def _keywords(fn) -> frozenset[str] | None:
    """Keyword arguments ``fn`` accepts (None = any): the service's signatures may be narrower
    than what the API offers, and an optional extra must not break a call."""
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    return frozenset(params)


def get_job(job_id: int) -> dict:
    """The Jobs API ``Job``; ``run_as_user_name`` is whom its runs execute as now (its settings'
    ``run_as``, else its owner), as Databricks reports it."""
    job = _call("get_job", job_id)
    run_as = permissions.run_as_name(permissions.job_run_as(job))
    if run_as:
        job["run_as_user_name"] = run_as
    return job


# Jobs as seen by permission checks on runs, for ACL_TTL seconds: reading a run should not
# cost a second full job read. Changes made through this server invalidate at once; changes
# made elsewhere (a redeploy) apply within ACL_TTL.
ACL_TTL = 2.0
_acl_jobs: dict[tuple, tuple[float, dict]] = {}


def _acl_key(job_id: int) -> tuple:
    # The workspace is part of the key: one process may serve (or test) several.
    env = os.environ
    return env.get("HEALTHMON_DATABASE_URL"), env.get("HEALTHMON_HOME"), job_id


def get_job_for_acl(job_id: int) -> dict:
    now = time.monotonic()
    key = _acl_key(job_id)
    hit = _acl_jobs.get(key)
    if hit and now - hit[0] < ACL_TTL:
        return hit[1]
    job = get_job(job_id)
    _acl_jobs[key] = (now, job)
    if len(_acl_jobs) > 10_000:
        _acl_jobs.clear()
    return job


def forget_job(job_id: int) -> None:
    _acl_jobs.pop(_acl_key(job_id), None)


def job_or_none(job_id: int | None) -> dict | None:
    """The job (through the ACL cache), or None for a run without a job or a deleted job."""
    if not job_id:
        return None
    try:
        return get_job_for_acl(job_id)
    except NotFoundError:
        return None


def top_run(run: dict) -> dict:
    """The job run a task run (or for-each iteration) belongs to."""
    while run.get("task_key") and run.get("job_run_id"):
        run = get_run(run["job_run_id"], include_tasks=False)
    return run


def run_access(principal: Principal, run_id: int, *, include_history: bool = False) -> tuple[dict, str | None]:
    """A run and ``principal``'s level on it (None: may not see it): its job's level, or for a
    run without a job (one-time runs) its creator's and admins'."""
    run = get_run(run_id, include_history=include_history)
    job = job_or_none(run.get("job_id"))
    return run, permissions.run_level(principal, run if job is not None else top_run(run), job)


def all_jobs(name: str | None = None) -> list[dict]:
    """Every job (full ``Job`` dicts), most recently created first, optionally by exact
    case-insensitive name."""
    result = _call("list_jobs", limit=2**31)
    jobs = result.get("jobs", []) if isinstance(result, dict) else list(result)
    jobs = [j for j in jobs if not (j.get("settings") or {}).get(EPHEMERAL_KEY)]
    if name is not None:
        jobs = [j for j in jobs if ((j.get("settings") or {}).get("name") or "").lower() == name.lower()]
    return sorted(jobs, key=lambda j: (j.get("created_time") or 0, j.get("job_id") or 0), reverse=True)


def create_job(settings: dict, user_name: str) -> int:
    return int(_call("create_job", settings, user_name=user_name))


def reset_job(job_id: int, settings: dict) -> None:
    forget_job(job_id)
    _call("reset_job", job_id, settings)
    forget_job(job_id)


# jobs/update merges these arrays entry by entry on their key field; other fields are replaced.
MERGED_ARRAYS = {"tasks": "task_key", "job_clusters": "job_cluster_key", "environments": "environment_key",
                 "parameters": "name"}


def updated_settings(current: dict, new_settings: dict, fields_to_remove: list[str]) -> dict:
    """jobs/update: top-level fields of ``new_settings`` replace the current ones, except the
    keyed arrays (tasks by ``task_key``, job clusters by ``job_cluster_key``...), whose entries
    replace or join the current entries; ``fields_to_remove`` names top-level fields, or
    ``tasks/<task_key>`` / ``job_clusters/<job_cluster_key>``."""
    out = dict(current)
    for field in fields_to_remove:
        array, _, key = field.partition("/")
        if not key:
            out.pop(field, None)
            continue
        if array not in ("tasks", "job_clusters") or not isinstance(out.get(array), list):
            raise ApiError(
                "INVALID_PARAMETER_VALUE",
                f"fields_to_remove: cannot remove {field}: nested fields other than "
                "tasks/<task_key> and job_clusters/<job_cluster_key> cannot be removed.",
            )
        id_field = MERGED_ARRAYS[array]
        kept = [e for e in out[array] if not (isinstance(e, dict) and e.get(id_field) == key)]
        if len(kept) == len(out[array]):
            raise ApiError("INVALID_PARAMETER_VALUE", f"fields_to_remove: {array} has no entry {key}.")
        out[array] = kept
    for field, value in new_settings.items():
        merge_key = MERGED_ARRAYS.get(field)
        if merge_key and isinstance(value, list) and isinstance(out.get(field), list):
            merged = {e.get(merge_key) if isinstance(e, dict) else id(e): e for e in out[field]}
            for entry in value:
                merged[entry.get(merge_key) if isinstance(entry, dict) else id(entry)] = entry
            out[field] = list(merged.values())
        else:
            out[field] = value
    return out


def delete_job(job_id: int) -> None:
    forget_job(job_id)
    _call("delete_job", job_id)
    forget_job(job_id)


def run_now(job_id: int, job_parameters: dict | None, only: list[str] | None, user_name: str,
            idempotency_token: str | None = None, *, notebook_params: dict | None = None,
            python_named_params: dict | None = None, python_params: list | None = None) -> int:
    return int(_call("run_now", job_id, job_parameters=job_parameters, notebook_params=notebook_params,
                     python_named_params=python_named_params, python_params=python_params, only=only,
                     user_name=user_name, idempotency_token=idempotency_token))


REAP_INTERVAL_SECONDS = 1.0
_last_reap = [float("-inf")]


def _reap_orphans() -> None:
    """Before a read of runs, end the runs whose runner died (SIGKILL, OOM) in INTERNAL_ERROR, as
    the CLI does before its reads: else the API and the UI would show them RUNNING for ever.
    At most once a second per process: the check reads every active run."""
    now = time.monotonic()
    if now - _last_reap[0] < REAP_INTERVAL_SECONDS:
        return
    _last_reap[0] = now
    service()  # 503 when the jobs runtime is not installed
    from healthmon.jobs.recovery import reap_orphans

    reap_orphans()


def get_run(run_id: int, include_history: bool = False, include_tasks: bool = True) -> dict:
    _reap_orphans()
    return _call("get_run", run_id, include_history=include_history, include_tasks=include_tasks)


def list_runs(job_id: int | None, active_only: bool, completed_only: bool, limit: int, offset: int = 0, *,
              before: int | None = None, after: int | None = None, run_type: str | None = None,
              start_time_from: int | None = None, start_time_to: int | None = None,
              expand_tasks: bool = False) -> tuple[list[dict], bool]:
    """Job runs newest first and whether more follow in the paging direction: keyset paging by
    ``before`` (older than that run id) or ``after`` (the runs just newer), or an offset."""
    _reap_orphans()
    result = _call(
        "list_runs", job_id=job_id, active_only=active_only, completed_only=completed_only, limit=limit, offset=offset,
        before_run_id=before, after_run_id=after, run_type=run_type, start_time_from=start_time_from,
        start_time_to=start_time_to, expand_tasks=expand_tasks,
    )
    runs = list(result.get("runs", []))
    return runs, bool(result.get("has_more"))


def get_run_output(run_id: int) -> dict:
    _reap_orphans()
    return redact_secrets(_call("get_run_output", run_id))


# What a run's output shows only to who may read its logs (Databricks: "View ... logs of a job
# run" needs Can Manage Run; "View results", Can View).
LOG_FIELDS = ("logs", "logs_truncated", "error_trace")


def run_output_for(level: str, run_id: int) -> dict:
    """A task run's output as a caller holding ``level`` on it may see it."""
    output = get_run_output(run_id)
    if permissions.RANK[level] < permissions.RANK["CAN_MANAGE_RUN"]:
        for key in LOG_FIELDS:
            output.pop(key, None)
    return output


def redact_secrets(doc: Any) -> Any:
    """Replace every stored secret value in the strings of ``doc`` with ``[REDACTED]``. The
    runtime redacts what it writes; this is the server's second line for what it serves."""
    from healthmon.settings import Settings
    from healthmon.store import secrets
    from healthmon.store.db import Database

    with Database.from_settings(Settings.from_env()).session() as s:
        values = sorted((v for v in secrets.all_values(s) if v), key=len, reverse=True)
    if not values:
        return doc

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            for secret in values:
                value = value.replace(secret, "[REDACTED]")
            return value
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    return scrub(doc)


def export_run(principal: Principal, run: dict, views: str) -> dict:
    """``ExportRunOutput`` of a notebook task run: one NOTEBOOK view, an HTML page with the
    notebook's code (when it is in the workspace tree and the caller may read it) and the run's
    result. There are no dashboards (``DASHBOARDS``: no views)."""
    from healthmon.server import export_html, workspace_api

    run_id = run["run_id"]
    if not run.get("task_key"):
        tasks = ", ".join(f"{t['task_key']} (run_id {t['run_id']})" for t in run.get("tasks") or []) or "none yet"
        raise ApiError("INVALID_PARAMETER_VALUE", f"Run {run_id} is a job run: export one of its task runs: {tasks}.")
    notebook_path = (run.get("notebook_task") or {}).get("notebook_path")
    if not notebook_path:
        raise ApiError(
            "INVALID_PARAMETER_VALUE", f"Run {run_id} is not a notebook task run: only notebook runs can be exported."
        )
    if views == "DASHBOARDS":
        return {"views": []}
    output = get_run_output(run_id)  # the result and error only: no logs in an export
    source = workspace_api.read_notebook_for_export(principal, notebook_path)
    name = notebook_path.rstrip("/").rsplit("/", 1)[-1]
    return {"views": [{"content": export_html.notebook_run_html(name, source, run, output), "name": name,
                       "type": "NOTEBOOK"}]}


def cancel_run(run_id: int) -> None:
    _call("cancel_run", run_id)


def repair_run(run_id: int, rerun_tasks: list[str] | None, rerun_all_failed_tasks: bool, **options: Any) -> int:
    """``options``: ``service.repair_run``'s keywords (``rerun_dependent_tasks``, the parameters,
    ``latest_repair_id``, ``latest_repair_id_required``)."""
    return int(_call("repair_run", run_id, rerun_tasks=rerun_tasks, rerun_all_failed_tasks=rerun_all_failed_tasks,
                     **options))


def cancel_all_runs(job_id: int) -> None:
    _call("cancel_all_runs", job_id)


def submit_run(spec: dict, user_name: str) -> int:
    """One-time run (runs/submit): a SUBMIT_RUN run of its own, with no job."""
    return int(_call("submit_run", spec, user_name=user_name))


def delete_run(run_id: int) -> None:
    """Delete a finished run and its task runs (runs/delete). Done on the run tables directly
    while the service has no delete of its own."""
    fn = getattr(service(), "delete_run", None)
    if fn is not None:
        fn(run_id)
        return
    from sqlalchemy import delete, or_, select

    from healthmon.settings import Settings
    from healthmon.store.db import Database
    from healthmon.store.runs import TERMINAL_STATES, RunRecord, get_run as get_run_row

    with Database.from_settings(Settings.from_env()).session() as s:
        row = get_run_row(s, run_id)
        if row.task_key is not None:
            raise ApiError(
                "INVALID_PARAMETER_VALUE", f"Run {run_id} is a task run; delete its job run {row.job_run_id}."
            )
        if row.life_cycle_state not in TERMINAL_STATES:
            raise ApiError(
                "INVALID_STATE", f"Run {run_id} is {row.life_cycle_state}; only a finished run can be deleted."
            )
        ids = {run_id}
        frontier = {run_id}
        while frontier:  # task runs, for-each iterations, ...
            children = set(s.scalars(select(RunRecord.run_id).where(RunRecord.job_run_id.in_(frontier))))
            frontier = children - ids
            ids |= children
        s.execute(delete(RunRecord).where(or_(RunRecord.run_id.in_(ids))))
