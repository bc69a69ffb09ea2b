"""The local stand-in for the Databricks workspace file system.

Workspace paths (``/Workspace/Users/me@x/.bundle/b/dev/files/src/nb``) map to
``$HEALTHMON_HOME/workspace/Users/me@x/.bundle/b/dev/files/src/nb``. ``bundle deploy`` syncs the
bundle's files there, so a run executes the deployed snapshot, as on Databricks (edit, then
redeploy). Notebook paths carry no extension in job settings; ``resolve_notebook`` finds the
source file.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from healthmon.errors import NotFoundError
from healthmon.settings import Settings

NOTEBOOK_SUFFIXES = (".py", ".ipynb", ".sql", ".scala", ".r", ".R")
# Language of a notebook by suffix, and the first line that makes a source file a notebook.
LANGUAGE = {".py": "PYTHON", ".sql": "SQL", ".scala": "SCALA", ".r": "R", ".R": "R"}
HEADER = {"PYTHON": "# Databricks notebook source", "SQL": "-- Databricks notebook source",
          "SCALA": "// Databricks notebook source", "R": "# Databricks notebook source"}


def workspace_root(settings: Settings | None = None) -> Path:
    return (settings or Settings.from_env()).home / "workspace"


def to_local(workspace_path: str, settings: Settings | None = None) -> Path:
    """Map an absolute workspace path to the local file system. Paths that are not under
    ``/Workspace`` (for example absolute local paths from a job created by API) pass through."""
    p = PurePosixPath(workspace_path)
    parts = p.parts
    if len(parts) >= 2 and parts[0] == "/" and parts[1] == "Workspace":
        rel = PurePosixPath(*parts[2:]) if len(parts) > 2 else PurePosixPath(".")
        local = workspace_root(settings) / rel
        root = workspace_root(settings).resolve()
        if root not in local.resolve().parents and local.resolve() != root:
            raise NotFoundError(f"Workspace path {workspace_path!r} escapes the workspace.")
        return local
    return Path(workspace_path)


def is_file(path: Path) -> bool:
    """``path.is_file()``, but a name the file system refuses (longer than it allows) is simply
    not there: a path in a bundle or a job is user input, and checking it must not raise."""
    try:
        return path.is_file()
    except OSError:
        return False


def is_dir(path: Path) -> bool:
    """``path.is_dir()``, with a name the file system refuses counted as missing (see ``is_file``)."""
    try:
        return path.is_dir()
    except OSError:
        return False


def exists(path: Path) -> bool:
    """``path.exists()``, with a name the file system refuses counted as missing (see ``is_file``)."""
    try:
        return path.exists()
    except OSError:
        return False


def notebook_file(path: Path) -> Path:
    """``path`` itself if it is a file, else the first ``path<suffix>`` that is (notebook paths
    omit the extension, as in the workspace); ``path`` unchanged when neither exists."""
    if is_file(path):
        return path
    for suffix in NOTEBOOK_SUFFIXES:
        candidate = path.with_name(path.name + suffix)
        if is_file(candidate):
            return candidate
    return path


def notebook_language(file: Path) -> str | None:
    """The language of a notebook file (None: not a notebook): an ``.ipynb`` file, or a source
    file whose first line is Databricks' notebook header for its suffix."""
    if file.suffix == ".ipynb":
        return "PYTHON"
    language = LANGUAGE.get(file.suffix)
    if language is None:
        return None
    try:
        with open(file, encoding="utf-8", errors="replace") as fh:
            first = fh.readline().rstrip("\r\n")
    except OSError:
        return None
    return language if first == HEADER[language] else None


def resolve_notebook(path: str, settings: Settings | None = None) -> Path:
    """The source file of a notebook path, trying the path itself and then each notebook suffix."""
    local = to_local(path, settings)
    found = notebook_file(local)
    if is_file(found):
        return found
    raise NotFoundError(f"Notebook not found: {path} (looked for {local} and {local}.py/.ipynb).")
