"""Resolve ``${...}`` references, the CLI's ``ResolveVariableReferences``.

``${var.x}`` is shorthand for ``${variables.x.value}``; field and index access work
(``${var.cfg.clusters[0].node_type}``). References to ``bundle.*``, ``workspace.*`` and
``variables.*`` resolve against the configuration itself (a missing one is an error, except
an unset field of the CLI's Bundle / Workspace types: its zero value, ``""`` for
``${bundle.git.origin_url}`` outside a repository);
``${resources.*}`` is left as written: the CLI resolves only the ``bundle``, ``workspace`` and
``variables`` prefixes in initialize, and a deployment fills in resource references (here the
deploy replaces job ids and URLs). A string that is exactly one reference
takes the referenced value with its type (a complex variable becomes a map), otherwise values
are substituted as text. A string whose substitution yields a new reference
(``${var.foo_${var.tail}}``) is resolved again, for at most 11 rounds like the CLI. A cycle
of plain references is an error showing the chain; a cycle through complex values stops with
the CLI's "Detected unresolved variables" warning and stays unresolved. Unknown prefixes are
left alone, as the CLI does. An unterminated ``${`` is an error.
"""

from __future__ import annotations

import re

from healthmon.bundle.diag import ERROR, BundleError, Diagnostic, Diagnostics
from healthmon.bundle.dyn import Value, format_path, go_float
from healthmon.bundle.step import BundleState, Step

CHECK = "interpolate"
UNRESOLVED = "unresolved_rounds"  # the warning when resolution rounds run out
# The CLI's reference pattern, with Unicode letters and digits in names.
_WORD = r"[^\W\d_]+(?:[-_]*[^\W_]+)*"
REF = re.compile(r"\$\{(" + _WORD + r"(?:\." + _WORD + r"(?:\[[0-9]+\])*)*(?:\[[0-9]+\])*)\}")
MAX_ROUNDS = 11  # the CLI's maxResolutionRounds
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def ref_path(text: str) -> tuple:
    parts: list = []
    for m in _PART.finditer(text):
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
    if parts and parts[0] == "var":
        parts = ["variables", parts[1], "value", *parts[2:]] if len(parts) > 1 else ["variables"]
    return tuple(parts)


def map_children(node: Value, path: tuple, fn) -> Value:
    """``node`` with ``fn(child, child path)`` applied to each child; unchanged if no child changed."""
    v = node.v
    if isinstance(v, dict):
        new = {k: fn(x, path + (k,)) for k, x in v.items()}
        return node if all(new[k] is v[k] for k in v) else Value(new, node.loc)
    items = [fn(x, path + (i,)) for i, x in enumerate(v)]
    return node if all(a is b for a, b in zip(items, v)) else Value(items, node.loc)


# The CLI resolves references against the configuration normalised with IncludeMissingFields:
# a field of its Bundle / Workspace types that is not set resolves to the type's zero value
# ("${bundle.git.origin_url} should resolve to an empty string if a bundle isn't located in a
# Git repository (yet)", resolve_variable_references.go). Pointer fields (lock.enabled) have no
# zero value and stay missing; current_user is always set, so its SCIM fields that the workspace
# did not return are zero too.
_GIT_ZERO = {"branch": "", "actual_branch": "", "commit": "", "origin_url": "", "inferred": False,
             "bundle_root_path": ""}
ZERO_VALUES: dict = {
    "bundle": {"name": "", "databricks_cli_version": "", "target": "", "environment": "", "mode": "",
               "compute_id": "", "cluster_id": "", "uuid": "", "git": _GIT_ZERO,
               "deployment": {"fail_on_active_runs": False, "lock": {"force": False}}},
    "workspace": {**dict.fromkeys(("host", "profile", "auth_type", "metadata_service_url", "client_id",
                                   "azure_workspace_resource_id", "azure_client_id", "azure_tenant_id",
                                   "azure_environment", "azure_login_app_id", "google_service_account",
                                   "root_path", "file_path", "resource_path", "artifact_path", "state_path"), ""),
                  "azure_use_msi": False,
                  "current_user": {"id": "", "userName": "", "displayName": "", "externalId": "", "active": False,
                                   "short_name": "", "domain_friendly_name": "", "groups": [], "emails": [],
                                   "entitlements": [], "roles": []}},
}


def zero_value(path: tuple):
    """The zero value of an unset Bundle / Workspace field, or None when the CLI has no such field."""
    node = ZERO_VALUES
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return None if isinstance(node, dict) else node


class _Cycle(Exception):
    pass


class _Missing(Exception):
    pass


class _NotString(Exception):
    """A map or list referenced inside a longer string (the CLI's dynvar error, no location)."""


class Resolver:
    def __init__(self, root: Value):
        self.root = root
        self.memo: dict[tuple, Value] = {}
        self.stack: list[tuple] = []
        self.in_container = 0
        self.diags = Diagnostics()

    def unresolved(self) -> None:
        """The CLI's warning when its resolution rounds run out: once per bundle and without a
        location, since its round loop covers the whole configuration, not one field."""
        if not any(d.check == UNRESOLVED for d in self.diags):
            self.diags.warning(f"Detected unresolved variables after {MAX_ROUNDS} resolution rounds", check=UNRESOLVED)

    # -- lookup -----------------------------------------------------------------------
    def _step(self, node: Value, part, path: tuple) -> Value | None:
        if isinstance(node.v, str) and "${" in node.v:
            node = self.string(node, path)
        if isinstance(part, int):
            return node.v[part] if isinstance(node.v, list) and 0 <= part < len(node.v) else None
        return node.v.get(part) if isinstance(node.v, dict) else None

    def lookup(self, path: tuple) -> Value:
        node = self.root
        for i, part in enumerate(path):
            nxt = self._step(node, part, path[:i])
            if nxt is None:
                zero = zero_value(path)
                if zero is None:
                    raise _Missing(format_path(path[: i + 1]))
                return Value(zero, node.loc)
            node = nxt
        if node.is_scalar:
            return self.deep(node, path)
        self.in_container += 1  # a cycle from here on runs through a complex value
        try:
            return self.deep(node, path)
        finally:
            self.in_container -= 1

    # -- resolution -------------------------------------------------------------------
    def deep(self, node: Value, path: tuple) -> Value:
        v = node.v
        if isinstance(v, (dict, list)):
            return map_children(node, path, self.deep)
        if isinstance(v, str) and "${" in v:
            return self.string(node, path)
        return node

    def string(self, node: Value, path: tuple) -> Value:
        hit = self.memo.get(path)
        if hit is not None:
            return hit
        if path in self.stack:
            raise _Cycle(list(self.stack), path, self.in_container > 0)
        out = node
        self.stack.append(path)
        try:
            for _ in range(MAX_ROUNDS):
                new = self._substitute(out, path)
                if new is out or not isinstance(new.v, str) or new.v == out.v or not REF.search(new.v):
                    out = new
                    break
                out = new
            else:
                self.unresolved()
        finally:
            self.stack.pop()
        self.memo[path] = out
        return out

    def _substitute(self, node: Value, path: tuple) -> Value:
        text = node.v
        matches = list(REF.finditer(text))
        if not matches:
            return node
        resolved: list[tuple[re.Match, Value | None]] = []
        for m in matches:
            target = ref_path(m.group(1))
            if target[0] not in ("bundle", "workspace", "variables"):
                # Not resolved here: ${resources...} is for the deployment, ${HOME} for a script.
                resolved.append((m, None))
                continue
            try:
                resolved.append((m, self.lookup(target)))
            except _Missing as exc:
                if str(exc).startswith("$"):
                    raise  # already names the innermost broken reference
                raise _Missing(m.group(0)) from None
        if len(matches) == 1 and matches[0].group(0) == text:
            val = resolved[0][1]
            return node if val is None else Value(val.v, node.loc)
        pieces, last = [], 0
        for m, val in resolved:
            pieces.append(text[last:m.start()])
            if val is None:
                pieces.append(m.group(0))
            elif isinstance(val.v, (dict, list)):
                raise _NotString(f"cannot interpolate non-string value: {m.group(0)}")
            else:
                pieces.append(_text(val.v))
            last = m.end()
        pieces.append(text[last:])
        return Value("".join(pieces), node.loc)


def _text(v) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return ""
    if isinstance(v, float):
        return go_float(v, "g")  # dynvar splices with fmt.Sprint
    return str(v)


def unterminated(text: str) -> bool:
    """A ``${`` with no closing ``}`` (after removing the well-formed references)."""
    rest = REF.sub("", text)
    i = rest.find("${")
    return i >= 0 and "}" not in rest[i:]


class _Walk:
    def __init__(self, res: Resolver):
        self.res = res
        self.errors: list[tuple[str, Diagnostic]] = []  # (path of the referencing field, finding)
        self.cycles: set[frozenset] = set()

    def top(self, node: Value, path: tuple) -> Value:
        """Resolve one subtree, turning failures into diagnostics at the referencing field."""
        v = node.v
        if isinstance(v, (dict, list)):
            return map_children(node, path, self.top)
        if not (isinstance(v, str) and "${" in v):
            return node
        res = self.res
        if unterminated(v):
            self.errors.append((format_path(path), Diagnostic(
                ERROR, f'unterminated variable reference in "{v}": "${{" has no closing "}}"', node.loc,
                format_path(path), check=CHECK)))
            return node
        try:
            return res.string(node, path)
        except _Cycle as exc:
            stack, again, through_complex = exc.args
            members = frozenset(stack[stack.index(again):])
            if members not in self.cycles:  # one report per cycle, not one per field on it
                self.cycles.add(members)
                if not through_complex:
                    # As the CLI: every reference followed from the field, up to the first one seen
                    # twice; no location.
                    refs = stack[1:] + [again]
                    if again not in stack[1:]:
                        # The reference after the repeated one; a field naming itself repeats itself.
                        after = stack.index(again) + 1
                        refs.append(stack[after] if after < len(stack) else again)
                    self.errors.append((format_path(path), Diagnostic(
                        ERROR, "cycle detected in field resolution: " + " -> ".join(format_path(p) for p in refs),
                        check=CHECK)))
                else:
                    res.unresolved()
        except _NotString as exc:
            self.errors.append((format_path(path), Diagnostic(ERROR, str(exc), check=CHECK)))
        except _Missing as exc:
            # As the CLI: the reference is the message; no location.
            self.errors.append((format_path(path), Diagnostic(ERROR, f"reference does not exist: {exc}",
                                                              check=CHECK)))
        finally:
            res.stack.clear()
            res.in_container = 0
        return node


def interpolate(config: Value) -> tuple[Value, Diagnostics]:
    res = Resolver(config)
    walk = _Walk(res)
    out = walk.top(config, ())
    if walk.errors:
        # As the CLI's dynvar.Resolve: references are resolved in the sorted order of the fields
        # holding them and the first failure stops resolution, so one error is reported.
        raise BundleError([min(walk.errors, key=lambda e: e[0])[1]])
    return out, res.diags


class Interpolate(Step):
    name = "interpolate"
    reads = ("*",)
    updates = ("*",)

    def run(self, b: BundleState) -> Diagnostics:
        b.config, found = interpolate(b.config)
        return found
