"""Notebook sources → Python cells.

Formats: Databricks source (``# Databricks notebook source``, cells split at
``# COMMAND ----------``, magic cells as ``# MAGIC`` lines), Jupyter ``.ipynb`` and plain ``.py``.
Magics: ``%md``/``%md-sandbox`` skipped; ``%run <path>`` inlined (relative to the notebook, cycles
refused); ``%python`` executed; ``%pip install`` accepted only when the current environment
already satisfies every requirement (otherwise refused, pointing at ``environments``); other
languages (``%sql``, ``%sh``, ``%scala``, ``%r``) refused with the file and line.

Kept import-light: it runs in every task subprocess.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from healthmon.errors import HealthmonError, Location

HEADER = "# Databricks notebook source"
SEPARATOR = "# COMMAND ----------"


@dataclass(frozen=True)
class Cell:
    source: str
    file: str
    line: int  # 1-based line of the cell's first source line in `file`


class NotebookError(HealthmonError):
    pass


def load_cells(path: Path, *, root: Path | None = None, _stack: tuple[Path, ...] = ()) -> list[Cell]:
    """The notebook's cells, ``%run`` notebooks inlined; with ``root``, every file read must lie
    under it (the runner parses notebooks unconfined: a ``%run`` cannot bring in a host file)."""
    path = Path(path).resolve()
    if root is not None and root.resolve() not in path.parents:
        raise NotebookError(f"%run {path}: outside the workspace's files; a task runs only code from the workspace.")
    if path in _stack:
        chain = " -> ".join(str(p) for p in (*_stack, path))
        raise NotebookError(f"%run cycle: {chain}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise NotebookError(f"Cannot read notebook {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise NotebookError(f"{path}: byte {exc.start}: not UTF-8 text; a notebook's source must be UTF-8.") from None
    stack = (*_stack, path)
    if path.suffix == ".ipynb":
        raw = _ipynb_cells(path, text)
    elif text.startswith(HEADER):
        raw = _source_cells(text)
    else:
        raw = [(text, 1)]
    cells: list[Cell] = []
    for source, line in raw:
        cells.extend(_expand(path, source, line, stack, root))
    return cells


def _source_cells(text: str) -> list[tuple[str, int]]:
    lines = text.splitlines()
    cells: list[tuple[str, int]] = []
    current: list[str] = []
    start = 2
    for i, ln in enumerate(lines[1:], start=2):
        if ln.strip() == SEPARATOR:
            cells.append(("\n".join(current), start))
            current, start = [], i + 1
        else:
            current.append(ln)
    cells.append(("\n".join(current), start))
    out = []
    for src, line in cells:
        body = src.split("\n")
        magic = [b for b in body if b.strip()]
        if magic and all(b.startswith("# MAGIC") for b in magic):
            # A magic cell: strip the prefix, keep line numbers aligned.
            src = "\n".join(
                b[len("# MAGIC ") :]
                if b.startswith("# MAGIC ")
                else b[len("# MAGIC") :]
                if b.startswith("# MAGIC")
                else b
                for b in body
            )
        out.append((src, line))
    return out


def _ipynb_cells(path: Path | str, text: str) -> list[tuple[str, int]]:
    """The code cells of a Jupyter notebook (nbformat 4: an object whose ``cells`` is a list of
    objects, each ``source`` a string or a list of strings), with their 1-based cell numbers."""
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(f"{path}:{exc.lineno}:{exc.colno}: invalid .ipynb JSON: {exc.msg}") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells", []), list):
        raise NotebookError(f"{path}: not a Jupyter notebook: expected a JSON object whose \"cells\" is a list.")
    cells = []
    for i, c in enumerate(nb.get("cells", []), start=1):
        if not isinstance(c, dict):
            raise NotebookError(f"{path}: cell {i}: expected a JSON object, got {type(c).__name__}.")
        src = c.get("source", "")
        if isinstance(src, list) and all(isinstance(part, str) for part in src):
            src = "".join(src)
        if not isinstance(src, str):
            raise NotebookError(f"{path}: cell {i}: source must be a string or a list of strings.")
        if c.get("cell_type") == "code":
            cells.append((src, i))
    return cells


def check_ipynb(name: str, data: bytes) -> None:
    """Refuse content that is not a Jupyter notebook a task could run (a Jupyter import)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotebookError(f"{name}: byte {exc.start}: not UTF-8 text; a Jupyter notebook is UTF-8 JSON.") from None
    _ipynb_cells(name, text)


def _expand(path: Path, source: str, line: int, stack: tuple[Path, ...], root: Path | None) -> list[Cell]:
    stripped = source.lstrip("\n")
    first = stripped.split("\n", 1)[0].strip()
    if not first.startswith("%"):
        return [Cell(source, str(path), line)] if source.strip() else []
    line += len(source) - len(stripped)  # the magic's own line, past leading blank lines
    magic = first.split()[0]
    rest = stripped.split("\n", 1)[1] if "\n" in stripped else ""
    where = Location(str(path), line, 1)
    if magic in ("%md", "%md-sandbox"):
        return []
    if magic == "%python":
        return [Cell(rest, str(path), line + 1)] if rest.strip() else []
    if magic == "%run":
        args = shlex.split(first)[1:]
        if not args:
            raise NotebookError("%run needs a notebook path", location=where)
        target = _resolve_run_target(path, args[0], where)
        return load_cells(target, root=root, _stack=stack)
    if magic == "%pip":
        check_pip_magic(first, where)
        return []
    raise NotebookError(
        f"{magic} cells are not supported by the local runtime (only Python, %md, %run and satisfied %pip).",
        location=where,
    )


def _resolve_run_target(path: Path, target: str, where: Location) -> Path:
    return resolve_relative(path, target, "%run", where)


def resolve_relative(path: Path | None, target: str, what: str, where: Location | None = None) -> Path:
    """The notebook ``target`` names: a workspace path (``/...``) or a path relative to the folder
    of notebook ``path`` (``%run``, ``dbutils.notebook.run``)."""
    from healthmon.workspace_files import resolve_notebook

    if target.startswith("/"):
        try:
            return resolve_notebook(target)
        except HealthmonError as exc:
            raise NotebookError(f"{what} {target}: {exc.message}", location=where) from None
    base = Path(path).parent if path else Path.cwd()
    candidate = (base / target).resolve()
    try:
        return resolve_notebook(str(candidate))
    except HealthmonError:
        raise NotebookError(
            f"{what} {target}: notebook not found (looked for {candidate} and {candidate}.py/.ipynb).", location=where
        ) from None


def check_pip_magic(line: str, where: Location) -> None:
    """Accept ``%pip install`` when the requirements are already installed; refuse otherwise."""
    args = shlex.split(line)[1:]
    if not args or args[0] != "install":
        raise NotebookError(f"Only '%pip install' is supported, got {line!r}.", location=where)
    reqs = [a for a in args[1:] if not a.startswith("-")]
    missing = unsatisfied(reqs)
    if missing:
        raise NotebookError(
            f"%pip install cannot change the environment of a local task: {', '.join(missing)} not installed. "
            "Declare the dependencies in the job's environments[].spec.dependencies "
            "(with environment_key on the task) instead.",
            location=where,
        )


def unsatisfied(requirements: list[str]) -> list[str]:
    """The requirements the current interpreter does not satisfy (packaging is imported lazily)."""

    from packaging.requirements import InvalidRequirement, Requirement

    missing = []
    for spec in requirements:
        try:
            req = Requirement(spec)
        except InvalidRequirement:
            missing.append(spec)  # paths, URLs, wheels: not checkable, so not satisfied
            continue
        if req.marker is not None and not req.marker.evaluate():
            continue
        versions = _installed_versions(req.name)
        if not versions:
            missing.append(spec)
            continue
        if req.specifier and not any(req.specifier.contains(v, prereleases=True) for v in versions):
            missing.append(spec)
    return missing


_import_providers: Mapping[str, list[str]] | None = None


def _installed_versions(name: str) -> list[str]:
    """Versions installed for requirement ``name``: the distribution itself, or else the
    distributions providing an import package of that name (``xgboost`` is satisfied by
    ``xgboost-cpu``, which installs the ``xgboost`` package)."""
    global _import_providers
    from importlib import metadata

    try:
        return [metadata.version(name)]
    except metadata.PackageNotFoundError:
        pass
    providers = _import_providers
    if providers is None:
        providers = _import_providers = metadata.packages_distributions()
    module = name.replace("-", "_").replace(".", "_").lower()
    out = []
    for dist in providers.get(module, []):
        try:
            out.append(metadata.version(dist))
        except metadata.PackageNotFoundError:
            continue
    return out
