"""The CLI's ``ValidateSyncPatterns`` and ``FilesToSync`` (run by ``bundle validate``): an
``include``/``exclude`` pattern that matches no file is a warning (a leading ``!`` is ignored:
if ``p`` matches nothing, neither does its negation), and so is a sync that would copy no file.
In a git work tree the sync root must lie inside it (the CLI lists the files to sync through a
git view of the sync root, which refuses a root outside the repository: an error)."""

from __future__ import annotations

import fnmatch
from pathlib import Path

from healthmon.bundle import sync
from healthmon.bundle.diag import ERROR, WARNING, Diagnostic
from healthmon.bundle.dyn import find, format_path, get_path, to_plain
from healthmon.bundle.mutators.load_git import worktree_root
from healthmon.bundle.step import BundleState

CHECK = "sync_patterns"
ROOT_FILES = ("databricks.yml", "databricks.yaml", "bundle.yml", "bundle.yaml")


def check(state: BundleState) -> list[Diagnostic]:
    section = state.config.get("sync")
    settings = sync.sync_settings({"sync": to_plain(section)} if section is not None and section.is_map else {})
    outside = outside_repository(state) if settings["paths"] else None
    out: list[Diagnostic] = [outside] if outside is not None else []
    root = state.sync_dir()
    if not settings["include"] and not settings["exclude"]:
        # Without patterns only a .gitignore that ignores everything could empty the sync; listing
        # the files costs a git call (~50 ms), so only when the sync root's .gitignore could
        # ignore the bundle's own root file, which is otherwise synced.
        if settings["paths"] and _may_ignore(root / ".gitignore") \
                and not sync.list_files(root, **settings):
            out.append(Diagnostic(WARNING, "There are no files to sync, please check your .gitignore", check=CHECK))
        return out
    every = sync.walk_files(root)
    for field in ("exclude", "include"):
        for path, node in find(state.config, f"sync.{field}[*]"):
            if not isinstance(node.v, str):
                continue
            try:
                sync.matching([], [node.v])  # the pattern as deploy reads it must parse
                if not sync.matching(every, [node.v.removeprefix("!")]):
                    out.append(Diagnostic(WARNING, f"Pattern {node.v} does not match any files", node.loc,
                                          format_path(path), check=CHECK))
            except ValueError as exc:
                out.append(Diagnostic(ERROR, str(exc), node.loc, format_path(path), check=CHECK))
    if any(d.severity == ERROR for d in out):
        return out  # the file list cannot be made (FilesToSync's error) or a pattern is unreadable
    if settings["paths"] and not sync.list_files(root, **settings):
        exclude = get_path(state.config, ("sync", "exclude"))
        if exclude is None or not settings["exclude"]:
            out.append(Diagnostic(WARNING, "There are no files to sync, please check your .gitignore", check=CHECK))
        else:
            out.append(Diagnostic(WARNING, "There are no files to sync, please check your .gitignore and sync.exclude "
                                           "configuration", exclude.loc, "sync.exclude", check=CHECK))
    return out


def _may_ignore(gitignore: Path) -> bool:
    try:
        lines = gitignore.read_text(errors="replace").splitlines()
    except OSError:
        return False
    patterns = [x.strip().strip("/") for x in lines if x.strip() and not x.startswith("#")]
    return any(p.startswith("!") or fnmatch.fnmatchcase(name, p) for p in patterns for name in ROOT_FILES)


def outside_repository(state: BundleState) -> Diagnostic | None:
    """``sync.paths`` reaching above the git work tree that holds the bundle: the error of the
    CLI's ``git.NewView``, which ``FilesToSync`` returns as it is (no location)."""
    top = worktree_root(state.ctx.root)
    root = state.sync_dir()
    if top is None or root.is_relative_to(top):
        return None
    return Diagnostic(ERROR, f'path "{root}" is not within repository root "{top}"', check=CHECK)
