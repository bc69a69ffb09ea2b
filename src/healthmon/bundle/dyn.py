"""A located value model, like the Databricks CLI's ``dyn.Value``.

Every node of the configuration keeps the file/line/column it came from, so a mutator that
moves or rewrites a value keeps its origin and every diagnostic can point at the source.
``Value.v`` is a ``dict[str, Value]``, a ``list[Value]`` or a plain scalar (str, int, float, bool,
None). Values are treated as immutable by the mutators: helpers return new trees and share
untouched subtrees, which keeps the pipeline's steps pure and cheap.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from healthmon.errors import Location

NO_LOC = Location("<generated>")

Path = tuple  # tuple[str | int, ...]: map keys and list indexes


class Value:
    """``loc`` is where the value starts; ``more`` the further places a merge brought in (a target
    override, an include), as the CLI's ``dyn.Value.Locations()`` lists them after the first."""

    __slots__ = ("v", "loc", "more")

    def __init__(self, v: Any, loc: Location = NO_LOC, more: tuple[Location, ...] = ()):
        self.v = v
        self.loc = loc
        self.more = more

    @property
    def locs(self) -> tuple[Location, ...]:
        """Every place the value was written, first definition first."""
        return (self.loc, *self.more)

    def rebuilt(self, v: Any) -> "Value":
        """``v`` in this value's place, keeping all of its locations."""
        return Value(v, self.loc, self.more)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Value({self.v!r}, {self.loc})"

    @property
    def is_map(self) -> bool:
        return isinstance(self.v, dict)

    @property
    def is_list(self) -> bool:
        return isinstance(self.v, list)

    @property
    def is_scalar(self) -> bool:
        return not isinstance(self.v, (dict, list))

    def get(self, key: str) -> "Value | None":
        return self.v.get(key) if isinstance(self.v, dict) else None

    def plain(self) -> Any:
        return to_plain(self)


def kind_name(value: "Value | Any") -> str:
    v = value.v if isinstance(value, Value) else value
    if isinstance(v, dict):
        return "map"
    if isinstance(v, list):
        return "sequence"
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    return "string"


def is_zero(value: "Value | None") -> bool:
    """Missing, null, or a Go zero value ("" or 0): what the CLI's mutators, testing typed
    fields (`if j.MaxConcurrentRuns == 0`), treat as unset."""
    return value is None or value.v is None or (value.v in ("", 0) and not isinstance(value.v, bool))


# The strings the CLI's Normalize reads as a bool where its type wants one (go-yaml's YAML 1.1
# words; the CLI parses YAML 1.2, so they reach it as strings).
_TRUE_WORDS = frozenset({"y", "Y", "yes", "Yes", "YES", "on", "On", "ON"})
_FALSE_WORDS = frozenset({"n", "N", "no", "No", "NO", "off", "Off", "OFF"})


def as_bool(v: Any) -> bool | None:
    """``v`` as a bool field takes it (``True``, ``"yes"``, ``"true"``), else ``None``."""
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        if v in _TRUE_WORDS or v.lower() == "true":
            return True
        if v in _FALSE_WORDS or v.lower() == "false":
            return False
    return None


def go_float(v: float, verb: str) -> str:
    """``v`` as Go writes a float64 with the shortest digits that read back the same:
    ``strconv.FormatFloat(v, 'f', -1, 64)`` for ``verb`` "f" (Normalize typing a float as a
    string: ``1.0`` -> ``1``, ``1e-07`` -> ``0.0000001``) and ``fmt.Sprint`` for "g" (a float spliced
    into a string: ``%v``, so %g's shortest form, the exponent form below 10^-4 and from 10^6,
    ``1e+06``)."""
    if v != v or v in (float("inf"), float("-inf")):
        return {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}[repr(v)]
    sign = "-" if v < 0 or (v == 0 and repr(v).startswith("-")) else ""
    if v == 0:
        return sign + "0"
    # repr() gives the shortest round-tripping digits; split them into digits and the place of
    # the decimal point (value = 0.DIGITS x 10^point).
    mantissa, _, exp = repr(abs(v)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    point = len(whole) + int(exp or 0) - (len(whole + frac) - len((whole + frac).lstrip("0")))
    digits = digits.rstrip("0")
    if verb == "g" and not -4 <= point - 1 < 6:
        e = point - 1
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e{'-' if e < 0 else '+'}{abs(e):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def to_plain(value: Value) -> Any:
    v = value.v
    if isinstance(v, dict):
        return {k: to_plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_plain(x) for x in v]
    return v


def in_place_of(current: "Value | None", v: Any) -> Value:
    """``v`` where ``current`` was written (its locations), or a generated value (no location) when
    there was none: as the CLI's ``FromTyped`` keeps a changed scalar's locations and gives a new
    field none."""
    return Value(v) if current is None else current.rebuilt(v)


def from_plain(obj: Any, loc: Location = NO_LOC) -> Value:
    if isinstance(obj, Value):
        return obj
    if isinstance(obj, dict):
        return Value({str(k): from_plain(x, loc) for k, x in obj.items()}, loc)
    if isinstance(obj, (list, tuple)):
        return Value([from_plain(x, loc) for x in obj], loc)
    return Value(obj, loc)


_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_path(text: str) -> Path:
    """``a.b[0].c`` → ``("a", "b", 0, "c")``."""
    out: list[str | int] = []
    pos = 0
    for m in _PATH_TOKEN.finditer(text):
        if m.group(1) is not None:
            out.append(m.group(1))
        else:
            out.append(int(m.group(2)))
        pos = m.end()
    del pos
    return tuple(out)


def format_path(path: Path) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text


def get_path(root: Value, path: Path) -> Value | None:
    cur: Value | None = root
    for part in path:
        if cur is None:
            return None
        if isinstance(part, int):
            if not isinstance(cur.v, list) or part >= len(cur.v) or part < 0:
                return None
            cur = cur.v[part]
        else:
            if not isinstance(cur.v, dict):
                return None
            cur = cur.v.get(part)
    return cur


def required_path(root: Value, path: Path) -> Value:
    """The value at ``path``, which an earlier loading step guarantees is there (``workspace.*``
    after the workspace defaults, ``bundle.target`` after target selection)."""
    found = get_path(root, path)
    if found is None:
        raise LookupError(f"{format_path(path)} is missing: a loading step ran out of order")
    return found


def set_path(root: Value, path: Path, new: Value) -> Value:
    """A copy of ``root`` with ``new`` at ``path``; maps along the way are created if missing."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        if not isinstance(root.v, list) or head >= len(root.v):
            raise KeyError(format_path(path))
        items = list(root.v)
        items[head] = set_path(items[head], rest, new)
        return root.rebuilt(items)
    base = dict(root.v) if isinstance(root.v, dict) else {}
    child = base.get(head)
    if child is None or (rest and not isinstance(rest[0], int) and not isinstance(child.v, dict)):
        child = Value({}, new.loc if child is None else child.loc)
    base[head] = set_path(child, rest, new)
    return Value(base, root.loc, root.more)


def walk(root: Value, path: Path = ()) -> Iterator[tuple[Path, Value]]:
    """Every (path, value) pair, depth first, parents before children."""
    yield path, root
    v = root.v
    if isinstance(v, dict):
        for k, x in v.items():
            yield from walk(x, path + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from walk(x, path + (i,))


def map_values(root: Value, fn: Callable[[Path, Value], Value], path: Path = ()) -> Value:
    """Rebuild the tree bottom-up, replacing each node by ``fn(path, node)``."""
    v = root.v
    if isinstance(v, dict):
        new = {k: map_values(x, fn, path + (k,)) for k, x in v.items()}
        root = root.rebuilt(new)
    elif isinstance(v, list):
        root = root.rebuilt([map_values(x, fn, path + (i,)) for i, x in enumerate(v)])
    return fn(path, root)


class MergeError(ValueError):
    """Two values of different kinds met in a merge ("cannot merge map with string")."""

    def __init__(self, message: str, loc: Location):
        super().__init__(message)
        self.loc = loc


def _joined(first: Value, then: Value) -> tuple[Location, ...]:
    """``first``'s locations followed by ``then``'s (the CLI's ``AppendLocationsFromValue``),
    without generated places or repeats."""
    out: list[Location] = []
    for loc in (*first.locs, *then.locs):
        if loc not in out and loc.line:
            out.append(loc)
    return tuple(out) or (first.loc,)


def merge(base: Value, override: Value) -> Value:
    """Merge ``override`` into ``base`` as the CLI's ``merge.Merge``: maps merge key by key,
    sequences are concatenated, a scalar replaces, a null on either side yields the other side;
    a map or sequence meeting another kind is a ``MergeError``. A merged map or sequence starts
    at ``base`` (its first definition; path translation falls back to it) and also lists
    ``override``'s places; a replaced scalar lists its new place first, then the old one (the
    CLI's ``mergeMap`` / ``mergeSequence`` / ``mergePrimitive``)."""
    if override.v is None:
        first, then = base, override
    elif base.v is None:
        first, then = override, base
    elif isinstance(base.v, dict):
        if not isinstance(override.v, dict):
            raise MergeError(f"cannot merge map with {kind_name(override)}", override.loc)
        out = dict(base.v)
        for k, x in override.v.items():
            out[k] = merge(out[k], x) if k in out else x
        first, then = Value(out, base.loc, base.more), override
    elif isinstance(base.v, list):
        if not isinstance(override.v, list):
            raise MergeError(f"cannot merge sequence with {kind_name(override)}", override.loc)
        first, then = Value([*base.v, *override.v], base.loc, base.more), override
    else:
        first, then = override, base
    loc, *more = _joined(first, then)
    return Value(first.v, loc, tuple(more))


# -- patterns ---------------------------------------------------------------------------------
# A pattern is a path whose parts may be ANY_KEY (``*``: every key of a map) or ANY_INDEX
# (``[*]``: every item of a sequence), as the CLI's ``dyn.NewPattern(dyn.Key("resources"),
# dyn.AnyKey(), ...)``. Steps use them instead of walking the tree by hand.


class _Any:
    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return self.text


ANY_KEY = _Any("*")
ANY_INDEX = _Any("[*]")
_PATTERN_TOKEN = re.compile(r"(\*)|([^.\[\]]+)|\[(\*|\d+)\]")


def pattern(text: str) -> Path:
    """``resources.jobs.*.tasks[*]`` → ``("resources", "jobs", ANY_KEY, "tasks", ANY_INDEX)``."""
    out: list = []
    for m in _PATTERN_TOKEN.finditer(text):
        if m.group(1):
            out.append(ANY_KEY)
        elif m.group(2) is not None:
            out.append(m.group(2))
        else:
            out.append(ANY_INDEX if m.group(3) == "*" else int(m.group(3)))
    return tuple(out)


def find(root: Value, pat: "Path | str", prefix: Path = ()) -> Iterator[tuple[Path, Value]]:
    """Every (path, value) matching ``pat``, in document order."""
    if isinstance(pat, str):
        pat = pattern(pat)
    if not pat:
        yield prefix, root
        return
    head, rest = pat[0], pat[1:]
    v = root.v
    if head is ANY_KEY:
        if isinstance(v, dict):
            for k, x in v.items():
                yield from find(x, rest, prefix + (k,))
    elif head is ANY_INDEX:
        if isinstance(v, list):
            for i, x in enumerate(v):
                yield from find(x, rest, prefix + (i,))
    elif isinstance(head, int):
        if isinstance(v, list) and 0 <= head < len(v):
            yield from find(v[head], rest, prefix + (head,))
    elif isinstance(v, dict) and head in v:
        yield from find(v[head], rest, prefix + (head,))


def map_pattern(root: Value, pat: "Path | str", fn: Callable[[Path, Value], Value], prefix: Path = ()) -> Value:
    """A copy of ``root`` with every value matching ``pat`` replaced by ``fn(path, value)``;
    subtrees that do not match are shared, not copied."""
    if isinstance(pat, str):
        pat = pattern(pat)
    if not pat:
        return fn(prefix, root)
    head, rest = pat[0], pat[1:]
    v = root.v
    if head is ANY_KEY or (isinstance(head, str) and head is not ANY_INDEX):
        if not isinstance(v, dict):
            return root
        keys = v.keys() if head is ANY_KEY else ([head] if head in v else [])
        changed: dict[Any, Value] = {}
        for k in keys:
            new = map_pattern(v[k], rest, fn, prefix + (k,))
            if new is not v[k]:
                changed[k] = new
        return root.rebuilt({**v, **changed}) if changed else root
    if not isinstance(v, list):
        return root
    idx = range(len(v)) if head is ANY_INDEX else ([head] if 0 <= head < len(v) else [])
    items, any_changed = list(v), False
    for i in idx:
        new = map_pattern(v[i], rest, fn, prefix + (i,))
        if new is not v[i]:
            items[i], any_changed = new, True
    return root.rebuilt(items) if any_changed else root
