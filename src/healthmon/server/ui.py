"""The browser UI: server-rendered Jinja2 pages over the same backend and permissions as the API.

Login: the user pastes a personal access token; the server opens a session for it and gives the
browser only the session's random id, in an HttpOnly, SameSite=Strict cookie; logout revokes the
session, which also ends with its token and after 12 hours. Every POST carries a CSRF token: an
HMAC of the session id's hash under the workspace's server secret (bound to the session, revealing
nothing about it); the login form's token is bound the same way to a random login cookie, so a
foreign site cannot log a browser into an account of its choosing (login CSRF). Pages refresh
themselves (meta refresh) while a run is active.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import FastAPI, Form, Path as PathParam, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from healthmon.errors import HealthmonError, NotFoundError
from healthmon.permissions import RANK, can, effective_level, require, require_run
from healthmon.server import backend, ui_data, ui_svg
from healthmon.server.auth import SESSION_COOKIE, cookie_principal
from healthmon.server.models import INT64_MAX
from healthmon.store import auth as auth_store
from healthmon.store.auth import SESSION_LIFETIME_SECONDS, Principal
from healthmon.store.private import key_file
from healthmon.store.runs import NO_JOB

HERE = Path(__file__).parent
LOGIN_COOKIE = "healthmon_login"  # the login form's CSRF nonce
LOGIN_FORM_SECONDS = 3600
ACTIVE = {"QUEUED", "PENDING", "RUNNING", "TERMINATING", "BLOCKED", "WAITING_FOR_RETRY"}
JOBS_PAGE = 50
RUNS_PAGE = 25
# Ids and offsets in a page's URL, bounded as the API bounds them: a larger number is a 400, not
# an overflow in the database driver.
PageId = Annotated[int, PathParam(le=INT64_MAX)]
PageOffset = Annotated[int, Query(le=2**31)]


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


def csrf_token(app: FastAPI, bound_to: str, purpose: str = "session") -> str:
    """The CSRF token of a form: HMAC of ``purpose`` and the hash of the secret it is bound to
    (the session id, or the login cookie's nonce)."""
    digest = hashlib.sha256(f"{purpose}\0{bound_to}".encode()).digest()
    return hmac.new(app.state.csrf_secret, digest, hashlib.sha256).hexdigest()


def _csrf_secret(home: Path) -> bytes:
    """The CSRF key, shared by every worker process of the server and kept across restarts
    (open forms stay valid): a random key in the workspace, readable by its owner only."""
    return key_file(home / ".server-secret", 32)


def _safe_next(target: str | None) -> str:
    # Only same-site paths: never an absolute URL or a scheme-relative "//host".
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/jobs"


def install(app: FastAPI) -> None:
    templates = _templates()
    app.state.csrf_secret = _csrf_secret(app.state.settings.home)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def warm_up_health_page() -> None:  # at the server's start, off the request path
        threading.Thread(target=ui_data.warm_up, args=(app.state.settings.lakehouse_root,), name="health-warm-up",
                         daemon=True).start()

    app.router.on_startup.append(warm_up_health_page)

    def principal_or_login(request: Request) -> Principal:
        principal = cookie_principal(request)
        if principal is None:
            raise LoginRequired()
        return principal

    def render(request: Request, template: str, principal: Principal | None, status: int = 200,
               **context: Any) -> HTMLResponse:
        session_id = request.cookies.get(SESSION_COOKIE)
        context.setdefault("csrf", csrf_token(app, session_id) if session_id and principal else "")
        context.update(request=request, user=principal)
        response = templates.TemplateResponse(request, template, context, status_code=status)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
        return response

    def check_csrf(request: Request, submitted: str, bound_to: str | None = None, purpose: str = "session") -> None:
        secret = bound_to if bound_to is not None else request.cookies.get(SESSION_COOKIE) or ""
        if not secret or not hmac.compare_digest(csrf_token(app, secret, purpose), submitted or ""):
            raise HealthmonError(
                "The form's CSRF token is missing or does not match this session; reload the page and retry.")

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
                status = (getattr(exc, "status", None)
                          or {"RESOURCE_DOES_NOT_EXIST": 404, "PERMISSION_DENIED": 403}.get(code, 400))
                return render(request, "error.html", cookie_principal(request), status=status, error_code=code,
                              message=exc.message)

        return wrapper

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/jobs", status_code=303)

    def login_page(request: Request, next_path: str, status: int = 200, failed: str = "") -> HTMLResponse:
        """The login form, with a fresh login nonce (cookie) and the CSRF token bound to it."""
        nonce = secrets.token_urlsafe(24)
        response = render(request, "login.html", None, status=status, next=_safe_next(next_path), failed=failed,
                          csrf=csrf_token(app, nonce, "login"))
        response.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="strict", path="/login",
                            secure=request.url.scheme == "https", max_age=LOGIN_FORM_SECONDS)
        return response

    @app.get("/login", include_in_schema=False)
    def login_form(request: Request, next: str = "/jobs"):
        return login_page(request, next)

    @app.post("/login", include_in_schema=False)
    def login(request: Request, token: str = Form(..., max_length=256), next: str = Form("/jobs", max_length=2048),
              csrf_token: str = Form("", max_length=128)):
        try:
            check_csrf(request, csrf_token, request.cookies.get(LOGIN_COOKIE) or "", "login")
        except HealthmonError:
            return login_page(request, next, 400, failed="csrf")
        with request.app.state.db.session() as s:
            session_id = auth_store.create_session(s, token.strip())
        if session_id is None:
            return login_page(request, next, 401, failed="token")
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="strict", path="/",
                            secure=request.url.scheme == "https", max_age=SESSION_LIFETIME_SECONDS)
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @app.post("/logout", include_in_schema=False)
    @page
    def logout(request: Request, csrf_token: str = Form("", max_length=128)):
        check_csrf(request, csrf_token)
        with request.app.state.db.session() as s:
            auth_store.revoke_session(s, request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/jobs", include_in_schema=False)
    @page
    def jobs_page(request: Request, page_number: PageOffset = 0):
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
                "dots": [(ui_svg.colour(ui_svg.run_state_name(r.get("state"))),
                          ui_svg.run_state_name(r.get("state")), r)
                         for r in reversed(recent)],
                "can_run": can(principal, job, "CAN_MANAGE_RUN"),
            })
        return render(request, "jobs.html", principal, rows=rows, page_number=page_number,
                      has_more=len(jobs) > (page_number + 1) * JOBS_PAGE, total=len(jobs))

    @app.get("/jobs/{job_id}", include_in_schema=False)
    @page
    def job_page(request: Request, job_id: PageId, offset: PageOffset = 0):
        principal = principal_or_login(request)
        job = backend.get_job(job_id)
        require(principal, job, "CAN_VIEW")
        settings = job.get("settings") or {}
        offset = max(0, offset)
        runs, more = backend.list_runs(job_id, False, False, RUNS_PAGE, offset)
        links: dict[str, str] = {}
        return render(
            request, "job.html", principal, job=job, name=settings.get("name") or f"Untitled job {job_id}",
            settings_yaml=_settings_yaml(settings),
            dag=ui_svg.dag_svg(settings.get("tasks") or [], links=links), schedule=ui_data.schedule_info(settings),
            runs=[(r, _duration(r)) for r in runs], offset=offset, has_more=more, page_size=RUNS_PAGE,
            level=effective_level(principal, job), can_run=can(principal, job, "CAN_MANAGE_RUN"),
        )

    @app.post("/jobs/{job_id}/run-now", include_in_schema=False)
    @page
    def run_now(request: Request, job_id: PageId, csrf_token: str = Form("", max_length=128)):
        principal = principal_or_login(request)
        check_csrf(request, csrf_token)
        require(principal, backend.get_job(job_id), "CAN_MANAGE_RUN")
        run_id = backend.run_now(job_id, None, None, principal.name)
        return RedirectResponse(f"/jobs/{job_id}/runs/{run_id}", status_code=303)

    @app.get("/runs/{run_id}", include_in_schema=False)
    @page
    def run_redirect(request: Request, run_id: PageId):
        principal = principal_or_login(request)
        try:
            run, level = backend.run_access(principal, run_id)
        except NotFoundError:
            run, level = {}, None
        if level is None:  # the same answer as for a run that does not exist: nothing about its job leaks
            raise NotFoundError(f"Run {run_id} does not exist.")
        top = run.get("job_run_id") if run.get("task_key") else run_id
        return RedirectResponse(f"/jobs/{run.get('job_id') or NO_JOB}/runs/{top or run_id}", status_code=303)

    @app.get("/jobs/{job_id}/runs/{run_id}", include_in_schema=False)
    @page
    def run_page(request: Request, job_id: PageId, run_id: PageId):
        principal = principal_or_login(request)
        run, level = backend.run_access(principal, run_id, include_history=True)
        level = require_run(principal, run_id, level, "CAN_VIEW")  # before anything tells which job the run is in
        if (run.get("job_id") or NO_JOB) != job_id:
            raise NotFoundError(f"Run {run_id} does not belong to job {job_id}.")
        job = backend.job_or_none(job_id)
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
                out = backend.run_output_for(level, task["run_id"])
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
        can_run = RANK[level] >= RANK["CAN_MANAGE_RUN"]
        failed = [k for k, s in states.items() if s not in ("SUCCESS", "EXCLUDED", "SKIPPED")]
        return render(
            request, "run.html", principal, run=run, job=job, state=state, active=active,
            run_state=ui_svg.run_state_name(state), duration=_duration(run),
            dag=ui_svg.dag_svg(settings_tasks, states, {k: f"/runs/{v}" for k, v in children.items()}),
            gantt=ui_svg.gantt_svg(attempts, int(time.time() * 1000)), outputs=outputs, parent=parent,
            can_cancel=can_run and active,
            can_repair=can_run and not active
            and ui_svg.run_state_name(state) not in ("SUCCESS", "MAXIMUM_CONCURRENT_RUNS_REACHED"),
            failed=failed,
        )

    def run_action(request: Request, job_id: PageId, run_id: PageId, csrf: str,
                   act: Callable[[int], Any]) -> RedirectResponse:
        """A Cancel or Repair button: session, CSRF, CAN_MANAGE_RUN on the run's job (a one-time
        run, job 0: its creator or an admin), the run in that job; then ``act(run_id)``."""
        principal = principal_or_login(request)
        check_csrf(request, csrf)
        run, level = backend.run_access(principal, run_id)
        require_run(principal, run_id, level, "CAN_MANAGE_RUN")
        if (run.get("job_id") or NO_JOB) != job_id:
            raise NotFoundError(f"Run {run_id} does not belong to job {job_id}.")
        act(run_id)
        return RedirectResponse(f"/jobs/{job_id}/runs/{run_id}", status_code=303)

    @app.post("/jobs/{job_id}/runs/{run_id}/cancel", include_in_schema=False)
    @page
    def cancel(request: Request, job_id: PageId, run_id: PageId, csrf_token: str = Form("", max_length=128)):
        return run_action(request, job_id, run_id, csrf_token, backend.cancel_run)

    @app.post("/jobs/{job_id}/runs/{run_id}/repair", include_in_schema=False)
    @page
    def repair(request: Request, job_id: PageId, run_id: PageId, csrf_token: str = Form("", max_length=128)):
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


def _settings_yaml(settings: dict) -> str:
    """Job settings as YAML for the job page; settings nested too deep for the YAML emitter (a
    job's data is the caller's) are shown as JSON instead of failing the page."""
    import json

    import yaml

    try:
        return yaml.safe_dump(settings, sort_keys=False, default_flow_style=False)
    except RecursionError:
        try:
            return json.dumps(settings, indent=1)
        except RecursionError:
            return "(settings nested too deeply to display)"
