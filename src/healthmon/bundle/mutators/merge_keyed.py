"""Combine list entries that share a key (the CLI's ``MergeJobTasks``, ``MergeJobClusters``,
``MergeJobEnvironments``, ``MergeJobParameters``, ``MergePipelineClusters``, ``MergeApps``).

Target overrides are appended to the base lists by ``merge_target``; here, after variable
interpolation (a ``task_key: ${var.x}`` must be resolved first), entries with the same key are
merged into the first one, in order (maps key by key, sequences concatenated). As the CLI's
``merge.ElementsByKey``, an entry without its key has the key ``""``: the job list entries
without one are merged together and printed with ``""``, and so are an app's ``resources``
without a ``name`` (``MergeApps``). Every entry's key is re-set, without a location.
Pipeline clusters (``MergePipelineClusters``) compare their
``label`` case-insensitively, a cluster without one being the ``default`` cluster, each merged
cluster printed with its normalised label. An entry whose key is not a string (only a reference
could have made it one; the loader drops a literal) is left alone, where the CLI would panic.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from healthmon.bundle.diag import fail
from healthmon.bundle.dyn import NO_LOC, MergeError, Path, Value, map_pattern, merge
from healthmon.bundle.step import BundleState, Step

# (entry, key field) -> the key the entry is merged by; None: the entry is left alone.
KeyOf = Callable[[Value, str], "str | None"]


def _key_or_empty(item: Value, key: str) -> str | None:
    k = item.get(key)
    if k is None or k.v is None:
        return ""
    return k.v if isinstance(k.v, str) else None


def _pipeline_cluster_label(item: Value, key: str) -> str | None:
    k = item.get(key)
    if k is None or k.v is None:
        return "default"
    return k.v.lower() if isinstance(k.v, str) else None


KEYED: tuple[tuple[str, str, KeyOf], ...] = (
    ("resources.jobs.*.tasks", "task_key", _key_or_empty),
    ("resources.jobs.*.job_clusters", "job_cluster_key", _key_or_empty),
    ("resources.jobs.*.environments", "environment_key", _key_or_empty),
    ("resources.jobs.*.parameters", "name", _key_or_empty),
    ("resources.pipelines.*.clusters", "label", _pipeline_cluster_label),
    ("resources.apps.*.resources", "name", _key_or_empty),
)


def merge_by_key(items: Value, key: str, key_of: KeyOf = _key_or_empty) -> Value:
    """Entries sharing ``key_of(entry, key)`` merged into the first; an entry whose key was
    normalised (a pipeline cluster's label) gets the normalised key."""
    if not items.is_list:
        return items
    out: list[Value] = []
    index: dict = {}
    for item in items.v:
        k = key_of(item, key) if item.is_map else None
        if k is None:
            out.append(item)
            continue
        if k in index:
            i = index[k]
            out[i] = merge(out[i], item)
        else:
            index[k] = len(out)
            out.append(item)
    normalised = [_with_key(item, key, key_of(item, key)) if item.is_map else item for item in out]
    if len(normalised) == len(items.v) and all(a is b for a, b in zip(normalised, items.v)):
        return items
    return items.rebuilt(normalised)


def _with_key(item: Value, key: str, k: str | None) -> Value:
    current = item.get(key)
    if k is None or (current is not None and current.v == k and current.loc == NO_LOC and not current.more):
        return item
    # The CLI's ElementsByKey re-sets every entry's key to dyn.V(key): the key, written or not,
    # has no location afterwards (--include-locations does not list it).
    return item.rebuilt({**item.v, key: Value(k)})


def _merge_at(key: str, key_of: KeyOf, _path: Path, items: Value) -> Value:
    return merge_by_key(items, key, key_of)


class MergeKeyedLists(Step):
    name = "merge_keyed_lists"
    reads = tuple(p for p, _, _ in KEYED)
    updates = reads

    def run(self, b: BundleState) -> None:
        for pat, key, key_of in KEYED:
            try:
                b.config = map_pattern(b.config, pat, partial(_merge_at, key, key_of))
            except MergeError as exc:  # a target's entry whose field has another kind (a map meeting a string)
                raise fail(str(exc), exc.loc, check="merge") from None


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
            return tasks if all(a is b for a, b in zip(keyed, tasks.v)) else tasks.rebuilt(keyed)

        b.config = map_pattern(b.config, "resources.jobs.*.tasks", sort)
