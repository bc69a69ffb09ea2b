"""``sync`` as the CLI reads it: ``paths``, ``include`` and ``exclude`` entries are written
relative to the file that declares them (``RewriteSyncPaths`` makes them relative to the bundle
root: ``*.tmp`` in ``resources/x.yml`` is ``resources/*.tmp``), and ``paths`` defaults to
``["."]`` unless it is set, even to null or ``[]`` (``SyncDefaultPath``)."""

from __future__ import annotations

import posixpath

from healthmon.bundle.dyn import Value, map_pattern, set_path
from healthmon.bundle.step import BundleState, Step

FIELDS = ("paths", "include", "exclude")


def _relative_to_root(_path, node: Value) -> Value:
    if not isinstance(node.v, str):
        return node  # the schema check reports the wrong type
    declared_in = posixpath.dirname(node.loc.file) if node.loc.line else ""
    # As Go's filepath.Join: "./x" -> "x", "../a" kept, "resources/../b" -> "b".
    return Value(posixpath.normpath(posixpath.join(declared_in or ".", node.v)), node.loc)


class RewriteSyncPaths(Step):
    name = "rewrite_sync_paths"
    reads = tuple(f"sync.{f}[*]" for f in FIELDS)
    updates = reads

    def run(self, b: BundleState) -> None:
        for f in FIELDS:
            b.config = map_pattern(b.config, f"sync.{f}[*]", _relative_to_root)


class SyncDefaultPath(Step):
    name = "sync_default_path"
    reads = ("sync.paths",)
    updates = ("sync.paths",)

    def run(self, b: BundleState) -> None:
        sync = b.config.get("sync")
        if sync is not None and sync.is_map and "paths" in sync.v:
            return  # set, even to null or an empty list: the user chose to sync nothing
        if sync is not None and sync.v is not None and not sync.is_map:
            return  # load_includes reported the wrong kind
        b.config = set_path(b.config, ("sync", "paths"), Value([Value(".")]))
