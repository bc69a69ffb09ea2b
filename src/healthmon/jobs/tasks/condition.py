"""``condition_task``: compares two operands (numbers when both parse as numbers, else strings)."""

from __future__ import annotations

from typing import ClassVar

from healthmon.errors import HealthmonError
from healthmon.jobs import refs
from healthmon.jobs.tasks.base import Outcome, TaskCall


def compare(left: str, op: str, right: str, where: str) -> bool:
    a: float | str
    b: float | str
    try:
        a, b = float(left), float(right)
    except ValueError:
        a, b = left, right
    ops = {
        "EQUAL_TO": lambda: a == b, "NOT_EQUAL": lambda: a != b,
        "GREATER_THAN": lambda: a > b, "GREATER_THAN_OR_EQUAL": lambda: a >= b,  # type: ignore[operator]
        "LESS_THAN": lambda: a < b, "LESS_THAN_OR_EQUAL": lambda: a <= b,  # type: ignore[operator]
    }
    if op not in ops:
        raise HealthmonError(f"{where}: condition_task.op {op!r} is not one of {', '.join(ops)}.")
    if op not in ("EQUAL_TO", "NOT_EQUAL") and isinstance(a, str):
        raise HealthmonError(f"{where}: condition_task {op} needs numbers, got {left!r} and {right!r}.")
    return bool(ops[op]())


class ConditionTask:
    field: ClassVar[str] = "condition_task"
    uses_slot: ClassVar[bool] = False

    def run(self, call: TaskCall) -> Outcome:
        c = call.task["condition_task"]
        left = refs.resolve(str(c.get("left", "")), call.ctx, call.where)
        right = refs.resolve(str(c.get("right", "")), call.ctx, call.where)
        outcome = "true" if compare(left, c.get("op", "EQUAL_TO"), right, call.where) else "false"
        return call.finish("SUCCESS", output={"outcome": outcome, "left": left, "right": right}, outcome=outcome)
