"""Give every variable its ``value`` (the CLI's ``SetVariables`` + ``ResolveLookupVariables``).

Precedence, highest first (the CLI's ``SetVariables``): a value already assigned — by
``--var name=value`` or a ``value:`` written in the definition (both at once is the CLI's
"variable has already been assigned value" error) —, ``BUNDLE_VAR_<name>``,
``.databricks/bundle/<target>/variable-overrides.json``, the target's value or the definition's
``default``, a ``lookup:``. A variable whose default is a map or a list is complex even without
``type: complex``; complex variables cannot be set by ``--var`` or the environment (errors).
References inside values (``${var.other}``) are left for ``interpolate``.
"""

from __future__ import annotations

import json

from healthmon.bundle.diag import ERROR, Diagnostic, Diagnostics, fail
from healthmon.bundle.dyn import Value, from_plain, kind_name
from healthmon.bundle.step import BundleState, Step
from healthmon.errors import Location

CHECK = "variables"
FIELDS = ("default", "description", "type", "lookup", "value")
TYPES = ("complex",)


def overrides_file(b: BundleState):
    return b.ctx.root / ".databricks" / "bundle" / b.target / "variable-overrides.json"


def _overrides(b: BundleState) -> dict[str, Value]:
    path = overrides_file(b)
    if not path.is_file():
        return {}
    display = b.ctx.display(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise fail(f"failed to parse variables file {display}: {exc.msg}", Location(display, exc.lineno, exc.colno),
                   check=CHECK) from None
    except (OSError, ValueError) as exc:
        raise fail(f"failed to parse variables file {display}: {exc}", Location(display), check=CHECK) from None
    if not isinstance(data, dict):
        raise fail("failed to parse variables file: expected a map, found " + kind_name(data), Location(display, 1, 1),
                   check=CHECK, detail='Variables file must be a JSON object with the following format:\n'
                                       '{"var1": "value1", "var2": "value2"}')
    return {k: from_plain(v, Location(display)) for k, v in data.items()}


def _given(field: Value | None) -> Value | None:
    """``field`` unless it is absent or null (YAML ``value:`` with nothing after it)."""
    return field if field is not None and field.v is not None else None


def _is_complex(d: Value) -> bool:
    t = d.get("type")
    if t is not None and t.v == "complex":
        return True
    default = d.get("default")
    return default is not None and not default.is_scalar


class ResolveVariables(Step):
    name = "resolve_variables"
    reads = ("variables.*", "--var", "BUNDLE_VAR_*", ".databricks/bundle/<target>/variable-overrides.json")
    updates = ("variables.*.value",)

    def run(self, b: BundleState) -> Diagnostics:
        config, ctx = b.config, b.ctx
        variables = config.get("variables")
        declared: dict[str, Value] = {}
        if variables is not None and variables.v is not None:
            for name, d in variables.v.items():
                # Top-level shorthand `name: value` is accepted as a default.
                declared[name] = (Value({}, d.loc) if d.v is None
                                  else d if d.is_map else Value({"default": d}, d.loc))
        for name in ctx.variables:
            if name not in declared:
                raise fail(f"variable {name} has not been defined", check=CHECK)
        diags = Diagnostics()
        overrides = _overrides(b) if declared else {}
        out: dict[str, Value] = {}
        for name, d in declared.items():
            path = f"variables.{name}"
            vtype = d.get("type")
            if vtype is not None and vtype.v not in TYPES:
                diags.warning(f'invalid value "{vtype.v}" for enum field. Valid values are [complex]', vtype.loc,
                              f"{path}.type", check=CHECK)
            complex_ = _is_complex(d)
            env_name = f"BUNDLE_VAR_{name}"
            value: Value | None = None
            written = _given(d.get("value"))
            default, lookup = _given(d.get("default")), _given(d.get("lookup"))
            if name in ctx.variables:
                if complex_:
                    diags.add(Diagnostic(ERROR, f"setting variable of complex type via --var flag is not supported: "
                                                f"{name}", d.loc, path, check=CHECK))
                    continue
                if written is not None:  # the CLI assigns --var to `value`, which is taken
                    diags.error(f"failed to assign {ctx.variables[name]} to {name}: variable has already been "
                                f"assigned value: {written.v}", check=CHECK)
                    continue
                value = Value(ctx.variables[name], d.loc)
            elif written is not None:
                value = written
            elif env_name in ctx.environ:
                if complex_:
                    diags.error(f"setting via environment variables ({env_name}) is not supported for complex "
                                f"variable {name}", check=CHECK)
                    continue
                value = Value(ctx.environ[env_name], d.loc)
            elif name in overrides:
                value = overrides[name]
            elif default is not None:
                value = default
            elif lookup is not None:
                value = self._lookup(lookup, name, diags, config)
                if value is None:
                    continue
            else:
                diags.add(Diagnostic(
                    ERROR, f"no value assigned to required variable {name}. Variables are usually assigned in "
                           f'databricks.yml, and they can be overridden using "--var", the {env_name} environment '
                           f"variable, or {overrides_file(b).relative_to(ctx.root).as_posix()} file",
                    check=CHECK))  # the CLI names no location here
                continue
            out[name] = Value({**d.v, "value": value}, d.loc)
        if diags.has_errors():
            return diags
        if variables is not None or out:
            loc = variables.loc if variables is not None else config.loc
            b.config = Value({**config.v, "variables": Value(out, loc)}, config.loc)
        return diags

    @staticmethod
    def _lookup(lk: Value, name: str, diags: Diagnostics, config: Value) -> Value | None:
        from healthmon.bundle import lookup
        from healthmon.bundle.mutators.interpolate import interpolate

        if not lk.is_map or len(lk.v) != 1:
            diags.add(Diagnostic(ERROR, f"variable {name}: a lookup names exactly one object kind "
                                        f"({', '.join(lookup.KINDS)})", lk.loc, f"variables.{name}.lookup",
                                 check=CHECK))
            return None
        (kind, target), = lk.v.items()
        if kind not in lookup.KINDS:
            diags.add(Diagnostic(ERROR, f"variable {name}: unknown lookup kind {kind!r} (expected one of "
                                        f"{', '.join(lookup.KINDS)})", target.loc, f"variables.{name}.lookup.{kind}",
                                 check=CHECK))
            return None
        if isinstance(target.v, str) and "${" in target.v:
            # The name refers to other values (``${bundle.target}-warehouse``): resolve it first,
            # as the CLI's ResolveVariableReferencesInLookup does.
            probe = Value({**config.v, "__lookup__": target}, config.loc)
            target = interpolate(probe)[0].v["__lookup__"]
        try:
            return Value(lookup.resolve(kind, str(target.v)), target.loc)
        except lookup.LookupError_ as exc:
            # The CLI's wording, which names the lookup but neither the variable nor a location.
            diags.add(Diagnostic(ERROR, f"failed to resolve {kind}: {target.v}, err: {exc.message}", check=CHECK))
            return None
