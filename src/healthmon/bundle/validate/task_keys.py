"""Task keys as the Jobs API accepts them: letters, digits, ``_`` and ``-``, at most 100
characters (a key with spaces or ``/`` would deploy here and be refused by Databricks)."""

from __future__ import annotations

import re

from healthmon.bundle.diag import ERROR, Diagnostic
from healthmon.bundle.dyn import NO_LOC, find, format_path, get_path
from healthmon.bundle.step import BundleState

CHECK = "task_keys"
TASK_KEY = re.compile(r"^[\w-]{1,100}$", re.ASCII)
PATTERNS = ("resources.jobs.*.tasks[*].task_key", "resources.jobs.*.tasks[*].for_each_task.task.task_key",
            "resources.jobs.*.tasks[*].depends_on[*].task_key")


def check(state: BundleState) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for pat in PATTERNS:
        for path, node in find(state.config, pat):
            if isinstance(node.v, str) and node.v and not TASK_KEY.match(node.v):
                # A task's own key has no location after the keyed merge (as in the CLI): point
                # at the task that holds it.
                loc = node.loc if node.loc != NO_LOC else (get_path(state.config, path[:-1]) or node).loc
                out.append(Diagnostic(
                    ERROR, f'invalid task_key "{node.v}": use only letters, digits, "_" and "-" '
                           f"(at most 100 characters)", loc, format_path(path), check=CHECK))
    return out
