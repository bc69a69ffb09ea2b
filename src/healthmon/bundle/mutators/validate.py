"""The validation phase: the schema check (which also types scalars the CLI's way, e.g. a
``spark_conf`` value ``false`` becomes ``"false"``), then independent checks that each read the
same resolved configuration. ``--strict`` turns warnings into errors."""

from __future__ import annotations

import os
from importlib import import_module

from healthmon.bundle.diag import Diagnostic, Diagnostics
from healthmon.bundle.step import BundleState, Step

# Checks of bundle/validate/, run in this order after the schema.
CHECKS = ("reserved", "task_keys", "job_cluster_keys", "job_task_cluster_spec", "single_node_cluster", "notebooks",
          "widgets", "depends_on", "atomic", "environments", "schedules", "silent_failure", "sync_patterns")


class ValidateSchema(Step):
    name = "validate_schema"
    reads = ("*",)
    updates = ("*",)  # scalar normalisation only

    def run(self, b: BundleState) -> Diagnostics:
        from healthmon.bundle.validate import schema

        found, fixes = schema.check(b)
        b.config = schema.apply_fixes(b.config, fixes)
        # Unknown fields and wrong types were reported (and dropped) by the normalize steps; a
        # type found here was made by a later step.
        found = [d for d in found if d.check != schema.UNKNOWN_FIELD]
        required = [d for d in found if d.summary.startswith("required field ")]
        enum = [d for d in found if ENUM_MARK in d.summary]
        rest = [d for d in found if d not in required and d not in enum]
        # The CLI's Required and Enum checks each sort their warnings by summary, then by their
        # locations printed as Go prints them (`[/abs/file.yml:19:16]`, a string: line 19 sorts
        # before line 9).
        return Diagnostics(rest + sorted(required, key=lambda d: _go_order(d, b))
                           + sorted(enum, key=lambda d: _go_order(d, b)))


ENUM_MARK = " for enum field. Valid values are "


def _go_order(d: Diagnostic, b: BundleState) -> tuple[str, str]:
    locs = [x for x in (d.location, *d.more_locations) if x is not None and not x.file.startswith("<")]
    return d.summary, "[" + " ".join(f"{os.path.join(b.ctx.root, x.file)}:{x.line}:{x.column}" for x in locs) + "]"


class Check(Step):
    """One read-only check of ``bundle/validate/<name>.py`` (its ``check(state)``)."""

    reads = ("resources.*",)
    updates = ()

    def __init__(self, module: str):
        self.name = f"validate_{module}"
        self.module = module

    def run(self, b: BundleState) -> Diagnostics:
        return Diagnostics(list(import_module(f"healthmon.bundle.validate.{self.module}").check(b)))


def steps() -> list[Step]:
    return [ValidateSchema(), *(Check(name) for name in CHECKS)]
