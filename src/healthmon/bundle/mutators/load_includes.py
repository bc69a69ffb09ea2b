"""Load the root file and the files named by ``include:`` globs, and merge them (the CLI's
``EntryPoint`` + ``ProcessRootIncludes``).

Globs are relative to the bundle root, expanded as Go's ``filepath.Glob`` (``**`` is ``*``) in
sorted order, a file matched twice is loaded
once. Only YAML/JSON files can be included. A matched file outside the bundle root is loaded
with a warning (as the CLI). Before merging, every file's top-level sections are checked for
their kind: ``resources: somestring`` is an error naming the file and line — merging it would
silently drop the resources gathered so far. A resource key defined twice is an error listing
every place it is defined. ``include`` then lists the files loaded (the globs expanded).
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from healthmon.bundle.diag import ERROR, BundleError, Diagnostic, Diagnostics, fail
from healthmon.bundle.dyn import MergeError, Value, kind_name, merge
from healthmon.bundle.step import BundleState, Step
from healthmon.bundle.yamlparse import YamlError, parse_file

CHECK = "include"
YAML_SUFFIXES = (".yml", ".yaml", ".json")
# The CLI's ProcessInclude detail, line breaks as it prints them.
NESTED_INCLUDE_DETAIL = ("The include section is defined in a file that is not the root file.\n"
                         "These values will be ignored because only the includes defined in\n"
                         "the bundle root file (that is databricks.yml or databricks.yaml)\n"
                         "are loaded.")
# The kind each top-level section must have in every file (the CLI's config.Root).
SECTION_KINDS = {
    "bundle": "map", "workspace": "map", "variables": "map", "resources": "map", "targets": "map",
    "environments": "map", "include": "sequence", "sync": "map", "artifacts": "map", "permissions": "sequence",
    "run_as": "map", "presets": "map", "experimental": "map", "python": "map", "scripts": "map",
}


# Sections that may be written as one reference (`run_as: ${var.identity}`, a complex variable):
# the CLI's Normalize keeps a pure variable reference wherever a map or list is expected, and no
# step reads these sections before references are resolved.
REFERENCE_SECTIONS = ("run_as", "permissions")


def section_errors(part: Value, prefix: str = "") -> list[Diagnostic]:
    """Top-level sections (and each ``resources.<kind>``) of the wrong kind, as ``expected map,
    found string`` at the offending line."""
    from healthmon.bundle.mutators.interpolate import REF

    out: list[Diagnostic] = []

    def want(node: Value, kind: str, path: str) -> bool:
        if node.v is None or kind_name(node) == kind:
            return True
        if path.rpartition(".")[2] in REFERENCE_SECTIONS and isinstance(node.v, str) and REF.fullmatch(node.v):
            return False  # resolved in initialize, then typed by normalize_resolved_types
        out.append(Diagnostic(ERROR, f"expected {kind}, found {kind_name(node)}", node.loc, prefix + path, check=CHECK))
        return False

    for name, node in part.v.items():
        kind = SECTION_KINDS.get(name)
        if kind is None or not want(node, kind, name):
            continue
        if name == "resources" and node.is_map:
            for rkind, group in node.v.items():
                want(group, "map", f"resources.{rkind}")
        elif name == "targets" and node.is_map and not prefix:
            for tname, t in node.v.items():
                if want(t, "map", f"targets.{tname}") and t.is_map:
                    out += section_errors(t, f"targets.{tname}.")
    return out


def drop_wrong_kind_resources(part: Value, diags: Diagnostics) -> Value:
    """A resource that is not a map (``my_cluster: "hello"``) is, as the CLI's per-file
    ``Normalize``, the warning ``expected map, found string`` and is dropped to null: a target
    may still define it, otherwise ``check_resources_have_values`` reports it as not defined (so
    no deploy mistakes it for a removed job)."""

    def clean(res: Value, prefix: str) -> Value:
        if not res.is_map:
            return res
        groups = dict(res.v)
        for rkind, group in res.v.items():
            if not group.is_map:
                continue
            entries = dict(group.v)
            for key, node in group.v.items():
                if node.v is not None and not node.is_map:
                    diags.warning(f"expected map, found {kind_name(node)}", node.loc,
                                  f"{prefix}resources.{rkind}.{key}", check=CHECK)
                    entries[key] = Value(None, node.loc)
            groups[rkind] = Value(entries, group.loc)
        return Value(groups, res.loc)

    fields = dict(part.v)
    if "resources" in fields:
        fields["resources"] = clean(fields["resources"], "")
    targets = fields.get("targets")
    if targets is not None and targets.is_map:
        fields["targets"] = Value({name: t.rebuilt({**t.v, "resources": clean(t.v["resources"], f"targets.{name}.")})
                                   if t.is_map and "resources" in t.v else t for name, t in targets.v.items()},
                                  targets.loc)
    return Value(fields, part.loc)


def include_patterns(config: Value) -> list[Value]:
    inc = config.get("include")
    if inc is None or inc.v is None:
        return []
    for item in inc.v:
        if not isinstance(item.v, str) or not item.v:
            raise fail("include: each entry must be a non-empty string (a glob pattern)", item.loc, "include",
                       check=CHECK)
    return list(inc.v)


def extra_include_patterns(b: BundleState) -> list[Value]:
    """``DATABRICKS_BUNDLE_INCLUDES`` (the CLI's ``env.Includes``, which IDE integrations set):
    more include entries, separated as a PATH is, appended after the root file's; an absolute
    one made relative to the bundle root, as the CLI's ``ProcessRootIncludes`` does."""
    value = b.ctx.environ.get("DATABRICKS_BUNDLE_INCLUDES")
    out = []
    for entry in (value or "").split(os.pathsep):
        if entry:
            out.append(Value(os.path.relpath(entry, b.ctx.root) if os.path.isabs(entry) else entry))
    return out


def _glob(root: Path, text: str, loc) -> list[str]:
    # As the CLI's Go ``filepath.Glob``: ``**`` is ``*`` (one path segment, not recursive) and
    # ``*`` matches names starting with a dot too.
    try:
        return sorted(glob.glob(text, root_dir=root, recursive=False, include_hidden=True))
    except (OSError, RuntimeError) as exc:
        raise fail(f"include pattern {text!r} cannot be expanded: {exc}", loc, "include", check=CHECK) from None


def expand(b: BundleState, patterns: list[Value], main_file: Path, diags: Diagnostics) -> list[tuple[Path, str]]:
    """The files to load, in order: (path, name relative to the bundle root as matched)."""
    root = b.ctx.root
    files: list[tuple[Path, str]] = []
    not_yaml: list[Diagnostic] = []
    seen: set[Path] = {main_file.resolve()}
    for pat in patterns:
        text = pat.v
        # Both errors are unlocated, as the CLI's ProcessRootIncludes reports them.
        if Path(text).is_absolute():
            raise fail(f"{text}: includes must be relative paths", check=CHECK)
        matches = _glob(root, text, pat.loc)
        if not matches and not any(c in text for c in "*?["):
            # Only a literal file name must exist: a pattern matching nothing (`resources/*.yml`
            # in a bundle without resource files yet) includes nothing, as the CLI.
            raise fail(f"{text} defined in 'include' section does not match any files", check=CHECK)
        for m in matches:
            try:
                p = (root / m).resolve(strict=False)
                is_file = p.is_file()
            except (OSError, RuntimeError) as exc:
                raise fail(f"cannot read included file {m}: {exc}", pat.loc, "include", check=CHECK) from None
            if not p.exists():
                # A broken symbolic link: the CLI's glob matches it and reading it fails. Skipping
                # it would drop its resources, and the next deploy would delete their jobs.
                raise fail(f"cannot read included file {m}: it is a symbolic link to {p}, which does not exist",
                           pat.loc, "include", check=CHECK)
            if p in seen:
                continue
            # A folder matched by the glob is judged by its name like a file, as the CLI's
            # ProcessRootIncludes does (it never asks whether a match is a folder).
            if Path(m).suffix not in YAML_SUFFIXES:  # the CLI's filepath.Ext test: case-sensitive
                not_yaml.append(Diagnostic(
                    ERROR, "Files in the 'include' configuration section must be YAML or JSON files.", pat.loc,
                    check=CHECK, detail=f"The file {m} in the 'include' configuration section is not a YAML or "
                                        "JSON file, and only such files are supported. To include files to sync, "
                                        "specify them in the 'sync.include' configuration section instead."))
                continue
            if not is_file:
                raise fail(f"cannot read included file {m}: it is a directory", pat.loc, "include", check=CHECK)
            if root != p and root not in p.parents:
                diags.warning(f"included file {m} is outside the bundle root {root}", pat.loc, "include", check=CHECK)
            seen.add(p)
            files.append((p, os.path.normpath(m)))
    if not_yaml:  # each file named, as the CLI's ProcessRootIncludes, before anything is loaded
        raise BundleError(not_yaml)
    return files


def _resource_defs(config: Value, out: dict[str, list[tuple[str, Value]]]) -> None:
    res = config.get("resources")
    if res is None or not res.is_map:
        return
    for kind, group in res.v.items():
        if group.is_map:
            for key, val in group.v.items():
                # A value the CLI's per-file Normalize drops (not a map) defines nothing.
                if val.v is None or val.is_map:
                    # Printed relative to `resources` (`jobs.foo`): the CLI's UniqueResourceKeys
                    # walks the `resources` value itself.
                    out.setdefault(key, []).append((f"{kind}.{key}", val))


class LoadIncludes(Step):
    name = "load_includes"
    reads = ("include", "DATABRICKS_BUNDLE_INCLUDES")
    updates = ("*",)

    def __init__(self, main_file: Path):
        self.main_file = main_file

    def run(self, b: BundleState) -> Diagnostics:
        diags = Diagnostics()
        errors = section_errors(b.config)
        if errors:
            raise BundleError(errors)
        defs: dict[str, list[tuple[str, Value]]] = {}
        _resource_defs(b.config, defs)
        b.config = drop_wrong_kind_resources(b.config, diags)
        files = expand(b, include_patterns(b.config) + extra_include_patterns(b), self.main_file, diags)
        config = with_loaded_files(b.config, [name for _, name in files])
        for f, _ in files:
            display = b.ctx.display(f)
            if display.startswith("/") or display.startswith(".."):
                display = os.path.relpath(f, b.ctx.root)
            try:
                part = parse_file(f, display, b.ctx.key_locations, b.ctx.anchored)
            except YamlError as exc:
                if exc.syntax is None:
                    raise
                # As the CLI's config.Load: the absolute path and yaml.v3's message, no location.
                raise fail(f"failed to load {os.path.normpath(b.ctx.root / f)}: {exc.syntax}", check=CHECK) from None
            if not part.is_map:
                raise fail(f"expected map, found {kind_name(part)}", part.loc, check=CHECK)
            errors = section_errors(part)
            if errors:
                raise BundleError(errors)
            _resource_defs(part, defs)
            part = drop_wrong_kind_resources(part, diags)
            nested_include = part.get("include")
            if nested_include is not None:
                diags.warning("Include section is defined outside root file", nested_include.loc, "include",
                              check=CHECK, detail=NESTED_INCLUDE_DETAIL)
            try:
                config = merge(config, Value({k: v for k, v in part.v.items() if k != "resources"}, part.loc))
                res = part.get("resources")
                if res is not None and res.is_map:
                    config = _merge_resources(config, res)
            except MergeError as exc:
                raise fail(str(exc), exc.loc, check=CHECK) from None
        for key, places in defs.items():
            if len(places) > 1:
                places = sorted(places, key=lambda p: (p[1].loc.file, p[1].loc.line, p[1].loc.column))
                # The CLI's UniqueResourceKeys lists each resource path once (a job defined in two
                # files is one merged value with two locations) and every location; it sorts the
                # paths as strings, apart from the locations.
                paths = sorted(dict.fromkeys(p for p, _ in places))
                diags.add(Diagnostic(
                    ERROR, f"multiple resources have been defined with the same key: {key}", places[0][1].loc,
                    paths[0], check=CHECK, more_paths=tuple(paths[1:]),
                    more_locations=tuple(v.loc for _, v in places[1:])))
        b.config = Value(config.v, b.config.loc)
        return diags


def with_loaded_files(config: Value, names: list[str]) -> Value:
    """``include`` becomes the list of files loaded, in load order, as the CLI's
    ``ProcessRootIncludes`` ("Swap out the original includes list with the expanded globs"). An
    entry equal to the one written at its place keeps its location (``FromTyped``); none loaded
    is a null list."""
    inc = config.get("include")
    if inc is None:
        return config
    written = inc.v if inc.is_list else []
    items = [written[i] if i < len(written) and written[i].v == name else Value(name)
             for i, name in enumerate(names)]
    return config.rebuilt({**config.v, "include": inc.rebuilt(items or None)})


def _merge_resources(config: Value, res: Value) -> Value:
    """Add an included file's resources: a key defined twice is reported, not merged."""
    base = config.get("resources")
    out = dict(base.v) if base is not None and base.is_map else {}
    for kind, group in res.v.items():
        if group.v is None:
            continue
        existing = out.get(kind)
        merged = dict(existing.v) if existing is not None and existing.is_map else {}
        for key, val in group.v.items():
            # A null (written so, or a value of the wrong kind dropped) gives way to a
            # definition, as the CLI's merge of a nil with a map.
            if key not in merged or merged[key].v is None:
                merged[key] = val
        # A section written in several files lists each (the CLI's merge accumulates locations).
        out[kind] = (Value(merged, existing.loc, (*existing.more, *group.locs)) if existing is not None
                     else group.rebuilt(merged))
    resources = Value(out, base.loc, (*base.more, *res.locs)) if base is not None else res.rebuilt(out)
    return config.rebuilt({**config.v, "resources": resources})
