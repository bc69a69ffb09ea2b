"""Every referenced directory (an app's source, a dbt project) and local library exists,
relative to the YAML file that declares it. Notebooks and files of tasks and pipelines are
checked earlier, by ``translate_paths``, as the CLI does (``notebook x not found``, ``file x not
found``, a plain file used as a notebook)."""

from __future__ import annotations

import glob

from healthmon.bundle.diag import ERROR, Diagnostic
from healthmon.bundle.validate.base import BundleState
from healthmon.workspace_files import is_dir, is_file

CHECK = "notebooks"


def check(state: BundleState) -> list[Diagnostic]:
    out: list[Diagnostic] = []
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
            out.append(Diagnostic(
                ERROR, f"File not found: {rel} ({ref.declared!r} is resolved relative to {ref.location.file})",
                ref.location, path, check=CHECK))
    return out
