"""Task types, one module each, one interface (``base.TaskType``): ``type_of(task)`` finds a
task's type from its settings."""

from __future__ import annotations

from healthmon.jobs.tasks.base import TaskType
from healthmon.jobs.tasks.condition import ConditionTask
from healthmon.jobs.tasks.for_each import ForEachTask
from healthmon.jobs.tasks.notebook import NotebookTask
from healthmon.jobs.tasks.python_file import PythonFileTask
from healthmon.jobs.tasks.run_job import RunJobTask
from healthmon.jobs.tasks.wheel import WheelTask

TYPES: tuple[TaskType, ...] = (
    NotebookTask(),
    PythonFileTask(),
    WheelTask(),
    ConditionTask(),
    RunJobTask(),
    ForEachTask(),
)


def type_of(task: dict) -> TaskType | None:
    """The task's type (None for a type the local runtime does not support)."""
    for kind in TYPES:
        if kind.field in task:
            return kind
    return None
