"""``notebook_task``: a notebook of the workspace, its cells parsed and compiled by the runner."""

from __future__ import annotations

from typing import ClassVar

from healthmon.jobs import refs
from healthmon.jobs.task_files import workspace_file
from healthmon.jobs.tasks.base import Outcome, TaskCall
from healthmon.jobs.tasks.process import task_python


class NotebookTask:
    field: ClassVar[str] = "notebook_task"
    uses_slot: ClassVar[bool] = True

    def run(self, call: TaskCall) -> Outcome:
        nt = call.task["notebook_task"]
        python = task_python(call)
        path = workspace_file(nt.get("notebook_path"), "notebook_path", call.where, call.run.settings, notebook=True)
        spec = {"kind": "notebook", "path": str(path), "cwd": str(path.parent), **call.run.notebook_cells(path, python)}
        widgets = {k: refs.resolve(str(v), call.ctx, call.where) for k, v in (nt.get("base_parameters") or {}).items()}
        widgets.update(call.run.job_params)  # a job parameter wins over a base parameter of the same name
        widgets.update(call.run.notebook_params)  # as does run-now's notebook_params (never both: refs)
        spec["widgets"] = widgets
        return call.run.run_attempt(call, spec, python)
