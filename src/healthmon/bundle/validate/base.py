"""What every validation check receives."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from healthmon.bundle.context import LoadContext
from healthmon.bundle.dyn import Value
from healthmon.bundle.mutators.translate_paths import SourceRef


@dataclass(frozen=True)
class BundleState:
    config: Value
    ctx: LoadContext
    sources: dict[str, SourceRef]

    def jobs(self) -> dict[str, Value]:
        res = self.config.get("resources")
        jobs = res.get("jobs") if res is not None else None
        if jobs is None or not jobs.is_map:
            return {}
        return {k: j for k, j in jobs.v.items() if j.is_map}


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
