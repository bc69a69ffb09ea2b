"""Job parameters and dynamic value references (``{{job.run_id}}``, ``{{tasks.a.values.x}}``...).

Pure functions: the executor gives a context mapping (reference name → value) and gets strings
back. An unknown reference fails the task naming the reference and the task.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

from healthmon.errors import InvalidParameterError

_REF = re.compile(r"\{\{\s*([A-Za-z0-9_.\[\]\-]+)\s*\}\}")


def job_parameter_defaults(settings: Mapping) -> dict[str, str]:
    return {p["name"]: "" if p.get("default") is None else str(p["default"]) for p in settings.get("parameters") or []}


def check_parameter_definitions(job: str, parameters: Any) -> None:
    """Job settings' ``parameters``: a list of ``JobParameterDefinition`` objects, each with a
    non-empty string ``name`` and a scalar ``default``, names unique."""
    if parameters is None:
        return
    if not isinstance(parameters, list):
        raise InvalidParameterError(
            f"{job}: parameters must be a list of {{name, default}} objects, got {parameters!r}."
        )
    seen: set[str] = set()
    for i, p in enumerate(parameters):
        where = f"{job}: parameters[{i}]"
        if not isinstance(p, dict):
            raise InvalidParameterError(f"{where} must be a {{name, default}} object, got {p!r}.")
        name = p.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidParameterError(f"{where}.name must be a non-empty string, got {name!r}.")
        if isinstance(p.get("default"), (dict, list)):
            raise InvalidParameterError(f"{where}.default must be a string, got {p['default']!r}.")
        if name in seen:
            raise InvalidParameterError(f"{where}.name {name!r} is defined twice.")
        seen.add(name)


def effective_job_parameters(job_name: str, settings: Mapping, overrides: Mapping[str, str] | None) -> dict[str, str]:
    """Job parameter defaults overridden by the run's parameters; naming an undefined parameter is
    an error (as ``databricks bundle run --params`` does)."""
    params = job_parameter_defaults(settings)
    for name, value in (overrides or {}).items():
        if name not in params:
            defined = ", ".join(params) or "none"
            raise InvalidParameterError(
                f"Job {job_name!r} has no parameter {name!r} (defined parameters: {defined})."
            )
        params[name] = str(value)
    return params


# run-now's task parameter kinds the runtime passes on: notebook_params to notebook tasks'
# widgets, python_named_params to wheel tasks' named parameters (the RunParameters fields).
TASK_PARAMETER_KINDS = ("notebook_params", "python_named_params")

# The RunParameters kinds (run-now, runs/repair, run_job_task) the runtime has no task for: it has
# no JAR, spark-submit, SQL, dbt or pipeline tasks, and positional parameters are the task's own.
UNSUPPORTED_PARAMETER_KINDS = (
    "jar_params", "python_params", "spark_submit_params", "sql_params", "dbt_commands", "pipeline_params",
)


# RunParameters kinds whose JSON the Jobs API limits (``{"notebook_params": {...}}`` "cannot exceed
# 10,000 bytes", as databricks-sdk's RunNow / RepairRun / RunJobTask document each of them).
SIZE_LIMITED_PARAMETER_KINDS = ("notebook_params", "python_params", "jar_params", "spark_submit_params")
MAX_PARAMETER_BYTES = 10_000


def check_parameter_sizes(given: Mapping[str, Any]) -> None:
    """Refuse a size-limited parameter field whose JSON representation is over the limit."""
    for kind in SIZE_LIMITED_PARAMETER_KINDS:
        values = given.get(kind)
        if values is None:
            continue
        size = len(json.dumps({kind: values}, separators=(",", ":"), ensure_ascii=False).encode())
        if size > MAX_PARAMETER_BYTES:
            raise InvalidParameterError(f"The JSON representation of {kind} is {size} bytes; it cannot exceed "
                                        f"{MAX_PARAMETER_BYTES:,} bytes.")


def task_parameter_overrides(job_name: str, job_id: int, settings: Mapping,
                             given: Mapping[str, Mapping[str, str] | None] | None,
                             request: str = "run-now") -> dict[str, dict[str, str]]:
    """The run's ``overriding_parameters`` (``RunParameters``): the task parameter kinds given
    non-empty. A job that defines job parameters refuses them, as Databricks does: job
    parameters and task parameters cannot be combined. ``request`` names what gave them
    (run-now, runs/repair, a run_job_task) for the error."""
    check_parameter_sizes(given or {})
    overrides = {kind: {str(k): str(v) for k, v in values.items()}
                 for kind, values in (given or {}).items() if values}
    if overrides and settings.get("parameters"):
        kinds = " and ".join(overrides)
        raise InvalidParameterError(
            f"Job {job_name!r} (id {job_id}) defines job parameters, so {request} cannot also take {kinds}: job "
            "parameters and task parameters cannot be combined. Pass job_parameters instead."
        )
    return overrides


def time_refs(prefix: str, epoch_ms: int) -> dict[str, str]:
    t = dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.timezone.utc)
    return {
        f"{prefix}.iso_datetime": t.strftime("%Y-%m-%dT%H:%M:%S"),
        f"{prefix}.iso_date": t.strftime("%Y-%m-%d"),
        f"{prefix}.timestamp_ms": str(epoch_ms),
        f"{prefix}.year": str(t.year),
        f"{prefix}.month": str(t.month),
        f"{prefix}.day": str(t.day),
        f"{prefix}.hour": str(t.hour),
        f"{prefix}.minute": str(t.minute),
        f"{prefix}.second": str(t.second),
        f"{prefix}.is_weekday": str(t.weekday() < 5).lower(),
    }


def job_context(
    *, job_id: int, job_name: str, run_id: int, start_time: int, trigger: str, params: Mapping[str, str],
    repair_count: int = 0,
) -> dict[str, str]:
    ctx = {
        "job.id": str(job_id),
        "job.name": job_name,
        "job.run_id": str(run_id),
        "job.repair_count": str(repair_count),
        "job.trigger.type": {"ONE_TIME": "one_time", "PERIODIC": "periodic", "RETRY": "retry"}.get(
            trigger, trigger.lower()
        ),
        "job.trigger.time.iso_datetime": "",
        # Legacy names, still accepted by Databricks.
        "job_id": str(job_id),
        "run_id": str(run_id),
    }
    ctx.update(time_refs("job.start_time", start_time))
    ctx["job.trigger.time.iso_datetime"] = ctx["job.start_time.iso_datetime"]
    for name, value in params.items():
        ctx[f"job.parameters.{name}"] = value
    return ctx


def value_to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def resolve(text: str, ctx: Mapping[str, str], where: str) -> str:
    """Replace every ``{{ref}}`` in ``text``; ``where`` names the task for error messages."""
    if "{{" not in text:
        return text

    def sub(m: re.Match) -> str:
        name = m.group(1)
        if name in ctx:
            return ctx[name]
        raise InvalidParameterError(
            f"{where}: unknown or unavailable dynamic value reference {{{{{name}}}}} in {text!r}."
        )

    return _REF.sub(sub, text)


def resolve_deep(value: Any, ctx: Mapping[str, str], where: str) -> Any:
    if isinstance(value, str):
        return resolve(value, ctx, where)
    if isinstance(value, list):
        return [resolve_deep(v, ctx, where) for v in value]
    if isinstance(value, dict):
        return {k: resolve_deep(v, ctx, where) for k, v in value.items()}
    return value


def referenced_tasks(text: str) -> set[str]:
    return {m.group(1).split(".")[1] for m in _REF.finditer(text) if m.group(1).startswith("tasks.")}
