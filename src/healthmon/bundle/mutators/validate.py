"""The validation phase: the schema check (which also types scalars the CLI's way, e.g. a
``spark_conf`` value ``false`` becomes ``"false"``), then independent checks that each read the
same resolved configuration. ``--strict`` turns warnings into errors."""

from __future__ import annotations

from importlib import import_module

from healthmon.bundle.diag import BundleError, Diagnostics
from healthmon.bundle.dyn import Value, get_path, required_path, set_path
from healthmon.bundle.mutators.select_target import select_target
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
        config = b.config
        for parts, new in fixes:
            old = get_path(config, parts)
            if old is None:
                continue
            if new is schema.DROP:
                parent = required_path(config, parts[:-1])  # the parent of the existing ``old``
                kept = {k: x for k, x in parent.v.items() if k != parts[-1]}
                config = (set_path(config, parts[:-1], Value(kept, parent.loc)) if parts[:-1]
                          else Value(kept, config.loc))
            else:
                config = set_path(config, parts, Value(new, old.loc))
        b.config = config
        return Diagnostics([d for d in found if d.check != schema.UNKNOWN_FIELD])  # reported while loading


class ReportUnknownFields(Step):
    """The CLI normalises each file against its configuration types while loading, warning about
    every field it does not know — in every target, selected or not, at the target's own path:
    those warnings come before anything initialize or validate finds (and survive an initialize
    error). ``validate_schema`` drops the fields after interpolation."""

    name = "report_unknown_fields"
    reads = ("*",)
    updates = ()

    def __init__(self, requested_target: str | None = None):
        self.requested_target = requested_target

    def run(self, b: BundleState) -> Diagnostics:
        from healthmon.bundle.validate import schema

        return Diagnostics(schema.unknown_fields(b, _selected_target(b.config, self.requested_target)))


def _selected_target(config: Value, requested: str | None) -> str | None:
    """The target ``select_target`` will pick (``None`` when it will fail), known before it runs
    because the CLI normalises every file, all targets included, before it selects one."""
    envs = config.get("environments")
    if envs is not None and config.get("targets") is None:
        config = Value({**config.v, "targets": envs}, config.loc)
    try:
        return select_target(config, requested)
    except BundleError:
        return None


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
