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


# run-now's task parameter kinds the runtime passes on (the RunParameters fields): notebook_params
# to notebook tasks' widgets, python_named_params to wheel tasks' named parameters, python_params
# as the positional parameters of Python file tasks and of wheel tasks without named parameters.
TASK_PARAMETER_KINDS = ("notebook_params", "python_named_params", "python_params")

# The kinds whose value is a list of strings (the others are maps of names to strings).
LIST_PARAMETER_KINDS = ("python_params",)

# The RunParameters kinds (run-now, runs/repair, run_job_task) the runtime has no task for: it has
# no JAR, spark-submit, SQL, dbt or pipeline tasks.
UNSUPPORTED_PARAMETER_KINDS = (
    "jar_params", "spark_submit_params", "sql_params", "dbt_commands", "pipeline_params",
)


def unsupported_parameters_message(request: str, kinds: list[str]) -> str:
    """The refusal of ``UNSUPPORTED_PARAMETER_KINDS``: never silently dropped."""
    return (f"{request} with {', '.join(kinds)} is not supported by the local workspace (no JAR, spark-submit, "
            "SQL, dbt or pipeline tasks); pass job_parameters instead.")

# The Jobs API caps the JSON of notebook_params and python_params at 10,000 bytes and refuses
# non-ASCII python_params (RunParameters' documentation).
_MAX_PARAMETER_JSON_BYTES = 10_000


def checked_task_parameters(kind: str, values: Any, request: str) -> dict[str, str] | list[str]:
    """One task parameter kind as given, normalised to strings and checked as the Jobs API
    documents it: a list of ASCII strings for python_params, a map otherwise."""
    if kind in LIST_PARAMETER_KINDS:
        if not isinstance(values, (list, tuple)):
            raise InvalidParameterError(f"{request}: {kind} must be a list of strings, got {values!r}.")
        normalised: dict[str, str] | list[str] = [value_to_str(v) for v in values]
        for i, value in enumerate(normalised):
            if not value.isascii():
                raise InvalidParameterError(
                    f"{request}: {kind}[{i}] {value!r} has non-ASCII characters; {kind} accept only Latin "
                    "characters (ASCII), as the Jobs API documents."
                )
    else:
        if not isinstance(values, Mapping):
            raise InvalidParameterError(f"{request}: {kind} must be a map of names to strings, got {values!r}.")
        normalised = {str(k): value_to_str(v) for k, v in values.items()}
    if kind != "python_named_params":
        size = len(json.dumps({kind: normalised}, separators=(",", ":")).encode())
        if size > _MAX_PARAMETER_JSON_BYTES:
            raise InvalidParameterError(
                f"{request}: the JSON representation of {kind} is {size} bytes; it cannot exceed "
                f"{_MAX_PARAMETER_JSON_BYTES:,} bytes."
            )
    return normalised


def task_parameter_overrides(job_name: str, job_id: int, settings: Mapping,
                             given: Mapping[str, Any] | None,
                             request: str = "run-now") -> dict[str, dict[str, str] | list[str]]:
    """The run's ``overriding_parameters`` (``RunParameters``): the task parameter kinds given
    non-empty. A job that defines job parameters refuses them, as Databricks does: job
    parameters and task parameters cannot be combined. ``request`` names what gave them
    (run-now, runs/repair, a run_job_task) for the error."""
    overrides = {kind: checked_task_parameters(kind, values, request)
                 for kind, values in (given or {}).items() if values}
    if overrides and settings.get("parameters"):
        kinds = " and ".join(overrides)
        raise InvalidParameterError(
            f"Job {job_name!r} (id {job_id}) defines job parameters, so {request} cannot also take {kinds}: job "
            "parameters and task parameters cannot be combined. Pass job_parameters instead."
        )
    return overrides


def merge_task_parameters(run: Mapping[str, Any], repair: Mapping[str, Any]) -> dict[str, Any]:
    """A repair's task parameters over the run's: a map kind per name (names the repair does not
    give keep the run's value), a list kind (python_params) replaced whole when given."""
    merged: dict[str, Any] = {}
    for kind in TASK_PARAMETER_KINDS:
        if kind in LIST_PARAMETER_KINDS:
            merged[kind] = repair.get(kind) or run.get(kind)
        else:
            merged[kind] = {**(run.get(kind) or {}), **(repair.get(kind) or {})}
    return merged


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
