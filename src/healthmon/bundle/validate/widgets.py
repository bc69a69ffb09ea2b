"""Parameters vs widgets ("Parameter missing").

Each ``dbutils.widgets.get("x")`` a notebook task's notebook reads must be supplied by the
task's ``base_parameters`` or the job's ``parameters`` (job parameters are pushed to every
notebook task), or have a default declared in the notebook (``dbutils.widgets.text("x", "d")``).
A ``for_each_task`` inner task also gets its ``inputs``' parameters, which are not known
statically, so its own base_parameters are all we check.
"""

from __future__ import annotations

from healthmon.bundle.diag import ERROR, WARNING, Diagnostic
from healthmon.bundle.notebook_scan import scan
from healthmon.bundle.validate.base import BundleState, iter_tasks, task_key

CHECK = "widgets"


def _names(node) -> set[str]:
    return set(node.v) if node is not None and node.is_map else set()


def check(state: BundleState) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for key, job, _, task, tpath in iter_tasks(state):
        nt = task.get("notebook_task")
        if nt is None or not nt.is_map:
            continue
        ref = state.sources.get(f"{tpath}.notebook_task.notebook_path")
        if ref is None or not ref.local.is_file():
            continue
        info = scan(ref.local)
        if info is None:
            continue
        rel = state.ctx.display(ref.local)
        if info.syntax_error:
            out.append(Diagnostic(WARNING, f"cannot analyse notebook {rel} for widgets: {info.syntax_error}",
                                  ref.location, f"{tpath}.notebook_task.notebook_path", check=CHECK))
            continue
        supplied = _names(nt.get("base_parameters"))
        params = job.get("parameters")
        if params is not None and params.is_list:
            supplied |= {p.get("name").v for p in params.v
                         if p.is_map and p.get("name") is not None and isinstance(p.get("name").v, str)}
        for widget, line in sorted(info.reads.items(), key=lambda kv: kv[1]):
            if widget in supplied or widget in info.defaults:
                continue
            out.append(Diagnostic(
                ERROR, f'Parameter missing: task "{task_key(task)}" of job "{key}" runs {rel}, whose line {line} '
                       f'reads widget "{widget}", but neither the task\'s base_parameters nor the job\'s parameters '
                       f"supply it and the notebook declares no default",
                ref.location, f"{tpath}.notebook_task.base_parameters", check=CHECK))
    return out
