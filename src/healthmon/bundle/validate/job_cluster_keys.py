"""The CLI's ``JobClusterKeyDefined``: a task's ``job_cluster_key`` names one of its job's
``job_clusters`` (a warning, at the task's key, as the CLI)."""

from __future__ import annotations

from healthmon.bundle.diag import WARNING, Diagnostic
from healthmon.bundle.dyn import find, format_path
from healthmon.bundle.step import BundleState

CHECK = "job_cluster_keys"


def check(state: BundleState) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for key, job in state.jobs().items():
        defined = {node.v for _, node in find(job, "job_clusters[*].job_cluster_key") if isinstance(node.v, str)}
        for path, node in find(job, "tasks[*].job_cluster_key", ("resources", "jobs", key)):
            if isinstance(node.v, str) and node.v and node.v not in defined:
                out.append(Diagnostic(WARNING, f"job_cluster_key {node.v} is not defined", node.loc,
                                      format_path(path), check=CHECK))
    return out
