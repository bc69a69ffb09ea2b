""""Job failed silently": a notebook that reports failure through ``dbutils.notebook.exit``
(e.g. ``exit("FAILED")``, or exiting from an ``except`` block without raising) ends its task
in SUCCESS. Warn, and say to ``raise`` instead."""

from __future__ import annotations

from healthmon.bundle.diag import WARNING, Diagnostic
from healthmon.bundle.notebook_scan import scan
from healthmon.bundle.validate.base import BundleState

CHECK = "silent_failure"


def check(state: BundleState) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    seen: set = set()
    for path, ref in state.sources.items():
        if ref.kind != "notebook" or ref.local in seen or not ref.local.is_file():
            continue
        seen.add(ref.local)
        info = scan(ref.local)
        if info is None:
            continue
        rel = state.ctx.display(ref.local)
        for line, why in info.silent_failures:
            out.append(Diagnostic(
                WARNING, f"{rel}:{line} {why}: the task still ends in SUCCESS (job fails silently); "
                         f"raise an exception to fail the run",
                ref.location, path, check=CHECK))
    return out
