"""``run_job_task``: a child run of another job; the task takes the child's result.

The child is created by ``service.start_child_run`` (the one place that may check who may run
that job) through the run (``RunServices.start_child_run``), whose runner executes it on a thread
of its own process. Canceling the parent, or the task timing out, cancels the child."""

from __future__ import annotations

import time
from typing import ClassVar

from healthmon.errors import InvalidParameterError
from healthmon.jobs import refs
from healthmon.jobs.tasks.base import Outcome, TaskCall

_ENDED = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")


class RunJobTask:
    field: ClassVar[str] = "run_job_task"
    uses_slot: ClassVar[bool] = False

    def run(self, call: TaskCall) -> Outcome:
        from healthmon.jobs import service

        spec = call.task["run_job_task"]
        check_spec(call.where, spec)  # a job stored before the check, or written by a bundle deploy
        unsupported = [kind for kind in refs.UNSUPPORTED_PARAMETER_KINDS if spec.get(kind) is not None]
        if unsupported:  # as run-now refuses them: never silently dropped
            message = f"{call.where}: " + refs.unsupported_parameters_message("run_job_task", unsupported)
            return call.finish("FAILED", message, output={"error": message})
        # Dynamic value references are resolved in the parent, then the child run gets the values
        # as a run-now with the same fields would.
        params = _resolved_map(spec.get("job_parameters"), call)
        task_params = {kind: _resolved(spec.get(kind), kind, call) for kind in refs.TASK_PARAMETER_KINDS}
        started = call.run.start_child_run(int(spec["job_id"]), params, task_params)
        child = started.run_id
        out = {"run_job_output": {"run_id": child}}
        call.run.update(call.row_id, output_json=out)
        timeout = int(call.task.get("timeout_seconds") or 0)
        while True:
            run = service.get_run(child, include_tasks=False)
            if run["state"]["life_cycle_state"] in _ENDED:
                break
            timed_out = timeout > 0 and time.time() * 1000 - call.start >= timeout * 1000
            if call.run.cancel.is_set() or call.run.timed_out.is_set() or timed_out:
                service.cancel_run(child)
                service.wait_for_run(child, timeout=30)
                result = "CANCELED" if call.run.cancel.is_set() else "TIMEDOUT"
                return call.finish(result, f"Child run {child} canceled.", output=out)
            started.wait(0.1)
        state = run["state"]
        result = state.get("result_state") or "FAILED"
        if result == "SUCCESS_WITH_FAILURES":
            result = "SUCCESS"
        if result in ("MAXIMUM_CONCURRENT_RUNS_REACHED", "UPSTREAM_FAILED", "EXCLUDED", "UPSTREAM_CANCELED"):
            result = "FAILED"
        if result == "SUCCESS":
            return call.finish(result, output=out)
        message = (
            f"Child run {child} of job {spec['job_id']} ended {state.get('result_state')}: "
            f"{state.get('state_message', '')}"
        )
        return call.finish(result, message, output={**out, "error": message})


_INT64_MAX = 2**63 - 1
_PARAMETER_MAPS = ("job_parameters", *(k for k in refs.TASK_PARAMETER_KINDS if k not in refs.LIST_PARAMETER_KINDS))


def check_spec(where: str, spec: object) -> None:
    """The shape the Jobs API requires of a ``run_job_task`` (``job_id`` a required int64, the
    parameter fields maps), refused at jobs create / reset as Databricks refuses the request,
    instead of a run that fails with an internal error (or runs job 1 for ``job_id: 1.5``)."""
    if not isinstance(spec, dict):
        raise InvalidParameterError(f"{where}: run_job_task must be a JSON object, got {spec!r}.")
    job_id = spec.get("job_id")
    if job_id is None:
        raise InvalidParameterError(f"{where}: run_job_task.job_id is required: the id of the job to run.")
    if type(job_id) is not int or not 0 <= job_id <= _INT64_MAX:
        raise InvalidParameterError(f"{where}: run_job_task.job_id must be a job id (an integer), got {job_id!r}.")
    for kind in _PARAMETER_MAPS:
        values = spec.get(kind)
        if values is not None and not isinstance(values, dict):
            raise InvalidParameterError(f"{where}: run_job_task.{kind} must be a map of names to strings, "
                                        f"got {values!r}.")
    for kind in refs.LIST_PARAMETER_KINDS:
        values = spec.get(kind)
        if values is not None and not isinstance(values, list):
            raise InvalidParameterError(f"{where}: run_job_task.{kind} must be a list of strings, got {values!r}.")


def _resolved(values, kind: str, call: TaskCall) -> dict[str, str] | list[str]:
    """A ``run_job_task`` task parameter kind (its shape checked by ``check_spec``) with its
    ``{{…}}`` references resolved in the parent run: a list for ``python_params``, a map for the others."""
    if kind not in refs.LIST_PARAMETER_KINDS:
        return _resolved_map(values, call)
    return [refs.resolve(refs.value_to_str(v), call.ctx, call.where) for v in values or []]


def _resolved_map(values, call: TaskCall) -> dict[str, str]:
    """A ``run_job_task`` parameter map with its ``{{…}}`` references resolved in the parent run."""
    return {str(k): refs.resolve(refs.value_to_str(v), call.ctx, call.where) for k, v in (values or {}).items()}
