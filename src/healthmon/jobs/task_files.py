"""Where a task's code may come from: the workspace's files, nowhere else.

``notebook_path`` and ``python_file`` are workspace paths (``/Workspace/Users/…``, or
``/Users/…``, ``/Shared/…``, ``/Repos/…`` as Databricks also accepts), mapped to
``$HEALTHMON_HOME/workspace/…`` — or local paths that already lie there. Anything else (an
absolute host path such as ``/etc/passwd``, a ``..`` or symbolic link leading out) is refused with
the task's name, before any process starts: the runner reads notebooks to parse them, and it is
not confined.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from healthmon.errors import HealthmonError
from healthmon.settings import Settings
from healthmon.workspace_files import NOTEBOOK_SUFFIXES, workspace_root

_WORKSPACE_PREFIXES = ("Users", "Shared", "Repos")


class TaskFileError(HealthmonError):
    pass


def _local(path: str, root: Path) -> Path:
    parts = PurePosixPath(path).parts
    if len(parts) >= 2 and parts[0] == "/" and parts[1] == "Workspace":
        return root.joinpath(*parts[2:])
    if len(parts) >= 2 and parts[0] == "/" and parts[1] in _WORKSPACE_PREFIXES:
        return root.joinpath(*parts[1:])
    return Path(path)


def inside(path: Path, root: Path) -> bool:
    real, top = path.resolve(), root.resolve()
    return real == top or top in real.parents


def workspace_file(path: str, what: str, where: str, settings: Settings, *, notebook: bool = False) -> Path:
    """The local file of workspace path ``path`` (``what``: the settings field, for messages;
    ``notebook``: the path may omit the file's extension)."""
    root = workspace_root(settings)
    if not isinstance(path, str) or not path.startswith("/"):
        raise TaskFileError(f"{where}: {what} {path!r} must be an absolute workspace path (/Workspace/...).")
    local = _local(path, root)
    candidates = [local] + ([local.with_name(local.name + s) for s in NOTEBOOK_SUFFIXES] if notebook else [])
    for candidate in candidates:
        if candidate.is_file():
            if not inside(candidate, root):
                raise TaskFileError(f"{where}: {what} {path} is outside the workspace's files: a task runs only "
                                    f"code from the workspace (/Workspace/..., deployed with `bundle deploy`).")
            return candidate
    if not inside(local, root):
        raise TaskFileError(f"{where}: {what} {path} is outside the workspace's files: a task runs only "
                            f"code from the workspace (/Workspace/..., deployed with `bundle deploy`).")
    if notebook:
        raise TaskFileError(f"{where}: Notebook not found: {path} (looked for {local} and {local}.py/.ipynb).")
    raise TaskFileError(f"{where}: {what} {path} not found (looked for {local}).")
