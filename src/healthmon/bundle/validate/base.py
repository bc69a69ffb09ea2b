"""What every validation check receives, and helpers to iterate over tasks."""

from __future__ import annotations

from collections.abc import Iterator

from healthmon.bundle.dyn import Value
from healthmon.bundle.step import BundleState

__all__ = ["BundleState", "job_tasks", "iter_tasks", "task_key"]


def job_tasks(job: Value) -> list[Value]:
    tasks = job.get("tasks")
    if tasks is None or not tasks.is_list:
        return []
    return [t for t in tasks.v if t.is_map]


def iter_tasks(state: BundleState) -> Iterator[tuple[str, Value, int, Value, str]]:
    """(job key, job, task index, task, config path of the task) for every task, for_each inner
    tasks included (path ``...tasks[i].for_each_task.task``)."""
    for key, job in state.jobs().items():
        tasks = job.get("tasks")
        if tasks is None or not tasks.is_list:
            continue
        for i, task in enumerate(tasks.v):
            if not task.is_map:
                continue
            path = f"resources.jobs.{key}.tasks[{i}]"
            yield key, job, i, task, path
            fe = task.get("for_each_task")
            inner = fe.get("task") if fe is not None and fe.is_map else None
            if inner is not None and inner.is_map:
                yield key, job, i, inner, path + ".for_each_task.task"


def task_key(task: Value) -> str:
    k = task.get("task_key")
    return str(k.v) if k is not None else "<no task_key>"
