"""Every referenced directory (an app's source, a dbt project) and local library exists,
relative to the YAML file that declares it. Notebooks and files of tasks and pipelines are
checked earlier, by ``translate_paths``, as the CLI does (``notebook x not found``, ``file x not
found``, a plain file used as a notebook). A library a build makes — a glob, or a path inside the
``path`` of an artifact that has a ``build`` command, or one of its ``files`` — is not looked for
(the CLI's validate does not; ``deployed_job_configs`` refuses it if still missing at deploy)."""

from __future__ import annotations

import fnmatch
import glob
from pathlib import Path

from healthmon.bundle.diag import ERROR, Diagnostic
from healthmon.bundle.dyn import to_plain
from healthmon.bundle.validate.base import BundleState
from healthmon.workspace_files import is_dir, is_file

CHECK = "notebooks"


def _build_outputs(state: BundleState) -> list[tuple[Path, list[str]]]:
    """(directory, file patterns) of each artifact with a ``build`` command, as
    ``prepare_artifacts`` resolved them (absolute)."""
    artifacts = state.config.get("artifacts")
    out = []
    for a in (to_plain(artifacts) or {}).values() if artifacts is not None and artifacts.is_map else ():
        if isinstance(a, dict) and a.get("build") and isinstance(a.get("path"), str):
            sources = [f["source"] for f in a.get("files") or []
                       if isinstance(f, dict) and isinstance(f.get("source"), str)]
            out.append((Path(a["path"]), sources))
    return out


def _built(local: Path, outputs: list[tuple[Path, list[str]]]) -> bool:
    local = local.resolve()
    return any(local.is_relative_to(d.resolve()) or any(fnmatch.fnmatch(str(local), str(Path(s).resolve()))
                                                       for s in sources)
               for d, sources in outputs)


def check(state: BundleState) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    outputs: list[tuple[Path, list[str]]] | None = None
    for path, ref in state.sources.items():
        rel = state.ctx.display(ref.local)
        if ref.kind == "notebook":
            continue  # translate_paths already refused a missing notebook (the CLI's "notebook x not found")
        if ref.kind == "directory":
            if not is_dir(ref.local):
                out.append(Diagnostic(ERROR, f"Directory not found: {rel} (declared as {ref.declared!r})",
                                      ref.location, path, check=CHECK))
        elif glob.has_magic(ref.declared):
            continue  # a build output (`../dist/*.whl`): the CLI expands it when deploying, after the build
        elif not is_file(ref.local):  # a local library (whl, jar): not checked by translate_paths
            outputs = _build_outputs(state) if outputs is None else outputs
            if _built(ref.local, outputs):
                continue
            out.append(Diagnostic(
                ERROR, f"File not found: {rel} ({ref.declared!r} is resolved relative to {ref.location.file})",
                ref.location, path, check=CHECK))
    return out
