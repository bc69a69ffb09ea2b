"""What the three process task types share: the interpreter of the task's environment."""

from __future__ import annotations

from healthmon.jobs.environments import dependencies_for, python_for
from healthmon.jobs.tasks.base import TaskCall


def task_python(call: TaskCall) -> str:
    """The interpreter of the task's environment (``environments`` / ``environment_key``); raises
    ``DependencyError`` when it cannot be built."""
    return python_for(dependencies_for(call.run.job_settings, call.task), call.run.settings.home)
