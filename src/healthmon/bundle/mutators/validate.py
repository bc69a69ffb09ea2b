"""The validation phase: the schema check (which also types scalars the CLI's way, e.g. a
``spark_conf`` value ``false`` becomes ``"false"``), then independent checks that each read the
same resolved configuration. ``--strict`` turns warnings into errors."""

from __future__ import annotations

from importlib import import_module

from healthmon.bundle.diag import Diagnostics
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
        return Diagnostics([d for d in found if d.check != schema.UNKNOWN_FIELD])


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
