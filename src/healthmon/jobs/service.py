"""The jobs runtime service: Jobs API operations as plain functions returning API JSON dicts.

Used by the CLI, the scheduler and the REST server. ``run_now`` records the run and has its
runner started (``runner_start``); everything else reads or flags rows, so callers never block on
a run unless they ask to (``wait_for_run``). No process is started or supervised here.
"""

from __future__ import annotations

import os
import reprlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from healthmon import permissions
from healthmon.errors import HealthmonError, InvalidParameterError, NotFoundError
from healthmon.jobs import api, plan, refs, runner_start
from healthmon.jobs.tasks import for_each, run_job
from healthmon.schedule.triggers import job_triggers
from healthmon.settings import Settings
from healthmon.store.db import Database, insert_rows
from healthmon.store.jobs import JobRecord, get_job as _get_job_row, list_jobs as _list_job_rows
from healthmon.store.jsontext import dumps_sorted
from healthmon.store.runs import (
    NO_JOB,
    RUN_COLUMNS,
    TERMINAL_STATES,
    IdempotencyRecord,
    RepairRecord,
    RunRecord,
    children_of,
    count_active_job_runs,
    get_run as _get_run_row,
    latest_task_runs,
    list_job_runs,
    lock_job,
    now_ms,
    run_family,
    run_for_token,
)

_JOB_EXISTS = select(JobRecord.job_id).where(JobRecord.job_id == bindparam("job_id"))

TRIGGERS = ("ONE_TIME", "PERIODIC", "FILE_ARRIVAL", "TABLE", "CONTINUOUS", "RETRY", "RUN_JOB_TASK")


# Database URL by the environment that determines it: Settings.from_env resolves paths (system
# calls) and every read of the server goes through here. Database.from_settings caches the
# engine per URL, so the process keeps one engine and one connection pool.
_URLS: dict[tuple, str] = {}


def _db() -> Database:
    env = os.environ
    key = (env.get("HEALTHMON_HOME"), env.get("HEALTHMON_DATABASE_URL"), env.get("HOME"))
    url = _URLS.get(key)
    home = key[0]
    if url is None or (home and not os.path.isabs(home)):  # a relative home depends on the cwd
        url = Settings.from_env().database_url
        if len(_URLS) > 64:
            _URLS.clear()
        _URLS[key] = url
    return Database.from_url(url)


# -- jobs ---------------------------------------------------------------------------------
MAX_CONCURRENT_RUNS = 1000  # the Jobs API's maximum


def check_settings(settings: dict[str, Any]) -> None:
    """Refuse settings the runtime and the scheduler cannot act on, at jobs create and reset
    (the CLI's and the REST API's, whose update is a reset; a bundle deploy's): tasks that do not form a DAG, a
    schedule or trigger that cannot fire, ``parameters`` not a list of {name, default} objects, a
    ``max_concurrent_runs`` outside 0..1000 — as Databricks refuses them at write time, rather
    than storing a job whose schedule never fires or whose runs fail."""
    if not isinstance(settings, dict):
        raise InvalidParameterError("Job settings must be a JSON object.")
    _check_setting_types(settings)
    job = f"Job {settings.get('name') or 'Untitled'!r}"
    tasks = plan.validate_tasks(settings.get("name") or "Untitled", settings.get("tasks") or [])
    for key, task in tasks.items():
        _check_task_objects(f"{job}, task {key!r}", task)
        if "for_each_task" in task:
            task = for_each.check_spec(f"{job}, task {key!r}", task["for_each_task"])
            _check_task_objects(f"{job}, task {key!r}, for_each_task.task", task)
        if "run_job_task" in task:
            run_job.check_spec(f"{job}, task {key!r}", task["run_job_task"])
    _check_environments(job, settings.get("environments"))
    _check_health(job, settings.get("health"))
    limit = settings.get("max_concurrent_runs")
    if limit is not None and (type(limit) is not int or not 0 <= limit <= MAX_CONCURRENT_RUNS):
        raise InvalidParameterError(f"{job}: max_concurrent_runs must be an integer from 0 to {MAX_CONCURRENT_RUNS}, "
                                    f"got {limit!r}.")
    refs.check_parameter_definitions(job, settings.get("parameters"))
    blocks = [(key, settings.get(key)) for key in ("schedule", "trigger", "continuous")]
    trigger = settings.get("trigger")
    if isinstance(trigger, dict):
        blocks += [(f"trigger.{kind}", block) for kind, block in trigger.items() if kind != "pause_status"]
    for key, block in blocks:
        if block is not None and not isinstance(block, dict):
            raise InvalidParameterError(f"{job}: {key} must be a JSON object, got {block!r}.")
    job_triggers(settings, job=job)


# JobSettings fields by their type in the Jobs API (the proto3 JSON mapping refuses another JSON
# type); every reader (jobs list, the UI, the runner) relies on these types once a job is stored.
_STRING_FIELDS = ("name", "description", "format", "edit_mode", "budget_policy_id", "performance_target")
_OBJECT_FIELDS = ("email_notifications", "webhook_notifications", "notification_settings", "health", "queue",
                  "run_as", "git_source", "deployment")
_LIST_FIELDS = ("job_clusters", "access_control_list")
MAX_NAME_LENGTH = 4096  # the Jobs API's limit on a job name


def _check_setting_types(settings: dict[str, Any]) -> None:
    for field in _STRING_FIELDS:
        value = settings.get(field)
        if value is not None and not isinstance(value, str):
            raise InvalidParameterError(f"Job settings: {field} must be a string, got {reprlib.repr(value)}.")
    name = settings.get("name")
    if isinstance(name, str) and len(name) > MAX_NAME_LENGTH:
        raise InvalidParameterError(f"Job settings: name has {len(name)} characters; at most {MAX_NAME_LENGTH}.")
    for field in _OBJECT_FIELDS:
        value = settings.get(field)
        if value is not None and not isinstance(value, dict):
            raise InvalidParameterError(f"Job settings: {field} must be a JSON object, got {reprlib.repr(value)}.")
    for field in _LIST_FIELDS:
        value = settings.get(field)
        if value is not None and not isinstance(value, list):
            raise InvalidParameterError(f"Job settings: {field} must be a list, got {reprlib.repr(value)}.")
    timeout = settings.get("timeout_seconds")
    if timeout is not None and (type(timeout) is not int or not 0 <= timeout < 2**31):
        raise InvalidParameterError(f"Job settings: timeout_seconds must be a whole number of seconds >= 0 "
                                    f"(0: no timeout), got {reprlib.repr(timeout)}.")
    tags = settings.get("tags")
    if tags is not None and (not isinstance(tags, dict)
                             or not all(isinstance(v, str) for v in tags.values())):
        raise InvalidParameterError(f"Job settings: tags must be a JSON object of names to strings, "
                                    f"got {reprlib.repr(tags)}.")


# Task fields the executor and the notifier read, by their type in the Jobs API's Task: the
# whole numbers with their least value (max_retries -1: retry indefinitely).
_TASK_WHOLE_NUMBERS = {"timeout_seconds": 0, "max_retries": -1, "min_retry_interval_millis": 0}
_TASK_STRINGS = ("description", "environment_key", "job_cluster_key", "existing_cluster_id")
_TASK_OBJECTS = ("email_notifications", "webhook_notifications", "notification_settings", "health")
# The runnable task types' own fields by their type in the Jobs API (NotebookTask, SparkPythonTask,
# PythonWheelTask, ...): a parameter that is not a string would reach the task as a Python repr.
_TASK_TYPE_FIELDS: dict[str, dict[str, type]] = {
    "notebook_task": {"notebook_path": str, "base_parameters": dict, "source": str, "warehouse_id": str},
    "spark_python_task": {"python_file": str, "parameters": list, "source": str},
    "python_wheel_task": {"package_name": str, "entry_point": str, "parameters": list, "named_parameters": dict},
    "spark_jar_task": {"main_class_name": str, "parameters": list},
    "spark_submit_task": {"parameters": list},
}


def _check_task_objects(where: str, task: dict) -> None:
    """A task type (``notebook_task``, ``spark_python_task``, ...) is a JSON object in the Jobs
    API: a string, list or null there is refused, as Databricks refuses the request; so are the
    task's other fields of the wrong JSON type, which would otherwise fail each run with an
    internal error."""
    for field in api.TASK_TYPES + _TASK_OBJECTS:
        if field in task and not isinstance(task[field], dict):
            raise InvalidParameterError(f"{where}: {field} must be a JSON object, got {reprlib.repr(task[field])}.")
    for kind, fields in _TASK_TYPE_FIELDS.items():
        spec = task.get(kind) or {}  # an object by the check above
        for field, kind_type in fields.items():
            _check_typed(f"{where}: {kind}.{field}", spec.get(field), kind_type)
    for field, least in _TASK_WHOLE_NUMBERS.items():
        value = task.get(field)
        if value is not None and (type(value) is not int or not least <= value < 2**31):
            raise InvalidParameterError(f"{where}: {field} must be a whole number >= {least}, "
                                        f"got {reprlib.repr(value)}.")
    for field in _TASK_STRINGS:
        value = task.get(field)
        if value is not None and not isinstance(value, str):
            raise InvalidParameterError(f"{where}: {field} must be a string, got {reprlib.repr(value)}.")
    retry = task.get("retry_on_timeout")
    if retry is not None and not isinstance(retry, bool):
        raise InvalidParameterError(f"{where}: retry_on_timeout must be true or false, got {reprlib.repr(retry)}.")
    libraries = task.get("libraries")
    if libraries is not None and not isinstance(libraries, list):
        raise InvalidParameterError(f"{where}: libraries must be a list, got {reprlib.repr(libraries)}.")
    _check_health(where, task.get("health"))


def _check_typed(where: str, value: Any, kind: type) -> None:
    """``value`` absent, or a string / a list of strings / an object of strings (``kind``)."""
    if value is None:
        return
    if kind is str:
        ok, expected = isinstance(value, str), "a string"
    elif kind is list:
        ok, expected = isinstance(value, list) and all(isinstance(v, str) for v in value), "a list of strings"
    else:
        ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        expected = "a JSON object of names to strings"
    if not ok:
        raise InvalidParameterError(f"{where} must be {expected}, got {reprlib.repr(value)}.")


def _check_health(where: str, health: Any) -> None:
    """``health.rules``: a list of {metric, op, value} objects with a numeric value (JobsHealthRule)."""
    rules = health.get("rules") if isinstance(health, dict) else None
    if rules is None:
        return
    if not isinstance(rules, list) or not all(isinstance(rule, dict) for rule in rules):
        raise InvalidParameterError(f"{where}: health.rules must be a list of {{metric, op, value}} objects, "
                                    f"got {reprlib.repr(rules)}.")
    for i, rule in enumerate(rules):
        value = rule.get("value")
        if type(value) not in (int, float) or value != value or value in (float("inf"), float("-inf")):
            raise InvalidParameterError(f"{where}: health.rules[{i}].value must be a number, "
                                        f"got {reprlib.repr(value)}.")


def _check_environments(job: str, environments: Any) -> None:
    """``environments`` is a list of {environment_key, spec} objects, ``spec`` an object whose
    ``dependencies`` is a list (the Jobs API's JobEnvironment)."""
    if environments is None:
        return
    if not isinstance(environments, list):
        raise InvalidParameterError(f"{job}: environments must be a list of objects, got {environments!r}.")
    for i, env in enumerate(environments):
        if not isinstance(env, dict):
            raise InvalidParameterError(f"{job}: environments[{i}] must be a JSON object, got {env!r}.")
        spec = env.get("spec")
        if spec is not None and not isinstance(spec, dict):
            raise InvalidParameterError(f"{job}: environments[{i}].spec must be a JSON object, got {spec!r}.")
        deps = (spec or {}).get("dependencies")
        if deps is not None and not isinstance(deps, list):
            raise InvalidParameterError(f"{job}: environments[{i}].spec.dependencies must be a list, got {deps!r}.")


def create_job(settings: dict, user_name: str | None = None) -> int:
    check_settings(settings)
    user = user_name or Settings.from_env().user_name
    with _db().session() as s:
        row = JobRecord(creator_user_name=user, run_as_user_name=user, created_time=now_ms())
        row.settings = settings
        s.add(row)
        s.flush()
        return row.job_id


def get_job(job_id: int) -> dict:
    with _db().session() as s:
        return _get_job_row(s, job_id).to_api()


def list_jobs(name: str | None = None, limit: int = 100, offset: int = 0) -> dict:
    with _db().session() as s:
        rows = _list_job_rows(s, name=name)
    page = rows[offset: offset + limit]
    return {"jobs": [r.to_api() for r in page], "has_more": len(rows) > offset + limit}


def reset_job(job_id: int, settings: dict) -> None:
    check_settings(settings)
    with _db().session() as s:
        _get_job_row(s, job_id).settings = settings


def delete_job(job_id: int) -> None:
    """Delete the job; its active runs (and the child runs they started) are cancelled in the
    same transaction, as Databricks does: their runners see the flag and end them CANCELED."""
    with _db().session() as s:
        job = _get_job_row(s, job_id)
        _cancel_active_runs(s, job_id)
        s.delete(job)


# -- runs ---------------------------------------------------------------------------------
def run_now(
    job_id: int,
    *,
    job_parameters: dict[str, str] | None = None,
    notebook_params: dict[str, str] | None = None,
    python_named_params: dict[str, str] | None = None,
    python_params: list[str] | None = None,
    trigger: str = "ONE_TIME",
    only: list[str] | None = None,
    only_given_as: str = "only",
    user_name: str | None = None,
    parent_run_id: int | None = None,
    idempotency_token: str | None = None,
) -> int:
    """Record a run of ``job_id`` and start its runner; returns the run id at once.

    ``notebook_params`` reach the notebook tasks' widgets and ``python_named_params`` the wheel
    tasks' named parameters, over the tasks' own values of the same name; ``python_params``
    replace the positional parameters of the Python file tasks and of the wheel tasks without
    named parameters. A job that defines job parameters refuses them
    (``refs.task_parameter_overrides``). ``only_given_as``: how the caller names ``only`` (the
    CLI: ``--only``), for the error about an unknown task.

    Respects ``max_concurrent_runs`` (default 1): beyond it the run is QUEUED when the job's
    ``queue.enabled`` is true, else recorded as SKIPPED / MAXIMUM_CONCURRENT_RUNS_REACHED.
    A repeated ``idempotency_token`` returns the run the first request created."""
    overrides = {"notebook_params": notebook_params, "python_named_params": python_named_params,
                 "python_params": python_params}
    return _idempotent(idempotency_token, lambda: _create_job_run(
        job_id, job_parameters=job_parameters, task_params=overrides, trigger=trigger, only=only,
        only_given_as=only_given_as, user_name=user_name,
        parent_run_id=parent_run_id, idempotency_token=idempotency_token))


def start_child_run(parent_run_id: int, job_id: int, job_parameters: dict[str, str],
                    start: Callable[[int], None] | None = None,
                    task_params: Mapping[str, Any] | None = None) -> int:
    """The child run of a ``run_job_task`` of run ``parent_run_id`` (trigger RUN_JOB_TASK): the one
    place a run starts another job, so the one place to check that the parent's principal may.
    ``job_parameters`` and ``task_params`` (``refs.TASK_PARAMETER_KINDS``) are the
    task's, already resolved, checked as run-now checks them.
    ``start(run_id)`` executes the recorded run (the parent's runner runs it on a thread); by
    default it gets a runner process of its own, as every other run."""
    return _create_job_run(job_id, job_parameters=job_parameters, task_params=task_params, trigger="RUN_JOB_TASK",
                           only=None, only_given_as="only", user_name=None, parent_run_id=parent_run_id,
                           idempotency_token=None, start=start)


def _idempotent(token: str | None, create) -> int:
    """``create()`` unless a run already exists for ``token``; a concurrent request that loses
    the race on the token's primary key gets the winner's run (its own transaction rolled back,
    so it started nothing)."""
    if token:
        with _db().session() as s:
            existing = run_for_token(s, token)
        if existing is not None:
            return int(existing)
    try:
        return create()
    except IntegrityError:
        if token:
            with _db().session() as s:
                existing = run_for_token(s, token)
            if existing is not None:
                return int(existing)
        raise


def _remember_token(s, token: str | None, run_id: int) -> None:
    if token:
        s.add(IdempotencyRecord(token=token, run_id=run_id))
        s.flush()


def _create_job_run(job_id: int, *, job_parameters, task_params, trigger, only, only_given_as, user_name, parent_run_id,
                    idempotency_token, start: Callable[[int], None] | None = None) -> int:
    if trigger not in TRIGGERS:
        raise InvalidParameterError(f"trigger {trigger!r} is not one of {', '.join(TRIGGERS)}.")
    db = _db()
    user = user_name or Settings.from_env().user_name
    with db.session() as s:
        if parent_run_id is not None:  # a run_job_task child: its parent's principal must be allowed to run the job
            user = permissions.authorize_run_job_task(s, parent_run_id, job_id)
        job = _get_job_row(s, job_id)
        settings = job.settings
        name = job.name
        by_key = plan.validate_tasks(name, settings.get("tasks") or [])
        if not by_key:
            raise InvalidParameterError(f"Job {name!r} (id {job_id}) has no tasks to run.")
        keys = plan.select_tasks(name, by_key, only, only_given_as)
        effective = refs.effective_job_parameters(name, settings, job_parameters)
        overriding = refs.task_parameter_overrides(name, job_id, settings, task_params,
                                                   "a run_job_task" if parent_run_id is not None else "run-now")
        lock_job(s, job_id)
        limit = settings.get("max_concurrent_runs")
        max_runs = 1 if limit is None else int(limit)  # 0: every new run is skipped, as documented
        queue = bool((settings.get("queue") or {}).get("enabled", False))
        active = count_active_job_runs(s, job_id)
        queued = count_active_job_runs(s, job_id, states=("QUEUED",))
        row = RunRecord(
            job_id=job_id, run_name=name, trigger=trigger, creator_user_name=user,
            run_type="JOB_RUN", life_cycle_state="PENDING", created_time=now_ms(), parent_run_id=parent_run_id,
        )
        row.set_j("settings", {**settings, "run_as": permissions.job_run_as(job.to_api())})  # whom the run executes as
        row.set_j("params", {"job_parameters": dict(job_parameters or {}), "job_parameters_effective": effective,
                             "only": keys if only else None, **overriding})
        start_runner = True
        if active + queued >= max_runs:
            if queue and max_runs > 0:
                row.life_cycle_state = "QUEUED"
                row.state_message = (
                    f"Queued: the job already has {active} active run(s) (max_concurrent_runs={max_runs})."
                )
            else:
                row.life_cycle_state = "SKIPPED"
                row.result_state = "MAXIMUM_CONCURRENT_RUNS_REACHED"
                row.termination_code = "MAX_CONCURRENT_RUNS_EXCEEDED"
                row.termination_type = "CLIENT_ERROR"
                row.state_message = (
                    f"Skipped: the job already has {active} active run(s) and max_concurrent_runs is {max_runs}; "
                    "enable queue to queue runs instead." if max_runs else
                    "Skipped: max_concurrent_runs is 0, so every new run of the job is skipped; raise it to run "
                    "the job."
                )
                row.start_time = row.end_time = now_ms()
                start_runner = False
        s.add(row)
        s.flush()
        run_id = row.run_id
        _remember_token(s, idempotency_token, run_id)
        if start_runner:
            _precreate_tasks(s, row, by_key, keys)
    if start_runner:
        (start or runner_start.start_runner)(run_id)
    return run_id


# Settings fields of a runs/submit request that are not job settings.
_SUBMIT_ONLY = ("run_name", "idempotency_token")


def submit_run(spec: dict, user_name: str | None = None) -> int:
    """A one-time run (``runs/submit``): run_type SUBMIT_RUN, no job; returns the run id at once.

    The request's settings (tasks, environments, parameters, timeout, notifications, ...) are
    the run's settings snapshot, which the runner executes exactly as for a job run."""
    if not isinstance(spec, dict):
        raise InvalidParameterError("A one-time run must be a JSON object with a tasks list.")
    token = spec.get("idempotency_token")
    return _idempotent(token, lambda: _create_submit_run(spec, user_name, token))


def _create_submit_run(spec: dict, user_name: str | None, token: str | None) -> int:
    name = spec.get("run_name") or "Untitled"
    settings = {k: v for k, v in spec.items() if k not in _SUBMIT_ONLY}
    settings["name"] = name
    check_settings(settings)  # the same checks as a job's settings: they run the same way
    by_key = plan.validate_tasks(name, settings.get("tasks") or [])
    if not by_key:
        raise InvalidParameterError(f"One-time run {name!r} has no tasks to run.")
    keys = plan.select_tasks(name, by_key, None)
    effective = refs.effective_job_parameters(name, settings, None)
    user = user_name or Settings.from_env().user_name
    with _db().session() as s:
        row = RunRecord(
            job_id=NO_JOB, run_name=name, trigger="ONE_TIME", creator_user_name=user, run_type="SUBMIT_RUN",
            life_cycle_state="PENDING", created_time=now_ms(),
        )
        row.set_j("settings", settings)
        row.set_j("params", {"job_parameters": {}, "job_parameters_effective": effective, "only": None})
        s.add(row)
        s.flush()
        run_id = row.run_id
        _remember_token(s, token, run_id)
        _precreate_tasks(s, row, by_key, keys)
    runner_start.start_runner(run_id)
    return run_id


def _precreate_tasks(s, run: RunRecord, by_key: dict[str, dict], keys: list[str]) -> None:
    """One row per task (PENDING, or BLOCKED behind a dependency), inserted with one driver-level
    executemany: ORM objects, or even Core's per-row parameter processing, cost a 1,000-task
    run tens of milliseconds in the caller of run-now."""
    if not keys:
        return
    in_run = set(keys)
    fixed = {"job_id": run.job_id, "job_run_id": run.run_id, "trigger": run.trigger, "created_time": run.created_time}
    rows = [{"task_key": key, "run_name": key,
             "life_cycle_state": "BLOCKED" if any(d in in_run for d, _ in plan.task_deps(by_key[key])) else "PENDING",
             "settings_json": dumps_sorted(by_key[key])} for key in keys]
    insert_rows(s.connection(), RunRecord.__table__, fixed, rows)


def _latest(children) -> list:
    """The latest attempt of each task, in the order the tasks first ran (``latest_task_runs``)."""
    latest: dict[str, Any] = {}
    for row in children:
        latest[row.task_key] = row
    return list(latest.values())


def _iterations_of(conn, tasks: list) -> dict[int, list]:
    """For-each iterations of the given task runs, by task run id (one query, only when a
    task is a for-each task)."""
    parents = [t.run_id for t in tasks if '"for_each_task"' in (t.settings_json or "")]
    grouped: dict[int, list] = {p: [] for p in parents}
    for row in children_of(conn, parents):
        grouped[row.job_run_id].append(row)
    return grouped


def get_run(run_id: int, include_tasks: bool = True, include_history: bool = False) -> dict:
    """The Jobs API ``Run`` of a job run (or ``RunTask`` plus run fields of a task run).

    The hottest read of the server: Core rows from one indexed query (the run and its direct
    children), a second only for for-each iterations; no ORM objects."""
    with _db().connect() as conn:
        row, children = run_family(conn, run_id)
        if row.task_key is not None:
            settings = api._j(row, "settings") or {}
            d = api.task_dict(row, children if "for_each_task" in settings else None)
            d.update({"job_id": row.job_id, "job_run_id": row.job_run_id, "run_name": row.run_name,
                      "run_type": "WORKFLOW_RUN" if row.run_type != "JOB_RUN" else "JOB_RUN", "trigger": row.trigger})
            if not row.job_id:
                del d["job_id"]
            if children:
                d["iterations"] = [api.task_dict(i) for i in children]
            return d
        tasks: list = []
        if include_tasks:
            tasks = children if include_history else _latest(children)
        return api.run_dict(row, tasks, iterations=_iterations_of(conn, tasks))


def list_runs(job_id: int | None = None, active_only: bool = False, completed_only: bool = False,
              limit: int = 25, offset: int = 0, expand_tasks: bool = False, *, before_run_id: int | None = None,
              after_run_id: int | None = None, run_type: str | None = None, start_time_from: int | None = None,
              start_time_to: int | None = None) -> dict:
    """Job runs newest first (``runs/list``). Pages by keyset: ``before_run_id`` = the last run
    id of the previous page (``after_run_id`` pages backwards); ``offset`` still works and costs
    an index-only scan. ``has_more``: more runs in the paging direction."""
    if active_only and completed_only:
        raise InvalidParameterError("active_only and completed_only cannot both be true.")
    if not 1 <= limit <= 1000:
        raise InvalidParameterError(f"limit must be between 1 and 1000, got {limit}.")
    with _db().connect() as conn:
        if job_id is not None and conn.execute(_JOB_EXISTS, {"job_id": job_id}).first() is None:
            raise NotFoundError(f"Job {job_id} does not exist.")
        rows, more = list_job_runs(conn, job_id=job_id, active_only=active_only, completed_only=completed_only,
                                   limit=limit, offset=offset, before_run_id=before_run_id, after_run_id=after_run_id,
                                   run_type=run_type, start_time_from=start_time_from, start_time_to=start_time_to,
                                   columns=RUN_COLUMNS)
        by_run: dict[int, list] = {}
        if expand_tasks:
            for child in children_of(conn, [r.run_id for r in rows]):
                by_run.setdefault(child.job_run_id, []).append(child)
        out = [api.run_dict(r, _latest(by_run.get(r.run_id, ()))) for r in rows]
    return {"runs": out, "has_more": more}


def get_run_output(run_id: int) -> dict:
    from healthmon.jobs.logs import read_logs

    with _db().session() as s:
        row = _get_run_row(s, run_id)
        if row.task_key is None:
            tasks = latest_task_runs(s, run_id)
            named = ", ".join(f"{k} (run_id {t.run_id})" for k, t in tasks.items()) or "none yet"
            raise InvalidParameterError(
                f"Run {run_id} is a job run with multiple tasks: retrieving the output of runs with multiple tasks "
                f"is not supported. Retrieve the output of each task run instead: {named}."
            )
        metadata = api.task_dict(row)
        metadata.update({"job_id": row.job_id, "job_run_id": row.job_run_id})
        settings = row.j("settings") or {}
        logs = read_logs(row.log_dir) if ("spark_python_task" in settings or "python_wheel_task" in settings) else None
        return api.output_dict(row, metadata, logs)


def cancel_run(run_id: int) -> None:
    """Flag the run (the job run of a task run) for cancellation, and its active child runs
    (``run_job_task``) with it, as Databricks does."""
    with _db().session() as s:
        row = _get_run_row(s, run_id)
        if row.task_key is not None:
            while row.job_run_id is not None and row.task_key is not None:
                row = _get_run_row(s, row.job_run_id)
        if row.life_cycle_state in TERMINAL_STATES:
            return
        row.cancel_requested = True
        from healthmon.jobs.recovery import cancel_child_runs

        cancel_child_runs(s, row.run_id)


def cancel_all_runs(job_id: int) -> None:
    with _db().session() as s:
        _get_job_row(s, job_id)
        _cancel_active_runs(s, job_id)


def _cancel_active_runs(s, job_id: int) -> None:
    """Flag every active run of the job, and the child runs they started, for cancellation."""
    from healthmon.jobs.recovery import cancel_child_runs

    before = None
    while True:
        runs, more = list_job_runs(s, job_id=job_id, active_only=True, limit=1000, before_run_id=before)
        for r in runs:
            r.cancel_requested = True
            cancel_child_runs(s, r.run_id)
        if not more or not runs:
            return
        before = runs[-1].run_id


def wait_for_run(run_id: int, timeout: float | None = None, poll: float = 0.1) -> dict:
    """Block until the run is terminal; reaps it if its runner died meanwhile.

    When the run's runner is a process on this machine, the wait sleeps on the runner's exit (a
    pidfd) rather than polling, so it returns as soon as the runner is done, and still re-reads
    the run row at least every ``max(poll, 0.25)`` s."""
    import select

    from healthmon.jobs.recovery import reap_orphans

    deadline = None if timeout is None else time.monotonic() + timeout
    last_reap = time.monotonic()
    db = _db()
    watched: int | None = None  # pidfd of the run's local runner, once known
    tried_watch = False
    try:
        while True:
            # Poll the run row only; the full run (possibly thousands of task runs) is built once.
            with db.session() as s:
                row = _get_run_row(s, run_id)
                state = row.life_cycle_state
                runner = (row.runner_pid, row.runner_started, row.runner_host)
            if state in TERMINAL_STATES:
                return get_run(run_id)
            if deadline is not None and time.monotonic() >= deadline:
                raise HealthmonError(f"Run {run_id} is still {state} after {timeout} s.")
            if time.monotonic() - last_reap > 5:
                reap_orphans()
                last_reap = time.monotonic()
            pid, started_ms, host = runner
            if not tried_watch and pid:
                tried_watch = True
                watched = _watch_runner(pid, started_ms, host)
            if watched is None:
                time.sleep(poll)
                continue
            wait = max(poll, 0.25)
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - time.monotonic()))
            # poll(), not select(): select() refuses descriptors >= FD_SETSIZE (1024), which a
            # long-lived process (the server, a test session) reaches.
            poller = select.poll()
            poller.register(watched, select.POLLIN)
            if poller.poll(wait * 1000):
                # The runner has exited: the row is final now (or recovery will make it so).
                os.close(watched)
                watched = None
    finally:
        if watched is not None:
            os.close(watched)


def _watch_runner(pid: int, started_ms: int | None, host: str | None) -> int | None:
    """A pidfd that becomes readable when the run's runner exits, when that runner is a live
    process on this machine (and pidfds exist); else None (the caller polls)."""
    import socket

    from healthmon.jobs.recovery import process_alive

    if host != socket.gethostname() or not hasattr(os, "pidfd_open"):
        return None
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return None
    if not process_alive(pid, started_ms):  # checked after opening: the pid was not reused meanwhile
        os.close(fd)
        return None
    return fd


def repair_run(run_id: int, rerun_tasks: list[str] | None = None, rerun_all_failed_tasks: bool = False,
               rerun_tasks_given_as: str = "rerun_tasks", *, rerun_dependent_tasks: bool = False,
               job_parameters: dict[str, str] | None = None,
               notebook_params: dict[str, str] | None = None, python_named_params: dict[str, str] | None = None,
               python_params: list[str] | None = None,
               latest_repair_id: int | None = None, latest_repair_id_required: bool = False) -> int:
    """Re-run tasks (and their dependents that did not succeed; all of them with
    ``rerun_dependent_tasks``) of a finished run inside the same run; returns the repair id.
    ``rerun_tasks_given_as``: how the caller names ``rerun_tasks`` (the CLI: ``--rerun-tasks``).

    ``job_parameters``, ``notebook_params``, ``python_named_params``: the values given replace the
    run's values of the same name from this repair on (names not given keep the run's value);
    ``python_params`` replace the run's list whole. Checked as run-now checks them; the repair's
    history entry records what it was given (``parameters``). ``latest_repair_id``, when given, must be the run's latest
    repair; ``latest_repair_id_required`` (the Jobs API) also refuses its absence once the run
    has been repaired, as the API documents."""
    db = _db()
    with db.session() as s:
        row = _get_run_row(s, run_id)
        if row.task_key is not None:
            raise InvalidParameterError(f"Run {run_id} is a task run; repair its job run {row.job_run_id} instead.")
        if row.life_cycle_state not in TERMINAL_STATES:
            raise InvalidParameterError(f"Run {run_id} is {row.life_cycle_state}; only a finished run can be repaired.")
        if row.result_state == "MAXIMUM_CONCURRENT_RUNS_REACHED":
            raise InvalidParameterError(
                f"Run {run_id} never ran (skipped: maximum concurrent runs); start a new run instead."
            )
        _check_latest_repair(run_id, row.j("repair") or [], latest_repair_id, latest_repair_id_required)
        settings = row.j("settings")
        given = {"notebook_params": notebook_params, "python_named_params": python_named_params,
                 "python_params": python_params}
        if job_parameters or any(given.values()):
            row.set_j("params", _repaired_params(row, settings, job_parameters, given))
        repair_parameters = _given_parameters(job_parameters, given)
        by_key = plan.validate_tasks(row.run_name, settings.get("tasks") or [])
        latest = latest_task_runs(s, run_id)
        results = {k: t.result_state for k, t in latest.items()}
        selection = plan.repair_selection(run_id, by_key, results, rerun_tasks, rerun_all_failed_tasks,
                                          rerun_tasks_given_as, rerun_dependent_tasks)
        rep = RepairRecord(run_id=run_id, created_time=now_ms())
        rep.rerun_json = __import__("json").dumps(sorted(selection))
        s.add(rep)
        s.flush()
        history = row.j("repair") or []
        if not history:
            history.append({"type": "ORIGINAL", "start_time": row.start_time, "end_time": row.end_time,
                            "state": api.state(row), "status": api.status(row),
                            "task_run_ids": sorted(t.run_id for t in latest.values())})
        entry = {"type": "REPAIR", "id": rep.repair_id, "start_time": now_ms(), "end_time": 0,
                 "state": {"life_cycle_state": "PENDING", "state_message": ""},
                 "status": {"state": "PENDING"}, "task_run_ids": []}
        if repair_parameters:
            entry["parameters"] = repair_parameters
        history.append(entry)
        row.set_j("repair", history)
        row.life_cycle_state = "PENDING"
        row.result_state = None
        row.termination_code = None
        row.termination_type = None
        row.state_message = f"Repair {rep.repair_id}: re-running {', '.join(sorted(selection))}."
        row.end_time = 0
        row.cancel_requested = False
        row.runner_pid = None
        row.heartbeat = 0
        row.created_time = now_ms()  # grace period for recovery counts from the repair
        repair_id = rep.repair_id
    runner_start.start_runner(run_id, repair_id)
    return repair_id


def repair_parameters(run_id: int) -> dict[int, dict[str, Any]]:
    """The parameters each repair of the run was given (``job_parameters`` and the task parameter
    kinds), by repair id: what ``repair_run`` recorded in the run's repair history."""
    with _db().session() as s:
        history = _get_run_row(s, run_id).j("repair") or []
    return {int(h["id"]): h["parameters"] for h in history if h.get("type") == "REPAIR" and h.get("parameters")}


def _check_latest_repair(run_id: int, history: list[dict], given: int | None, required: bool) -> None:
    repairs = [int(h["id"]) for h in history if h.get("type") == "REPAIR"]
    latest = repairs[-1] if repairs else None
    if given is None:
        if required and latest is not None:
            raise InvalidParameterError(
                f"Run {run_id} has been repaired before: give latest_repair_id (its latest repair is {latest})."
            )
        return
    if latest is None:
        raise InvalidParameterError(
            f"Run {run_id} has never been repaired, so latest_repair_id {given} does not match; omit it."
        )
    if given != latest:
        raise InvalidParameterError(
            f"latest_repair_id {given} is not the latest repair of run {run_id} ({latest}): the run was repaired "
            "since; read the run again and repair with its latest repair id."
        )


def _repaired_params(row: RunRecord, settings: dict, job_parameters: dict[str, str] | None,
                     given: dict[str, Any]) -> dict:
    """The run's parameters with a repair's values over them (per name), checked as run-now's."""
    params = row.j("params") or {}
    name = row.run_name or settings.get("name") or f"run {row.run_id}"
    job_params = {**(params.get("job_parameters") or {}), **{str(k): str(v) for k, v in (job_parameters or {}).items()}}
    effective = refs.effective_job_parameters(name, settings, job_params)
    merged = refs.merge_task_parameters(params, given)
    overriding = refs.task_parameter_overrides(name, row.job_id, settings, merged, "runs/repair")
    kept = {k: v for k, v in params.items() if k not in refs.TASK_PARAMETER_KINDS}
    return {**kept, "job_parameters": job_params, "job_parameters_effective": effective, **overriding}


def _given_parameters(job_parameters: dict[str, str] | None, given: dict[str, Any]) -> dict[str, Any]:
    """What a repair was given (job parameters and task parameter kinds, as strings), for its
    history entry."""
    recorded: dict[str, Any] = {}
    if job_parameters:
        recorded["job_parameters"] = {str(k): str(v) for k, v in job_parameters.items()}
    recorded.update({kind: refs.checked_task_parameters(kind, values, "runs/repair")
                     for kind, values in given.items() if values})
    return recorded


def resolve_job(job_id: int) -> JobRecord:
    with _db().session() as s:
        return _get_job_row(s, job_id)


__all__ = [
    "run_now",
    "start_child_run",
    "submit_run",
    "wait_for_run",
    "get_run",
    "list_runs",
    "get_run_output",
    "cancel_run",
    "cancel_all_runs",
    "repair_run",
    "repair_parameters",
    "create_job",
    "get_job",
    "list_jobs",
    "reset_job",
    "delete_job",
    "NotFoundError",
]
