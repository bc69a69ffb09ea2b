"""The CLI's ``artifacts.Prepare`` (initialize, after ``TranslatePaths``): the defaults an artifact
gets before any build, which ``validate -o json`` prints.

- ``path`` defaults to the bundle root (a relative one was made absolute by ``translate_paths``);
- ``files[*].source`` relative to the file declaring the artifact becomes absolute (not expanded:
  a glob is a build output, expanded by the build);
- a ``whl`` artifact with neither ``build`` nor ``files`` is built with
  ``python3 setup.py bdist_wheel``; any ``whl`` artifact without ``files`` collects
  ``<path>/dist/*.whl`` (wheel builds write there, whatever the build command).

Before it, ``insert_python_artifact`` (the CLI's ``artifacts.InsertPythonArtifact``, once
``whl.DetectPackage``) adds the artifact ``python_artifact`` (``type: whl``, ``path``: the bundle
root) when the bundle has no ``artifacts`` section, a job uses a local library (``whl``/``jar``
or a local environment dependency) and the bundle root holds ``setup.py``; ``Prepare`` then
gives it the default wheel build. The CLI runs both in initialize, so ``validate`` prints it.

Nothing is built locally: deploy syncs files, it runs no build command.
"""

from __future__ import annotations

import os

from healthmon.bundle.diag import Diagnostics
from healthmon.bundle.dyn import Value, in_place_of, is_zero, parse_path
from healthmon.bundle.step import BundleState, Step

DEFAULT_WHEEL_BUILD = "python3 setup.py bdist_wheel"
PYTHON_ARTIFACT = "python_artifact"


def _prepare(artifact: Value, root: str, declared_in: str) -> Value:
    """The CLI's ``artifacts.Prepare`` sets its defaults on the typed artifact: a field it adds has
    no location, one it rewrites keeps its own."""
    fields: dict[str, Value] = dict(artifact.v)
    kind = fields.get("type")
    is_wheel = kind is not None and kind.v == "whl"
    files = fields.get("files")
    has_files = files is not None and files.is_list and bool(files.v)
    if files is not None and has_files:
        fields["files"] = Value([_absolute_source(f, declared_in) for f in files.v], files.loc)
    elif is_wheel and is_zero(fields.get("build")):
        fields["build"] = in_place_of(fields.get("build"), DEFAULT_WHEEL_BUILD)
    path = fields.get("path")
    if path is None or is_zero(path):
        path = fields["path"] = in_place_of(path, root)
    elif isinstance(path.v, str) and not os.path.isabs(path.v):
        path = fields["path"] = Value(os.path.normpath(os.path.join(declared_in, path.v)), path.loc)
    if is_wheel and not has_files and isinstance(path.v, str):
        source = Value(os.path.join(path.v, "dist", "*.whl"))
        fields["files"] = in_place_of(files, [Value({"source": source})])
    return Value(fields, artifact.loc)


def _absolute_source(entry: Value, declared_in: str) -> Value:
    source = entry.get("source") if entry.is_map else None
    if source is None or not isinstance(source.v, str) or not source.v or os.path.isabs(source.v):
        return entry
    absolute = Value(os.path.normpath(os.path.join(declared_in, source.v)), source.loc)
    return entry.rebuilt({**entry.v, "source": absolute})


class PrepareArtifacts(Step):
    name = "prepare_artifacts"
    reads = ("artifacts.*",)
    updates = ("artifacts.*.build", "artifacts.*.files", "artifacts.*.path")

    def run(self, b: BundleState) -> Diagnostics:
        artifacts = b.config.get("artifacts")
        if artifacts is None or not artifacts.is_map or not artifacts.v:
            return Diagnostics()
        root = os.fspath(b.ctx.root)
        prepared = {}
        for name, artifact in artifacts.v.items():
            if not artifact.is_map:
                prepared[name] = artifact
                continue
            located = artifact.loc.file and not artifact.loc.file.startswith("<")
            declared_in = os.fspath(b.ctx.source(artifact.loc.file).parent) if located else root
            prepared[name] = _prepare(artifact, root, declared_in)
        b.config = Value({**b.config.v, "artifacts": Value(prepared, artifacts.loc)}, b.config.loc)
        return Diagnostics()


def _jobs_use_local_libraries(b: BundleState) -> bool:
    # translate_paths recorded every local library it met (task libraries, environment
    # dependencies) with the configuration path that holds it.
    return any(ref.library and parse_path(path)[:2] == ("resources", "jobs") for path, ref in b.sources.items())


class InsertPythonArtifact(Step):
    name = "insert_python_artifact"
    reads = ("artifacts", "resources.jobs.*.tasks[*].libraries", "resources.jobs.*.environments")
    updates = ("artifacts.python_artifact",)

    def run(self, b: BundleState) -> Diagnostics:
        artifacts = b.config.get("artifacts")
        if artifacts is not None and artifacts.v is not None:
            return Diagnostics()
        if not (b.ctx.root / "setup.py").is_file() or not _jobs_use_local_libraries(b):
            return Diagnostics()
        artifact = Value({"path": Value(os.fspath(b.ctx.root)), "type": Value("whl")})
        b.config = Value({**b.config.v, "artifacts": Value({PYTHON_ARTIFACT: artifact})}, b.config.loc)
        return Diagnostics()
