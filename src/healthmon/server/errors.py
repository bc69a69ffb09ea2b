"""Errors as Databricks REST error bodies: ``{"error_code": "...", "message": "..."}``.

``HealthmonError`` subclasses carry an ``error_code`` (Databricks' names); the HTTP status
follows from it as in Databricks' API. Request validation failures become 400
INVALID_PARAMETER_VALUE naming the field; anything unexpected becomes a 500 INTERNAL_ERROR
with a reference id (the traceback goes to the server log, never into the response).
"""

from __future__ import annotations

import json
import logging
import uuid

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from healthmon.errors import HealthmonError

log = logging.getLogger("healthmon.server")

STATUS_BY_CODE = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "MALFORMED_REQUEST": 400,
    "INVALID_STATE": 400,
    "MAX_CONCURRENT_RUNS_EXCEEDED": 400,
    "DIRECTORY_NOT_EMPTY": 400,
    "MAX_NOTEBOOK_SIZE_EXCEEDED": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "RESOURCE_ALREADY_EXISTS": 409,
    "ALREADY_EXISTS": 409,
    "RESOURCE_CONFLICT": 409,
    "ABORTED": 409,
    "REQUEST_ENTITY_TOO_LARGE": 413,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL_ERROR": 500,
    "NOT_IMPLEMENTED": 501,
    "FEATURE_DISABLED": 501,
    "TEMPORARILY_UNAVAILABLE": 503,
}


# Databricks REST APIs the local workspace does not serve on purpose (path prefix → what and why):
# the SDK's clients for them get 501 FEATURE_DISABLED saying so, instead of "no API found".
UNSERVED_APIS = {
    "/api/2.0/clusters/": "The Clusters API (tasks run as local processes)",
    "/api/2.1/clusters/": "The Clusters API (tasks run as local processes)",
    "/api/2.0/instance-pools/": "The Instance Pools API (tasks run as local processes)",
    "/api/2.0/policies/clusters/": "The Cluster Policies API (tasks run as local processes)",
    "/api/2.0/libraries/": "The Libraries API (task environments declare their libraries)",
    "/api/2.0/token-management/": "The Token Management API (users manage their own tokens through the token "
                                  "API; an admin issues tokens with healthmon tokens create)",
    "/api/2.0/preview/scim/v2/Users": "SCIM Users (principals are provisioned with healthmon tokens create)",
    "/api/2.0/preview/scim/v2/Groups": "SCIM Groups (groups are given with healthmon tokens create --group)",
    "/api/2.0/preview/scim/v2/ServicePrincipals": "SCIM service principals (provisioned with healthmon tokens "
                                                  "create --service-principal)",
    "/api/2.0/pipelines": "The Pipelines API",
    "/api/2.0/sql/": "Databricks SQL",
    "/api/2.1/unity-catalog/": "The Unity Catalog API",
    "/api/2.0/repos": "The Repos API",
    "/api/2.0/serving-endpoints": "The Model Serving API",
}


def unserved_api(path: str) -> str | None:
    return next((what for prefix, what in UNSERVED_APIS.items() if path.startswith(prefix)), None)


class FastJSONResponse(JSONResponse):
    """Compact JSON through orjson, without FastAPI's per-field re-encoding (bodies here are
    plain JSON dicts). Integers beyond 64 bits (orjson refuses them) fall back to json."""

    def render(self, content) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:
            return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class ApiError(HealthmonError):
    """An error raised by the REST layer itself with an explicit Databricks error code."""

    def __init__(self, error_code: str, message: str, status: int | None = None):
        super().__init__(message)
        self.error_code = error_code
        self.status = status or STATUS_BY_CODE.get(error_code, 400)


def unauthenticated(message: str) -> ApiError:
    return ApiError("UNAUTHENTICATED", message, 401)


def permission_denied(message: str) -> ApiError:
    return ApiError("PERMISSION_DENIED", message, 403)


def invalid(message: str) -> ApiError:
    return ApiError("INVALID_PARAMETER_VALUE", message, 400)


def not_supported(what: str, instead: str = "") -> ApiError:
    """Databricks behaviour the local workspace does not reproduce on purpose: 501
    FEATURE_DISABLED (the SDK raises ``NotImplemented``), never a silent no-op. Each use is listed
    in docs/server.md."""
    return ApiError("FEATURE_DISABLED", f"{what} is not supported by the local workspace"
                    + (f"; {instead}." if instead else "."), 501)


def error_body(error_code: str, message: str) -> dict:
    return {"error_code": error_code, "message": message}


def error_response(error_code: str, message: str, status: int, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(error_body(error_code, message), status_code=status, headers=headers)


def response_for(exc: HealthmonError) -> JSONResponse:
    code = getattr(exc, "error_code", None) or "INVALID_PARAMETER_VALUE"
    status = getattr(exc, "status", None) or STATUS_BY_CODE.get(code, 400)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return error_response(code, exc.message if hasattr(exc, "message") else str(exc), status, headers)


def _describe_validation(exc: RequestValidationError) -> str:
    # Name the field and what was expected; never echo the input value (it may be a secret).
    parts = []
    for err in exc.errors()[:5]:
        loc = [str(p) for p in err.get("loc", ())]
        # The first element says where the value came from; a field may itself be named "path".
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        field = ".".join(loc) or "request body"
        parts.append(f"{field}: {err.get('msg', 'invalid value')}")
    return "Invalid request: " + "; ".join(parts) if parts else "Invalid request."


def _malformed_body(exc: RequestValidationError) -> str | None:
    """Databricks' answer to a body that is not JSON, or JSON but not an object: 400
    MALFORMED_REQUEST (a wrong field is INVALID_PARAMETER_VALUE instead)."""
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return "Invalid JSON given in the body of the request - failed to parse given JSON"
        if tuple(err.get("loc", ())) == ("body",) and err.get("type") in ("model_attributes_type", "dict_type"):
            return "Invalid JSON given in the body of the request - expected a map"
    return None


def install(app: FastAPI) -> None:
    @app.exception_handler(HealthmonError)
    async def _healthmon_error(_request: Request, exc: HealthmonError):
        return response_for(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError):
        malformed = _malformed_body(exc)
        if malformed:
            return error_response("MALFORMED_REQUEST", malformed, 400)
        return error_response("INVALID_PARAMETER_VALUE", _describe_validation(exc), 400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            what = unserved_api(request.url.path)
            if what:
                return response_for(not_supported(what))
            return error_response("ENDPOINT_NOT_FOUND", f"No API found for '{request.method} {request.url.path}'", 404)
        if exc.status_code == 405:
            return error_response(
                "METHOD_NOT_ALLOWED", f"Method {request.method} is not allowed for {request.url.path}", 405
            )
        code = {
            400: "BAD_REQUEST",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            413: "REQUEST_ENTITY_TOO_LARGE",
        }.get(exc.status_code, "BAD_REQUEST" if exc.status_code < 500 else "INTERNAL_ERROR")
        return error_response(code, str(exc.detail), exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        ref = uuid.uuid4().hex[:12]
        log.error("Unhandled error on %s %s (reference %s)", request.method, request.url.path, ref, exc_info=exc)
        return error_response("INTERNAL_ERROR", f"Internal error (reference {ref}); see the server log.", 500)
