"""Types, required fields and unknown fields, against the resource schemas derived from
``databricks.bundles`` (see ``schema_derive``) plus the top-level bundle sections.

As the CLI's ``convert.Normalize``: a value of the wrong type is a warning (``expected int,
found string``, ``cannot parse "lots" as an integer``) and the value is dropped; an unknown
field is the warning ``unknown field: x`` and is dropped too (``--strict`` makes warnings a
failure). Scalars are normalised where the meaning is unambiguous (``"4"`` for an int, ``2024``
for a string, ``"true"`` for a bool). ``check`` returns the findings and the fixes (new scalar
values, ``DROP``) that ``apply_fixes`` makes to the configuration.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from functools import lru_cache
from typing import Any

from healthmon.bundle.diag import WARNING, Diagnostic
from healthmon.bundle.dyn import Value, as_bool, format_path, get_path, go_float, kind_name, required_path, set_path
from healthmon.bundle.validate.base import BundleState
from healthmon.bundle.validate.reserved import MANAGED
from healthmon.bundle.validate.schema_derive import load_schema

CHECK = "schema"
# Unknown fields are reported while loading, as the CLI's per-file Normalize does, so they come
# before the initialize and validate findings (step ``normalize_as_loaded``, which also drops
# them).
UNKNOWN_FIELD = "unknown_field"
# A value of the wrong type: the CLI's Normalize warns and drops it, while loading (each file as
# written) and again after variable references are resolved.
TYPE_MISMATCH = "type_mismatch"
# What Go's strconv.ParseInt (base 10) and ParseFloat accept, used with fullmatch.
_INT = re.compile(r"[-+]?[0-9]+")
_NUM = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")

# Sections of databricks.yml itself (the CLI's root config). "any" where healthmon does not
# interpret the content.
_S, _A = "string", "any"
TOP: dict = {
    "bundle": {"name": _S, "target": _S, "mode": {"enum": ["development", "production"]}, "compute_id": _S,
               "cluster_id": _S, "git": _A, "databricks_cli_version": _S, "deployment": _A, "uuid": _S,
               "engine": _S, "environment": _S},
    "workspace": {"host": _S, "profile": _S, "root_path": _S, "file_path": _S, "resource_path": _S,
                  "artifact_path": _S, "state_path": _S, "current_user": _A, "auth_type": _S,
                  "client_id": _S, "azure_client_id": _S, "azure_tenant_id": _S, "azure_environment": _S,
                  "azure_workspace_resource_id": _S, "azure_use_msi": _A, "azure_login_app_id": _S,
                  "google_service_account": _S, "account_id": _S, "metadata_service_url": _S},
    "variables": _A,
    "resources": _A,
    "include": {"list": _S},
    "sync": {"paths": {"list": _S}, "include": {"list": _S}, "exclude": {"list": _S}},
    # The CLI's config.Artifact (artifacts.Prepare fills build, files and path).
    "artifacts": {"map": {"type": _S, "build": _S, "executable": _S, "path": _S, "files": {"list": {"source": _S}},
                          "dynamic_version": "bool"}},
    "presets": {"name_prefix": _S, "tags": {"map": _S}, "trigger_pause_status": {"enum": ["PAUSED", "UNPAUSED"]},
                "jobs_max_concurrent_runs": "int", "pipelines_development": "bool", "source_linked_deployment": "bool",
                "artifacts_dynamic_version": "bool"},
    "run_as": {"user_name": _S, "service_principal_name": _S},
    "permissions": {"list": {"level": _S, "user_name": _S, "group_name": _S, "service_principal_name": _S}},
    # The CLI's config.Experimental; scripts map a hook (preinit, postdeploy, ...) to a command.
    "experimental": {"scripts": {"map": _S}, "python_wheel_wrapper": "bool", "use_legacy_run_as": "bool",
                     "pydabs": _A, "python": _A, "skip_artifact_cleanup": "bool",
                     "skip_name_prefix_for_schema": "bool"},
    "scripts": _A,
    "python": _A,
    "targets": _A,
    "environments": _A,
    "definitions": _A,  # a place for YAML anchors; the CLI ignores it
}
VARIABLE_FIELDS = ("default", "description", "type", "lookup", "value")
# Fields the CLI itself manages or accepts that the databricks-bundles classes leave out.
CLI_FIELDS: dict[str, dict[str, Any]] = {
    "Job": {"deployment": "any", "edit_mode": {"enum": ["UI_LOCKED", "EDITABLE"]},
            "format": {"enum": ["SINGLE_TASK", "MULTI_TASK"]}},
    # The deprecated pipeline `trigger` (cron / manual) and job `trigger.table` of the Go SDK,
    # which databricks-bundles drops.
    "Pipeline": {"deployment": "any", "trigger": "any"},
    "TriggerSettings": {"table": "any"},
    "Volume": {"volume_path": "string"},
    # The CLI's resources.App.Config is a map[string]any: written as app.yml, not checked.
    "App": {"config": "any"},
    # The Go SDK's jobs.RunJobTask keeps the deprecated per-task-kind parameters, which
    # databricks-bundles leaves out: the CLI accepts them without an unknown-field warning.
    "RunJobTask": {"python_params": {"list": "string"}, "jar_params": {"list": "string"},
                   "spark_submit_params": {"list": "string"}, "dbt_commands": {"list": "string"},
                   "notebook_params": {"map": "string"}, "python_named_params": {"map": "string"},
                   "sql_params": {"map": "string"}},
}
# The CLI's resources.BaseResource, embedded in every resource: a deploy sets them, and a bundle
# may write them (Normalize knows them; ``${resources.<kind>.<key>.id}`` stays a reference
# whatever is written: validate resolves no ``${resources...}``).
RESOURCE_BASE_FIELDS: dict[str, Any] = {"id": "string", "url": "string"}
# Required fields of CLI 0.250 that the databricks-bundles classes (written for a later API) make
# optional: a Go field without ``omitempty`` (the CLI's generated required_fields.go). An app's
# ``source_code_path`` is the CLI's own field, required to find the app's sources.
CLI_REQUIRED: dict[str, tuple[str, ...]] = {
    "RegisteredModel": ("catalog_name", "name", "schema_name"),
    "App": ("name", "source_code_path"),
}


DROP = object()  # a fix that removes the field


def _quote(text: str) -> str:
    """Go's ``%q`` for the texts a bundle holds."""
    return json.dumps(text, ensure_ascii=False)


def _text(v) -> str:
    return "true" if v is True else "false" if v is False else str(v)


@lru_cache(maxsize=1)
def _schema() -> dict:
    return load_schema()


def _want(spec) -> str:
    """The kind a spec expects, named as the CLI names kinds."""
    if isinstance(spec, str):
        return {"number": "float"}.get(spec, spec)
    if "enum" in spec:
        return "string"
    if "list" in spec:
        return "sequence"
    return "map"


def _in_resources(path: tuple) -> bool:
    """Under ``resources`` or a target's ``resources``: where ``deployment_id`` and
    ``version_id`` are reserved. Elsewhere they are unknown fields like any other."""
    return path[:1] == ("resources",) or (path[:1] == ("targets",) and path[2:3] == ("resources",))


class _Checker:
    def __init__(self, key_locations: dict | None = None, anchored: set | None = None):
        self.key_locations = key_locations or {}
        self.anchored = anchored or set()
        self.objects = _schema()["objects"]
        self.found: list[tuple[Diagnostic, tuple]] = []  # each finding with its path as parts
        self.fixes: list[tuple[tuple, object]] = []

    def add(self, severity: str, summary: str, loc, path: tuple, check: str, more: tuple = ()) -> None:
        self.found.append((Diagnostic(severity, summary, loc, format_path(path), check=check, more_locations=more),
                           path))

    def diagnostics(self) -> list[Diagnostic]:
        """The findings, a list index in a path counting the items kept before it: the CLI's
        Normalize numbers them by their place in the list it builds, without the dropped ones."""
        dropped = {path for path, new in self.fixes if new is DROP and path and isinstance(path[-1], int)}
        out = []
        for d, path in self.found:
            shown = tuple(part - sum(path[:k] + (j,) in dropped for j in range(part)) if isinstance(part, int)
                          else part for k, part in enumerate(path))
            out.append(replace(d, path=format_path(shown)) if shown != path else d)
        return out

    def bad(self, node: Value, path: tuple, spec, summary: str = "") -> None:
        self.add(WARNING, summary or f"expected {_want(spec)}, found {kind_name(node)}", node.loc, path,
                 TYPE_MISMATCH)
        self.fixes.append((path, DROP))

    def fields(self, node: Value, path: tuple, fields: dict, required=(), what: str = "") -> None:
        if not node.is_map:
            self.bad(node, path, {"ref": what})
            return
        for name, child in node.v.items():
            spec = fields.get(name)
            if spec is None and name in MANAGED and _in_resources(path):
                continue  # the reserved check reports it as an error
            if spec is None:
                # The CLI drops a field it does not know; it warns unless the value carries an
                # anchor (a place to define one, like `definitions:`).
                if child.loc not in self.anchored:
                    loc = self.key_locations.get(child.loc, child.loc)  # the CLI points at the key
                    self.add(WARNING, f"unknown field: {name}", loc, path, UNKNOWN_FIELD)
                self.fixes.append((path + (name,), DROP))  # the CLI drops what it does not know
                continue
            self.value(child, path + (name,), spec)
        for name in required:
            # Unset for the CLI is missing or null; an empty string is set, unless it is the
            # `task_key: ""` that set_defaults generated (the CLI adds it after this check).
            field = node.v.get(name)
            if field is None or field.v is None or (field.v == "" and field.loc.file.startswith("<")):
                # At every place the map was written (a target override merged into it too).
                self.add(WARNING, f'required field "{name}" is not set', node.loc, path, CHECK, node.more)

    def value(self, node: Value, path: tuple, spec) -> None:
        v = node.v
        if spec == "any":
            return
        if v is None:
            # A scalar field written with a null value: normalizeString (Bool, Int, Float) warns
            # and drops it; a null map, list or struct is kept as unset.
            if isinstance(spec, str) or "enum" in spec:
                self.add(WARNING, f"expected a {_want(spec)} value, found null", node.loc, path, TYPE_MISMATCH)
                self.fixes.append((path, DROP))
            return
        if isinstance(v, str) and "${" in v:
            # Typed once resolved (a reference left for deploy, ${resources.jobs.x.id}, stays as
            # written); an unterminated one is interpolation's error.
            return
        if isinstance(spec, str):
            self.scalar(node, path, spec)
        elif "enum" in spec:
            if isinstance(v, (dict, list)):
                self.bad(node, path, spec)
            elif str(v) not in spec["enum"]:
                # The values in the Go SDK's `Values()` order, which lists them sorted.
                self.add(WARNING, f'invalid value "{_text(v)}" for enum field. Valid values are '
                                  f'[{" ".join(sorted(spec["enum"]))}]', node.loc, path, CHECK, node.more)
        elif "list" in spec:
            if not node.is_list:
                self.bad(node, path, spec)
                return
            for i, item in enumerate(v):
                self.value(item, path + (i,), spec["list"])
        elif "map" in spec:
            if not node.is_map:
                self.bad(node, path, spec)
                return
            for k, item in v.items():
                self.value(item, path + (k,), spec["map"])
        elif "ref" in spec:
            obj = self.objects[spec["ref"]]
            fields = obj["fields"]
            if spec["ref"] in CLI_FIELDS:
                fields = {**fields, **CLI_FIELDS[spec["ref"]]}
            if "base" in spec:  # a resource itself: its BaseResource fields too
                fields = {**spec["base"], **fields}
            self.fields(node, path, fields, CLI_REQUIRED.get(spec["ref"], obj["required"]), spec["ref"])
        else:  # an inline object spec (top-level sections)
            self.fields(node, path, spec)

    def scalar(self, node: Value, path: tuple, spec: str) -> None:
        v = node.v
        if isinstance(v, (dict, list)):
            self.bad(node, path, spec)
        elif spec == "string":
            if isinstance(v, float):
                self.fixes.append((path, go_float(v, "f")))  # normalizeString's FormatFloat 'f', -1
            elif not isinstance(v, str):
                self.fixes.append((path, "true" if v is True else "false" if v is False else str(v)))
        elif spec == "int":
            if isinstance(v, bool):
                self.bad(node, path, spec)
            elif isinstance(v, float) and not v.is_integer():
                self.bad(node, path, spec, f'cannot accurately represent "{v:g}" as integer due to precision loss')
            elif isinstance(v, float):
                self.fixes.append((path, int(v)))
            elif isinstance(v, str):
                if _INT.fullmatch(v):
                    self.fixes.append((path, int(v)))
                else:
                    self.bad(node, path, spec, f"cannot parse {_quote(v)} as an integer")
        elif spec == "number":
            if isinstance(v, bool):
                self.bad(node, path, spec)
            elif isinstance(v, str):
                if _NUM.fullmatch(v):
                    self.fixes.append((path, float(v)))
                else:
                    self.bad(node, path, spec, f"cannot parse {_quote(v)} as a floating point number")
        elif spec == "bool":
            typed = as_bool(v)
            if typed is None:
                self.bad(node, path, spec)
            elif not isinstance(v, bool):
                self.fixes.append((path, typed))


# A target's own settings (the CLI's ``config.Target``), checked as written before it is merged.
TARGET: dict = {
    "default": "bool", "mode": TOP["bundle"]["mode"], "compute_id": _S, "cluster_id": _S, "bundle": TOP["bundle"],
    "workspace": TOP["workspace"], "artifacts": TOP["artifacts"], "git": _A, "run_as": TOP["run_as"],
    "presets": TOP["presets"],
    "resources": _A, "sync": TOP["sync"], "variables": _A, "permissions": TOP["permissions"],
}


def check(state: BundleState) -> tuple[list[Diagnostic], list[tuple[tuple, object]]]:
    c = _Checker(state.ctx.key_locations, state.ctx.anchored)
    _check_section(c, state.config, (), TOP)
    return c.diagnostics(), c.fixes


def check_as_loaded(state: BundleState) -> tuple[list[Diagnostic], list[tuple[tuple, object]]]:
    """The CLI's per-file ``Normalize`` while loading, before any target is merged: the unknown
    fields and the values of the wrong type of the configuration as written — every target
    included, selected or not, at its own path (``targets.prod.resources.jobs.x``) — and the
    fixes that drop them. Scalar conversions and the other findings wait for the resolved
    configuration (``check``)."""
    c = _Checker(state.ctx.key_locations, state.ctx.anchored)
    _check_section(c, state.config, (), TOP)
    for section in ("targets", "environments"):
        targets = state.config.get(section)
        if targets is not None and targets.is_map:
            for name, target in targets.v.items():
                if target.is_map:
                    _check_section(c, target, (section, name), TARGET)
    found = [d for d in c.diagnostics() if d.check in (UNKNOWN_FIELD, TYPE_MISMATCH)]
    # The CLI reports them file by file in load order, each file in document order.
    rank: dict[str, int] = {}
    for loc in state.ctx.key_locations.values():  # filled while parsing, in load order
        rank.setdefault(loc.file, len(rank))
    found.sort(key=lambda d: (rank.get(d.location.file, len(rank)), d.location.line, d.location.column)
               if d.location is not None else (len(rank), 0, 0))
    return found, [(path, new) for path, new in c.fixes if new is DROP]


def apply_fixes(config: Value, fixes: list[tuple[tuple, object]]) -> Value:
    """``config`` with the ``fixes`` of a check made: new scalar values first, then the drops,
    last first, so that dropping a list item does not move the items still to be dropped."""
    for parts, new in fixes:
        old = get_path(config, parts)
        if new is not DROP and old is not None:
            config = set_path(config, parts, Value(new, old.loc))
    for parts, new in reversed(fixes):
        if new is not DROP or get_path(config, parts) is None:
            continue
        parent = required_path(config, parts[:-1])  # the parent of the existing value
        if parent.is_list:
            kept = Value([x for i, x in enumerate(parent.v) if i != parts[-1]], parent.loc)
        else:
            kept = Value({k: x for k, x in parent.v.items() if k != parts[-1]}, parent.loc)
        config = set_path(config, parts[:-1], kept) if parts[:-1] else kept
    return config


def _check_section(c: _Checker, config: Value, prefix: tuple, fields: dict) -> None:
    """The root (``prefix`` empty) or one target: its fields, variable definitions and resources."""
    c.fields(config, prefix, fields)
    variables = config.get("variables")
    if not prefix and variables is not None and variables.is_map:
        for name, d in variables.v.items():
            if d.is_map:
                for field, child in d.v.items():
                    if field not in VARIABLE_FIELDS:
                        c.add(WARNING, f"unknown field: {field}", c.key_locations.get(child.loc, child.loc),
                              ("variables", name), UNKNOWN_FIELD)
    res = config.get("resources")
    if res is not None and res.v is not None:
        if not res.is_map:
            c.bad(res, prefix + ("resources",), {"ref": "resources"})
        else:
            roots = _schema()["roots"]
            for kind, group in res.v.items():
                root = roots.get(kind)
                if root is None or group.v is None:
                    continue  # a kind without a known shape is printed unchecked
                if not group.is_map:
                    c.bad(group, prefix + ("resources", kind), {"map": root})
                    continue
                for key, node in group.v.items():
                    path = prefix + ("resources", kind, key)
                    c.value(node, path, {"ref": root, "base": RESOURCE_BASE_FIELDS})
