"""The validation phase: the schema check (which also types scalars the CLI's way, e.g. a
``spark_conf`` value ``false`` becomes ``"false"``), then independent checks that each read the
same resolved configuration. ``--strict`` turns warnings into errors.

Also the deploy checks: healthmon's own checks, which the CLI's ``bundle validate`` does not
have. ``bundle validate`` accepts what the CLI's validate accepts; what the Jobs API or a local
run would refuse (a cycle, an invalid Quartz expression, a widget nobody passes) refuses the
deploy instead, before anything is written."""

from __future__ import annotations

import os
from importlib import import_module

from healthmon.bundle.diag import WARNING, Diagnostic, Diagnostics
from healthmon.bundle.step import BundleState, Step

# The CLI's checks of bundle/validate/, run by `bundle validate` in this order after the schema.
CHECKS = ("reserved", "job_cluster_keys", "job_task_cluster_spec", "single_node_cluster", "notebooks",
          "sync_patterns")
# healthmon's own checks of bundle/validate/, run by every deploy after validation.
DEPLOY_CHECKS = ("resource_keys", "widgets", "depends_on", "atomic", "environments", "schedules",
                 "silent_failure")


class ValidateSchema(Step):
    name = "validate_schema"
    reads = ("*",)
    updates = ("*",)  # scalar normalisation only

    def run(self, b: BundleState) -> Diagnostics:
        from healthmon.bundle.validate import schema

        found, fixes = schema.check(b)
        b.config = schema.apply_fixes(b.config, fixes)
        # Unknown fields and wrong types were reported (and dropped) by the normalize steps,
        # required fields and the enums of resources by check_required_and_enum; a type found
        # here was made by a later step.
        return Diagnostics([d for d in found if d.check != schema.UNKNOWN_FIELD and not _reported_in_initialize(d)])


class CheckRequiredAndEnum(Step):
    """The CLI's ``validate.Required`` and ``validate.Enum``, which run in its initialize phase
    once references are resolved and keyed lists merged, before the identity and mode mutators
    (``PermissionDiagnostics``, ``SetRunAs``, ``ProcessTargetMode``, ``ApplyPresets``): their
    warnings come before those mutators' findings, are printed also when a later initialize step
    fails, and see fields as written, before presets or defaults fill them. The CLI's enum
    fields are the SDK's enum types, all under ``resources``; the engine's enums of top-level
    sections (``bundle.mode``) stay with the schema check."""

    name = "check_required_and_enum"
    reads = ("*",)
    updates = ()

    def run(self, b: BundleState) -> Diagnostics:
        from healthmon.bundle.validate import schema

        found, _fixes = schema.check(b)
        required = [d for d in found if _is_required(d)] + _zero_job_ids(b)
        enum = [d for d in found if _is_resource_enum(d)] + _variable_types(b)
        # Each check sorts its warnings by summary, then by their locations printed as Go
        # prints them (`[/abs/file.yml:19:16]`, a string: line 19 sorts before line 9).
        return Diagnostics(sorted(required, key=lambda d: _go_order(d, b))
                           + sorted(enum, key=lambda d: _go_order(d, b)))


def _variable_types(b: BundleState) -> list[Diagnostic]:
    """A variable's ``type`` is an enum field of the CLI's configuration (``variables.*.type``:
    only ``complex``), so its warning is one of ``validate.Enum``'s, after the required fields."""
    from healthmon.bundle.mutators.resolve_variables import TYPES

    variables = b.config.get("variables")
    out = []
    for name, d in (variables.v.items() if variables is not None and variables.is_map else ()):
        vtype = d.get("type") if d.is_map else None
        if vtype is not None and vtype.v is not None and vtype.v not in TYPES:
            out.append(Diagnostic(WARNING, f'invalid value "{vtype.v}" for enum field. Valid values are [complex]',
                                  vtype.loc, f"variables.{name}.type", check="schema"))
    return out


def _zero_job_ids(b: BundleState) -> list[Diagnostic]:
    """``run_job_task.job_id: 0`` is not set, as the CLI's typed configuration reads a zero id."""
    from healthmon.bundle.validate.base import iter_tasks

    out = []
    for _key, _job, _i, task, path in iter_tasks(b):
        rj = task.get("run_job_task")
        if rj is None or not rj.is_map:
            continue
        jid = rj.get("job_id")
        if jid is not None and jid.v == 0 and not isinstance(jid.v, bool):
            out.append(Diagnostic(WARNING, 'required field "job_id" is not set', rj.loc, f"{path}.run_job_task",
                                  check="schema"))
    return out


def _is_required(d: Diagnostic) -> bool:
    return d.summary.startswith("required field ")


def _is_resource_enum(d: Diagnostic) -> bool:
    return ENUM_MARK in d.summary and (d.path or "").startswith("resources.")


def _reported_in_initialize(d: Diagnostic) -> bool:
    return _is_required(d) or _is_resource_enum(d)


ENUM_MARK = " for enum field. Valid values are "


def _go_order(d: Diagnostic, b: BundleState) -> tuple[str, str]:
    locs = [x for x in (d.location, *d.more_locations) if x is not None and not x.file.startswith("<")]
    return d.summary, "[" + " ".join(f"{os.path.join(b.ctx.root, x.file)}:{x.line}:{x.column}" for x in locs) + "]"


class Check(Step):
    """One read-only check of ``bundle/validate/<name>.py`` (its ``check(state)``)."""

    reads = ("resources.*",)
    updates = ()

    def __init__(self, module: str, phase: str = "validate"):
        self.name = f"{phase}_{module}"
        self.module = module

    def run(self, b: BundleState) -> Diagnostics:
        return Diagnostics(list(import_module(f"healthmon.bundle.validate.{self.module}").check(b)))


def steps() -> list[Step]:
    return [ValidateSchema(), *(Check(name) for name in CHECKS)]


def deploy_steps() -> list[Step]:
    return [Check(name, "deploy_check") for name in DEPLOY_CHECKS]
