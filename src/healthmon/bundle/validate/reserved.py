"""Fields the CLI manages itself and a bundle may not set: ``deployment_id`` and ``version_id``
anywhere under ``resources``, and ``idempotency_token`` of a ``job_runs`` resource (set on each
run-now request)."""

from __future__ import annotations

from healthmon.bundle.diag import ERROR, Diagnostic
from healthmon.bundle.dyn import find, format_path, walk
from healthmon.bundle.step import BundleState

CHECK = "reserved"
MANAGED = ("deployment_id", "version_id")


def check(state: BundleState) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for rpath, res in find(state.config, "resources.*.*"):
        for path, node in walk(res, rpath):
            if path and path[-1] in MANAGED:
                out.append(Diagnostic(ERROR, f'field "{path[-1]}" is managed by the CLI and cannot be set in a bundle',
                                      node.loc, format_path(path), check=CHECK))
    for path, node in find(state.config, "resources.job_runs.*.idempotency_token"):
        out.append(Diagnostic(ERROR, 'field "idempotency_token" of a job run is set by the CLI on each run-now '
                                     "request and cannot be set in a bundle", node.loc, format_path(path), check=CHECK))
    return out
