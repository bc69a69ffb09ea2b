"""Task output capture: a pipe pumped into a size-capped, rotated log file.

The runner reads the task's merged stdout/stderr in 64 KiB chunks and appends them to
``<log_dir>/output.log`` (created with the first byte: a silent task leaves no file); when it reaches
``HEALTHMON_LOG_MAX_BYTES`` (default 10 MiB) it is rotated
to ``output.log.1`` (the previous ``.1`` is dropped), so a task writing gigabytes costs at most two
files on disk and one chunk of memory. Known secret values are replaced by ``[REDACTED]``.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import BinaryIO

from healthmon.settings import env_number

CHUNK = 64 * 1024
TAIL_BYTES = 5 * 1024 * 1024  # get-output returns the last 5 MB of logs, as Databricks does


def max_bytes() -> int:
    return int(env_number("HEALTHMON_LOG_MAX_BYTES") or 0)


@functools.lru_cache(maxsize=8)
def _encoded(secrets: tuple[str, ...]) -> list[bytes]:
    """Secret values as bytes, longest first (once per run, not per attempt)."""
    return sorted({s.encode() for s in secrets if s}, key=len, reverse=True)


class LogPump:
    """Pumps one attempt's output pipe into its log file: ``read_once`` per readable event (False
    at EOF), then ``close``; ``run`` does both until EOF on the caller's thread."""

    def __init__(self, fd: int, path: str | Path, secrets: list[str]):
        self.fd = fd
        self.path = Path(path)
        self.secrets = _encoded(tuple(secrets))
        self.limit = max_bytes()
        self.rotations = 0
        self.total = 0
        self.out: BinaryIO | None = None
        self.size = 0
        # Keep a secret split across two reads from leaking: hold back a tail as long as the
        # longest secret until the next chunk arrives.
        self.hold = max((len(s) for s in self.secrets), default=1) - 1
        self.pending = b""

    def _redact(self, data: bytes) -> bytes:
        for s in self.secrets:
            if s in data:
                data = data.replace(s, b"[REDACTED]")
        return data

    def _open(self) -> BinaryIO:
        # Created on the first byte: most tasks print nothing, and creating a file costs about a
        # millisecond on a journaling file system.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return open(self.path, "wb")

    def read_once(self) -> bool:
        chunk = os.read(self.fd, CHUNK)
        if not chunk:
            return False
        data = self._redact(self.pending + chunk)
        if self.hold > 0:
            if len(data) <= self.hold:
                self.pending = data
                return True
            data, self.pending = data[:-self.hold], data[-self.hold:]
        self._write(data)
        return True

    def _write(self, data: bytes) -> None:
        self.total += len(data)
        if self.out is None:
            self.out = self._open()
        if self.size + len(data) > self.limit:
            self.out.close()  # (opened just above when it was None)
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            self.rotations += 1
            self.out = open(self.path, "wb")
            self.size = 0
        self.out.write(data)
        self.size += len(data)

    def close(self) -> None:
        try:
            if self.pending:
                self._write(self._redact(self.pending))
                self.pending = b""
        finally:
            if self.out is not None:
                self.out.close()
            os.close(self.fd)

    def run(self) -> None:
        try:
            while self.read_once():
                pass
        finally:
            self.close()


def read_logs(log_dir: str | Path | None, limit: int = TAIL_BYTES) -> tuple[str, bool]:
    """The last ``limit`` bytes of a task's output (``.1`` then current), and whether truncated."""
    if not log_dir:
        return "", False
    base = Path(log_dir) / "output.log"
    parts = [p for p in (base.with_name("output.log.1"), base) if p.exists()]
    total = sum(p.stat().st_size for p in parts)
    truncated = total > limit or base.with_name("output.log.1").exists()
    data = b""
    for p in reversed(parts):
        need = limit - len(data)
        if need <= 0:
            break
        size = p.stat().st_size
        with p.open("rb") as f:
            f.seek(max(0, size - need))
            data = f.read() + data
    return data.decode("utf-8", errors="replace"), truncated
