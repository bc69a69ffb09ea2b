"""Combine list entries that share a key (the CLI's ``MergeJobTasks``, ``MergeJobClusters``,
``MergeJobEnvironments``, ``MergeJobParameters``).

Target overrides are appended to the base lists by ``merge_target``; here, after variable
interpolation (a ``task_key: ${var.x}`` must be resolved first), entries with the same key are
merged into the first one, in order (maps key by key, sequences concatenated). Entries without
a usable key are kept as they are.
"""

from __future__ import annotations

from functools import partial

from healthmon.bundle.dyn import Path, Value, map_pattern, merge
from healthmon.bundle.step import BundleState, Step

KEYED = (
    ("resources.jobs.*.tasks", "task_key"),
    ("resources.jobs.*.job_clusters", "job_cluster_key"),
    ("resources.jobs.*.environments", "environment_key"),
    ("resources.jobs.*.parameters", "name"),
)


def merge_by_key(items: Value, key: str) -> Value:
    if not items.is_list:
        return items
    out: list[Value] = []
    index: dict = {}
    for item in items.v:
        k = item.get(key) if item.is_map else None
        if k is None or not isinstance(k.v, str):
            out.append(item)
            continue
        if k.v in index:
            i = index[k.v]
            out[i] = merge(out[i], item)
        else:
            index[k.v] = len(out)
            out.append(item)
    return items if len(out) == len(items.v) else Value(out, items.loc)


def _merge_at(key: str, _path: Path, items: Value) -> Value:
    return merge_by_key(items, key)


class MergeKeyedLists(Step):
    name = "merge_keyed_lists"
    reads = tuple(p for p, _ in KEYED)
    updates = reads

    def run(self, b: BundleState) -> None:
        for pat, key in KEYED:
            b.config = map_pattern(b.config, pat, partial(_merge_at, key))


class SortTasks(Step):
    """Tasks in ``task_key`` order, as the CLI prints them."""

    name = "sort_tasks"
    reads = ("resources.jobs.*.tasks",)
    updates = reads

    def run(self, b: BundleState) -> None:
        def sort(_p, tasks: Value) -> Value:
            if not tasks.is_list or not all(t.is_map for t in tasks.v):
                return tasks
            keyed = sorted(tasks.v, key=lambda t: str(t.get("task_key").v) if t.get("task_key") is not None else "")
            return tasks if all(a is b for a, b in zip(keyed, tasks.v)) else Value(keyed, tasks.loc)

        b.config = map_pattern(b.config, "resources.jobs.*.tasks", sort)
