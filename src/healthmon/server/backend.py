"""The REST layer's single door into the jobs runtime (``healthmon.jobs.service``).

The service is imported lazily (the server starts, and serves auth and UI, without it) and
its return values are normalised here to what the routes need, so a change in the service's
conventions is absorbed in one place.
"""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType
from typing import Any

from healthmon.server.errors import ApiError


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
    # Pass only keyword arguments the service's function accepts (its signature may be narrower).
    params = inspect.signature(fn).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    return fn(*args, **kwargs)


def get_job(job_id: int) -> dict:
    return _call("get_job", job_id)


def all_jobs(name: str | None = None) -> list[dict]:
    """Every job (full ``Job`` dicts), most recently created first, optionally by exact
    case-insensitive name."""
    result = _call("list_jobs")
    jobs = result.get("jobs", []) if isinstance(result, dict) else list(result)
    if name is not None:
        jobs = [j for j in jobs if ((j.get("settings") or {}).get("name") or "").lower() == name.lower()]
    return sorted(jobs, key=lambda j: (j.get("created_time") or 0, j.get("job_id") or 0), reverse=True)


def create_job(settings: dict, user_name: str) -> int:
    return int(_call("create_job", settings, user_name=user_name))


def reset_job(job_id: int, settings: dict) -> None:
    _call("reset_job", job_id, settings)


def delete_job(job_id: int) -> None:
    _call("delete_job", job_id)


def run_now(job_id: int, job_parameters: dict | None, only: list[str] | None, user_name: str) -> int:
    return int(_call("run_now", job_id, job_parameters=job_parameters, only=only, user_name=user_name))


def get_run(run_id: int) -> dict:
    return _call("get_run", run_id)


def list_runs(job_id: int | None, active_only: bool, completed_only: bool, limit: int, offset: int) -> tuple[list[dict], bool]:
    result = _call(
        "list_runs", job_id=job_id, active_only=active_only, completed_only=completed_only, limit=limit, offset=offset
    )
    runs = list(result.get("runs", []))
    return runs, bool(result.get("has_more"))


def get_run_output(run_id: int) -> dict:
    return _call("get_run_output", run_id)


def cancel_run(run_id: int) -> None:
    _call("cancel_run", run_id)


def repair_run(run_id: int, rerun_tasks: list[str] | None, rerun_all_failed_tasks: bool) -> int:
    return int(_call("repair_run", run_id, rerun_tasks=rerun_tasks, rerun_all_failed_tasks=rerun_all_failed_tasks))


def submit_run(spec: dict, user_name: str) -> int:
    return int(_call("submit_run", spec, user_name=user_name))


def delete_run(run_id: int) -> None:
    _call("delete_run", run_id)
