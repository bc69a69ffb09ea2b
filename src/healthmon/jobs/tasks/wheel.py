"""``python_wheel_task``: an entry point of a wheel installed in the task's environment.

The package must be one of the task's dependencies — its environment's
(``environments[].spec.dependencies``, with ``environment_key``) or its ``libraries`` (``whl``,
``pypi.package``) — and the entry point is looked up in that distribution's metadata inside the
attempt (``task_main._run_wheel``). So a task cannot name any module the server happens to have
on its path (``package_name: timeit``)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import ClassVar

from healthmon.jobs import refs
from healthmon.jobs.environments import dependencies_for
from healthmon.jobs.task_files import TaskFileError
from healthmon.jobs.tasks.base import Outcome, TaskCall
from healthmon.jobs.tasks.process import task_python


def _dist_name(requirement: str) -> str:
    """The normalised distribution name of a requirement or a wheel file (PEP 503)."""
    text = requirement.strip()
    if text.endswith(".whl"):
        text = PurePosixPath(text).name.split("-", 1)[0]
    else:
        text = re.split(r"[\s\[<>=!~;@(]", text, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", text).lower()


def declared_packages(job_settings: dict, task: dict) -> set[str]:
    deps = dependencies_for(job_settings, task)
    for lib in task.get("libraries") or []:
        if isinstance(lib, dict) and lib.get("whl"):
            deps.append(str(lib["whl"]))
        elif isinstance(lib, dict) and isinstance(lib.get("pypi"), dict) and lib["pypi"].get("package"):
            deps.append(str(lib["pypi"]["package"]))
    return {_dist_name(d) for d in deps if d}


class WheelTask:
    field: ClassVar[str] = "python_wheel_task"
    uses_slot: ClassVar[bool] = True

    def run(self, call: TaskCall) -> Outcome:
        wt = call.task["python_wheel_task"]
        package = str(wt.get("package_name") or "")
        declared = declared_packages(call.run.job_settings, call.task)
        if _dist_name(package) not in declared:
            raise TaskFileError(
                f"{call.where}: python_wheel_task package {package!r} is not a dependency of the task: "
                f"a wheel task runs an entry point of a wheel installed in the task's environment "
                f"(environments[].spec.dependencies with environment_key, or the task's libraries); "
                f"declared: {', '.join(sorted(declared)) or 'none'}."
            )
        python = task_python(call)
        named = {k: refs.resolve(str(v), call.ctx, call.where) for k, v in (wt.get("named_parameters") or {}).items()}
        if not wt.get("parameters") and not named:
            named = dict(call.run.job_params)  # Databricks pushes job parameters to wheel tasks as named parameters
        named.update(call.run.python_named_params)  # run-now's win over the task's of the same name
        positional = wt.get("parameters") or []
        # run-now's python_params replace the positional parameters of a wheel task that uses them:
        # a task with named_parameters (the API: "leave parameters empty") keeps its own.
        if call.run.python_params is not None and not wt.get("named_parameters"):
            positional = call.run.python_params
        spec = {"kind": "wheel", "package_name": package, "entry_point": wt.get("entry_point"),
                "argv": [refs.resolve(str(a), call.ctx, call.where) for a in positional],
                "named_parameters": named}
        return call.run.run_attempt(call, spec, python)
