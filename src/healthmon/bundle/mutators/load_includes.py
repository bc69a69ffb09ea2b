"""Merge the files named by ``include:`` globs into the root configuration.

Globs are relative to the bundle root and expanded in sorted order; a file matched twice is
loaded once; absolute patterns, patterns or matches outside the root, patterns that match
nothing, and included files that declare ``include:`` themselves are errors. A resource key
defined in two files is an error naming both places (as the CLI does).
"""

from __future__ import annotations

import glob
from pathlib import Path

from healthmon.bundle.context import LoadContext
from healthmon.bundle.diag import BundleError, Diagnostic, ERROR, fail
from healthmon.bundle.dyn import Value, merge
from healthmon.bundle.yamlparse import parse_file

CHECK = "include"


def include_patterns(config: Value) -> list[Value]:
    inc = config.get("include")
    if inc is None or inc.v is None:
        return []
    if not inc.is_list:
        raise fail("include: expected a sequence of glob patterns", inc.loc, "include", check=CHECK)
    for item in inc.v:
        if not isinstance(item.v, str) or not item.v:
            raise fail("include: each entry must be a non-empty string (a glob pattern)", item.loc, "include", check=CHECK)
    return list(inc.v)


def expand(ctx: LoadContext, patterns: list[Value], main_file: Path) -> list[Path]:
    root = ctx.root
    files: list[Path] = []
    seen: set[Path] = {main_file.resolve()}
    for pat in patterns:
        text = pat.v
        if Path(text).is_absolute():
            raise fail(f"include pattern {text!r} must be relative to the bundle root", pat.loc, "include", check=CHECK)
        matches = sorted(glob.glob(text, root_dir=root, recursive=True))
        if not matches:
            raise fail(f"{text} defined in 'include' section does not match any files", pat.loc, "include", check=CHECK)
        for m in matches:
            p = (root / m).resolve()
            if root != p and root not in p.parents:
                raise fail(f"include pattern {text!r} matches {m}, which is outside the bundle root {root}", pat.loc, "include", check=CHECK)
            if not p.is_file() or p in seen:
                continue
            seen.add(p)
            files.append(p)
    return files


def _resource_keys(config: Value) -> dict[tuple[str, str], Value]:
    out: dict[tuple[str, str], Value] = {}
    res = config.get("resources")
    if res is None or not res.is_map:
        return out
    for kind, group in res.v.items():
        if group.is_map:
            for key, val in group.v.items():
                out[(kind, key)] = val
    return out


def load_includes(ctx: LoadContext, config: Value, main_file: Path) -> Value:
    files = expand(ctx, include_patterns(config), main_file)
    owners = _resource_keys(config)
    errors: list[Diagnostic] = []
    for f in files:
        part = parse_file(f, ctx.display(f))
        if not part.is_map:
            raise fail(f"expected a mapping at the top of {ctx.display(f)}, found a {type(part.v).__name__}", part.loc, check=CHECK)
        if part.get("include") is not None:
            raise fail("include can only be defined in the root databricks.yml", part.get("include").loc, "include", check=CHECK)
        for ident, val in _resource_keys(part).items():
            if ident in owners:
                kind, key = ident
                errors.append(Diagnostic(
                    ERROR, f"multiple resources named {key} ({kind[:-1] if kind.endswith('s') else kind} at {owners[ident].loc}, at {val.loc})",
                    val.loc, f"resources.{kind}.{key}", check=CHECK))
            owners[ident] = val
        config = merge(config, part)
    if errors:
        raise BundleError(errors)
    return config
