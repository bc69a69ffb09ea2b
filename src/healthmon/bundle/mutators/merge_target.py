"""Merge the selected target's overrides into the root configuration, the CLI's way.

Maps merge key by key; a job's ``tasks`` merge by ``task_key`` and ``job_clusters`` by
``job_cluster_key`` (an override entry with a new key is appended); scalars and other lists are
replaced. ``mode``, ``compute_id``, ``cluster_id`` and ``git`` move under ``bundle``; target
variable entries override the variable's definition (``name: value`` sets its default).
``targets`` is dropped from the result and ``bundle.target`` is set.
"""

from __future__ import annotations

from healthmon.bundle.diag import fail
from healthmon.bundle.dyn import Value, merge, set_path

CHECK = "target"
KEYED_LISTS = {"tasks": "task_key", "job_clusters": "job_cluster_key"}
VAR_FIELDS = {"default", "description", "type", "lookup"}
TO_BUNDLE = ("mode", "compute_id", "cluster_id", "git")


def merge_keyed(base: Value, override: Value, key: str) -> Value:
    if not base.is_list or not override.is_list:
        return override
    out = list(base.v)
    index = {}
    for i, item in enumerate(out):
        k = item.get(key)
        if k is not None and k.is_scalar:
            index[k.v] = i
    for item in override.v:
        k = item.get(key)
        if k is not None and not k.is_scalar:
            k = None  # a malformed key: appended as is, the schema check reports it
        if k is not None and k.v in index:
            out[index[k.v]] = merge(out[index[k.v]], item)
        else:
            if k is not None:
                index[k.v] = len(out)
            out.append(item)
    return Value(out, override.loc)


def merge_job(base: Value, override: Value) -> Value:
    if not base.is_map or not override.is_map:
        return merge(base, override)
    out = dict(base.v)
    for field, val in override.v.items():
        if field in KEYED_LISTS and field in out:
            out[field] = merge_keyed(out[field], val, KEYED_LISTS[field])
        elif field in out:
            out[field] = merge(out[field], val)
        else:
            out[field] = val
    return Value(out, override.loc)


def merge_resources(base: Value | None, override: Value) -> Value:
    if base is None or not base.is_map or not override.is_map:
        return override if base is None else merge(base, override)
    out = dict(base.v)
    for kind, group in override.v.items():
        if kind == "jobs" and kind in out and out[kind].is_map and group.is_map:
            jobs = dict(out[kind].v)
            for key, job in group.v.items():
                jobs[key] = merge_job(jobs[key], job) if key in jobs else job
            out[kind] = Value(jobs, group.loc)
        else:
            out[kind] = merge(out[kind], group) if kind in out else group
    return Value(out, override.loc)


def merge_variables(base: Value | None, override: Value, target: str) -> Value:
    if not override.is_map:
        raise fail("variables: expected a map of variable name to value", override.loc, "variables", check=CHECK)
    out = dict(base.v) if base is not None and base.is_map else {}
    for name, val in override.v.items():
        if name not in out:
            from healthmon.bundle.suggest import did_you_mean

            raise fail(f'variable "{name}" is assigned a value in target "{target}" but is not defined under the '
                       f"top-level variables{did_you_mean(name, out)}", val.loc, f"targets.{target}.variables.{name}",
                       check=CHECK)
        if val.is_map and set(val.v) and set(val.v) <= VAR_FIELDS:
            definition = val
        else:  # shorthand: `name: value` (a map value only for complex variables)
            definition = Value({"default": val}, val.loc)
        if name in out and out[name].is_map:
            merged = merge(out[name], definition)
            if definition.get("default") is not None:  # a value replaces, never merges (complex maps)
                merged = Value({**merged.v, "default": definition.get("default")}, merged.loc)
            out[name] = merged
        else:
            out[name] = definition
    return Value(out, override.loc)


def merge_target(config: Value, target: str) -> Value:
    targets = config.get("targets")
    t = targets.v.get(target) if targets is not None and targets.is_map else None
    out = dict(config.v)
    out.pop("targets", None)
    config = Value(out, config.loc)
    if t is not None and t.v is not None:
        if not t.is_map:
            raise fail(f"targets.{target}: expected a map of settings", t.loc, f"targets.{target}", check=CHECK)
        for field, val in t.v.items():
            if field == "default":
                continue
            if field in TO_BUNDLE:
                config = set_path(config, ("bundle", field), val)
            elif field == "resources":
                config = Value({**config.v, "resources": merge_resources(config.get("resources"), val)}, config.loc)
            elif field == "variables":
                config = Value({**config.v, "variables": merge_variables(config.get("variables"), val, target)}, config.loc)
            else:
                base = config.get(field)
                config = Value({**config.v, field: merge(base, val) if base is not None else val}, config.loc)
    bundle = config.get("bundle")
    if bundle is not None and bundle.v is not None and not bundle.is_map:
        from healthmon.bundle.dyn import kind_name

        raise fail(f"bundle: expected a map with at least a name, found {kind_name(bundle)}", bundle.loc, "bundle",
                   check=CHECK)
    loc = bundle.loc if bundle is not None else config.loc
    return set_path(config, ("bundle", "target"), Value(target, loc))
