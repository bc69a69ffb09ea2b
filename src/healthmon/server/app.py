"""The workspace server: ``create_app(settings) -> FastAPI``.

Routes: the Jobs API (``routes_jobs``), workspace routes the SDK calls (``routes_workspace``),
and the browser UI (``ui``). Every API route needs a bearer token; only ``/healthz``, host
metadata, the OpenAPI document, the login page and static assets are public.
"""

from __future__ import annotations

import json
import logging
import time

from fastapi import FastAPI

from healthmon.server import errors
from healthmon.server.errors import error_body
from healthmon.settings import Settings
from healthmon.store.db import Database

MAX_BODY_BYTES = 10 * 1024 * 1024  # Databricks rejects request bodies over 10 MB
JSON_ALIASES = (b"text/json",)
JSON_ALIASES_API = (b"text/json", b"application/x-www-form-urlencoded")


class BodyGuard:
    """ASGI middleware: refuse oversized bodies with a Databricks error before any handler
    buffers them, and read the legacy CLI's ``Content-Type: text/json`` as JSON, as well as an
    API body sent as a form (``curl --data``, as Databricks' REST docs send it: Databricks reads
    the body as JSON whatever the type says; the UI's own forms are outside /api/)."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = []
        declared = 0
        json_types = JSON_ALIASES_API if scope.get("path", "").startswith("/api/") else JSON_ALIASES
        for key, value in scope.get("headers", []):
            if key == b"content-type" and value.split(b";")[0].strip().lower() in json_types:
                value = b"application/json"
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
            headers.append((key, value))
        scope = dict(scope, headers=headers)
        if declared < 0 or declared > self.max_bytes:
            return await self._too_large(send)
        seen = 0

        async def guarded_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, guarded_receive, send)
        except _TooLarge:
            await self._too_large(send)

    async def _too_large(self, send):
        body = json.dumps(
            error_body("REQUEST_ENTITY_TOO_LARGE", f"Request body exceeds {self.max_bytes} bytes.")
        ).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class AccessLog:
    """ASGI middleware: one log line per request with method, path, status, caller and time.

    Replaces uvicorn's access log, which prints query strings; a query string is where a
    confused client may put a token, and tokens must never reach the log."""

    def __init__(self, app):
        self.app = app
        self.log = logging.getLogger("healthmon.server.access")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.log.isEnabledFor(logging.INFO):
            return await self.app(scope, receive, send)  # logging off: no wrapper, no timing
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            state = scope.get("state") or {}
            who = getattr(state.get("principal"), "name", "-")
            client = (scope.get("client") or ("-",))[0]
            self.log.info('%s "%s %s" %s %s %.1fms', client, scope["method"], scope["path"], status, who,
                          (time.perf_counter() - start) * 1000)


def _openapi(app: FastAPI) -> dict:
    """FastAPI's document without the 422 responses it adds to every operation: validation
    failures are 400 Databricks error bodies here (``server.errors``), already documented."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for operations in doc.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        schemas = doc.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        app.openapi_schema = doc
    return app.openapi_schema


def create_app(settings: Settings | None = None) -> FastAPI:
    from healthmon.server import routes_dbfs, routes_files, routes_jobs, routes_secrets, routes_workspace, ui

    settings = settings or Settings.from_env()
    db = Database.from_settings(settings)
    db.create_all()
    app = FastAPI(
        title="healthmon workspace API",
        version="2.2",
        description="Databricks-compatible Jobs API, token auth and job permissions, served locally by healthmon.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.db = db
    errors.install(app)
    # The Jobs API first: routes are matched in order, and its reads are the hot paths.
    app.include_router(routes_jobs.build_router())
    app.include_router(routes_workspace.build_public_router())
    app.include_router(routes_workspace.build_router())
    app.include_router(routes_secrets.build_router())
    app.include_router(routes_files.build_router())
    app.include_router(routes_dbfs.build_router())
    ui.install(app)
    # FastAPI's documented way to customise the OpenAPI document is to replace this method.
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.add_middleware(BodyGuard)
    app.add_middleware(AccessLog)
    logging.getLogger("healthmon.server").debug("server app created for %s", settings.home)
    return app
