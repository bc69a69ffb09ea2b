"""The one interface every task type implements, and what a task type may ask of its run.

A task type (``notebook_task``, ``spark_python_task``, ``python_wheel_task``, ``run_job_task``,
``condition_task``, ``for_each_task``) is an object with ``field`` (its key in the task's
settings), ``uses_slot`` (whether it runs a process and so takes one of the run's task slots) and
``run(call) -> Outcome``. ``call`` carries the task attempt (``TaskCall``) and, as ``call.run``,
the services of the run executing it (``RunServices``, implemented by ``executor.RunExecutor``):
task types never import the executor.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from healthmon.settings import Settings


@dataclass(frozen=True)
class Outcome:
    """How a task attempt ended: ``result`` is its ``result_state``; ``outcome`` the condition
    task's ``"true"``/``"false"``."""

    result: str
    outcome: str | None = None


@dataclass
class TaskCall:
    """One attempt of one task."""

    key: str
    task: dict
    row_id: int  # the task run
    ctx: Mapping[str, str]  # the {{…}} references it may use
    where: str  # "Job 'x', task 'y'", for messages
    start: int  # epoch ms
    parent: int | None  # the for_each task run, for an iteration
    run: RunServices

    def finish(self, result: str, message: str = "", output: dict | None = None, **extra: Any) -> Outcome:
        self.run.finish_row(self.row_id, result, message, output=output, start=self.start, **extra)
        return Outcome(result, extra.get("outcome"))


@dataclass(frozen=True)
class ChildRun:
    """A run started by a ``run_job_task``: its id and, when it executes in this process, its
    thread (else it has a runner process of its own, or never started: skipped)."""

    run_id: int
    thread: threading.Thread | None

    def wait(self, seconds: float) -> None:
        """Up to ``seconds``; returns at once when the in-process run's thread ends."""
        if self.thread is not None:
            self.thread.join(seconds)
        else:
            time.sleep(seconds)


class RunServices(Protocol):
    """What the executor offers task types."""

    run_id: int
    job_id: int
    job_name: str
    job_settings: dict
    job_params: dict[str, str]
    notebook_params: dict[str, str]  # run-now's, over each notebook task's base_parameters
    python_named_params: dict[str, str]  # run-now's, over each wheel task's named_parameters
    python_params: list[str] | None  # run-now's, instead of each Python task's positional parameters
    settings: Settings
    cancel: threading.Event
    timed_out: threading.Event

    def finish_row(self, row_id: int, result: str, message: str = "", output: dict | None = None,
                   values: dict | None = None, start: int | None = None, setup_ms: int = 0,
                   outcome: str | None = None) -> None: ...

    def update(self, row_id: int, **fields: Any) -> None: ...

    def run_attempt(self, call: TaskCall, spec: dict, python: str) -> Outcome: ...

    def start_child_run(self, job_id: int, job_parameters: dict[str, str],
                        task_params: dict[str, Any] | None = None) -> ChildRun: ...

    def run_nested(self, key: str, task: dict, parent: int, name: str, extra: dict[str, str]) -> Outcome: ...

    def notebook_cells(self, path: Path, python: str) -> dict: ...


class TaskType(Protocol):
    field: ClassVar[str]
    uses_slot: ClassVar[bool]

    def run(self, call: TaskCall) -> Outcome: ...
