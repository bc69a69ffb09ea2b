"""The Files API (``/api/2.0/fs/files``, ``/api/2.0/fs/directories``) over Unity Catalog volumes:
``/Volumes/<catalog>/<schema>/<volume>/...`` is ``$HEALTHMON_HOME/volumes/...``, where
``dbutils.fs`` and tasks find them too.

Unity Catalog grants on volumes are not modelled, so only admins use this API; anyone else is
refused without learning whether a path exists.
"""

from __future__ import annotations

import os
from email.utils import formatdate
from pathlib import Path, PurePosixPath

from healthmon.errors import InvalidParameterError, NotFoundError, PermissionDeniedError
from healthmon.server.errors import ApiError
from healthmon.settings import Settings
from healthmon.store.auth import Principal

MAX_PATH = 4096
MAX_NAME = 240  # bytes of one path component (the file system's limit is 255)


def volume_path(principal: Principal, path: str) -> tuple[Path, PurePosixPath]:
    """(local path, ``/Volumes/...`` path) of a Files API path, for an admin."""
    if not isinstance(path, str) or len(path) > MAX_PATH or "\0" in path:
        raise InvalidParameterError("path must be /Volumes/<catalog>/<schema>/<volume>/...")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts or len(parts) < 4 or parts[0] != "Volumes" or any(len(p.encode()) > MAX_NAME for p in parts):
        raise InvalidParameterError("path must be /Volumes/<catalog>/<schema>/<volume>/... (no '..', names of at most "
                                    f"{MAX_NAME} bytes).")
    if not principal.is_admin:
        raise PermissionDeniedError(f"User {principal.name} does not have permission on volume "
                                    f"{'.'.join(parts[1:4])} (volume grants are not modelled here: admins only).")
    root = (Settings.from_env().home / "volumes").resolve()
    local = root.joinpath(*parts[1:])
    resolved = local.resolve()
    if root not in resolved.parents:
        raise NotFoundError(f"{path} does not exist.")
    return local, PurePosixPath("/", *parts)


def file_metadata(local: Path, shown: PurePosixPath) -> dict[str, str]:
    """Headers of a file download or HEAD: content-length, content-type, last-modified."""
    if not local.is_file():
        raise NotFoundError(f"File {shown} does not exist.")
    st = local.stat()
    return {"content-length": str(st.st_size), "content-type": "application/octet-stream",
            "last-modified": formatdate(st.st_mtime, usegmt=True)}


def upload(local: Path, shown: PurePosixPath, data: bytes, overwrite: bool) -> None:
    if local.is_dir():
        raise ApiError("ALREADY_EXISTS", f"{shown} is a directory.", 409)
    if local.exists() and not overwrite:
        raise ApiError("ALREADY_EXISTS", f"File {shown} already exists; give overwrite=true to replace it.", 409)
    for parent in local.parents:
        if parent.exists() and not parent.is_dir():
            raise ApiError("ALREADY_EXISTS", f"{shown}: a file is in the way of its directory.", 409)
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = local.with_name(f".{local.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, local)


def delete_file(local: Path, shown: PurePosixPath) -> None:
    if not local.is_file():
        raise NotFoundError(f"File {shown} does not exist.")
    local.unlink()


def list_directory(local: Path, shown: PurePosixPath) -> dict:
    if not local.is_dir():
        raise NotFoundError(f"Directory {shown} does not exist.")
    contents = []
    for child in sorted(local.iterdir(), key=lambda p: p.name):
        if child.name.startswith(".") and child.name.endswith(".tmp"):
            continue  # an upload in progress
        st = child.stat()
        entry = {"path": f"{shown}/{child.name}", "name": child.name, "is_directory": child.is_dir(),
                 "last_modified": int(st.st_mtime * 1000)}
        if not child.is_dir():
            entry["file_size"] = st.st_size
        contents.append(entry)
    return {"contents": contents} if contents else {}


def create_directory(local: Path, shown: PurePosixPath) -> None:
    for parent in [*reversed(local.parents), local]:
        if parent.exists() and not parent.is_dir():
            raise ApiError("ALREADY_EXISTS", f"{shown}: a file is in the way.", 409)
    local.mkdir(parents=True, exist_ok=True)


def delete_directory(local: Path, shown: PurePosixPath) -> None:
    if not local.is_dir():
        raise NotFoundError(f"Directory {shown} does not exist.")
    if any(local.iterdir()):
        raise ApiError("DIRECTORY_NOT_EMPTY", f"Directory {shown} is not empty.", 400)
    local.rmdir()


def directory_exists(local: Path, shown: PurePosixPath) -> None:
    if not local.is_dir():
        raise NotFoundError(f"Directory {shown} does not exist.")

