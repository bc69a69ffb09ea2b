"""The browser UI: server-rendered Jinja2 pages over the same backend and permissions as the API.

Login: the user pastes a personal access token; it is checked and stored in an HttpOnly,
SameSite=Strict cookie. Every POST carries a CSRF token (HMAC of the session token's hash under a
per-process secret, so it is bound to the session and never reveals the token). Pages refresh
themselves (meta refresh) while a run is active.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from healthmon.errors import HealthmonError, NotFoundError
from healthmon.server import backend, ui_data, ui_svg
from healthmon.server.auth import SESSION_COOKIE, cookie_principal, principal_for_token
from healthmon.server.permissions import can, effective_level, require, run_job_view
from healthmon.store.auth import Principal
from healthmon.store.runs import NO_JOB

HERE = Path(__file__).parent
ACTIVE = {"QUEUED", "PENDING", "RUNNING", "TERMINATING", "BLOCKED", "WAITING_FOR_RETRY"}
JOBS_PAGE = 50
RUNS_PAGE = 25


class LoginRequired(Exception):
    pass


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.globals.update(colour=ui_svg.colour, state_name=ui_svg.run_state_name)
    env.filters["ms"] = _fmt_time
    env.filters["duration"] = _fmt_duration
    return templates


def _fmt_time(ms: int | None) -> str:
    if not ms:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000))


def _fmt_duration(ms: int | None) -> str:
    if not ms or ms < 0:
        return ""
    s = ms / 1000
    if s < 60:
        return f"{s:.1f} s"
    m, s = divmod(int(s), 60)
    if m < 60:
        return f"{m}m {s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m"


def _duration(run: dict) -> int:
    if run.get("run_duration"):
        return run["run_duration"]
    start, end = run.get("start_time") or 0, run.get("end_time") or 0
    if start and end:
        return end - start
    return int(time.time() * 1000) - start if start else 0


def csrf_token(app: FastAPI, session_token: str) -> str:
    digest = hashlib.sha256(session_token.encode()).digest()
    return hmac.new(app.state.csrf_secret, digest, hashlib.sha256).hexdigest()


def _csrf_secret(home: Path) -> bytes:
    """The CSRF key, shared by every worker process of the server and kept across restarts
    (open forms stay valid): a random key in the workspace, readable by its owner only."""
    path = home / ".server-secret"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex())
    try:
        os.link(tmp, path)  # first writer wins; others read its key
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text().strip())


def _safe_next(target: str | None) -> str:
    # Only same-site paths: never an absolute URL or a scheme-relative "//host".
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/jobs"


def install(app: FastAPI) -> None:
    templates = _templates()
    app.state.csrf_secret = _csrf_secret(app.state.settings.home)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def principal_or_login(request: Request) -> Principal:
        principal = cookie_principal(request)
        if principal is None:
            raise LoginRequired()
        return principal

    def render(request: Request, template: str, principal: Principal | None, status: int = 200, **context: Any) -> HTMLResponse:
        token = request.cookies.get(SESSION_COOKIE)
        context.update(request=request, user=principal, csrf=csrf_token(app, token) if token and principal else "")
        response = templates.TemplateResponse(request, template, context, status_code=status)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
        return response

    def check_csrf(request: Request, submitted: str) -> None:
        token = request.cookies.get(SESSION_COOKIE) or ""
        if not token or not hmac.compare_digest(csrf_token(app, token), submitted or ""):
            raise HealthmonError("The form's CSRF token is missing or does not match this session; reload the page and retry.")

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, _exc: LoginRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    def page(handler):
        """Render HealthmonErrors as an error page (the API turns them into JSON instead)."""
        import functools

        @functools.wraps(handler)
        def wrapper(request: Request, *args, **kwargs):
            try:
                return handler(request, *args, **kwargs)
            except LoginRequired:
                raise
            except HealthmonError as exc:
                code = getattr(exc, "error_code", "INVALID_PARAMETER_VALUE")
                status = getattr(exc, "status", None) or {"RESOURCE_DOES_NOT_EXIST": 404, "PERMISSION_DENIED": 403}.get(code, 400)
                return render(request, "error.html", cookie_principal(request), status=status, error_code=code, message=exc.message)

        return wrapper

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/jobs", status_code=303)

    @app.get("/login", include_in_schema=False)
    def login_form(request: Request, next: str = "/jobs", failed: bool = False):
        return render(request, "login.html", None, next=_safe_next(next), failed=failed)

    @app.post("/login", include_in_schema=False)
    def login(request: Request, token: str = Form(..., max_length=256), next: str = Form("/jobs", max_length=2048)):
        token = token.strip()
        if principal_for_token(request, token) is None:
            return render(request, "login.html", None, status=401, next=_safe_next(next), failed=True)
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", path="/",
                            secure=request.url.scheme == "https", max_age=12 * 3600)
        return response

    @app.post("/logout", include_in_schema=False)
    @page
    def logout(request: Request, csrf_token: str = Form("", max_length=128)):
        check_csrf(request, csrf_token)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/jobs", include_in_schema=False)
    @page
    def jobs_page(request: Request, page_number: int = 0):
        principal = principal_or_login(request)
        jobs = [j for j in backend.all_jobs() if can(principal, j, "CAN_VIEW")]
        page_number = max(0, page_number)
        shown = jobs[page_number * JOBS_PAGE:(page_number + 1) * JOBS_PAGE]
        rows = []
        for job in shown:
            settings = job.get("settings") or {}
            recent, _ = backend.list_runs(job["job_id"], False, False, 5, 0)
            rows.append({
                "job": job, "name": settings.get("name") or f"Untitled job {job['job_id']}",
                "tags": settings.get("tags") or {}, "schedule": ui_data.schedule_info(settings),
                "dots": [(ui_svg.colour(ui_svg.run_state_name(r.get("state"))), ui_svg.run_state_name(r.get("state")), r)
                         for r in reversed(recent)],
                "can_run": can(principal, job, "CAN_MANAGE_RUN"),
            })
        return render(request, "jobs.html", principal, rows=rows, page_number=page_number,
                      has_more=len(jobs) > (page_number + 1) * JOBS_PAGE, total=len(jobs))

    @app.get("/jobs/{job_id}", include_in_schema=False)
    @page
    def job_page(request: Request, job_id: int, offset: int = 0):
        import yaml

        principal = principal_or_login(request)
        job = backend.get_job(job_id)
        require(principal, job, "CAN_VIEW")
        settings = job.get("settings") or {}
        offset = max(0, offset)
        runs, more = backend.list_runs(job_id, False, False, RUNS_PAGE, offset)
        links = {}
        return render(
            request, "job.html", principal, job=job, name=settings.get("name") or f"Untitled job {job_id}",
            settings_yaml=yaml.safe_dump(settings, sort_keys=False, default_flow_style=False),
            dag=ui_svg.dag_svg(settings.get("tasks") or [], links=links), schedule=ui_data.schedule_info(settings),
            runs=[(r, _duration(r)) for r in runs], offset=offset, has_more=more, page_size=RUNS_PAGE,
            level=effective_level(principal, job), can_run=can(principal, job, "CAN_MANAGE_RUN"),
        )

    @app.post("/jobs/{job_id}/run-now", include_in_schema=False)
    @page
    def run_now(request: Request, job_id: int, csrf_token: str = Form("", max_length=128)):
        principal = principal_or_login(request)
        check_csrf(request, csrf_token)
        require(principal, backend.get_job(job_id), "CAN_MANAGE_RUN")
        run_id = backend.run_now(job_id, None, None, principal.name)
        return RedirectResponse(f"/jobs/{job_id}/runs/{run_id}", status_code=303)

    @app.get("/runs/{run_id}", include_in_schema=False)
    @page
    def run_redirect(request: Request, run_id: int):
        principal_or_login(request)
        run = backend.get_run(run_id)
        top = run.get("job_run_id") if run.get("task_key") else run_id
        return RedirectResponse(f"/jobs/{run.get('job_id') or NO_JOB}/runs/{top or run_id}", status_code=303)

    @app.get("/jobs/{job_id}/runs/{run_id}", include_in_schema=False)
    @page
    def run_page(request: Request, job_id: int, run_id: int):
        principal = principal_or_login(request)
        run = backend.get_run(run_id, include_history=True)
        if (run.get("job_id") or NO_JOB) != job_id:
            raise NotFoundError(f"Run {run_id} does not belong to job {job_id}.")
        job = _job_or_none(job_id) if job_id != NO_JOB else None
        if job is not None:
            require(principal, job, "CAN_VIEW")
        elif not run_job_view(principal, run, None):
            raise NotFoundError(f"Run {run_id} does not exist.")
        attempts = run.get("tasks") or []
        latest: dict[str, dict] = {}
        for t in sorted(attempts, key=lambda t: t.get("run_id") or 0):
            latest[t["task_key"]] = t
        states = {k: ui_svg.run_state_name(t.get("state")) for k, t in latest.items()}
        settings_tasks = (job or {}).get("settings", {}).get("tasks") or list(latest.values())
        outputs = []
        children: dict[str, int] = {}
        for key, task in latest.items():
            try:
                out = backend.get_run_output(task["run_id"])
            except HealthmonError as exc:
                out = {"error": exc.message}
            child = (out.get("run_job_output") or {}).get("run_id")
            if child:
                children[key] = child
            outputs.append({"task": task, "state": states[key], "output": out, "child": child})
        parent = None
        match = re.search(r"run_job_task of run (\d+)", run.get("description") or "")
        if match:
            parent = int(match.group(1))
        state = run.get("state") or {}
        active = state.get("life_cycle_state") in ACTIVE
        can_run = can(principal, job, "CAN_MANAGE_RUN") if job is not None else job_id == NO_JOB
        failed = [k for k, s in states.items() if s not in ("SUCCESS", "EXCLUDED", "SKIPPED")]
        return render(
            request, "run.html", principal, run=run, job=job, state=state, active=active,
            run_state=ui_svg.run_state_name(state), duration=_duration(run),
            dag=ui_svg.dag_svg(settings_tasks, states, {k: f"/runs/{v}" for k, v in children.items()}),
            gantt=ui_svg.gantt_svg(attempts, int(time.time() * 1000)), outputs=outputs, parent=parent,
            can_cancel=can_run and active, can_repair=can_run and not active and ui_svg.run_state_name(state) not in ("SUCCESS", "MAXIMUM_CONCURRENT_RUNS_REACHED"),
            failed=failed,
        )

    def run_action(request: Request, job_id: int, run_id: int, csrf: str, act: Callable[[int], Any]) -> RedirectResponse:
        """A Cancel or Repair button: session, CSRF, CAN_MANAGE_RUN on the run's job (a one-time
        run, job 0: its creator or an admin), the run in that job; then ``act(run_id)``."""
        principal = principal_or_login(request)
        check_csrf(request, csrf)
        run = backend.get_run(run_id)
        if (run.get("job_id") or NO_JOB) != job_id:
            raise NotFoundError(f"Run {run_id} does not belong to job {job_id}.")
        if job_id != NO_JOB:
            require(principal, backend.get_job(job_id), "CAN_MANAGE_RUN")
        elif not run_job_view(principal, run, None):
            raise NotFoundError(f"Run {run_id} does not exist.")
        act(run_id)
        return RedirectResponse(f"/jobs/{job_id}/runs/{run_id}", status_code=303)

    @app.post("/jobs/{job_id}/runs/{run_id}/cancel", include_in_schema=False)
    @page
    def cancel(request: Request, job_id: int, run_id: int, csrf_token: str = Form("", max_length=128)):
        return run_action(request, job_id, run_id, csrf_token, backend.cancel_run)

    @app.post("/jobs/{job_id}/runs/{run_id}/repair", include_in_schema=False)
    @page
    def repair(request: Request, job_id: int, run_id: int, csrf_token: str = Form("", max_length=128)):
        return run_action(request, job_id, run_id, csrf_token, lambda rid: backend.repair_run(rid, None, True))

    @app.get("/models", include_in_schema=False)
    @page
    def models_page(request: Request, schema: str | None = None):
        principal = principal_or_login(request)
        try:
            view, problem = ui_data.models_view(schema), ""
        except Exception as exc:  # registry unreachable: say so on the page
            view, problem = None, f"The MLflow registry could not be read: {type(exc).__name__}: {exc}"
        from healthmon.ml.report import CSS

        return render(request, "models.html", principal, view=view, problem=problem, report_css=CSS)

    @app.get("/health", include_in_schema=False)
    @page
    def health_page(request: Request):
        from healthmon.ml.report import CSS

        principal = principal_or_login(request)
        view = ui_data.health_view(request.app.state.settings.lakehouse_root, dict(request.query_params))
        return render(request, "health.html", principal, status=400 if view.problem else 200, view=view, report_css=CSS)


def _job_or_none(job_id: int) -> dict | None:
    try:
        return backend.get_job(job_id)
    except NotFoundError:
        return None
