"""The CLI's ``ValidateSyncPatterns`` and ``FilesToSync`` (run by ``bundle validate``): an
``include``/``exclude`` pattern that matches no file is a warning (a leading ``!`` is ignored:
if ``p`` matches nothing, neither does its negation), and so is a sync that would copy no file."""

from __future__ import annotations

from healthmon.bundle import sync
from healthmon.bundle.diag import ERROR, WARNING, Diagnostic
from healthmon.bundle.dyn import find, format_path, get_path, to_plain
from healthmon.bundle.step import BundleState

CHECK = "sync_patterns"


def check(state: BundleState) -> list[Diagnostic]:
    section = state.config.get("sync")
    settings = sync.sync_settings({"sync": to_plain(section)} if section is not None and section.is_map else {})
    if not settings["include"] and not settings["exclude"]:
        return []  # without patterns only an all-ignoring .gitignore could empty the sync: not worth a git call
    root = state.sync_dir()
    every = sync.walk_files(root)
    out: list[Diagnostic] = []
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
        return out
    if settings["paths"] and not sync.list_files(root, **settings):
        exclude = get_path(state.config, ("sync", "exclude"))
        if exclude is None or not settings["exclude"]:
            out.append(Diagnostic(WARNING, "There are no files to sync, please check your .gitignore", check=CHECK))
        else:
            out.append(Diagnostic(WARNING, "There are no files to sync, please check your .gitignore and sync.exclude "
                                           "configuration", exclude.loc, "sync.exclude", check=CHECK))
    return out
