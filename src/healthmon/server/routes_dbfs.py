"""The DBFS API (``/api/2.0/dbfs/*``), shaped like ``databricks.sdk.service.files.DbfsAPI``.
Thin: parse, then ``dbfs_api``, which keeps paths in the DBFS root."""

from __future__ import annotations

from enum import Enum

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from healthmon.server import dbfs_api, responses
from healthmon.server.auth import require_principal
from healthmon.server.dbfs_api import DbfsPath
from healthmon.server.errors import invalid
from healthmon.server.models import (
    INT64_MAX,
    DbfsAddBlock,
    DbfsCreate,
    DbfsDelete,
    DbfsHandle,
    DbfsMove,
    DbfsPathBody,
    DbfsPut,
)
from healthmon.server.responses import ok
from healthmon.store.auth import Principal

DBFS = "/api/2.0/dbfs"


async def _put_request(request: Request) -> tuple[str, bytes, bool, bool]:
    """(path, contents, overwrite, capped) of a put: JSON with base64 ``contents`` (capped at
    1 MB), or a multipart form post with one file part (bounded by the body limit): ``contents`` in
    Databricks' example, ``file`` from the legacy CLI."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=4)
        path = form.get("path")
        if not isinstance(path, str) or not path:
            raise invalid("Invalid request: path: Field required")
        part = next((v for v in form.values() if isinstance(v, UploadFile)), form.get("contents"))
        data = await part.read() if isinstance(part, UploadFile) else (part or "").encode()
        overwrite = str(form.get("overwrite") or "").lower() in ("true", "1")
        return path, data, overwrite, False
    try:
        body = DbfsPut.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    return body.path, dbfs_api.decode(body.contents, "contents"), bool(body.overwrite), True


def build_router() -> APIRouter:
    router = APIRouter()
    tag: list[str | Enum] = ["dbfs"]

    @router.post(f"{DBFS}/put", tags=tag, operation_id="dbfs_put", responses=ok(responses.Empty),
                 openapi_extra={"requestBody": {"required": True, "content": {
                     "application/json": {"schema": DbfsPut.model_json_schema()}}}})
    async def put(request: Request, principal: Principal = Depends(require_principal)):
        """Write a whole file: base64 ``contents`` (at most 1 MB) or a multipart form post."""
        path, data, overwrite, capped = await _put_request(request)
        await run_in_threadpool(dbfs_api.put, DbfsPath(path), data, overwrite, limit=capped)
        return {}

    @router.post(f"{DBFS}/create", tags=tag, operation_id="dbfs_create", responses=ok(responses.DbfsCreateResponse))
    def create(body: DbfsCreate, principal: Principal = Depends(require_principal)):
        """Open a stream for writing a file; the handle is the creator's only."""
        return {"handle": dbfs_api.create(principal, DbfsPath(body.path), bool(body.overwrite))}

    @router.post(f"{DBFS}/add-block", tags=tag, operation_id="dbfs_add_block", responses=ok(responses.Empty))
    def add_block(body: DbfsAddBlock, principal: Principal = Depends(require_principal)):
        dbfs_api.add_block(principal, body.handle, dbfs_api.decode(body.data, "data"))
        return {}

    @router.post(f"{DBFS}/close", tags=tag, operation_id="dbfs_close", responses=ok(responses.Empty))
    def close(body: DbfsHandle, principal: Principal = Depends(require_principal)):
        dbfs_api.close(principal, body.handle)
        return {}

    @router.get(f"{DBFS}/read", tags=tag, operation_id="dbfs_read", responses=ok(responses.DbfsReadResponse))
    def read(path: str = Query(..., min_length=1, max_length=4096),
             offset: int = Query(0, ge=-INT64_MAX, le=INT64_MAX),
             length: int | None = Query(None, ge=-INT64_MAX, le=INT64_MAX),
             principal: Principal = Depends(require_principal)):
        """At most ``length`` bytes (default 0.5 MB, at most 1 MB) from ``offset``, base64."""
        return dbfs_api.read(DbfsPath(path), offset, length)

    @router.get(f"{DBFS}/get-status", tags=tag, operation_id="dbfs_get_status",
                responses=ok(responses.DbfsFileInfo))
    def get_status(path: str = Query(..., min_length=1, max_length=4096),
                   principal: Principal = Depends(require_principal)):
        target = DbfsPath(path)
        target.require()
        return dbfs_api.file_info(target)

    @router.get(f"{DBFS}/list", tags=tag, operation_id="dbfs_list", responses=ok(responses.DbfsListStatusResponse))
    def list_status(path: str = Query(..., min_length=1, max_length=4096),
                    principal: Principal = Depends(require_principal)):
        """A directory's entries, or the file itself."""
        return dbfs_api.list_status(DbfsPath(path))

    @router.post(f"{DBFS}/mkdirs", tags=tag, operation_id="dbfs_mkdirs", responses=ok(responses.Empty))
    def mkdirs(body: DbfsPathBody, principal: Principal = Depends(require_principal)):
        dbfs_api.mkdirs(DbfsPath(body.path))
        return {}

    @router.post(f"{DBFS}/delete", tags=tag, operation_id="dbfs_delete", responses=ok(responses.Empty))
    def delete(body: DbfsDelete, principal: Principal = Depends(require_principal)):
        dbfs_api.delete(DbfsPath(body.path), bool(body.recursive))
        return {}

    @router.post(f"{DBFS}/move", tags=tag, operation_id="dbfs_move", responses=ok(responses.Empty))
    def move(body: DbfsMove, principal: Principal = Depends(require_principal)):
        """Move a file or a directory (with everything in it); the destination must not exist."""
        dbfs_api.move(DbfsPath(body.source_path, "source_path"), DbfsPath(body.destination_path, "destination_path"))
        return {}

    return router
