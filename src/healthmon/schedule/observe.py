"""Observations the event triggers decide on: files under a location, Delta table versions,
active runs. The only I/O of the trigger logic lives here (triggers.py stays pure)."""

from __future__ import annotations

import os
from pathlib import Path

from healthmon.errors import HealthmonError
from healthmon.settings import Settings


def local_path(url: str, settings: Settings | None = None) -> Path:
    """Map a file-arrival URL to a local directory: ``/Volumes/c/s/v/dir`` (also
    ``dbfs:/Volumes/...``) → ``$HEALTHMON_HOME/volumes/c/s/v/dir`` (as dbutils.fs maps it),
    ``file:/x`` → ``/x``, a plain local path as is. Cloud URLs cannot be watched locally."""
    settings = settings or Settings.from_env()
    if url.startswith("dbfs:"):
        url = url[len("dbfs:"):]
    if url.startswith("file:"):
        url = url[len("file:"):]
        return Path("/" + url.lstrip("/"))
    if url.startswith("/Volumes/"):
        rel = Path(url[len("/Volumes/"):])
        if ".." in rel.parts:
            raise HealthmonError(f"file_arrival url {url!r} escapes the volume root.")
        return settings.home / "volumes" / rel
    if "://" in url:
        raise HealthmonError(
            f"file_arrival url {url!r}: only local directories and /Volumes paths can be monitored locally."
        )
    return Path(url)


def scan_files(directory: Path) -> dict[str, float]:
    """Relative path → mtime (epoch seconds) of every regular file below ``directory``
    (hidden files and directories, e.g. writers' temp files, are ignored). A missing
    directory has no files."""
    out: dict[str, float] = {}
    if not directory.is_dir():
        return out
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".") and not d.startswith("_")]
        for name in files:
            if name.startswith(".") or name.startswith("_"):
                continue
            path = os.path.join(root, name)
            try:
                out[os.path.relpath(path, directory)] = os.stat(path).st_mtime
            except FileNotFoundError:
                continue  # removed while scanning
    return out


def table_versions(
    names: tuple[str, ...] | list[str], settings: Settings | None = None
) -> dict[str, tuple[int | None, float | None]]:
    """Table name → (Delta version, its commit time in epoch seconds); (None, None) when the
    table does not exist (yet)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    from healthmon.lakehouse.paths import TableName

    settings = settings or Settings.from_env()
    out: dict[str, tuple[int | None, float | None]] = {}
    for name in names:
        path = TableName.parse(name).path(settings.lakehouse_root)
        if not (path / "_delta_log").is_dir():
            out[name] = (None, None)
            continue
        try:
            table = DeltaTable(str(path))
        except TableNotFoundError:
            out[name] = (None, None)
            continue
        version = table.version()
        stamp = None
        try:
            history = table.history(1)
            if history and history[0].get("timestamp") is not None:
                stamp = history[0]["timestamp"] / 1000.0
        except Exception:  # history is only used for wait_after_last_change; the version decides
            stamp = None
        out[name] = (version, stamp)
    return out


def active_job_runs(job_id: int) -> int:
    """Job runs of ``job_id`` that are not finished (queued, pending, running...)."""
    from sqlalchemy import func, select

    from healthmon.store.db import Database
    from healthmon.store.runs import ACTIVE_STATES, RunRecord

    with Database.from_settings().session() as s:
        return s.scalar(select(func.count()).select_from(RunRecord).where(
            RunRecord.job_id == job_id, RunRecord.task_key.is_(None),
            RunRecord.life_cycle_state.in_(ACTIVE_STATES))) or 0
