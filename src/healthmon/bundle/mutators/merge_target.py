"""Merge the selected target's overrides into the root configuration (the CLI's
``SelectTarget`` / ``Root.MergeTargetOverrides``).

``bundle``, ``workspace``, ``artifacts``, ``resources``, ``sync``, ``permissions`` and
``presets`` merge like every CLI merge (maps key by key, sequences concatenated, scalars
replaced); entries of ``tasks``, ``job_clusters``, ``environments`` and ``parameters`` that end
up with the same key are combined later by ``merge_keyed_lists``, after their keys are
interpolated. ``run_as`` is replaced, not merged. ``mode`` and ``cluster_id`` (``compute_id`` was renamed)
move under ``bundle``; ``git`` merges into ``bundle.git``. Target ``variables:`` entries override
the variable: ``name: value`` (or a map value for a complex variable) replaces its default — a
value of the wrong kind for the variable is an error here, naming the target —, a ``lookup:``
replaces its default, a default its lookup; a description or type written there is not taken.
``targets`` is left null, as the CLI's ``SelectTarget`` leaves it (``b.Config.Targets = nil``; the
typed round trip keeps a key the tree had, so ``validate -o json`` prints ``"targets": null``);
``bundle.target`` and ``bundle.environment`` name the target.
"""

from __future__ import annotations

from healthmon.bundle.diag import fail
from healthmon.bundle.dyn import MergeError, Value, merge, set_path
from healthmon.bundle.mutators.resolve_variables import is_complex, kind_error, kind_mismatch
from healthmon.bundle.step import BundleState, Step

CHECK = "target"
VAR_FIELDS = {"default", "description", "type", "lookup", "value"}
TARGET_SETS = {"default", "lookup", "value"}
MERGED = ("bundle", "workspace", "artifacts", "resources", "sync", "permissions", "presets")
TO_BUNDLE = ("mode", "cluster_id")


def merge_variables(base: Value | None, override: Value, target: str) -> Value:
    if not override.is_map:
        raise fail(f"expected map, found {override.v!r}", override.loc, f"targets.{target}.variables", check=CHECK)
    out = dict(base.v) if base is not None and base.is_map else {}
    for name, val in override.v.items():
        if name not in out:  # the CLI's validateVariableOverrides: a plain error, no location
            raise fail(f"variable {name} is not defined but is assigned a value", check=CHECK)
        current = out[name]
        # A map of definition fields is the target's definition; for a complex variable only
        # when it sets one (`{default: {...}}`): its value may well be `{type: ..., description: ...}`.
        keys = set(val.v) if val.is_map else set()
        complex_ = current.is_map and is_complex(current)
        if keys and keys <= VAR_FIELDS and (not complex_ or keys & TARGET_SETS):
            definition = val
        else:  # shorthand: `name: value` (a map or list value for complex variables)
            definition = Value({"default": val}, val.loc)
        given = definition.v.get("default")
        if given is not None and given.v is not None:
            if kind_mismatch(complex_, given):
                raise fail(kind_error(name, complex_, f'assigned in target "{target}"'), given.loc,
                           f"targets.{target}.variables.{name}", check=CHECK)
        if current.is_map:
            fields = dict(current.v)
            for k, x in definition.v.items():
                # The CLI's MergeTargetOverrides sets only a target's `default` and `lookup` on
                # the variable (its description and type stay the definition's). A value
                # replaces, never merges (complex maps).
                if x.v is not None and k in TARGET_SETS:
                    fields[k] = x
            # A target's value replaces the definition's lookup, a target's lookup its default:
            # the target says how this variable gets its value.
            if "lookup" not in definition.v and ("default" in definition.v or "value" in definition.v):
                fields.pop("lookup", None)
            if "lookup" in definition.v and "default" not in definition.v:
                fields.pop("default", None)
            out[name] = Value(fields, current.loc)
        else:
            out[name] = definition
    return Value(out, override.loc)


def merge_target(config: Value, target: str) -> Value:
    targets = config.get("targets")
    t = targets.v.get(target) if targets is not None and targets.is_map else None
    out = dict(config.v)
    out["targets"] = Value(None)  # no location: the typed round trip makes a new value
    config = Value(out, config.loc)
    if t is not None and t.v is not None:
        try:
            for field in MERGED:
                val = t.get(field)
                if val is not None and val.v is not None:
                    base = config.get(field)
                    config = config.rebuilt({**config.v, field: merge(base, val) if base is not None else val})
        except MergeError as exc:
            raise fail(str(exc), exc.loc, check=CHECK) from None
        run_as = t.get("run_as")
        if run_as is not None:
            config = config.rebuilt({**config.v, "run_as": run_as})
        for field in TO_BUNDLE:
            val = t.get(field)
            if val is not None:
                config = set_path(config, ("bundle", field), val)
        git = t.get("git")
        if git is not None and git.is_map:
            bundle = config.get("bundle")
            base = bundle.get("git") if bundle is not None and bundle.is_map else None
            merged_git = merge(base, git) if base is not None else git
            if "branch" in git.v:
                # As the CLI's MergeTargetOverrides: a branch the target names is not inferred, so
                # it sets `inferred: false` (dyn.V, no location), which the output keeps.
                merged_git = merged_git.rebuilt({**merged_git.v, "inferred": Value(False)})
            config = set_path(config, ("bundle", "git"), merged_git)
        variables = t.get("variables")
        if variables is not None and variables.v is not None:
            merged = merge_variables(config.get("variables"), variables, target)
            config = config.rebuilt({**config.v, "variables": merged})
    # Set on the CLI's typed configuration: no location.
    config = set_path(config, ("bundle", "target"), Value(target))
    return set_path(config, ("bundle", "environment"), Value(target))


class MergeTarget(Step):
    name = "merge_target"
    reads = ("targets.*",)
    updates = ("bundle", "workspace", "artifacts", "resources", "sync", "permissions", "presets", "run_as",
               "variables", "targets")

    def run(self, b: BundleState) -> None:
        targets = b.config.get("targets")
        b.target_settings = targets.v.get(b.target) if targets is not None and targets.is_map else None
        b.config = merge_target(b.config, b.target)
