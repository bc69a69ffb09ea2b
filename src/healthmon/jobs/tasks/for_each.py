"""``for_each_task``: the nested task once per input (``{{input}}``), ``concurrency`` at a time."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from healthmon.errors import HealthmonError, InvalidParameterError
from healthmon.jobs import refs
from healthmon.jobs.tasks.base import Outcome, TaskCall

MAX_CONCURRENCY = 100  # the Jobs API's limit on a for_each_task's concurrency


def check_spec(where: str, spec: object) -> dict:
    """The shape the Jobs API requires of a ``for_each_task`` (``inputs``, a JSON array as a
    string or a reference to one, and ``task`` are required; ``concurrency`` an int from 1 to
    100), refused at jobs create / reset as Databricks refuses the request, rather than a run
    that iterates zero times because ``inputs`` was dropped. Returns the nested task."""
    if not isinstance(spec, dict):
        raise InvalidParameterError(f"{where}: for_each_task must be a JSON object, got {spec!r}.")
    inputs = spec.get("inputs")
    if inputs is None:
        raise InvalidParameterError(f"{where}: for_each_task.inputs is required: a JSON array (as a string) "
                                    "or a reference to one, e.g. '[1, 2]' or '{{job.parameters.items}}'.")
    if not isinstance(inputs, str):
        raise InvalidParameterError(f"{where}: for_each_task.inputs must be a string holding a JSON array, "
                                    f"got {inputs!r}.")
    concurrency = spec.get("concurrency")
    if concurrency is not None and (type(concurrency) is not int or not 1 <= concurrency <= MAX_CONCURRENCY):
        raise InvalidParameterError(f"{where}: for_each_task.concurrency must be an integer from 1 to "
                                    f"{MAX_CONCURRENCY}, got {concurrency!r}.")
    task = spec.get("task")
    if not isinstance(task, dict):
        raise InvalidParameterError(f"{where}: for_each_task.task is required: the task object to run for each "
                                    f"input, got {task!r}.")
    if "for_each_task" in task:
        raise InvalidParameterError(f"{where}: for_each_task.task cannot be another for_each_task.")
    return task


def _inputs(call: TaskCall) -> list:
    spec = call.task["for_each_task"]
    raw = spec.get("inputs", "[]")
    text = refs.resolve(raw, call.ctx, call.where) if isinstance(raw, str) else json.dumps(raw)
    try:
        inputs = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HealthmonError(
            f"{call.where}: for_each_task.inputs is not a JSON array: {exc.msg} in {text[:200]!r}"
        ) from None
    if not isinstance(inputs, list):
        raise HealthmonError(f"{call.where}: for_each_task.inputs must be a JSON array, got {type(inputs).__name__}.")
    return inputs


class ForEachTask:
    field: ClassVar[str] = "for_each_task"
    uses_slot: ClassVar[bool] = False

    def run(self, call: TaskCall) -> Outcome:
        spec = call.task["for_each_task"]
        inputs = _inputs(call)
        nested = dict(spec["task"])
        nested.setdefault("task_key", f"{call.key}_iteration")
        concurrency = max(1, int(spec.get("concurrency") or 1))

        def one(i: int, item: Any) -> str:
            extra = {"input": refs.value_to_str(item)}
            if isinstance(item, dict):
                extra.update({f"input.{k}": refs.value_to_str(v) for k, v in item.items()})
            name = f"{nested['task_key']} [{i}]"
            return call.run.run_nested(nested["task_key"], nested, call.row_id, name, extra).result

        with ThreadPoolExecutor(max_workers=max(1, min(len(inputs), concurrency))) as pool:
            results = list(pool.map(one, range(len(inputs)), inputs))
        failed = [i for i, r in enumerate(results) if r != "SUCCESS"]
        if call.run.cancel.is_set():
            result = "CANCELED"
        elif failed:
            result = "FAILED"
        else:
            result = "SUCCESS"
        message = f"{len(failed)} of {len(inputs)} iterations did not succeed (first: #{failed[0]})." if failed else ""
        return call.finish(result, message, output={"error": message} if message else {})
