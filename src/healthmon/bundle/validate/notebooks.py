"""Every referenced notebook / file exists ("Notebook not found"), relative to the YAML file
that declares it. (A ``.py`` notebook without the Databricks source header is already the CLI's
error in ``translate_paths``.)"""

from __future__ import annotations

from healthmon.bundle.diag import ERROR, Diagnostic
from healthmon.bundle.validate.base import BundleState

CHECK = "notebooks"


def check(state: BundleState) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for path, ref in state.sources.items():
        rel = state.ctx.display(ref.local)
        if ref.kind == "notebook":
            if not ref.local.is_file():
                out.append(Diagnostic(
                    ERROR, f"Notebook not found: {rel} (notebook_path {ref.declared!r} is resolved relative to "
                           f"{ref.location.file}; looked for {ref.local} and its .py/.ipynb/.sql/.scala/.r variants)",
                    ref.location, path, check=CHECK))
        elif ref.kind == "directory":
            if not ref.local.is_dir():
                out.append(Diagnostic(ERROR, f"Directory not found: {rel} (declared as {ref.declared!r})",
                                      ref.location, path, check=CHECK))
        elif not ref.local.is_file():
            out.append(Diagnostic(
                ERROR, f"File not found: {rel} ({ref.declared!r} is resolved relative to {ref.location.file})",
                ref.location, path, check=CHECK))
    return out
