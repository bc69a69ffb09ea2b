"""Resolve ``${...}`` references, the CLI's ``ResolveVariableReferences``.

``${var.x}`` is shorthand for ``${variables.x.value}``; field and index access work
(``${var.cfg.clusters[0].node_type}``). References to ``bundle.*``, ``workspace.*``,
``variables.*`` and ``resources.*`` resolve against the configuration itself; a string that is
exactly one reference takes the referenced value with its type (a complex variable becomes a
map), otherwise values are substituted as text. ``${resources.<kind>.<key>.id}`` (and other
ids only a deployment knows) are left in place for deploy to fill, after checking the resource
exists. References may nest; cycles are errors showing the chain. Unknown prefixes are left
alone (as the CLI does) with a warning.
"""

from __future__ import annotations

import re

from healthmon.bundle.diag import BundleError, Diagnostic, Diagnostics, ERROR
from healthmon.bundle.dyn import Value, format_path, get_path
from healthmon.bundle.suggest import did_you_mean

CHECK = "interpolate"
REF = re.compile(
    r"\$\{([a-zA-Z]+(?:[-_]*[a-zA-Z0-9]+)*(?:\.[a-zA-Z]+(?:[-_]*[a-zA-Z0-9]+)*(?:\[[0-9]+\])*)*(?:\[[0-9]+\])*)\}"
)
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
PREFIXES = ("bundle", "workspace", "variables", "var", "resources")
# Resource fields that only exist once deployed.
DEPLOY_TIME_FIELDS = {"id", "url"}


def ref_path(text: str) -> tuple:
    parts: list = []
    for m in _PART.finditer(text):
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
    if parts and parts[0] == "var":
        parts = ["variables", parts[1], "value", *parts[2:]] if len(parts) > 1 else ["variables"]
    return tuple(parts)


def is_deploy_time(path: tuple) -> bool:
    return len(path) == 4 and path[0] == "resources" and path[3] in DEPLOY_TIME_FIELDS


class _Cycle(Exception):
    pass


class _Missing(Exception):
    pass


class Resolver:
    def __init__(self, root: Value):
        self.root = root
        self.memo: dict[tuple, Value] = {}
        self.stack: list[tuple] = []
        self.diags = Diagnostics()
        self.cycles: set[frozenset] = set()

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
                raise _Missing(format_path(path[: i + 1]))
            node = nxt
        return self.deep(node, path)

    # -- resolution -------------------------------------------------------------------
    def deep(self, node: Value, path: tuple) -> Value:
        v = node.v
        if isinstance(v, dict):
            new = {k: self.deep(x, path + (k,)) for k, x in v.items()}
            return node if all(new[k] is v[k] for k in v) else Value(new, node.loc)
        if isinstance(v, list):
            items = [self.deep(x, path + (i,)) for i, x in enumerate(v)]
            return node if all(a is b for a, b in zip(items, v)) else Value(items, node.loc)
        if isinstance(v, str) and "${" in v:
            return self.string(node, path)
        return node

    def string(self, node: Value, path: tuple) -> Value:
        hit = self.memo.get(path)
        if hit is not None:
            return hit
        text = node.v
        matches = list(REF.finditer(text))
        if not matches:
            return node
        if path in self.stack:
            chain = self.stack[self.stack.index(path):] + [path]
            raise _Cycle(" -> ".join(format_path(p) for p in chain))
        self.stack.append(path)
        try:
            resolved: list[tuple[re.Match, Value | None]] = []
            for m in matches:
                target = ref_path(m.group(1))
                if target[0] not in ("bundle", "workspace", "variables", "resources"):
                    self.diags.warning(
                        f"unknown reference ${{{m.group(1)}}} left as is{did_you_mean(str(target[0]), PREFIXES)}",
                        node.loc, format_path(path), check=CHECK)
                    resolved.append((m, None))
                    continue
                if is_deploy_time(target):
                    if get_path(self.root, target[:3]) is None:  # the resource itself must exist
                        raise _Missing(m.group(0))
                    resolved.append((m, None))
                    continue
                try:
                    resolved.append((m, self.lookup(target)))
                except _Missing as exc:
                    if str(exc).startswith(("$", "!")):
                        raise  # already names the innermost broken reference
                    raise _Missing(m.group(0)) from None
        finally:
            self.stack.pop()
        if len(matches) == 1 and matches[0].group(0) == text and resolved[0][1] is not None:
            out = Value(resolved[0][1].v, node.loc)
        else:
            pieces, last = [], 0
            for m, val in resolved:
                pieces.append(text[last:m.start()])
                if val is None:
                    pieces.append(m.group(0))
                elif isinstance(val.v, (dict, list)):
                    raise _Missing(
                        f"!cannot interpolate a {'map' if isinstance(val.v, dict) else 'sequence'} "
                        f"({m.group(0)}) into a string; use it as the whole value")
                else:
                    pieces.append(_text(val.v))
                last = m.end()
            pieces.append(text[last:])
            out = Value("".join(pieces), node.loc)
        self.memo[path] = out
        return out


def _text(v) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return ""
    return str(v)


def _resolve_top(res: Resolver, node: Value, path: tuple, errors: list[Diagnostic]) -> Value:
    """Resolve one subtree, turning failures into diagnostics at the referencing field."""
    v = node.v
    if isinstance(v, dict):
        new = {k: _resolve_top(res, x, path + (k,), errors) for k, x in v.items()}
        return Value(new, node.loc)
    if isinstance(v, list):
        return Value([_resolve_top(res, x, path + (i,), errors) for i, x in enumerate(v)], node.loc)
    if isinstance(v, str) and "${" in v:
        try:
            return res.string(node, path)
        except _Cycle as exc:
            members = frozenset(str(exc).split(" -> "))
            if members not in res.cycles:  # one report per cycle, not one per field on it
                res.cycles.add(members)
                errors.append(Diagnostic(ERROR, f"cycle detected in field resolution: {exc}", node.loc,
                                         format_path(path), check=CHECK))
        except _Missing as exc:
            msg = str(exc)
            if msg.startswith("!"):
                errors.append(Diagnostic(ERROR, msg[1:], node.loc, format_path(path), check=CHECK))
            else:
                errors.append(Diagnostic(ERROR, f"reference does not exist: {msg}", node.loc, format_path(path), check=CHECK))
        finally:
            res.stack.clear()
    return node


def interpolate(config: Value) -> tuple[Value, Diagnostics]:
    res = Resolver(config)
    errors: list[Diagnostic] = []
    out = _resolve_top(res, config, (), errors)
    if errors:
        # One diagnostic per referencing field; a broken variable is reported once per use.
        seen, unique = set(), []
        for d in errors:
            if (d.summary, str(d.location)) not in seen:
                seen.add((d.summary, str(d.location)))
                unique.append(d)
        raise BundleError(unique)
    return out, res.diags
