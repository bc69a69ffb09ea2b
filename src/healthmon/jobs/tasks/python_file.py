"""``spark_python_task``: a Python file of the workspace, run as ``__main__`` with its parameters."""

from __future__ import annotations

from typing import ClassVar

from healthmon.jobs import refs
from healthmon.jobs.task_files import workspace_file
from healthmon.jobs.tasks.base import Outcome, TaskCall
from healthmon.jobs.tasks.process import task_python


class PythonFileTask:
    field: ClassVar[str] = "spark_python_task"
    uses_slot: ClassVar[bool] = True

    def run(self, call: TaskCall) -> Outcome:
        pt = call.task["spark_python_task"]
        python = task_python(call)
        path = workspace_file(pt.get("python_file"), "python_file", call.where, call.run.settings)
        # run-now's python_params, when given, replace the task's parameters (the Jobs API's
        # "it would overwrite the parameters specified in job setting").
        given = call.run.python_params if call.run.python_params is not None else pt.get("parameters") or []
        spec = {"kind": "python_file", "path": str(path), "cwd": str(path.parent),
                "argv": [refs.resolve(str(a), call.ctx, call.where) for a in given]}
        return call.run.run_attempt(call, spec, python)
