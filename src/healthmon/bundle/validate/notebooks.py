"""Every referenced directory (an app's source, a dbt project) exists, relative to the YAML file
that declares it. Notebooks and files of tasks and pipelines are checked earlier, by
``translate_paths``, as the CLI does (``notebook x not found``, ``file x not found``, a plain file
used as a notebook). A local library (``whl``, ``jar``, an environment dependency) is not looked
for: the CLI's validate leaves it to the deploy, which may build it first; ``deploy`` refuses one
still missing (``deployed_job_configs``)."""

from __future__ import annotations

from healthmon.bundle.diag import ERROR, Diagnostic
from healthmon.bundle.validate.base import BundleState
from healthmon.workspace_files import is_dir

CHECK = "notebooks"


def check(state: BundleState) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for path, ref in state.sources.items():
        if ref.kind == "directory" and not ref.library and not is_dir(ref.local):
            out.append(Diagnostic(ERROR, f"Directory not found: {state.ctx.display(ref.local)} "
                                         f"(declared as {ref.declared!r})", ref.location, path, check=CHECK))
    return out
