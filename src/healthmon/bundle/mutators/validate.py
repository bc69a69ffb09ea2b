"""Run every validation check; apply the schema's scalar normalisations; ``strict`` turns
warnings into errors. Checks are independent and each sees the same resolved configuration."""

from __future__ import annotations

from importlib import import_module

from healthmon.bundle.diag import Diagnostic, Diagnostics, ERROR, WARNING
from healthmon.bundle.dyn import Value, parse_path, set_path
from healthmon.bundle.validate.base import BundleState

CHECKS = ("notebooks", "widgets", "depends_on", "atomic", "environments", "schedules", "silent_failure")


def validate(state: BundleState, *, strict: bool = False) -> tuple[Value, Diagnostics]:
    from healthmon.bundle.validate import schema

    diags = Diagnostics()
    found, fixes = schema.check(state)
    config = state.config
    for path, new in fixes:
        old = _get(config, path)
        if old is not None:
            config = set_path(config, parse_path(path), Value(new, old.loc))
    diags.extend(found)
    state = BundleState(config, state.ctx, state.sources)
    for name in CHECKS:
        diags.extend(import_module(f"healthmon.bundle.validate.{name}").check(state))
    if strict:
        diags = Diagnostics([Diagnostic(ERROR, d.summary, d.location, d.path, d.detail, d.check)
                             if d.severity == WARNING else d for d in diags])
    return config, diags


def _get(config: Value, path: str):
    from healthmon.bundle.dyn import get_path

    return get_path(config, parse_path(path))
