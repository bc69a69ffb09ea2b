"""``sync`` as the CLI reads it: ``paths``, ``include`` and ``exclude`` entries are written
relative to the file that declares them (``RewriteSyncPaths`` makes them relative to the bundle
root: ``*.tmp`` in ``resources/x.yml`` is ``resources/*.tmp``), and ``paths`` defaults to
``["."]`` unless it is set, even to null or ``[]`` (``SyncDefaultPath``). A ``sync.paths`` entry
outside the bundle root moves the sync root up to the innermost directory that holds every entry
(``SyncInferRoot``); the entries are then relative to that sync root (``[".", "../common"]`` in
``my_bundle/`` → ``["my_bundle", "common"]``), and so are uploaded files and translated paths."""

from __future__ import annotations

import posixpath
from pathlib import Path

from healthmon.bundle.diag import ERROR, Diagnostic, Diagnostics
from healthmon.bundle.dyn import Value, find, format_path, map_pattern, set_path
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


def _go_join(*parts: str) -> str:
    """Go's ``filepath.Join``: the non-empty parts joined by ``/`` and cleaned (an absolute later
    part does not reset the path, unlike ``posixpath.join``)."""
    return posixpath.normpath("/".join(p for p in parts if p)) if any(parts) else ""


def _is_local(path: str) -> bool:
    """Go's ``filepath.IsLocal``: relative, non-empty, and not leaving its directory."""
    return bool(path) and not path.startswith("/") and path != ".." and not path.startswith("../")


def _compute_root(path: str, root: Path) -> Path | None:
    """The innermost ancestor of ``root`` (or ``root`` itself) that contains ``path`` (relative to
    ``root``); None when even the file system root does not."""
    while not _is_local(path):
        if root.parent == root:
            return None
        path = _go_join(root.name, path)
        root = root.parent
    return root


class SyncInferRoot(Step):
    name = "sync_infer_root"
    reads = ("sync.paths[*]",)
    updates = tuple(f"sync.{f}[*]" for f in FIELDS)

    def run(self, b: BundleState) -> Diagnostics:
        bundle_root = b.ctx.root
        sync_root = bundle_root
        found = Diagnostics()
        for path, node in find(b.config, "sync.paths[*]"):
            if not isinstance(node.v, str):
                continue  # the schema check reports the wrong type
            root = _compute_root(node.v, bundle_root)
            if root is None:
                found.add(Diagnostic(ERROR, f'invalid sync path "{node.v}"', node.loc, format_path(path),
                                     check="sync_paths"))
            elif len(str(root)) < len(str(sync_root)):
                sync_root = root
        if found.has_errors():
            return found
        b.sync_root = sync_root
        rel = bundle_root.relative_to(sync_root).as_posix()
        if rel != ".":
            for f in FIELDS:
                b.config = map_pattern(b.config, f"sync.{f}[*]", lambda _p, n: (
                    Value(_go_join(rel, n.v), n.loc) if isinstance(n.v, str) else n))
        return found
