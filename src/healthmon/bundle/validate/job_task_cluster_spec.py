"""The CLI's ``JobTaskClusterSpec``: a task that runs code on a cluster names its compute.

A task is a compute task when it is a ``spark_python_task``, ``python_wheel_task``,
``spark_jar_task``, ``spark_submit_task`` or ``dbt_task``; such a task with none of
``job_cluster_key``, ``environment_key``, ``existing_cluster_id``, ``new_cluster`` is the CLI's
error "Missing required cluster or environment settings" at the task, with the task key and the
fields it could set in the detail. A notebook task without compute is accepted (serverless
notebooks: it runs on the notebook environment), so are SQL, pipeline, run-job, condition and
``for_each`` tasks (which use no cluster themselves; a ``for_each`` inner task is checked on its
own). Locally every task runs on this machine whatever it names, but a bundle the CLI refuses
must be refused here too.
"""

from __future__ import annotations

from healthmon.bundle.diag import ERROR, Diagnostic
from healthmon.bundle.dyn import Value
from healthmon.bundle.step import BundleState
from healthmon.bundle.validate.base import iter_tasks

CHECK = "job_task_cluster_spec"
COMPUTE_FIELDS = ("job_cluster_key", "environment_key", "existing_cluster_id", "new_cluster")  # the CLI's order
COMPUTE_TASKS = ("python_wheel_task", "dbt_task", "spark_jar_task", "spark_submit_task", "spark_python_task")


def _set(task: Value, field: str) -> bool:
    node = task.get(field)
    if node is None or node.v is None:
        return False
    return node.v != "" if isinstance(node.v, str) else True  # Go: a non-empty string, a non-nil struct


def _needs_compute(task: Value) -> bool:
    if _set(task, "notebook_task"):
        return False  # with a warehouse it is a SQL notebook; without compute it uses the notebook environment
    return any(_set(task, t) for t in COMPUTE_TASKS)


def check(state: BundleState) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for _key, _job, _i, task, path in iter_tasks(state):
        if not _needs_compute(task) or any(_set(task, f) for f in COMPUTE_FIELDS):
            continue
        key = task.get("task_key")
        detail = (f'Task "{key.v if key is not None else ""}" requires a cluster or an environment to run.\n'
                  f"Specify one of the following fields: {', '.join(COMPUTE_FIELDS)}.")
        out.append(Diagnostic(ERROR, "Missing required cluster or environment settings", task.loc, path,
                              detail=detail, check=CHECK))
    return out
