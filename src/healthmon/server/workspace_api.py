"""The Workspace API (``/api/2.0/workspace/*``) over the local workspace tree
(``$HEALTHMON_HOME/workspace``, ``/Workspace/...`` in job settings; ``workspace_files``).

Objects are what the tree holds: directories; notebooks, which are source files with a notebook
suffix starting with Databricks' notebook header (or ``.ipynb`` files), listed without their suffix
as the workspace shows them; and every other file. Paths are given as ``/Users/...`` or
``/Workspace/Users/...``.

Who may touch what (workspace object ACLs are not modelled): admins everything; everyone else
their own home (``/Users/<their name>``) and ``/Shared``, read and write, and a listing of ``/``
and ``/Users`` that shows only those. Task code is in this tree, so writing into another user's
home would mean running code as that user's jobs: refused. A refusal never says whether the path
exists.
"""

from __future__ import annotations

import base64
import binascii
import os
import shutil
from pathlib import Path, PurePosixPath

from healthmon.errors import HealthmonError, InvalidParameterError, NotFoundError, PermissionDeniedError
from healthmon.jobs.notebook import check_ipynb
from healthmon.server.errors import ApiError, not_supported
from healthmon.settings import Settings
from healthmon.store.auth import Principal
from healthmon.workspace_files import HEADER, LANGUAGE, NOTEBOOK_SUFFIXES, notebook_language, workspace_root

SUFFIX = {"PYTHON": ".py", "SQL": ".sql", "SCALA": ".scala", "R": ".r"}
MAX_CONTENT_BYTES = 10 * 1024 * 1024  # Databricks' import/export limit
# Workspace formats Databricks has and this workspace does not produce or read (FEATURE_DISABLED).
ARCHIVE_FORMATS = ("HTML", "DBC", "R_MARKDOWN")
MAX_PATH = 4096
MAX_NAME = 240  # bytes of one path component (the file system's limit is 255, suffixes included)
SHARED = "Shared"
USERS = "Users"


def parse_path(path: str) -> PurePosixPath:
    """An absolute workspace path, without its ``/Workspace`` prefix; 400 for anything else."""
    if not isinstance(path, str) or not path.startswith("/") or len(path) > MAX_PATH or "\0" in path:
        raise InvalidParameterError("path must be an absolute workspace path such as /Users/<you>/notebook.")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidParameterError("path must not contain '..'.")
    if any(len(p.encode()) > MAX_NAME for p in parts):
        raise InvalidParameterError(f"path has a name longer than {MAX_NAME} bytes.")
    if parts and parts[0] == "Workspace":
        parts = parts[1:]
    return PurePosixPath("/", *parts)


def access(principal: Principal, path: PurePosixPath) -> str | None:
    """``write``, ``list`` (``/`` and ``/Users``: filtered listings only) or None."""
    parts = path.parts[1:]
    if principal.is_admin:
        return "write"
    if not parts or parts == (USERS,):
        return "list"
    if parts[0] == SHARED or (parts[0] == USERS and len(parts) > 1 and parts[1] == principal.name):
        return "write"
    return None


def _require(principal: Principal, path: PurePosixPath, write: bool) -> None:
    granted = access(principal, path)
    if granted == "write" or (granted == "list" and not write):
        return
    raise PermissionDeniedError(
        f"User {principal.name} does not have {'write' if write else 'read'} permission on {path}."
    )


def _visible(principal: Principal, path: PurePosixPath) -> bool:
    return access(principal, path) is not None


def _local(path: PurePosixPath, settings: Settings | None = None) -> Path:
    root = workspace_root(settings)
    local = root.joinpath(*path.parts[1:])
    resolved_root = root.resolve()
    resolved = local.resolve()
    if resolved != resolved_root and resolved_root not in resolved.parents:  # a symlink out of the tree
        raise NotFoundError(f"Path ({path}) doesn't exist.")
    return local


def _find(path: PurePosixPath) -> tuple[str, Path, PurePosixPath]:
    """(object type, local path, workspace path) of an existing object; 404 otherwise."""
    local = _local(path)
    if local.is_dir():
        return "DIRECTORY", local, path
    if local.is_file():
        if notebook_language(local):
            return "NOTEBOOK", local, path.with_name(local.stem)
        return "FILE", local, path
    for suffix in NOTEBOOK_SUFFIXES:
        candidate = local.with_name(local.name + suffix)
        if candidate.is_file() and notebook_language(candidate):
            return "NOTEBOOK", candidate, path
    raise NotFoundError(f"Path ({path}) doesn't exist.")


def _info(kind: str, local: Path, path: PurePosixPath) -> dict:
    st = local.stat()
    info = {"object_type": kind, "path": str(path), "object_id": st.st_ino, "created_at": int(st.st_ctime * 1000),
            "modified_at": int(st.st_mtime * 1000)}
    if kind == "NOTEBOOK":
        info["language"] = notebook_language(local)
    if kind != "DIRECTORY":
        info["size"] = st.st_size
    return info


def get_status(principal: Principal, path: str) -> dict:
    where = parse_path(path)
    _require(principal, where, write=False)
    return _info(*_find(where))


def list_objects(principal: Principal, path: str) -> dict:
    """A directory's objects (a notebook or file: that object), the caller's visible ones."""
    where = parse_path(path)
    _require(principal, where, write=False)
    kind, local, shown = _find(where)
    if kind != "DIRECTORY":
        return {"objects": [_info(kind, local, shown)]}
    objects = []
    for child in sorted(local.iterdir(), key=lambda p: p.name):
        child_path = where / child.name
        if not _visible(principal, child_path):
            continue
        if child.is_dir():
            objects.append(_info("DIRECTORY", child, child_path))
        elif child.is_file():
            notebook = notebook_language(child)
            objects.append(_info("NOTEBOOK", child, child_path.with_name(child.stem)) if notebook
                           else _info("FILE", child, child_path))
    return {"objects": objects} if objects else {}


def mkdirs(principal: Principal, path: str) -> None:
    where = parse_path(path)
    _require(principal, where, write=True)
    local = _local(where)
    for parent in [*reversed(local.parents), local]:
        if parent.exists() and not parent.is_dir():
            raise ApiError(
                "RESOURCE_ALREADY_EXISTS", f"Path ({where}) is not a directory: a file or notebook is in the way."
            )
    local.mkdir(parents=True, exist_ok=True)


def _protected(where: PurePosixPath) -> bool:
    parts = where.parts[1:]
    return len(parts) <= 1 or (parts[0] == USERS and len(parts) == 2)


def delete(principal: Principal, path: str, recursive: bool) -> None:
    where = parse_path(path)
    _require(principal, where, write=True)
    if _protected(where):
        raise InvalidParameterError(f"{where} is a top-level folder or a home folder and cannot be deleted.")
    kind, local, _ = _find(where)
    if kind != "DIRECTORY":
        local.unlink()
    elif recursive:
        shutil.rmtree(local)
    elif any(local.iterdir()):
        raise ApiError("DIRECTORY_NOT_EMPTY", f"Folder ({where}) is not empty; delete it with recursive=true.", 400)
    else:
        local.rmdir()


def _decode(content: str | bytes | None) -> bytes:
    if content is None:
        return b""
    if isinstance(content, bytes):
        data = content
    else:
        try:
            data = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidParameterError("content must be base64-encoded.") from None
    if len(data) > MAX_CONTENT_BYTES:
        raise ApiError("MAX_NOTEBOOK_SIZE_EXCEEDED", f"content exceeds {MAX_CONTENT_BYTES} bytes.", 400)
    return data


def import_object(principal: Principal, path: str, content: str | bytes | None, fmt: str | None,
                  language: str | None, overwrite: bool) -> None:
    """Import a notebook (SOURCE with a language, AUTO with a notebook header, JUPYTER) or a
    file (AUTO, RAW) at ``path``; its folder must exist. Content: base64 (JSON) or raw (a
    multipart upload)."""
    where = parse_path(path)
    _require(principal, where, write=True)
    fmt = fmt or "SOURCE"
    data = _decode(content)
    local = _local(where)
    if fmt == "SOURCE":
        if language not in SUFFIX:
            raise InvalidParameterError("A SOURCE import needs language: one of PYTHON, SQL, SCALA, R.")
        target = _notebook_target(local, language)
        text = data.decode("utf-8", errors="replace")
        if not text.startswith(HEADER[language]):
            text = f"{HEADER[language]}\n{text}"
        data = text.encode()
    elif fmt == "JUPYTER":
        target = local if local.suffix == ".ipynb" else local.with_name(local.name + ".ipynb")
        check_ipynb(f"content of {where}", data)
    elif fmt in ("AUTO", "RAW"):  # a notebook by its suffix and header (AUTO) is kept as its source file
        target = local
        if fmt == "AUTO" and local.suffix == ".ipynb":
            check_ipynb(f"content of {where}", data)
    elif fmt in ARCHIVE_FORMATS:
        raise not_supported(f"Import format {fmt}", "use SOURCE, AUTO, JUPYTER or RAW")
    else:
        raise InvalidParameterError(f"format must be one of SOURCE, AUTO, JUPYTER, RAW, {', '.join(ARCHIVE_FORMATS)}.")
    if not target.parent.is_dir():
        raise NotFoundError(f"The parent folder ({where.parent}) does not exist.")
    existing = [p for p in {target, local, *(local.with_name(local.name + s) for s in NOTEBOOK_SUFFIXES)} if p.exists()]
    if any(p.is_dir() for p in existing):
        raise ApiError("RESOURCE_ALREADY_EXISTS", f"Path ({where}) is a folder.")
    if existing and not overwrite:
        raise ApiError("RESOURCE_ALREADY_EXISTS", f"Path ({where}) already exists.")
    for other in existing:
        if other != target:
            other.unlink()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def _notebook_target(local: Path, language: str) -> Path:
    if local.suffix in LANGUAGE and LANGUAGE[local.suffix] == language:
        return local
    return local.with_name(local.name + SUFFIX[language])


def export(principal: Principal, path: str, fmt: str | None) -> tuple[bytes, str]:
    """(content, file type) of a notebook or file: SOURCE and AUTO give the source (a file's
    bytes), JUPYTER an ``.ipynb`` notebook, RAW a file's bytes."""
    where = parse_path(path)
    _require(principal, where, write=False)
    kind, local, _ = _find(where)
    fmt = fmt or "SOURCE"
    if kind == "DIRECTORY":
        raise not_supported(f"Exporting a folder ({where}) as an archive", "export its files one by one")
    if fmt in ARCHIVE_FORMATS:
        raise not_supported(f"Export format {fmt}", "use SOURCE, AUTO, JUPYTER or RAW")
    if fmt not in ("SOURCE", "AUTO", "RAW", "JUPYTER"):
        raise InvalidParameterError(f"format must be one of SOURCE, AUTO, JUPYTER, RAW, {', '.join(ARCHIVE_FORMATS)}.")
    if fmt == "JUPYTER" and local.suffix != ".ipynb":
        raise not_supported(f"Converting {where} to a Jupyter notebook", "export it as SOURCE")
    size = local.stat().st_size
    if size > MAX_CONTENT_BYTES:
        raise ApiError("MAX_NOTEBOOK_SIZE_EXCEEDED", f"{where} is larger than {MAX_CONTENT_BYTES} bytes.", 400)
    return local.read_bytes(), local.suffix.lstrip(".")


def read_notebook_for_export(principal: Principal, notebook_path: str) -> str | None:
    """The source of a job's notebook for runs/export, when it is in the workspace tree and the
    caller may read it; None otherwise (a host path is never read for a caller)."""
    try:
        content, _ = export(principal, notebook_path, "SOURCE")
    except HealthmonError:
        return None
    return content.decode("utf-8", errors="replace")
