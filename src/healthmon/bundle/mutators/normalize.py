"""Typing the configuration by its schema, as the CLI's ``convert.Normalize`` does twice: on the
files as loaded and on the values variable references resolved to. A value of the wrong type is
a warning at its path and location and is dropped, so nothing later (merging, deploy, a run)
sees it; an unknown field is dropped the same way."""

from __future__ import annotations

from healthmon.bundle.diag import Diagnostics
from healthmon.bundle.step import BundleState, Step


class NormalizeAsLoaded(Step):
    """The CLI normalises each file while loading, before a target is selected: its warnings
    (``unknown field: x``, ``expected int, found string``) come before anything initialize or
    validate finds, survive an initialize error, and concern every target, selected or not, at
    the target's own path. A value it drops in the selected target leaves the top-level value in
    force once the target is merged."""

    name = "normalize_as_loaded"
    reads = ("*",)
    updates = ("*",)  # drops only

    def run(self, b: BundleState) -> Diagnostics:
        from healthmon.bundle.validate import schema

        found, drops = schema.check_as_loaded(b)
        b.config = schema.apply_fixes(b.config, drops)
        return Diagnostics(found)


class NormalizeResolvedTypes(Step):
    """After interpolation (the CLI's ``resolve_variable_references`` normalises its result): a
    reference that resolved to a value of the wrong kind (``depends_on: ${var.x}`` with a string
    ``x``) is a warning and the value is dropped, before keyed lists are merged."""

    name = "normalize_resolved_types"
    reads = ("*",)
    updates = ("*",)  # drops only

    def run(self, b: BundleState) -> Diagnostics:
        from healthmon.bundle.validate import schema

        found, fixes = schema.check(b)
        drops = [(path, new) for path, new in fixes if new is schema.DROP]
        b.config = schema.apply_fixes(b.config, drops)
        return Diagnostics([d for d in found if d.check == schema.TYPE_MISMATCH])
