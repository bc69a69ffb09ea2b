"""The Workspace API (``/api/2.0/workspace/*``: the workspace tree) and the Files API
(``/api/2.0/fs/*``: volumes). Thin: parse, then ``workspace_api`` / ``volumes_api``, which check
who may touch which path."""

from __future__ import annotations

import base64
from enum import Enum
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from healthmon.server import responses, volumes_api, workspace_api
from healthmon.server.auth import require_principal
from healthmon.server.errors import invalid
from healthmon.server.models import WorkspaceDelete, WorkspaceImport, WorkspacePath
from healthmon.server.responses import ok
from healthmon.store.auth import Principal

WS = "/api/2.0/workspace"
FS = "/api/2.0/fs"
NO_BODY: dict[int | str, dict[str, Any]] = {
    200: {"description": "OK (headers only)"},
    "default": {"description": "A Databricks error (headers only)"},
}
EXPORT_FORMATS = ("SOURCE", "HTML", "JUPYTER", "DBC", "R_MARKDOWN", "AUTO", "RAW")


def _path_query():
    return Query(..., min_length=1, max_length=4096)


def _form_text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is not None and not isinstance(value, str):
        raise invalid(f"Invalid request: {name}: expected a text field, got a file")
    return value or None


async def _import_request(request: Request) -> tuple[str, bytes | str | None, str | None, str | None, bool]:
    """(path, content, format, language, overwrite) of an import: a JSON body (base64 content)
    or a multipart upload (the SDK's ``workspace.upload``: raw content in a file part)."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=8)
        part = form.get("content")
        content = await part.read() if isinstance(part, UploadFile) else (part or "").encode()
        path = form.get("path")
        if not isinstance(path, str) or not path:
            raise invalid("Invalid request: path: Field required")
        overwrite = str(form.get("overwrite") or "").lower() in ("true", "1")
        return path, content, _form_text(form, "format"), _form_text(form, "language"), overwrite
    try:
        body = WorkspaceImport.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    return body.path, body.content, body.format, body.language, bool(body.overwrite)


def build_router() -> APIRouter:
    router = APIRouter()
    tag: list[str | Enum] = ["workspace files"]

    @router.get(f"{WS}/list", tags=tag, operation_id="workspace_list", responses=ok(responses.ListWorkspaceResponse))
    def ws_list(path: str = _path_query(), notebooks_modified_after: int | None = Query(None, ge=0, le=2**63 - 1),
                principal: Principal = Depends(require_principal)):
        """The objects of a folder (or the object itself) the caller may see."""
        return workspace_api.list_objects(principal, path)

    @router.get(f"{WS}/get-status", tags=tag, operation_id="workspace_get_status", responses=ok(responses.ObjectInfo))
    def ws_get_status(path: str = _path_query(), principal: Principal = Depends(require_principal)):
        return workspace_api.get_status(principal, path)

    @router.post(f"{WS}/mkdirs", tags=tag, operation_id="workspace_mkdirs", responses=ok(responses.Empty))
    def ws_mkdirs(body: WorkspacePath, principal: Principal = Depends(require_principal)):
        workspace_api.mkdirs(principal, body.path)
        return {}

    @router.post(f"{WS}/delete", tags=tag, operation_id="workspace_delete", responses=ok(responses.Empty))
    def ws_delete(body: WorkspaceDelete, principal: Principal = Depends(require_principal)):
        workspace_api.delete(principal, body.path, bool(body.recursive))
        return {}

    @router.post(f"{WS}/import", tags=tag, operation_id="workspace_import", responses=ok(responses.Empty),
                 openapi_extra={"requestBody": {"required": True, "content": {
                     "application/json": {"schema": WorkspaceImport.model_json_schema()}}}})
    async def ws_import(request: Request, principal: Principal = Depends(require_principal)):
        """Import a notebook or file (JSON with base64 content, or a multipart upload)."""
        path, content, fmt, language, overwrite = await _import_request(request)
        await run_in_threadpool(workspace_api.import_object, principal, path, content, fmt, language, overwrite)
        return {}

    @router.get(
        f"{WS}/export", tags=tag, operation_id="workspace_export", responses=ok(responses.WorkspaceExportResponse)
    )
    def ws_export(
        path: str = _path_query(),
        format: str | None = Query(None, max_length=32),  # noqa: A002 (the API's name)
        direct_download: bool = False,
        principal: Principal = Depends(require_principal),
    ):
        """A notebook's source or a file's bytes: base64 in JSON, or raw with direct_download."""
        if format is not None and format not in EXPORT_FORMATS:
            raise invalid(f"format must be one of {', '.join(EXPORT_FORMATS)}.")
        content, file_type = workspace_api.export(principal, path, format)
        if direct_download:
            return Response(content, media_type="application/octet-stream")
        return {"content": base64.b64encode(content).decode(), "file_type": file_type}

    # -- Files API over volumes -----------------------------------------------------------------
    @router.get(FS + "/files{file_path:path}", tags=tag, operation_id="files_download", response_class=Response,
                responses={**ok(responses.Empty), 200: {"description": "The file's bytes", "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
    def fs_download(file_path: str, principal: Principal = Depends(require_principal)):
        local, shown = volumes_api.volume_path(principal, file_path)
        headers = volumes_api.file_metadata(local, shown)
        return Response(local.read_bytes(), headers=headers, media_type=headers["content-type"])

    @router.head(FS + "/files{file_path:path}", tags=tag, operation_id="files_get_metadata", responses=NO_BODY)
    def fs_metadata(file_path: str, principal: Principal = Depends(require_principal)):
        local, shown = volumes_api.volume_path(principal, file_path)
        return Response(headers=volumes_api.file_metadata(local, shown))

    @router.put(FS + "/files{file_path:path}", tags=tag, operation_id="files_upload", responses=ok(responses.Empty),
                openapi_extra={"requestBody": {"content": {"application/octet-stream": {"schema": {
                    "type": "string", "format": "binary"}}}}})
    async def fs_upload(file_path: str, request: Request, overwrite: bool = False,
                        principal: Principal = Depends(require_principal)):
        """Upload a file (raw body; parent directories created)."""
        local, shown = volumes_api.volume_path(principal, file_path)
        data = await request.body()
        await run_in_threadpool(volumes_api.upload, local, shown, data, overwrite)
        return {}

    @router.delete(FS + "/files{file_path:path}", tags=tag, operation_id="files_delete", responses=ok(responses.Empty))
    def fs_delete(file_path: str, principal: Principal = Depends(require_principal)):
        volumes_api.delete_file(*volumes_api.volume_path(principal, file_path))
        return {}

    @router.get(FS + "/directories{directory_path:path}", tags=tag, operation_id="files_list_directory",
                responses=ok(responses.ListDirectoryResponse))
    def fs_list(
        directory_path: str,
        page_size: int | None = Query(None, ge=0, le=2**31),
        page_token: str | None = Query(None, max_length=512),
        principal: Principal = Depends(require_principal),
    ):
        """A directory's entries (one page: every entry)."""
        return volumes_api.list_directory(*volumes_api.volume_path(principal, directory_path))

    @router.put(FS + "/directories{directory_path:path}", tags=tag, operation_id="files_create_directory",
                responses=ok(responses.Empty))
    def fs_mkdir(directory_path: str, principal: Principal = Depends(require_principal)):
        volumes_api.create_directory(*volumes_api.volume_path(principal, directory_path))
        return {}

    @router.delete(FS + "/directories{directory_path:path}", tags=tag, operation_id="files_delete_directory",
                   responses=ok(responses.Empty))
    def fs_rmdir(directory_path: str, principal: Principal = Depends(require_principal)):
        volumes_api.delete_directory(*volumes_api.volume_path(principal, directory_path))
        return {}

    @router.head(FS + "/directories{directory_path:path}", tags=tag, operation_id="files_get_directory_metadata",
                 responses=NO_BODY)
    def fs_dir_metadata(directory_path: str, principal: Principal = Depends(require_principal)):
        volumes_api.directory_exists(*volumes_api.volume_path(principal, directory_path))
        return Response()

    return router
