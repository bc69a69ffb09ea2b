"""The Jobs API routes (2.2, plus the 2.0/2.1 paths older clients call).

Handlers are thin: parse and check the request, enforce job permissions, call
``healthmon.jobs.service`` (which owns storage and execution), shape the page. Everything the
service raises as a ``HealthmonError`` becomes a Databricks error body in ``server.errors``.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from fastapi import APIRouter, Depends, Path, Query

from healthmon.server.errors import FastJSONResponse

from healthmon.errors import NotFoundError
from healthmon.server import backend
from healthmon.server.auth import require_principal
from healthmon.server.errors import ApiError, invalid
from healthmon.server.models import (
    INT64_MAX,
    CancelAll,
    CreateJob,
    JobId,
    RepairRun,
    ResetJob,
    RunId,
    RunNow,
    SubmitRun,
)
from healthmon.server.pagination import Cursor, keyset_page_fields, page_fields, resolve_cursor, resolve_limit, resolve_offset
from healthmon.server.permissions import can, job_permissions, require, run_job_view
from healthmon.store.auth import Principal

VERSIONS = ("2.2", "2.1", "2.0")
JOBS_MAX_LIMIT = 100
JOBS_DEFAULT_LIMIT = 20
RUNS_MAX_LIMIT = 25
RUNS_MAX_LIMIT_20 = 1000  # Jobs API 2.0 allowed up to 1000 runs a page
RUNS_DEFAULT_LIMIT = 20
# Unfiltered rows fetched per step while skipping runs/jobs the caller may not view.
SCAN_CHUNK = 200



# Fresh Query objects per parameter: FastAPI binds a FieldInfo to the parameter it annotates.
def IdQuery():  # noqa: N802
    return Query(..., ge=0, le=INT64_MAX)


def OptIdQuery():  # noqa: N802
    return Query(None, ge=0, le=INT64_MAX)


def OptCount():  # noqa: N802
    return Query(None, ge=-(2**31), le=2**31)


def _filtered_page(
    fetch: Callable[[int, int], tuple[list[dict], bool]],
    visible: Callable[[dict], bool],
    start: int,
    limit: int,
) -> tuple[list[dict], int, bool]:
    """Take ``limit`` visible items from the raw list starting at raw offset ``start``.

    Returns (items, raw offset after the last item taken, has_more). Page tokens carry raw
    offsets, so a caller who sees only some items still pages consistently."""
    items: list[dict] = []
    raw = start
    while True:
        chunk, more = fetch(raw, max(SCAN_CHUNK, limit + 1))
        for i, item in enumerate(chunk):
            if not visible(item):
                continue
            if len(items) == limit:
                return items, raw + i, True
            items.append(item)
        raw += len(chunk)
        if not more or not chunk:
            return items, raw, False


def _visible_runs(fetch, visible: Callable[[dict], bool], cursor: Cursor, size: int) -> tuple[list[dict], bool]:
    """``size`` runs the caller may view, newest first, from where ``cursor`` points, scanning
    the run list in keyset chunks; and whether more visible-or-not runs remain that way."""
    backward = cursor.after is not None
    position = {"offset": cursor.offset, "before": cursor.before, "after": cursor.after}
    taken: list[dict] = []
    while True:
        chunk, more = fetch(max(SCAN_CHUNK, size + 1), **position)
        for run in reversed(chunk) if backward else chunk:
            if not visible(run):
                continue
            if len(taken) == size:
                return (taken[::-1] if backward else taken), True
            taken.append(run)
        if not more or not chunk:
            return (taken[::-1] if backward else taken), False
        position = {"after": chunk[0]["run_id"]} if backward else {"before": chunk[-1]["run_id"]}


def _job_or_none(job_id: int | None) -> dict | None:
    if job_id is None:
        return None
    try:
        return backend.get_job_for_acl(job_id)
    except NotFoundError:
        return None


def _run_with_job(run_id: int) -> tuple[dict, dict | None]:
    run = backend.get_run(run_id)
    return run, _job_or_none(run.get("job_id"))


def _require_run(principal: Principal, run_id: int, needed: str):
    run, job = _run_with_job(run_id)
    if job is not None:
        require(principal, job, needed)
    elif not run_job_view(principal, _top_run(run), None):
        raise ApiError("PERMISSION_DENIED", f"User {principal.name} does not have permissions on run {run_id}.", 403)
    return run


def _top_run(run: dict) -> dict:
    """The job run a task run (or for-each iteration) belongs to: who may see a run without a
    job (a one-time run) is decided on it."""
    while run.get("task_key") and run.get("job_run_id"):
        run = backend.get_run(run["job_run_id"], include_tasks=False)
    return run


def _summarise_job(job: dict, expand_tasks: bool):
    if expand_tasks:
        return job
    settings = {k: v for k, v in (job.get("settings") or {}).items() if k not in ("tasks", "job_clusters")}
    return {**job, "settings": settings}


def json_body(handler):
    """Send a handler's dict as JSON directly, skipping FastAPI's generic re-encoding of the
    (already plain JSON) service dicts: it is most of a cheap request's CPU time."""
    import functools
    import inspect

    if inspect.iscoroutinefunction(handler):
        @functools.wraps(handler)
        async def async_wrapper(*args, **kwargs):
            return FastJSONResponse(await handler(*args, **kwargs))

        return async_wrapper

    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        return FastJSONResponse(handler(*args, **kwargs))

    return wrapper


def build_router() -> APIRouter:
    # Every handler takes ``principal: Principal = Depends(require_principal)`` (no router-level
    # duplicate: solving it twice is measurable on runs/get). test_server_api_auth proves that
    # every operation in the OpenAPI document refuses requests without a valid token.
    router = APIRouter()
    for version in VERSIONS:
        _add_routes(router, version)

    @router.get("/api/2.0/permissions/jobs/{job_id}", tags=["permissions"], operation_id="job_permissions_get")
    @json_body
    def job_permissions_get(job_id: int = Path(..., ge=0, le=INT64_MAX), principal: Principal = Depends(require_principal)):
        """The job's effective ACL (read-only: a job's permissions come from its settings)."""
        job = backend.get_job(job_id)
        require(principal, job, "CAN_VIEW")
        return job_permissions(job)

    return router


def _add_routes(router: APIRouter, version: str) -> None:
    base = f"/api/{version}/jobs"
    tag = [f"jobs {version}"]
    legacy = version == "2.0"
    runs_cap = RUNS_MAX_LIMIT_20 if legacy else RUNS_MAX_LIMIT
    include = version == "2.2"  # one copy of each operation in the OpenAPI document's summary list

    @router.get(f"{base}/list", tags=tag, include_in_schema=True, operation_id=f"jobs_list_{version}")
    @json_body
    async def jobs_list(
        principal: Principal = Depends(require_principal),
        limit: int | None = OptCount(),
        offset: int | None = OptCount(),
        page_token: str | None = Query(None, max_length=512),
        name: str | None = Query(None, max_length=4096),
        expand_tasks: bool = False,
    ):
        """List jobs the caller can view, most recently created first."""
        if legacy and limit is None and offset is None and page_token is None:
            # API 2.0 returned every job in one response (with tasks).
            jobs = [j for j in backend.all_jobs(name) if can(principal, j, "CAN_VIEW")]
            return {"jobs": jobs, "has_more": False} if jobs else {"has_more": False}
        size = resolve_limit(limit, default=JOBS_DEFAULT_LIMIT, maximum=JOBS_MAX_LIMIT)
        start = resolve_offset(offset, page_token)
        everything = backend.all_jobs(name)

        def fetch(at: int, n: int) -> tuple[list[dict], bool]:
            return everything[at : at + n], at + n < len(everything)

        jobs, after, more = _filtered_page(fetch, lambda j: can(principal, j, "CAN_VIEW"), start, size)
        body: dict[str, Any] = {}
        if jobs:
            body["jobs"] = [_summarise_job(j, expand_tasks or legacy) for j in jobs]
        body.update(page_fields(start, after, more, size))
        return body

    @router.get(f"{base}/get", tags=tag, operation_id=f"jobs_get_{version}")
    @json_body
    async def jobs_get(principal: Principal = Depends(require_principal), job_id: int = IdQuery()):
        job = backend.get_job(job_id)
        require(principal, job, "CAN_VIEW")
        return job

    @router.post(f"{base}/create", tags=tag, operation_id=f"jobs_create_{version}")
    @json_body
    def jobs_create(body: CreateJob, principal: Principal = Depends(require_principal)):
        settings = body.model_dump(exclude_none=True)
        return {"job_id": backend.create_job(settings, principal.name)}

    @router.post(f"{base}/reset", tags=tag, operation_id=f"jobs_reset_{version}")
    @json_body
    def jobs_reset(body: ResetJob, principal: Principal = Depends(require_principal)):
        require(principal, backend.get_job(body.job_id), "CAN_MANAGE")
        backend.reset_job(body.job_id, body.new_settings)
        return {}

    @router.post(f"{base}/delete", tags=tag, operation_id=f"jobs_delete_{version}")
    @json_body
    def jobs_delete(body: JobId, principal: Principal = Depends(require_principal)):
        require(principal, backend.get_job(body.job_id), "CAN_MANAGE")
        backend.delete_job(body.job_id)
        return {}

    @router.post(f"{base}/run-now", tags=tag, operation_id=f"jobs_run_now_{version}")
    @json_body
    def jobs_run_now(body: RunNow, principal: Principal = Depends(require_principal)):
        require(principal, backend.get_job(body.job_id), "CAN_MANAGE_RUN")
        params: dict[str, str] = {}
        # Legacy parameter forms map onto job parameters (the runtime's only parameter kind).
        for extra in (body.notebook_params, body.python_named_params, body.job_parameters):
            params.update(extra or {})
        run_id = backend.run_now(body.job_id, params or None, body.only, principal.name, body.idempotency_token)
        return {"run_id": run_id, "number_in_job": run_id}

    @router.get(f"{base}/runs/list", tags=tag, operation_id=f"runs_list_{version}")
    @json_body
    async def runs_list(
        principal: Principal = Depends(require_principal),
        job_id: int | None = OptIdQuery(),
        active_only: bool = False,
        completed_only: bool = False,
        limit: int | None = OptCount(),
        offset: int | None = OptCount(),
        page_token: str | None = Query(None, max_length=512),
        expand_tasks: bool = False,
        run_type: str | None = Query(None, max_length=64),
        start_time_from: int | None = Query(None, ge=0, le=INT64_MAX),
        start_time_to: int | None = Query(None, ge=0, le=INT64_MAX),
    ):
        """List runs, most recent first."""
        if active_only and completed_only:
            raise invalid("active_only and completed_only cannot both be true.")
        size = resolve_limit(limit, default=RUNS_DEFAULT_LIMIT, maximum=runs_cap, zero_means_max=True)
        cursor = resolve_cursor(offset, page_token)
        if job_id is not None:
            require(principal, backend.get_job_for_acl(job_id), "CAN_VIEW")
        query = dict(run_type=run_type, start_time_from=start_time_from, start_time_to=start_time_to,
                     expand_tasks=expand_tasks)

        def fetch(n: int, offset: int = 0, before: int | None = None, after: int | None = None):
            return backend.list_runs(job_id, active_only, completed_only, n, offset, before=before, after=after, **query)

        if job_id is not None or principal.is_admin:
            # The common case: one keyset query per page, whatever its depth.
            runs, more = fetch(size, cursor.offset, cursor.before, cursor.after)
        else:
            jobs_cache: dict[int | None, dict | None] = {}

            def visible(run: dict) -> bool:
                jid = run.get("job_id")
                if jid not in jobs_cache:
                    jobs_cache[jid] = _job_or_none(jid)
                return run_job_view(principal, run, jobs_cache[jid])

            runs, more = _visible_runs(fetch, visible, cursor, size)
        body: dict[str, Any] = {}
        if runs:
            body["runs"] = runs
        body.update(keyset_page_fields(runs, cursor, more))
        return body

    @router.get(f"{base}/runs/get", tags=tag, operation_id=f"runs_get_{version}")
    @json_body
    async def runs_get(
        principal: Principal = Depends(require_principal),
        run_id: int = IdQuery(),
        include_history: bool = False,
        include_resolved_values: bool = False,
    ):
        run = _require_run(principal, run_id, "CAN_VIEW")
        return backend.get_run(run_id, include_history=True) if include_history else run

    @router.get(f"{base}/runs/get-output", tags=tag, operation_id=f"runs_get_output_{version}")
    @json_body
    def runs_get_output(principal: Principal = Depends(require_principal), run_id: int = IdQuery()):
        _require_run(principal, run_id, "CAN_VIEW")
        return backend.get_run_output(run_id)

    def run_action(name: str, needed: str, act: Callable[[int], None]) -> None:
        """POST runs/<name> {run_id}: ``needed`` on the run's job (a one-time run: its creator
        or an admin), then ``act(run_id)``; an empty body back."""

        @router.post(f"{base}/runs/{name}", tags=tag, operation_id=f"runs_{name}_{version}", summary=f"Runs {name}")
        @json_body
        def action(body: RunId, principal: Principal = Depends(require_principal)):
            _require_run(principal, body.run_id, needed)
            act(body.run_id)
            return {}

    run_action("cancel", "CAN_MANAGE_RUN", lambda run_id: backend.cancel_run(run_id))
    run_action("delete", "CAN_MANAGE", lambda run_id: backend.delete_run(run_id))

    @router.post(f"{base}/runs/cancel-all", tags=tag, operation_id=f"runs_cancel_all_{version}")
    @json_body
    def runs_cancel_all(body: CancelAll, principal: Principal = Depends(require_principal)):
        if body.job_id is None and not body.all_queued_runs:
            raise invalid("Give job_id, or all_queued_runs=true to cancel every queued run.")
        if body.job_id is not None:
            require(principal, backend.get_job(body.job_id), "CAN_MANAGE_RUN")
            if not body.all_queued_runs:
                backend.cancel_all_runs(body.job_id)
                return {}
        for run in _active_runs(body.job_id):
            if body.all_queued_runs and (run.get("state") or {}).get("life_cycle_state") != "QUEUED":
                continue
            job = _job_or_none(run.get("job_id"))
            if job is None and not run_job_view(principal, run, None):
                continue
            if job is not None and not can(principal, job, "CAN_MANAGE_RUN"):
                continue
            backend.cancel_run(run["run_id"])
        return {}

    @router.post(f"{base}/runs/repair", tags=tag, operation_id=f"runs_repair_{version}")
    @json_body
    def runs_repair(body: RepairRun, principal: Principal = Depends(require_principal)):
        _require_run(principal, body.run_id, "CAN_MANAGE_RUN")
        if not body.rerun_tasks and not body.rerun_all_failed_tasks:
            raise invalid("Give rerun_tasks or rerun_all_failed_tasks=true.")
        repair_id = backend.repair_run(body.run_id, body.rerun_tasks, bool(body.rerun_all_failed_tasks))
        return {"repair_id": repair_id}

    @router.post(f"{base}/runs/submit", tags=tag, operation_id=f"runs_submit_{version}")
    @json_body
    def runs_submit(body: SubmitRun, principal: Principal = Depends(require_principal)):
        spec = body.model_dump(exclude_none=True)
        if not spec.get("tasks"):
            raise invalid("runs/submit needs a non-empty tasks list.")
        return {"run_id": backend.submit_run(spec, principal.name)}


def _active_runs(job_id: int | None) -> Iterator[dict]:
    before = None
    while True:
        runs, more = backend.list_runs(job_id, True, False, 100, before=before)
        yield from runs
        if not more or not runs:
            return
        before = runs[-1]["run_id"]
