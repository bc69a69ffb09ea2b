"""Run parameter flags of ``bundle run``, ``jobs run-now`` and ``runs repair``: one parser per format.

Two command-line formats exist, as in the Databricks CLIs:

* ``bundle run`` (the current CLI) takes pflag's ``k=v,k2=v2`` maps and ``a,b`` lists; each flag
  value is one CSV record (so ``"a,b"`` in quotes is one value) and a repeated flag adds to the
  earlier ones. Job parameters may also follow ``--`` as ``--k=v`` or ``--k v``.
* ``jobs run-now`` / ``runs repair`` (the legacy CLI's flags) take JSON: a list for
  ``--python-params``, an object for ``--notebook-params`` and ``--python-named-params``.

The parsed values go to ``service.run_now`` / ``service.repair_run`` unchanged: the checks of what
a job accepts (defined job parameters, job and task parameters not combined, sizes, ASCII) are
the service's, the same for the CLI and the REST API.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from typing import Any

from healthmon.errors import InvalidParameterError
from healthmon.jobs.refs import UNSUPPORTED_PARAMETER_KINDS, unsupported_parameters_message


def _records(flag: str, values: list[str] | None) -> list[str]:
    """The comma-separated fields of every value of a repeatable flag (pflag reads each as CSV)."""
    fields: list[str] = []
    for value in values or []:
        try:
            rows = list(csv.reader([value], strict=True))
        except csv.Error as exc:
            raise InvalidParameterError(f"{flag} {value!r}: {exc}; expected comma-separated values.") from None
        fields += [f for row in rows for f in row]
    return fields


def parse_key_values(flag: str, values: list[str] | None) -> dict[str, str] | None:
    """``--flag k=v,k2=v2`` (repeatable) → ``{"k": "v", "k2": "v2"}``; None when not given."""
    if not values:
        return None
    out: dict[str, str] = {}
    for pair in _records(flag, values):
        if not pair:
            continue
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise InvalidParameterError(f'{flag} {pair!r}: expected "name=value" (comma-separated pairs).')
        out[name] = value
    return out


def parse_list(flag: str, values: list[str] | None) -> list[str] | None:
    """``--flag a,b`` (repeatable) → ``["a", "b"]``; None when not given."""
    if not values:
        return None
    return _records(flag, values)


def parse_json_list(flag: str, text: str | None) -> list[str] | None:
    """``--flag '["a", "b"]'``: a JSON list of strings; None when not given."""
    value = _json(flag, text, '\'["a", "b"]\'')
    if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
        raise InvalidParameterError(f"{flag} must be a JSON list of strings, got {text!r}.")
    return value


def parse_json_map(flag: str, text: str | None) -> dict[str, str] | None:
    """``--flag '{"k": "v"}'``: a JSON object of strings; None when not given."""
    value = _json(flag, text, '\'{"name": "value"}\'')
    if value is not None and (not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())):
        raise InvalidParameterError(f"{flag} must be a JSON object of names to strings, got {text!r}.")
    return value


def _json(flag: str, text: str | None, example: str):
    return None if text is None else parse_json(flag, text, example)


def parse_json(where: str, text: str, example: str | None = None) -> Any:
    """JSON given on the command line (or in an ``@file``): a syntax error names its place (the
    line too when the text has several), a value too deep to read and text no UTF-8 column can
    store are refused, each as an InvalidParameterError naming ``where``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        at = f"line {exc.lineno} column {exc.colno}" if "\n" in text else f"column {exc.colno}"
        hint = f"; expected such as {example}." if example else ""
        raise InvalidParameterError(f"{where}: invalid JSON at {at}: {exc.msg}{hint}") from None
    except RecursionError:
        raise InvalidParameterError(f"{where}: {TOO_DEEP}") from None
    refuse_unpaired_surrogates(where, value)
    return value


# Python's JSON parser recurses once per level: a value nested deeper than it can go is refused.
TOO_DEEP = "the JSON nests arrays and objects too deeply to read (job settings need about ten levels)."


def refuse_unpaired_surrogates(where: str, value) -> None:
    """JSON's "\\ud800" escape alone decodes to text no UTF-8 column can store: refused, as the
    REST API refuses it, rather than stored as U+FFFD."""
    from healthmon.store.jsontext import unpaired_surrogate

    path = unpaired_surrogate(value)
    if path is not None:
        raise InvalidParameterError(f"{where}: {path or 'the value'} holds an unpaired UTF-16 surrogate escape "
                                    "(such as \\ud800); expected valid Unicode text.")


def parse_dashed_args(args: list[str]) -> dict[str, str]:
    """Arguments after ``--`` as ``--name=value`` or ``--name value`` pairs (the Databricks CLI's
    form for parameters after ``--``)."""
    out: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or arg == "--":
            raise InvalidParameterError(
                f"unexpected argument {arg!r} after --: expected --name=value or --name value."
            )
        name, sep, value = arg[2:].partition("=")
        if not sep:
            if i + 1 >= len(args):
                raise InvalidParameterError(f"argument {arg!r} after -- has no value: expected --{name}=value.")
            value = args[i + 1]
            i += 1
        if not name:
            raise InvalidParameterError(f"argument {arg!r} after -- has no name: expected --name=value.")
        out[name] = value
        i += 1
    return out


def refuse_unsupported(given: Mapping[str, object], request: str) -> None:
    """The task parameter kinds the runtime has no task for, refused as run-now refuses them."""
    kinds = [kind for kind in UNSUPPORTED_PARAMETER_KINDS if given.get(kind)]
    if kinds:
        raise InvalidParameterError(unsupported_parameters_message(request, kinds))


# The one task parameter kind the arguments after ``--`` become for a job without job parameters,
# by the type of all its tasks: a notebook's widgets as --name=value, a Python file's or wheel's
# argv positionally.
_ARGS_KIND_BY_TASK = {"notebook_task": "notebook_params", "spark_python_task": "python_params",
                      "python_wheel_task": "python_params"}


def dashed_args_parameters(job_name: str, settings: Mapping, args: list[str] | None) -> dict[str, Any]:
    """The run parameters that ``bundle run KEY -- ARGS`` gives the deployed job: its job
    parameters when it defines any; otherwise the task parameters of its one type of task. A job
    mixing task types (or of another type) cannot map them, and says so."""
    if not args:
        return {}
    if settings.get("parameters"):
        return {"job_parameters": parse_dashed_args(args)}
    types = {next((field for field in _ARGS_KIND_BY_TASK if task.get(field)), "other")
             for task in settings.get("tasks") or []}
    if len(types) != 1 or "other" in types:
        raise InvalidParameterError(
            f"job {job_name!r} defines no job parameters and its tasks are not all notebook, Python file or "
            f"wheel tasks of one type, so the {len(args)} argument(s) after -- cannot be passed to them; use "
            "--notebook-params, --python-params or --python-named-params."
        )
    kind = _ARGS_KIND_BY_TASK[types.pop()]
    return {kind: list(args) if kind == "python_params" else parse_dashed_args(args)}
