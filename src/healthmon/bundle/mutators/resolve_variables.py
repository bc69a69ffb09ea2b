"""Give every variable its ``value``.

Precedence (highest first): ``--var name=value`` > ``BUNDLE_VAR_name`` > the target's value >
the ``default``. ``type: complex`` variables hold maps/lists and can only be set in YAML. A
``lookup:`` needs a Databricks workspace, so it is an error locally unless the variable gets a
value some other way. A variable with no value at all is an error naming it and how to set it.
References inside values (``${var.other}``) are left for the interpolate step.
"""

from __future__ import annotations

from healthmon.bundle.context import LoadContext
from healthmon.bundle.diag import BundleError, Diagnostic, ERROR, fail
from healthmon.bundle.dyn import Value
from healthmon.bundle.suggest import did_you_mean

CHECK = "variables"
FIELDS = ("default", "description", "type", "lookup", "value")


def _normalise(name: str, definition: Value) -> Value:
    if definition.v is None:
        return Value({}, definition.loc)
    if definition.is_map:
        return definition
    # Top-level shorthand `name: value` is accepted like a default.
    return Value({"default": definition}, definition.loc)


def resolve_variables(config: Value, ctx: LoadContext) -> Value:
    variables = config.get("variables")
    declared: dict[str, Value] = {}
    if variables is not None and variables.v is not None:
        if not variables.is_map:
            raise fail("variables: expected a map of variable name to definition", variables.loc, "variables", check=CHECK)
        declared = {k: _normalise(k, v) for k, v in variables.v.items()}
    for name in ctx.variables:
        if name not in declared:
            raise fail(f'variable "{name}" passed with --var is not defined in the bundle{did_you_mean(name, declared)}',
                       variables.loc if variables is not None else config.loc, "variables", check=CHECK)
    errors: list[Diagnostic] = []
    out: dict[str, Value] = {}
    for name, d in declared.items():
        path = f"variables.{name}"
        vtype = d.get("type")
        if vtype is not None and vtype.v not in ("complex",):
            errors.append(Diagnostic(ERROR, f'{path}.type: unknown variable type {vtype.v!r} (expected "complex" or omitted)', vtype.loc, path, check=CHECK))
            continue
        complex_ = vtype is not None and vtype.v == "complex"
        env_name = f"BUNDLE_VAR_{name}"
        value: Value | None = None
        if name in ctx.variables:
            if complex_:
                errors.append(Diagnostic(ERROR, f'setting variable "{name}" of complex type via --var is not supported', d.loc, path, check=CHECK))
                continue
            value = Value(ctx.variables[name], d.loc)
        elif env_name in ctx.environ:
            if complex_:
                errors.append(Diagnostic(ERROR, f'setting variable "{name}" of complex type via the {env_name} environment variable is not supported', d.loc, path, check=CHECK))
                continue
            value = Value(ctx.environ[env_name], d.loc)
        elif d.get("default") is not None and d.get("default").v is not None:
            value = d.get("default")
        elif d.get("lookup") is not None:
            lk = d.get("lookup")
            what = ", ".join(lk.v) if lk.is_map else str(lk.v)
            errors.append(Diagnostic(
                ERROR, f'variable "{name}" uses a lookup ({what}); lookups need a Databricks workspace and cannot be resolved locally',
                lk.loc, f"{path}.lookup", check=CHECK,
                detail=f"Give it a value with --var {name}=..., BUNDLE_VAR_{name}, or a default in the target."))
            continue
        else:
            errors.append(Diagnostic(
                ERROR, f'no value assigned to required variable "{name}". Assignment can be done using "--var", '
                       f'by setting the {env_name} environment variable, or with a default in the target',
                d.loc, path, check=CHECK))
            continue
        if not complex_ and not value.is_scalar:
            errors.append(Diagnostic(
                ERROR, f'variable "{name}" has a {"map" if value.is_map else "sequence"} value but is not of type complex; add "type: complex"',
                value.loc, path, check=CHECK))
            continue
        out[name] = Value({**d.v, "value": value}, d.loc)
    if errors:
        raise BundleError(errors)
    if variables is None and not out:
        return config
    return Value({**config.v, "variables": Value(out, variables.loc if variables is not None else config.loc)}, config.loc)
