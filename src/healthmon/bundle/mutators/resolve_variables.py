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

from healthmon.bundle.diag import ERROR, WARNING, Diagnostic, Diagnostics, fail
from healthmon.bundle.dyn import Value, kind_name
from healthmon.bundle.jsonload import JsonError, error_location, load_json
from healthmon.bundle.step import BundleState, Step

CHECK = "variables"
FIELDS = ("default", "description", "type", "lookup", "value")
TYPES = ("complex",)
# How the CLI's required-variable error names the overrides file: with `<target>` as written,
# not the selected target (its getDefaultVariableFilePath("<target>")).
OVERRIDES_HINT = ".databricks/bundle/<target>/variable-overrides.json"


def overrides_file(b: BundleState):
    return b.ctx.root / ".databricks" / "bundle" / b.target / "variable-overrides.json"


def _overrides(b: BundleState) -> dict[str, Value]:
    """The values of ``variable-overrides.json``, read as the CLI's ``readVariablesFromFile``:
    with its JSON loader (values keep their place in the file); its errors name the absolute
    path and no location."""
    path = overrides_file(b)
    if not path.is_file():
        return {}
    display = b.ctx.display(path)
    try:
        text = path.read_text()
    except (OSError, ValueError) as exc:
        raise fail(f"failed to read variables file: {exc}", check=CHECK) from None
    try:
        data = load_json(text, display)
    except JsonError as exc:
        raise fail(f"failed to parse variables file {path}: error decoding JSON at "
                   f"{error_location(exc, text, str(path))}: {exc.message}", check=CHECK) from None
    if not data.is_map:
        raise fail(f"failed to parse variables file {path}: invalid format",
                   check=CHECK, detail='Variables file must be a JSON object with the following format:\n'
                                       '{"var1": "value1", "var2": "value2"}')
    return dict(data.v)


def _given(field: Value | None) -> Value | None:
    """``field`` unless it is absent or null (YAML ``value:`` with nothing after it)."""
    return field if field is not None and field.v is not None else None


def is_complex(d: Value) -> bool:
    """``type: complex``, or a default that is a map or a list."""
    t = d.get("type")
    if t is not None and t.v == "complex":
        return True
    default = d.get("default")
    return default is not None and not default.is_scalar


def kind_mismatch(complex_: bool, value: Value) -> bool:
    """A scalar for a complex variable, or a map/list for another one. A string holding a
    reference (``${var.base}``) may stand for either: ``interpolate`` checks what it becomes."""
    if isinstance(value.v, str) and "${" in value.v:
        return False
    return complex_ == value.is_scalar


def kind_error(name: str, complex_: bool, where: str) -> str:
    """The CLI's wording for a value of the wrong kind (its variable-file check), naming where
    the value comes from."""
    if complex_:
        return f"variable {name} is of type complex, but the value {where} is not a complex type"
    return f"variable {name} is not of type complex, but the value {where} is a complex type"


class InitializeVariables(Step):
    """The CLI's ``Root.InitializeVariables`` (after the target is selected, before initialize):
    each ``--var name=value`` must name a declared variable that is not complex and has no
    ``value:`` written in its definition. The first problem stops loading, without a location."""

    name = "initialize_variables"
    reads = ("variables.*", "--var")
    updates = ()

    def run(self, b: BundleState) -> None:
        variables = b.config.get("variables")
        declared = variables.v if variables is not None and variables.is_map else {}
        flags = b.ctx.variable_flags or tuple(f"{k}={v}" for k, v in b.ctx.variables.items())
        assigned: dict[str, str] = {}
        for flag in flags:
            name, sep, given = flag.partition("=")
            if not sep:
                raise fail(f"unexpected flag value for variable assignment: {flag}", check=CHECK)
            d = declared.get(name)
            if d is None and name in declared:
                continue  # `name:` with nothing: a variable without settings
            if d is None or not d.is_map:  # a top-level `name: value` is dropped (resolve_variables warns)
                raise fail(f"variable {name} has not been defined", check=CHECK)
            if is_complex(d):
                raise fail(f"setting variables of complex type via --var flag is not supported: {name}", check=CHECK)
            written = _given(d.get("value"))
            taken = assigned[name] if name in assigned else (written.v if written is not None else None)
            if taken is not None:  # the CLI assigns --var to `value`, which may be taken
                raise fail(f"failed to assign {given} to {name}: variable has already been assigned value: "
                           f"{taken}", check=CHECK)
            assigned[name] = given


class ResolveVariables(Step):
    name = "resolve_variables"
    reads = ("variables.*", "--var", "BUNDLE_VAR_*", ".databricks/bundle/<target>/variable-overrides.json")
    updates = ("variables.*.value",)

    def run(self, b: BundleState) -> Diagnostics:
        config, ctx = b.config, b.ctx
        variables = config.get("variables")
        declared: dict[str, Value] = {}
        dropped: list[Diagnostic] = []
        if variables is not None and variables.v is not None:
            for name, d in variables.v.items():
                if d.v is not None and not d.is_map:
                    # The shorthand `name: value` exists only in targets: the CLI's Normalize warns
                    # about a top-level one and drops it (a reference to it then does not exist).
                    dropped.append(Diagnostic(WARNING, f"expected map, found {kind_name(d)}", d.loc,
                                              f"variables.{name}", check=CHECK))
                    continue
                declared[name] = Value({}, d.loc) if d.v is None else d
        diags = Diagnostics(dropped)
        overrides = _overrides(b) if declared else {}
        out: dict[str, Value] = {}
        lookups: dict[str, Value] = {}
        for name, d in declared.items():
            path = f"variables.{name}"
            vtype = d.get("type")
            complex_ = is_complex(d)
            env_name = f"BUNDLE_VAR_{name}"
            value: Value | None = None
            written = _given(d.get("value"))
            default, lookup = _given(d.get("default")), _given(d.get("lookup"))
            if default is not None and lookup is not None:
                diags.error(f"variable {name} cannot have both a default and a lookup; set one of them",
                            lookup.loc, f"{path}.lookup", check=CHECK)
                continue
            if default is not None and vtype is not None and vtype.v == "complex" and kind_mismatch(True, default):
                diags.error(kind_error(name, True, "of its default"), default.loc, f"{path}.default", check=CHECK)
                continue
            if name in ctx.variables:  # checked by initialize_variables
                value = Value(ctx.variables[name])  # the CLI's typed Set: no location
            elif written is not None:
                value = written
            elif env_name in ctx.environ:
                if complex_:
                    diags.error(f"setting via environment variables ({env_name}) is not supported for complex "
                                f"variable {name}", check=CHECK)
                    break  # as the CLI's SetVariables: the first failing variable stops it
                value = Value(ctx.environ[env_name])  # the CLI's dyn.V: no location
            elif name in overrides:
                value = overrides[name]
                if kind_mismatch(complex_, value):  # the CLI's error names no location
                    diags.error(kind_error(name, complex_, "in the variable file"), check=CHECK)
                    break
            elif default is not None:
                value = default
            elif lookup is not None:
                lookups[name] = lookup  # resolved once every other variable has its value
                out[name] = d
                continue
            else:
                diags.add(Diagnostic(
                    ERROR, f"no value assigned to required variable {name}. Variables are usually assigned in "
                           f'databricks.yml, and they can be overridden using "--var", the {env_name} environment '
                           f"variable, or {OVERRIDES_HINT} file",
                    check=CHECK))  # the CLI names no location here, and `<target>` literally
                break
            out[name] = d.rebuilt({**d.v, "value": value})
        if diags.has_errors():
            return diags
        # As the CLI's ResolveVariableReferencesInLookup then ResolveResourceReferences: a lookup's
        # name may reference the other variables' values (`cluster: ${var.name}-${bundle.target}`).
        with_values = config.rebuilt({**config.v, "variables": Value(dict(out), config.loc)})
        # The CLI resolves lookups in an errgroup and reports only the error Wait returns: one
        # per bundle. Which one is a race there; here it is the first in written order.
        for name, lookup in lookups.items():
            value = self._lookup(lookup, name, diags, with_values)
            if value is None:
                break
            out[name] = Value({**out[name].v, "value": value}, out[name].loc)
        if diags.has_errors():
            return diags
        if variables is not None or out:
            loc = variables.loc if variables is not None else config.loc
            b.config = config.rebuilt({**config.v, "variables": Value(out, loc)})
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
            # Only these sections, as the CLI (and the rest is not resolved yet).
            scope = {k: config.v[k] for k in ("bundle", "workspace", "variables") if k in config.v}
            probe = Value({**scope, "__lookup__": target}, config.loc)
            target = interpolate(probe)[0].v["__lookup__"]
        try:
            return Value(lookup.resolve(kind, str(target.v)))  # the CLI's typed Set: no location
        except lookup.LookupError_ as exc:
            # The CLI's wording, which names the lookup but neither the variable nor a location.
            diags.add(Diagnostic(ERROR, f"failed to resolve {kind}: {target.v}, err: {exc.message}", check=CHECK))
            return None
