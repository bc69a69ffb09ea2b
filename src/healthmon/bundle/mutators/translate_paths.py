"""Rewrite local file references as workspace paths, as the CLI's ``TranslatePaths`` does.

A relative ``notebook_path`` / ``python_file`` / ``sql_task.file.path`` / ``requirements`` file /
library / local environment dependency is relative to the YAML file that declares it. It becomes
``${workspace.file_path}/<path relative to the sync root>``, except local libraries (``whl``,
``jar``) which become ``<path relative to the sync root>`` and local environment dependencies
``./<path relative to the sync root>`` (the CLI's validate output; deploy points them at the synced
copy) (the bundle root unless ``sync.paths``
reach outside it); source-format notebooks lose their extension (``src/ml/x.py`` →
``.../files/src/ml/x``), Jupyter notebooks (``.ipynb``) and other files keep it. Absolute paths
outside ``/Workspace`` get the ``/Workspace`` prefix (``/remote/x`` → ``/Workspace/remote/x``); URLs,
paths of tasks that take their source from Git, and unresolved references are left as they are. A relative path outside
the sync root is a warning when the file exists (left as written), else an error.
A path that does not exist relative to its declaring file (typically one a target overrides in
``databricks.yml``) is looked up relative to the file that defines its job or pipeline instead,
as the CLI's fallback for overrides in targets. A notebook path written without its extension is
the CLI's error (``notebook "./src/nb" not found. Did you mean "./src/nb.py"?``): the CLI never
guesses the extension. A notebook field naming a plain file (a ``.py`` without the
``# Databricks notebook source`` header) or a file field (``python_file``, ``sql_task.file``, a
pipeline ``file``) naming a notebook is the CLI's ``expected a notebook/file for ...`` error.
The local file behind each rewritten field is returned in ``sources`` (keyed by config path) so
validation can check it and name both the file and the declaring ``file:line:col``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from healthmon.bundle.context import LoadContext
from healthmon.bundle.diag import ERROR, WARNING, BundleError, Diagnostic, Diagnostics
from healthmon.bundle.dyn import Value, find, format_path, required_path, set_path
from healthmon.bundle.mutators.interpolate import REF
from healthmon.bundle.step import BundleState, Step
from healthmon.errors import Location
from healthmon.workspace_files import NOTEBOOK_SUFFIXES, exists, is_dir, is_file, notebook_file, notebook_language

CHECK = "paths"
# A Jupyter notebook keeps its extension in the workspace path (the CLI's output); source-format
# notebooks (.py/.sql/.scala/.r with the Databricks header) are imported without it.
JUPYTER = ".ipynb"
# Kinds of local library paths: printed relative to the sync root (the CLI's
# TranslateModeLocalRelative / TranslateModeLocalRelativeWithPrefix), not as workspace paths.
LIBRARY = "library"
DEPENDENCY = "dependency"
# A pipeline's `glob.include` pattern: translated like a file path (the CLI's TranslateModeGlob),
# never checked for existence nor recorded as a source (a pattern names no one file).
GLOB = "glob"


@dataclass(frozen=True)
class SourceRef:
    kind: str  # notebook | file | directory
    declared: str  # the value as written
    local: Path  # absolute local path (may not exist; validation reports that)
    location: Location  # where it is declared
    workspace_path: str
    job: str = ""  # resource key of the job declaring it
    # A local library (``whl``/``jar``, a local environment dependency): the configuration holds
    # its path relative to the sync root, as the CLI's validate prints it; deploy points the job
    # at ``workspace_path``, the synced copy (the CLI uploads it then).
    library: bool = False


def _task_fields(task_path: tuple, task: Value):
    """(path to field, kind) of each translatable field in a task, incl. for_each inner tasks."""
    if not task.is_map:
        return
    for container, field, kind in (
        ("notebook_task", "notebook_path", "notebook"),
        ("spark_python_task", "python_file", "file"),
        ("dbt_task", "project_directory", "directory"),
    ):
        c = task.get(container)
        if c is not None and c.is_map and c.get(field) is not None:
            yield task_path + (container, field), kind
    sql = task.get("sql_task")
    if sql is not None and sql.is_map:
        f = sql.get("file")
        if f is not None and f.is_map and f.get("path") is not None:
            yield task_path + ("sql_task", "file", "path"), "file"
    libs = task.get("libraries")
    if libs is not None and libs.is_list:
        for i, lib in enumerate(libs.v):
            if lib.is_map:
                for field in ("whl", "jar", "requirements"):
                    if lib.get(field) is not None:
                        yield task_path + ("libraries", i, field), "file" if field == "requirements" else LIBRARY
    fe = task.get("for_each_task")
    inner = fe.get("task") if fe is not None and fe.is_map else None
    if inner is not None:
        yield from _task_fields(task_path + ("for_each_task", "task"), inner)


def _uses_git(job: Value, task: Value) -> bool:
    source = None
    for container in ("notebook_task", "spark_python_task", "sql_task", "dbt_task"):
        c = task.get(container)
        if c is not None and c.is_map:
            s = c.get("source")
            sql_file = c.get("file") if container == "sql_task" else None
            if s is None and sql_file is not None:
                s = sql_file.get("source")
            if s is not None:
                source = s.v
    if source == "GIT":
        return True
    if source == "WORKSPACE":
        return False
    git_source = job.get("git_source")
    return git_source is not None and git_source.v is not None


def _is_local_dependency(text) -> bool:
    """The CLI's ``IsLibraryLocal``: ``./x``, ``../x`` or a relative path to a wheel or jar;
    package names (``pandas==2.2``), pip options (``-r``, ``-e``), URLs and absolute paths are not."""
    if not isinstance(text, str) or not text:
        return False
    if text.startswith("."):
        return True
    return (not text.startswith(("-", "/")) and not has_scheme(text) and "/" in text
            and text.endswith((".whl", ".jar")))


# Go's url.Parse scheme: a letter, then letters, digits, "+", "-" or ".", then ":". The CLI
# leaves any path with a scheme alone (`dbfs:/x.py`, `s3://b/x.jar`), not only `scheme://`.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def has_scheme(text: str) -> bool:
    return _SCHEME.match(text) is not None


def _skip(text) -> bool:
    # Only well-formed references are left for later: "${bundle.}" is a (missing) relative path.
    return (not isinstance(text, str) or not text or text.startswith("/") or has_scheme(text)
            or REF.search(text) is not None or text.startswith("~"))


def _remote(text) -> str | None:
    """``/remote/x`` → ``/Workspace/remote/x``: absolute workspace paths live under /Workspace."""
    if isinstance(text, str) and text.startswith("/") and not text.startswith(("/Workspace/", "/Volumes/", "/dbfs/")) \
            and text != "/Workspace" and REF.search(text) is None:
        return "/Workspace" + text
    return None


def _found(local: Path, kind: str) -> bool:
    """Whether the path names something (patterns and libraries are not checked, as the CLI)."""
    return (kind in (GLOB, LIBRARY, DEPENDENCY) or exists(local)
            or (kind == "notebook" and exists(notebook_file(local))))


def _inside(local: Path, sync_root: Path) -> bool:
    return local == sync_root or sync_root in local.parents


def _local(ctx: LoadContext, node: Value, kind: str, fallback: str, sync_root: Path) -> Path:
    """The local file ``node`` names: relative to its declaring file, else — when nothing is
    there or it lies outside the sync root — relative to ``fallback``, the file defining its
    resource (the CLI's fallback: it retries whenever the first translation fails)."""
    local = Path(os.path.normpath(ctx.source(node.loc.file).parent / node.v))
    if fallback and fallback != node.loc.file and not (_found(local, kind) and _inside(local, sync_root)):
        other = Path(os.path.normpath(ctx.source(fallback).parent / node.v))
        if _found(other, kind) and _inside(other, sync_root):
            return other
    return local


def _translate(ctx: LoadContext, sync_root: Path, node: Value, kind: str, file_path: str, path: tuple,
               errors: list[Diagnostic], fallback: str = "") -> tuple[str, Path] | None:
    declared = node.v
    local = _local(ctx, node, kind, fallback, sync_root)
    if not _inside(local, sync_root):
        if not _found(local, kind):
            errors.append(Diagnostic(ERROR, f"path {local} is not contained in sync root path", node.loc,
                                     format_path(path), check=CHECK))
            return None
        where = f"the bundle root {ctx.root}" if sync_root == ctx.root else f"the sync root {sync_root}"
        errors.append(Diagnostic(WARNING, f"path {declared} is not contained in {where}; it is not synced and "
                                          "stays as written", node.loc, format_path(path), check=CHECK))
        return None
    if kind == "notebook" and not exists(local) and not local.suffix:
        errors.append(Diagnostic(ERROR, _missing_extension(declared, local), node.loc, format_path(path), check=CHECK))
        return None
    if kind in ("notebook", "file") and not is_file(notebook_file(local)):
        errors.append(Diagnostic(ERROR, f"{kind} {declared} not found", node.loc, format_path(path), check=CHECK))
        return None
    if kind == "notebook":
        local = notebook_file(local)
    wrong_kind = _wrong_kind(kind, local, path)
    if wrong_kind:
        errors.append(Diagnostic(ERROR, wrong_kind, node.loc, format_path(path), check=CHECK))
        return None
    rel = PurePosixPath(local.relative_to(sync_root).as_posix())
    if kind in (LIBRARY, DEPENDENCY):
        return f"{file_path}/{rel}", local
    if kind == "notebook" and rel.suffix in NOTEBOOK_SUFFIXES and rel.suffix != JUPYTER:
        rel = rel.with_suffix("")
    return f"{file_path}/{rel}" if str(rel) != "." else file_path, local


# The CLI's order of notebook extensions in its "not found" message.
CLI_NOTEBOOK_EXTENSIONS = (".py", ".r", ".scala", ".sql", ".ipynb")


def _missing_extension(declared: str, local: Path) -> str:
    """The CLI's error for a notebook path written without its extension (it never guesses one),
    naming the file that exists with one."""
    exts = ", ".join(CLI_NOTEBOOK_EXTENSIONS)
    for ext in CLI_NOTEBOOK_EXTENSIONS:
        if is_file(local.with_name(local.name + ext)):
            return (f'notebook "{declared}" not found. Did you mean "{declared}{ext}"?\n'
                    "Local notebook references are expected to contain one of the following\n"
                    f"file extensions: [{exts}]")
    return (f'notebook "{declared}" not found. Local notebook references are expected\n'
            f"to contain one of the following file extensions: [{exts}]")


def _wrong_kind(kind: str, local: Path, path: tuple) -> str | None:
    """The CLI's error for a notebook field naming a plain file (a ``.py`` without the Databricks
    header is imported as a file, and a job cannot run it as a notebook) or a file field naming a
    notebook (imported without its extension, so the file path would not exist)."""
    if not is_file(local):
        return None  # a missing file is validation's "not found"
    if kind == "notebook" and notebook_language(local) is None:
        return f'expected a notebook for "{format_path(path)}" but got a file: file at {local} is not a notebook'
    if kind == "file" and notebook_language(local) is not None:
        return f'expected a file for "{format_path(path)}" but got a notebook: file at {local} is a notebook'
    return None


# Paths of other resource kinds, translated like the CLI does (they are printed, not deployed).
OTHER_FIELDS = (
    ("resources.pipelines.*.libraries[*].notebook.path", "notebook"),
    ("resources.pipelines.*.libraries[*].file.path", "file"),
    ("resources.pipelines.*.libraries[*].glob.include", GLOB),
    # The directory a pipeline's sources are edited and imported from (the lakeflow templates'
    # `root_path: ../src/<name>`): a directory of the synced files, as `dbt_task.project_directory`.
    ("resources.pipelines.*.root_path", "directory"),
    ("resources.apps.*.source_code_path", "directory"),
)


def _fields(config: Value):
    """(config path, kind, owning job key or "", file defining the job or pipeline) of every
    translatable path."""
    res = config.get("resources")
    jobs = res.get("jobs") if res is not None else None
    for key, job in (jobs.v.items() if jobs is not None and jobs.is_map else ()):
        if not job.is_map:
            continue
        jpath = ("resources", "jobs", key)
        tasks = job.get("tasks")
        if tasks is not None and tasks.is_list:
            for i, task in enumerate(tasks.v):
                if task.is_map and not _uses_git(job, task):
                    for path, kind in _task_fields(jpath + ("tasks", i), task):
                        yield path, kind, key, job.loc.file
        for path, dep in find(job, "environments[*].spec.dependencies[*]", jpath):
            if _is_local_dependency(dep.v):
                yield path, DEPENDENCY, key, job.loc.file
    for pat, kind in OTHER_FIELDS:
        for path, _ in find(config, pat):
            owner = required_path(config, path[:3])
            yield path, kind, "", owner.loc.file if owner.loc is not None else ""


# Paths the CLI turns into absolute local paths (they are read locally: a dashboard's JSON, an
# artifact's build directory): translate_paths_dashboards.go / translate_paths_artifacts.go.
LOCAL_ABSOLUTE = (("resources.dashboards.*.file_path", "file"), ("artifacts.*.path", "directory"))


def _local_absolute(config: Value, ctx: LoadContext, errors: list[Diagnostic]) -> Value:
    for pat, kind in LOCAL_ABSOLUTE:
        for path, node in list(find(config, pat)):
            if _skip(node.v):
                continue
            local = Path(os.path.normpath(ctx.source(node.loc.file).parent / node.v))
            problem = None
            if not exists(local):
                problem = f"{kind} {node.v} not found"
            elif kind == "file" and local.is_dir():
                problem = f"expected {node.v} to be a file but found a directory"
            elif kind == "directory" and not local.is_dir():
                problem = f"expected {node.v} to be a directory but found a file"
            if problem:
                errors.append(Diagnostic(ERROR, problem, node.loc, format_path(path), check=CHECK))
            else:
                config = set_path(config, path, Value(str(local), node.loc))
    return config


# The order in which the CLI's TranslatePaths visits fields: one pattern at a time over every job
# (task fields, then environment dependencies, then for_each inner tasks' fields), then
# pipelines, artifacts, dashboards and apps. Within a pattern: document order.
_TASK_FIELD_ORDER = (".notebook_task.notebook_path", ".spark_python_task.python_file", ".dbt_task.project_directory",
                     ".sql_task.file.path", ".whl", ".jar", ".requirements")
_RESOURCE_ORDER = (("resources.jobs.", 0), ("resources.pipelines.", 100), ("artifacts.", 200),
                   ("resources.dashboards.", 300), ("resources.apps.", 400))


def _cli_order(d: Diagnostic) -> int:
    path = d.path or ""
    base = next((rank for prefix, rank in _RESOURCE_ORDER if path.startswith(prefix)), 500)
    if base == 0:
        if ".environments[" in path:
            return len(_TASK_FIELD_ORDER)
        offset = len(_TASK_FIELD_ORDER) + 1 if ".for_each_task.task." in path else 0
        return offset + next((i for i, end in enumerate(_TASK_FIELD_ORDER) if path.endswith(end)), 0)
    if base == 100:
        return base + (0 if path.endswith(".notebook.path") else 1)
    return base


def translate_paths(config: Value, ctx: LoadContext,
                    sync_root: Path | None = None) -> tuple[Value, dict[str, SourceRef], list[Diagnostic]]:
    """``sync_root``: the directory uploaded to ``workspace.file_path`` (default: the bundle root)."""
    sync_root = sync_root or ctx.root
    sources: dict[str, SourceRef] = {}
    file_path = required_path(config, ("workspace", "file_path")).v
    errors: list[Diagnostic] = []
    for path, kind, key, fallback in list(_fields(config)):
        node = required_path(config, path)  # _fields yields the paths of existing values
        remote = _remote(node.v) if path[-1] in ("notebook_path", "python_file", "path") else None
        if remote is not None:
            config = set_path(config, path, Value(remote, node.loc))
            continue
        if _skip(node.v):
            continue
        out = _translate(ctx, sync_root, node, kind, file_path, path, errors, fallback)
        if out is None:
            continue
        ws_path, local = out
        if kind == GLOB:
            config = set_path(config, path, Value(ws_path, node.loc))
            continue
        library = kind in (LIBRARY, DEPENDENCY)
        # pip installs a local project directory as well as a wheel (`./my_pkg`), so an environment
        # dependency may name either; a task library (whl, jar) is a file.
        source_kind = "directory" if kind == DEPENDENCY and is_dir(local) else "file" if library else kind
        sources[format_path(path)] = SourceRef(source_kind, node.v, local, node.loc, ws_path, key, library=library)
        written = ws_path
        if library:
            written = ws_path[len(file_path) + 1:]
            if kind == DEPENDENCY and not written.startswith("."):
                written = "./" + written
        config = set_path(config, path, Value(written, node.loc))
    config = _local_absolute(config, ctx, errors)
    failed = sorted((d for d in errors if d.severity == ERROR), key=_cli_order)
    if failed:
        # As the CLI's TranslatePaths: the first failure stops it, a plain error (a Go error
        # wrapped by diag.FromErr) without a location; the message names the path as written.
        raise BundleError([Diagnostic(ERROR, failed[0].summary, check=CHECK)])
    return config, sources, errors


class TranslatePaths(Step):
    name = "translate_paths"
    reads = ("resources.jobs.*.tasks[*]", "resources.jobs.*.environments[*].spec.dependencies[*]",
             "resources.pipelines.*.libraries[*]", "resources.pipelines.*.root_path",
             "resources.apps.*.source_code_path", "workspace.file_path", "resources.dashboards.*.file_path",
             "artifacts.*.path")
    updates = ("resources.jobs.*.tasks[*].notebook_task.notebook_path", "resources.jobs.*.tasks[*].*_task.*",
               "resources.jobs.*.tasks[*].libraries[*]", "resources.jobs.*.environments[*].spec.dependencies[*]",
               "resources.pipelines.*.libraries[*].*.path", "resources.pipelines.*.libraries[*].glob.include",
               "resources.pipelines.*.root_path", "resources.apps.*.source_code_path",
               "resources.dashboards.*.file_path", "artifacts.*.path")

    def run(self, b: BundleState) -> Diagnostics:
        b.config, b.sources, found = translate_paths(b.config, b.ctx, b.sync_dir())
        return Diagnostics(found)
