"""Task keys as the Jobs API accepts them: letters, digits, ``_`` and ``-``, at most 100
characters (a key with spaces or ``/`` would deploy here and be refused by Databricks)."""

from __future__ import annotations

import re

from healthmon.bundle.diag import ERROR, Diagnostic
from healthmon.bundle.dyn import find, format_path
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
                out.append(Diagnostic(
                    ERROR, f'invalid task_key "{node.v}": use only letters, digits, "_" and "-" '
                           f"(at most 100 characters)", node.loc, format_path(path), check=CHECK))
    return out
