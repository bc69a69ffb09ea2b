"""The Jobs API routes (2.2, plus the 2.0/2.1 paths older clients call).

Handlers are thin: parse and check the request, enforce job permissions, call
``healthmon.jobs.service`` (which owns storage and execution), shape the page. Everything the
service raises as a ``HealthmonError`` becomes a Databricks error body in ``server.errors``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from enum import Enum
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query

from healthmon.permissions import (
    can,
    check_run_as,
    checked_job_settings,
    job_permissions,
    permission_levels,
    principal_key,
    require,
    require_run,
    run_as_name,
    run_job_view,
)
from healthmon.server import backend, responses
from healthmon.server.auth import require_principal
from healthmon.server.errors import ApiError, FastJSONResponse, invalid, not_supported
from healthmon.server.models import (
    INT64_MAX,
    CancelAll,
    CreateJob,
    JobAcl,
    JobId,
    RepairRun,
    ResetJob,
    RunId,
    RunNow,
    SubmitRun,
    UpdateJob,
)
from healthmon.server.pagination import (
    Cursor,
    keyset_page_fields,
    page_fields,
    resolve_cursor,
    resolve_limit,
    resolve_offset,
)
from healthmon.server.responses import ok
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


def _require_run(principal: Principal, run_id: int, needed: str, *, include_history: bool = False) -> tuple[dict, str]:
    """The run and the caller's level on it, at least ``needed`` (403 naming the run only)."""
    run, level = backend.run_access(principal, run_id, include_history=include_history)
    return run, require_run(principal, run_id, level, needed)


# Kept in the stored settings (the permission rules read them there) but not job settings on
# Databricks: jobs/get and jobs/list show permissions only through the Permissions API.
ACL_SETTINGS = ("access_control_list", "permissions")


def _public_job(job: dict) -> dict:
    """The Jobs API ``Job`` of a stored job (jobs/get)."""
    settings = {k: v for k, v in (job.get("settings") or {}).items() if k not in ACL_SETTINGS}
    return {**job, "settings": settings}


def _list_entry(job: dict, expand_tasks: bool) -> dict:
    """A jobs/list entry: the SDK's ``BaseJob`` (no ``run_as_user_name``), without tasks and job
    clusters unless ``expand_tasks``."""
    hidden = (*ACL_SETTINGS, *(() if expand_tasks else ("tasks", "job_clusters")))
    settings = {k: v for k, v in (job.get("settings") or {}).items() if k not in hidden}
    return {**{k: v for k, v in job.items() if k != "run_as_user_name"}, "settings": settings}


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

    @router.get("/api/2.0/permissions/jobs/{job_id}", tags=["permissions"], operation_id="job_permissions_get",
                responses=ok(responses.JobPermissions))
    @json_body
    def job_permissions_get(
        job_id: int = Path(..., ge=0, le=INT64_MAX), principal: Principal = Depends(require_principal)
    ):
        """The job's permissions: its owner, direct entries, and admins (inherited)."""
        job = backend.get_job(job_id)
        require(principal, job, "CAN_VIEW")
        return job_permissions(job)

    @router.get("/api/2.0/permissions/jobs/{job_id}/permissionLevels", tags=["permissions"],
                operation_id="job_permission_levels", responses=ok(responses.PermissionLevels))
    @json_body
    def job_permission_levels(
        job_id: int = Path(..., ge=0, le=INT64_MAX), principal: Principal = Depends(require_principal)
    ):
        """The levels a job's ACL can grant."""
        require(principal, backend.get_job(job_id), "CAN_VIEW")
        return permission_levels()

    def change_permissions(job_id: int, body: JobAcl, principal: Principal, merge: bool) -> dict:
        job = backend.get_job(job_id)
        require(principal, job, "CAN_MANAGE")
        current = job.get("settings") or {}
        keep = None
        if merge:  # PATCH adds to the direct entries (both forms); PUT replaces them all
            keep = [*(current.get("permissions") or []), *(current.get("access_control_list") or [])]
        settings = {k: v for k, v in current.items() if k != "permissions"}
        settings["access_control_list"] = [e.model_dump(exclude_none=True) for e in body.access_control_list or []]
        new = checked_job_settings(settings, caller=principal, job=job, acl_keep=keep)
        new.pop("permissions", None)  # the bundle form's entries are replaced (PUT) or merged in (PATCH)
        backend.reset_job(job_id, new)
        return job_permissions(backend.get_job(job_id))

    @router.put("/api/2.0/permissions/jobs/{job_id}", tags=["permissions"], operation_id="job_permissions_set",
                responses=ok(responses.JobPermissions))
    @json_body
    def job_permissions_set(body: JobAcl, job_id: int = Path(..., ge=0, le=INT64_MAX),
                            principal: Principal = Depends(require_principal)):
        """Replace the job's direct permissions (the owner stays unless an admin names another)."""
        return change_permissions(job_id, body, principal, merge=False)

    @router.patch("/api/2.0/permissions/jobs/{job_id}", tags=["permissions"], operation_id="job_permissions_update",
                  responses=ok(responses.JobPermissions))
    @json_body
    def job_permissions_update(body: JobAcl, job_id: int = Path(..., ge=0, le=INT64_MAX),
                               principal: Principal = Depends(require_principal)):
        """Add or change direct permissions of the job."""
        return change_permissions(job_id, body, principal, merge=True)

    return router


def _add_routes(router: APIRouter, version: str) -> None:
    base = f"/api/{version}/jobs"
    tag: list[str | Enum] = [f"jobs {version}"]
    legacy = version == "2.0"
    runs_cap = RUNS_MAX_LIMIT_20 if legacy else RUNS_MAX_LIMIT

    @router.get(f"{base}/list", tags=tag, operation_id=f"jobs_list_{version}", responses=ok(responses.ListJobsResponse))
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
            jobs = [_list_entry(j, True) for j in backend.all_jobs(name) if can(principal, j, "CAN_VIEW")]
            return {"jobs": jobs, "has_more": False} if jobs else {"has_more": False}
        size = resolve_limit(limit, default=JOBS_DEFAULT_LIMIT, maximum=JOBS_MAX_LIMIT)
        start = resolve_offset(offset, page_token)
        everything = backend.all_jobs(name)

        def fetch(at: int, n: int) -> tuple[list[dict], bool]:
            return everything[at : at + n], at + n < len(everything)

        jobs, after, more = _filtered_page(fetch, lambda j: can(principal, j, "CAN_VIEW"), start, size)
        body: dict[str, Any] = {}
        if jobs:
            body["jobs"] = [_list_entry(j, expand_tasks or legacy) for j in jobs]
        body.update(page_fields(start, after, more, size))
        return body

    @router.get(f"{base}/get", tags=tag, operation_id=f"jobs_get_{version}", responses=ok(responses.Job))
    @json_body
    async def jobs_get(principal: Principal = Depends(require_principal), job_id: int = IdQuery()):
        job = backend.get_job(job_id)
        require(principal, job, "CAN_VIEW")
        return _public_job(job)

    @router.post(
        f"{base}/create", tags=tag, operation_id=f"jobs_create_{version}", responses=ok(responses.CreateResponse)
    )
    @json_body
    def jobs_create(body: CreateJob, principal: Principal = Depends(require_principal)):
        """Create a job; the caller owns it unless an admin names another owner."""
        settings = checked_job_settings(body.model_dump(exclude_none=True), caller=principal, job=None)
        return {"job_id": backend.create_job(settings, principal.name)}

    @router.post(f"{base}/reset", tags=tag, operation_id=f"jobs_reset_{version}", responses=ok(responses.Empty))
    @json_body
    def jobs_reset(body: ResetJob, principal: Principal = Depends(require_principal)):
        """Replace a job's settings (its permissions stay unless the new settings carry an ACL)."""
        job = backend.get_job(body.job_id)
        require(principal, job, "CAN_MANAGE")
        backend.reset_job(body.job_id, checked_job_settings(body.new_settings, caller=principal, job=job))
        return {}

    @router.post(f"{base}/update", tags=tag, operation_id=f"jobs_update_{version}", responses=ok(responses.Empty))
    @json_body
    def jobs_update(body: UpdateJob, principal: Principal = Depends(require_principal)):
        """Change some settings of a job: top-level fields replaced, tasks and job clusters merged
        by key, ``fields_to_remove`` removed."""
        job = backend.get_job(body.job_id)
        require(principal, job, "CAN_MANAGE")
        current = job.get("settings") or {}
        new_settings = dict(body.new_settings or {})
        removed = list(body.fields_to_remove or [])
        acl = new_settings.pop("access_control_list", None)
        keep = current.get("access_control_list") if acl is not None else None  # entries given are merged in
        if "access_control_list" in removed:  # the owner stays: removing the ACL removes the other entries
            removed.remove("access_control_list")
            acl, keep = acl or [], None
        settings = backend.updated_settings(current, new_settings, removed)
        if acl is not None:
            settings["access_control_list"] = acl
        settings = checked_job_settings(settings, caller=principal, job=job, acl_keep=keep)
        backend.reset_job(body.job_id, settings)
        return {}

    @router.post(f"{base}/delete", tags=tag, operation_id=f"jobs_delete_{version}", responses=ok(responses.Empty))
    @json_body
    def jobs_delete(body: JobId, principal: Principal = Depends(require_principal)):
        require(principal, backend.get_job(body.job_id), "CAN_MANAGE")
        backend.delete_job(body.job_id)
        return {}

    @router.post(
        f"{base}/run-now", tags=tag, operation_id=f"jobs_run_now_{version}", responses=ok(responses.RunNowResponse)
    )
    @json_body
    def jobs_run_now(body: RunNow, principal: Principal = Depends(require_principal)):
        job = backend.get_job(body.job_id)
        require(principal, job, "CAN_MANAGE_RUN")
        unsupported = body.unsupported_parameters()
        if unsupported:
            raise not_supported(f"run-now with {', '.join(unsupported)}", "pass job_parameters instead")
        run_id = backend.run_now(body.job_id, body.job_parameters, body.only, principal.name, body.idempotency_token,
                                 notebook_params=body.notebook_params, python_named_params=body.python_named_params,
                                 python_params=body.python_params)
        return {"run_id": run_id, "number_in_job": run_id}

    @router.get(
        f"{base}/runs/list", tags=tag, operation_id=f"runs_list_{version}", responses=ok(responses.ListRunsResponse)
    )
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
        run_type: Literal["JOB_RUN", "WORKFLOW_RUN", "SUBMIT_RUN"] | None = None,  # the SDK's RunType
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
        query: dict[str, Any] = dict(run_type=run_type, start_time_from=start_time_from, start_time_to=start_time_to,
                     expand_tasks=expand_tasks)

        def fetch(n: int, offset: int = 0, before: int | None = None, after: int | None = None):
            return backend.list_runs(
                job_id, active_only, completed_only, n, offset, before=before, after=after, **query
            )

        if job_id is not None or principal.is_admin:
            # The common case: one keyset query per page, whatever its depth.
            runs, more = fetch(size, cursor.offset, cursor.before, cursor.after)
        else:
            jobs_cache: dict[int | None, dict | None] = {}

            def visible(run: dict) -> bool:
                jid = run.get("job_id")
                if jid not in jobs_cache:
                    jobs_cache[jid] = backend.job_or_none(jid)
                return run_job_view(principal, run, jobs_cache[jid])

            runs, more = _visible_runs(fetch, visible, cursor, size)
        body: dict[str, Any] = {}
        if runs:
            body["runs"] = runs
        body.update(keyset_page_fields(runs, cursor, more))
        return body

    @router.get(f"{base}/runs/get", tags=tag, operation_id=f"runs_get_{version}", responses=ok(responses.Run))
    @json_body
    async def runs_get(
        principal: Principal = Depends(require_principal),
        run_id: int = IdQuery(),
        include_history: bool = False,
        include_resolved_values: bool = False,
    ):
        return _require_run(principal, run_id, "CAN_VIEW", include_history=include_history)[0]

    @router.get(f"{base}/runs/get-output", tags=tag, operation_id=f"runs_get_output_{version}",
                responses=ok(responses.RunOutput))
    @json_body
    def runs_get_output(principal: Principal = Depends(require_principal), run_id: int = IdQuery()):
        """A task run's output. Results need Can View; logs and traces Can Manage Run (as the
        Databricks job permissions have it). API 2.0 answers for a job run with one task."""
        run, level = _require_run(principal, run_id, "CAN_VIEW")
        tasks = run.get("tasks") or []
        if legacy and not run.get("task_key") and len(tasks) == 1:
            run_id = tasks[0]["run_id"]
        return backend.run_output_for(level, run_id)

    @router.get(f"{base}/runs/export", tags=tag, operation_id=f"runs_export_{version}",
                responses=ok(responses.ExportRunOutput))
    @json_body
    def runs_export(principal: Principal = Depends(require_principal), run_id: int = IdQuery(),
                    views_to_export: Literal["CODE", "DASHBOARDS", "ALL"] = "CODE"):
        """A notebook task run exported as HTML: its notebook's code and the run's result."""
        run, _ = _require_run(principal, run_id, "CAN_VIEW")
        return backend.export_run(principal, run, views_to_export)

    def run_action(name: str, needed: str, act: Callable[[int], None]) -> None:
        """POST runs/<name> {run_id}: ``needed`` on the run's job (a one-time run: its creator
        or an admin), then ``act(run_id)``; an empty body back."""

        @router.post(f"{base}/runs/{name}", tags=tag, operation_id=f"runs_{name}_{version}", summary=f"Runs {name}",
                     responses=ok(responses.Empty))
        @json_body
        def action(body: RunId, principal: Principal = Depends(require_principal)):
            _require_run(principal, body.run_id, needed)
            act(body.run_id)
            return {}

    run_action("cancel", "CAN_MANAGE_RUN", lambda run_id: backend.cancel_run(run_id))
    run_action("delete", "CAN_MANAGE", lambda run_id: backend.delete_run(run_id))

    @router.post(
        f"{base}/runs/cancel-all", tags=tag, operation_id=f"runs_cancel_all_{version}", responses=ok(responses.Empty)
    )
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
            job = backend.job_or_none(run.get("job_id"))
            if job is None and not run_job_view(principal, run, None):
                continue
            if job is not None and not can(principal, job, "CAN_MANAGE_RUN"):
                continue
            backend.cancel_run(run["run_id"])
        return {}

    @router.post(
        f"{base}/runs/repair",
        tags=tag,
        operation_id=f"runs_repair_{version}",
        responses=ok(responses.RepairRunResponse),
    )
    @json_body
    def runs_repair(body: RepairRun, principal: Principal = Depends(require_principal)):
        _require_run(principal, body.run_id, "CAN_MANAGE_RUN")
        unsupported = body.unsupported_parameters()
        if unsupported:
            raise not_supported(f"runs/repair with {', '.join(unsupported)}", "pass job_parameters instead")
        if not body.rerun_tasks and not body.rerun_all_failed_tasks:
            raise invalid("Give rerun_tasks or rerun_all_failed_tasks=true.")
        repair_id = backend.repair_run(
            body.run_id, body.rerun_tasks, bool(body.rerun_all_failed_tasks),
            rerun_dependent_tasks=bool(body.rerun_dependent_tasks), job_parameters=body.job_parameters,
            notebook_params=body.notebook_params, python_named_params=body.python_named_params,
            python_params=body.python_params,
            latest_repair_id=body.latest_repair_id, latest_repair_id_required=True,  # as the Jobs API documents
        )
        return {"repair_id": repair_id}

    @router.post(
        f"{base}/runs/submit",
        tags=tag,
        operation_id=f"runs_submit_{version}",
        responses=ok(responses.SubmitRunResponse),
    )
    @json_body
    def runs_submit(body: SubmitRun, principal: Principal = Depends(require_principal)):
        """A one-time run; it executes as the caller (an admin may give another ``run_as``)."""
        spec = body.model_dump(exclude_none=True)
        if spec.pop("access_control_list", None):  # an empty list asks for nothing
            raise not_supported("runs/submit with an access_control_list",
                                "a one-time run is visible to its creator and admins")
        if not spec.get("tasks"):
            raise invalid("runs/submit needs a non-empty tasks list.")
        run_as = spec.setdefault("run_as", {principal_key(principal): principal.name})
        check_run_as(run_as, job_name="the one-time run")
        if run_as_name(run_as) != principal.name and not principal.is_admin:
            raise ApiError(
                "PERMISSION_DENIED", "Only workspace admins can submit a run that executes as another principal."
            )
        return {"run_id": backend.submit_run(spec, principal.name)}


def _active_runs(job_id: int | None) -> Iterator[dict]:
    before = None
    while True:
        runs, more = backend.list_runs(job_id, True, False, 100, before=before)
        yield from runs
        if not more or not runs:
            return
        before = runs[-1]["run_id"]
