"""What only the workspace's owner may read: file modes of the workspace, and its key files.

The workspace directory (database, run logs, lakehouse, key files) is ``0700``; the SQLite
database with its WAL and shared-memory files, and every key file, ``0600``; the run log tree
``0700``. SQLite creates a database's ``-wal`` and ``-shm`` files with the database file's own
mode, so creating that file ``0600`` up front covers them from the start.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal", ".schema-lock")

_secured: set[str] = set()


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if missing and make it ``0700``."""
    path.mkdir(parents=True, exist_ok=True)
    _chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty if missing and make it ``0600`` (its parent must exist)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    _chmod(path, FILE_MODE)
    return path


def _chmod(path: Path, mode: int) -> None:
    try:
        if (path.stat().st_mode & 0o777) != mode:
            path.chmod(mode)
    except PermissionError:  # not ours (a shared parent given as home): leave it, never fail on it
        pass


def secure_workspace(home: Path) -> None:
    """The workspace directory and its run log tree ``0700`` (once per process and home)."""
    key = str(home)
    if key in _secured:
        return
    private_dir(home)
    private_dir(home / "runs")
    _secured.add(key)


def secure_sqlite_file(path: Path) -> None:
    """A SQLite database file and the files SQLite and the store keep beside it: ``0600``, the
    database created empty with that mode when it does not exist yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    private_file(path)
    for suffix in SQLITE_SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            _chmod(side, FILE_MODE)


def key_file(path: Path, nbytes: int = 32) -> bytes:
    """The random key kept in ``path`` (hex, ``0600``), created on first use. Concurrent first
    uses agree: each writes a private temporary file and links it into place, the first link wins
    and every process reads the winner's key."""
    try:
        return _read_key(path, nbytes)
    except (OSError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_bytes(nbytes).hex())
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    _chmod(path, FILE_MODE)
    return _read_key(path, nbytes)


def _read_key(path: Path, nbytes: int) -> bytes:
    key = bytes.fromhex(path.read_text().strip())
    if len(key) != nbytes:
        raise ValueError(f"{path} does not hold a {nbytes}-byte key")
    return key
