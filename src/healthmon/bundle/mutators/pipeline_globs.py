"""A pipeline library whose ``notebook.path`` or ``file.path`` is a glob pattern becomes one
library per matching file, as the CLI's ``ExpandPipelineGlobPaths`` (before ``translate_paths``).

As the CLI: the pattern is relative to the file declaring the library and expanded like Go's
``filepath.Glob`` (sorted; ``*`` stays within one path segment and matches dot files); each match
replaces the path, written relative to that file (``./nb/*.py`` → ``nb/a.py``, ``nb/b.py``); a
pattern matching nothing, a remote or absolute path and a reference are left as written
(``translate_paths`` then reports a pattern matching nothing as a missing notebook or file).
A malformed pattern (``nb/[a*.py``, an unclosed character class) is Go's
``filepath.ErrBadPattern``, the CLI's plain error ``syntax error in pattern``.
"""

from __future__ import annotations

import glob
import os

from healthmon.bundle.context import LoadContext
from healthmon.bundle.diag import Diagnostics, fail
from healthmon.bundle.dyn import Value, map_pattern
from healthmon.bundle.mutators.interpolate import REF
from healthmon.bundle.mutators.translate_paths import has_scheme
from healthmon.bundle.step import BundleState, Step

LIBRARY_PATHS = ("notebook", "file")
BAD_PATTERN = "syntax error in pattern"  # Go's filepath.ErrBadPattern


def _class_char(pattern: str, i: int) -> int | None:
    """The index after one character of a Go character class, or None if there is none."""
    if i >= len(pattern) or pattern[i] in "-]":
        return None
    if pattern[i] == "\\":
        return i + 2 if i + 1 < len(pattern) else None
    return i + 1


def is_go_pattern(pattern: str) -> bool:
    """Whether Go's ``filepath.Match`` accepts ``pattern`` (its grammar: ``*``, ``?``,
    ``[^lo-hi...]`` non-empty classes, ``\\`` escapes)."""
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            if i + 1 >= len(pattern):
                return False
            i += 2
        elif pattern[i] == "[":
            i += 1
            if i < len(pattern) and pattern[i] == "^":
                i += 1
            ranges = 0
            while not (i < len(pattern) and pattern[i] == "]" and ranges):
                nxt = _class_char(pattern, i)
                if nxt is None:
                    return False
                if nxt < len(pattern) and pattern[nxt] == "-":
                    nxt = _class_char(pattern, nxt + 1)
                    if nxt is None:
                        return False
                i, ranges = nxt, ranges + 1
            i += 1
        else:
            i += 1
    return True


def _matches(ctx: LoadContext, library: Value, pattern: str) -> list[str]:
    if (pattern.startswith("/") or has_scheme(pattern) or REF.search(pattern) is not None
            or not glob.has_magic(pattern) or library.loc is None):
        return []
    if not is_go_pattern(pattern):
        raise fail(BAD_PATTERN, check="paths")
    base = str(ctx.source(library.loc.file).parent)
    found = glob.glob(os.path.join(glob.escape(base), os.path.normpath(pattern)), include_hidden=True)
    return sorted(os.path.relpath(m, base) for m in found)


def _expand(ctx: LoadContext, library: Value) -> list[Value]:
    if not library.is_map:
        return [library]
    for kind in LIBRARY_PATHS:
        spec = library.get(kind)
        if spec is None or not spec.is_map:
            continue
        path = spec.get("path")
        if path is None:
            continue
        if not isinstance(path.v, str):
            return [library]
        return [library.rebuilt({**library.v, kind: spec.rebuilt({**spec.v, "path": Value(m, path.loc)})})
                for m in _matches(ctx, library, path.v)] or [library]
    return [library]


class ExpandPipelineGlobPaths(Step):
    name = "expand_pipeline_glob_paths"
    reads = ("resources.pipelines.*.libraries[*].notebook.path", "resources.pipelines.*.libraries[*].file.path")
    updates = ("resources.pipelines.*.libraries",)

    def run(self, b: BundleState) -> Diagnostics:
        def expand(_path, libraries: Value) -> Value:
            if not libraries.is_list:
                return libraries
            return Value([x for lib in libraries.v for x in _expand(b.ctx, lib)], libraries.loc)

        b.config = map_pattern(b.config, "resources.pipelines.*.libraries", expand)
        return Diagnostics()
