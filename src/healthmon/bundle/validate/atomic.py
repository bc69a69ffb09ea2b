"""No notebook duplication: each notebook belongs to exactly one (atomic) job; composite jobs
reference it with ``run_job_task``. A notebook used by several jobs is a warning, given at deploy
(a deploy check: the CLI's validate has no such rule).

The rule belongs to the layered design (atomic jobs composed by ``run_job_task``), so it applies
only to a bundle that composes jobs that way. A bundle of independent jobs sharing a notebook is
ordinary, the Databricks CLI accepts it silently, and so does this check.
"""

from __future__ import annotations

from healthmon.bundle.diag import WARNING, Diagnostic
from healthmon.bundle.validate.base import BundleState, iter_tasks

CHECK = "atomic"


def check(state: BundleState) -> list[Diagnostic]:
    if not any(task.get("run_job_task") is not None for _, _, _, task, _ in iter_tasks(state)):
        return []
    owners: dict = {}
    for path, ref in state.sources.items():
        if ref.kind != "notebook" or not ref.job:  # only jobs' notebooks (not pipelines')
            continue
        job = ref.job
        owners.setdefault(ref.local, {}).setdefault(job, (path, ref))
    out: list[Diagnostic] = []
    for local, jobs in owners.items():
        if len(jobs) < 2:
            continue
        names = sorted(jobs)
        rel = state.ctx.display(local)
        for job in names[1:]:
            path, ref = jobs[job]
            out.append(Diagnostic(
                WARNING, f"notebook {rel} appears in {len(names)} jobs ({', '.join(names)}); each notebook belongs in "
                         f"exactly one atomic job; reference that job with run_job_task instead",
                ref.location, path, check=CHECK))
    return out
