"""The DBFS API (``/api/2.0/dbfs/*``) over the workspace's DBFS root, ``$HEALTHMON_HOME/dbfs``
(where ``dbutils.fs`` finds ``dbfs:/...`` paths and tasks read and write them).

Paths are absolute DBFS paths (``/x`` or ``dbfs:/x``) and stay under the root: a ``..``
component is refused, and a symbolic link whose target leaves the root reads as a missing path.
``/Volumes/...`` belongs to the Files API (the SDK's ``w.dbfs`` sends it there).

Every authenticated principal may use the DBFS root, as on Databricks. Streams (``create``,
``add-block``, ``close``) are files in ``$HEALTHMON_HOME/.dbfs-streams``, so every worker process
of the server sees them; a handle is a random 62-bit number known to its creator only, usable by
that principal only, and forgotten after ten idle minutes. A file appears at its path in one
rename (``put``, ``close``): a killed server never leaves a half-written file there.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import shutil
import time
from pathlib import Path, PurePosixPath

from healthmon.errors import InvalidParameterError, NotFoundError
from healthmon.server.errors import ApiError
from healthmon.settings import Settings
from healthmon.store.auth import Principal

MAX_BLOCK = 1024 * 1024  # the DBFS API's limit on one put or add-block, and on one read
DEFAULT_READ = 512 * 1024
MAX_PATH = 4096
MAX_NAME = 240  # bytes of one path component (the file system's limit is 255)
MAX_DEPTH = 128  # path names in one path (deeper would also strain pathlib's recursive mkdir)
MAX_LOCAL = 4000  # bytes of the path on this machine (the kernel's PATH_MAX is 4096)
STREAM_IDLE_SECONDS = 600


def _root() -> Path:
    root = Settings.from_env().home / "dbfs"
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


def _streams() -> Path:
    folder = Settings.from_env().home / ".dbfs-streams"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def already_exists(message: str) -> ApiError:
    return ApiError("RESOURCE_ALREADY_EXISTS", message)


def block_too_large(what: str, size: int) -> ApiError:
    return ApiError("MAX_BLOCK_SIZE_EXCEEDED", f"{what} holds {size} bytes; the limit is {MAX_BLOCK} bytes (1 MB): "
                                               "use create, add-block and close for larger files.", 400)


def _resolved(path: Path) -> Path | None:
    """``path`` with symbolic links followed; None for a link loop (it reaches nothing)."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return None


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


class DbfsPath:
    """A DBFS path: ``shown`` (``/a/b``, as the API answers it) and ``local`` (under the root)."""

    def __init__(self, path: str, field: str = "path"):
        if not isinstance(path, str) or not path or len(path) > MAX_PATH or "\0" in path:
            raise InvalidParameterError(f"{field} must be an absolute DBFS path such as /tmp/file.txt.")
        text = path[len("dbfs:"):] if path.startswith("dbfs:") else path
        if not text.startswith("/"):
            raise InvalidParameterError(f"{field} must be an absolute DBFS path (starting with / or dbfs:/).")
        parts = [p for p in text.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise InvalidParameterError(f"{field} must not contain '..'.")
        if any(len(p.encode()) > MAX_NAME for p in parts):
            raise InvalidParameterError(f"{field}: a path name is longer than {MAX_NAME} bytes.")
        if len(parts) > MAX_DEPTH:
            raise InvalidParameterError(f"{field}: more than {MAX_DEPTH} path names.")
        if parts and parts[0] == "Volumes":
            raise InvalidParameterError(f"{field}: /Volumes paths are served by the Files API (/api/2.0/fs), "
                                        "not by the DBFS API.")
        self.shown = str(PurePosixPath("/", *parts))
        root = _root()
        if len(str(root).encode()) + len(text.encode()) > MAX_LOCAL:
            raise InvalidParameterError(f"{field} is too long for this workspace's file system.")
        self.is_root = not parts
        # The parent is resolved (links followed); the last name is kept, so deleting or
        # replacing a link acts on the link. Whatever the path reaches must stay in the root.
        parent = _resolved(root.joinpath(*parts[:-1]))
        self.local = parent / parts[-1] if parts and parent else root.joinpath(*parts)
        self.parent_inside = parent is not None and _inside(parent, root)
        reached = _resolved(self.local)
        self.escapes = not (self.parent_inside and reached is not None and _inside(reached, root))

    def exists(self) -> bool:
        return not self.escapes and self.local.exists()

    def is_dir(self) -> bool:
        return not self.escapes and self.local.is_dir()

    def is_file(self) -> bool:
        return not self.escapes and self.local.is_file()

    def require(self) -> None:
        if not self.exists():
            raise NotFoundError(f"No file or directory exists on path {self.shown}.")

    def writable(self, overwrite: bool) -> None:
        """Refuse a file write where a directory, a file (without ``overwrite``) or a file in
        the way of a parent directory is."""
        if self.escapes:
            raise InvalidParameterError(f"{self.shown} leaves the DBFS root through a symbolic link.")
        if self.is_root or self.local.is_dir():
            raise already_exists(f"A directory already exists at the input path {self.shown}.")
        if self.local.exists() and not overwrite:
            raise already_exists(f"A file or directory already exists at the input path {self.shown}.")
        _no_file_in_the_way(self)


def _no_file_in_the_way(path: DbfsPath) -> None:
    for parent in path.local.parents:
        if parent.exists() and not parent.is_dir():
            raise already_exists(f"A file exists where a directory of {path.shown} would be.")


def file_info(path: DbfsPath) -> dict:
    """The SDK's ``FileInfo``: path, is_dir, file_size, modification_time (ms)."""
    try:
        st = path.local.stat()
    except FileNotFoundError:  # deleted since it was found
        raise NotFoundError(f"No file or directory exists on path {path.shown}.") from None
    is_dir = path.local.is_dir()
    return {"path": path.shown, "is_dir": is_dir, "file_size": 0 if is_dir else st.st_size,
            "modification_time": int(st.st_mtime * 1000)}


def decode(data: str | None, field: str) -> bytes:
    try:
        return base64.b64decode(data or "", validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParameterError(f"{field} must be base64-encoded.") from None


def _place(staged: Path, path: DbfsPath, overwrite: bool) -> None:
    """Move a fully written staging file to ``path`` in one rename (parents created)."""
    path.writable(overwrite)
    path.local.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, path.local)


# -- operations ----------------------------------------------------------------------------------
def put(path: DbfsPath, data: bytes, overwrite: bool, *, limit: bool = True) -> None:
    """``put``: the whole file at once (``limit``: the 1 MB cap of base64 ``contents``; a
    multipart upload is bounded by the server's body limit only)."""
    if limit and len(data) > MAX_BLOCK:
        raise block_too_large("contents", len(data))
    path.writable(overwrite)
    staged = _streams() / f"put-{secrets.token_hex(8)}.part"
    try:
        staged.write_bytes(data)
        _place(staged, path, overwrite)
    finally:
        staged.unlink(missing_ok=True)


def read(path: DbfsPath, offset: int, length: int | None) -> dict:
    """``read``: at most ``length`` bytes (default 0.5 MB, at most 1 MB) from ``offset``."""
    if offset < 0 or (length is not None and length < 0):
        raise InvalidParameterError("offset and length must not be negative.")
    length = DEFAULT_READ if length is None or length == 0 else length
    if length > MAX_BLOCK:
        raise ApiError("MAX_READ_SIZE_EXCEEDED", f"length {length} is over the limit of {MAX_BLOCK} bytes (1 MB).", 400)
    path.require()
    if path.is_dir():
        raise InvalidParameterError(f"{path.shown} is a directory, not a file.")
    with path.local.open("rb") as fh:
        fh.seek(offset)
        data = fh.read(length)
    return {"bytes_read": len(data), "data": base64.b64encode(data).decode()}


def list_status(path: DbfsPath) -> dict:
    """``list``: a directory's entries, or the file itself."""
    path.require()
    if not path.is_dir():
        return {"files": [file_info(path)]}
    entries = []
    for child in sorted(path.local.iterdir(), key=lambda p: p.name):
        entry = DbfsPath(f"{path.shown.rstrip('/')}/{child.name}")
        if entry.exists():  # a dangling link or one out of the root is not listed
            try:
                entries.append(file_info(entry))
            except NotFoundError:
                continue
    return {"files": entries} if entries else {}


def mkdirs(path: DbfsPath) -> None:
    if path.escapes:
        raise InvalidParameterError(f"{path.shown} leaves the DBFS root through a symbolic link.")
    _no_file_in_the_way(path)
    if path.local.exists() and not path.local.is_dir():
        raise already_exists(f"A file already exists at the input path {path.shown}.")
    path.local.mkdir(parents=True, exist_ok=True)


def delete(path: DbfsPath, recursive: bool) -> None:
    """``delete``: a missing path is already deleted (DBFS documents no error for it)."""
    if path.is_root:
        raise InvalidParameterError("The DBFS root cannot be deleted.")
    if path.parent_inside and path.local.is_symlink():
        path.local.unlink()  # the link, never what it points at
        return
    if not path.exists():
        return
    if path.local.is_dir():
        if any(path.local.iterdir()) and not recursive:
            raise ApiError("IO_ERROR", f"Directory {path.shown} is not empty; give recursive=true to delete it.", 400)
        shutil.rmtree(path.local)
    else:
        path.local.unlink()


def move(source: DbfsPath, destination: DbfsPath) -> None:
    """``move``: a file, or a directory with everything in it; the destination must not exist."""
    source.require()
    if source.is_root or destination.is_root:
        raise InvalidParameterError("The DBFS root cannot be moved.")
    if destination.escapes:
        raise InvalidParameterError(f"{destination.shown} leaves the DBFS root through a symbolic link.")
    if destination.local.exists():
        raise already_exists(f"A file or directory already exists at the destination path {destination.shown}.")
    if source.local == destination.local or source.local in destination.local.parents:
        raise InvalidParameterError(f"{source.shown} cannot be moved into itself ({destination.shown}).")
    _no_file_in_the_way(destination)
    destination.local.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source.local, destination.local)


# -- streams: create, add-block, close -------------------------------------------------------------
def _stream_files(handle: int) -> tuple[Path, Path]:
    folder = _streams()
    return folder / f"{handle}.json", folder / f"{handle}.part"


def _forget_idle_streams() -> None:
    cutoff = time.time() - STREAM_IDLE_SECONDS
    for meta in _streams().glob("*.json"):
        try:
            if meta.stat().st_mtime < cutoff:
                meta.unlink(missing_ok=True)
                meta.with_suffix(".part").unlink(missing_ok=True)
        except FileNotFoundError:
            continue  # another worker forgot it first


def create(principal: Principal, path: DbfsPath, overwrite: bool) -> int:
    path.writable(overwrite)
    _forget_idle_streams()
    handle = secrets.randbits(62) + 1
    meta, part = _stream_files(handle)
    part.touch(mode=0o600)
    meta.write_text(json.dumps({"path": path.shown, "overwrite": overwrite, "principal": principal.name}))
    return handle


def _open_stream(principal: Principal, handle: int) -> tuple[dict, Path, Path]:
    meta, part = _stream_files(handle)
    try:
        info = json.loads(meta.read_text())
    except (FileNotFoundError, ValueError):
        info = None
    if info is None or info.get("principal") != principal.name or not part.exists():
        raise NotFoundError(f"No open stream has handle {handle}.")
    if time.time() - meta.stat().st_mtime > STREAM_IDLE_SECONDS:
        meta.unlink(missing_ok=True)
        part.unlink(missing_ok=True)
        raise NotFoundError(f"No open stream has handle {handle} (closed after {STREAM_IDLE_SECONDS // 60} idle "
                            "minutes).")
    return info, meta, part


def add_block(principal: Principal, handle: int, data: bytes) -> None:
    if len(data) > MAX_BLOCK:
        raise block_too_large("The block", len(data))
    _, meta, part = _open_stream(principal, handle)
    with part.open("ab") as fh:
        fh.write(data)
    meta.touch()  # the idle timeout counts from the last block


def close(principal: Principal, handle: int) -> None:
    info, meta, part = _open_stream(principal, handle)
    try:
        _place(part, DbfsPath(info["path"]), bool(info["overwrite"]))
    finally:
        meta.unlink(missing_ok=True)
        part.unlink(missing_ok=True)
