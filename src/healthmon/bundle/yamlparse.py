"""YAML → located ``Value``.

PyYAML's C composer gives nodes with marks; we turn them into ``Value`` trees ourselves so
every node keeps ``file:line:col``: where its value starts, as the CLI reports it (a block
map starts at its first key); an empty value takes its key's position. Syntax errors, undefined
aliases and unknown tags are errors naming the position, never tracebacks; a key written twice
keeps its later value and only a file's first document is read, as in the CLI.
"""

from __future__ import annotations

import codecs
import datetime as dt
import os
import re
from pathlib import Path

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.scanner import ScannerError

from healthmon.bundle.dyn import Value
from healthmon.errors import HealthmonError, Location

MAX_EXPANDED_NODES = 2_000_000
MAX_DEPTH = 100  # real bundles nest ~15 deep; deeper input would only exhaust recursion later
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlError(HealthmonError):
    """A file that does not parse. ``syntax`` is, for a YAML syntax error, the text Go's yaml.v3
    gives for it (``yaml: line 3: mapping values are not allowed in this context``): the bundle
    loader prints that, as the CLI does; other callers use the located message."""

    def __init__(self, message: str, *, location: Location | None = None, syntax: str | None = None,
                 loader_message: str | None = None):
        super().__init__(message, location=location)
        self.syntax = syntax
        self.loader_message = loader_message


def go_yaml_message(exc: yaml.MarkedYAMLError, text: str) -> str:
    """The message yaml.v3 (a Go port of libyaml, whose wording PyYAML's C loader already gives)
    prints for ``exc``: ``yaml: line N: <problem>``. yaml.v3's ``parser.fail`` takes the line of
    the context mark if it is not the first line, else that of the problem mark; both are 0-based
    and only a scanner error adds 1, so a parser error names the line before the mark's (and
    neither names line 0). libyaml passes the current position as the context mark of a scanner
    error without a context."""
    if isinstance(exc, ComposerError) and (exc.problem or "").startswith("found undefined alias"):
        mark = exc.problem_mark
        found = re.match(r"\*([^\s,\[\]{}]+)", text.splitlines()[mark.line][mark.column:]) if mark else None
        return f"yaml: unknown anchor '{found.group(1) if found else ''}' referenced"
    scanner = isinstance(exc, ScannerError)
    context = exc.context_mark if exc.context_mark is not None else exc.problem_mark if scanner else None
    line = 0
    for mark in (context, exc.problem_mark):
        if mark is not None and mark.line:
            line = mark.line + (1 if scanner else 0)
            break
    where = f"line {line}: " if line else ""
    return f"yaml: {where}{exc.problem or 'unknown problem parsing YAML content'}"


def _loc(file: str, node: Node) -> Location:
    m = node.start_mark
    return Location(file, m.line + 1, m.column + 1)


# The CLI reads YAML with Go's yaml.v3 (YAML 1.2) and its own scalar loader; PyYAML resolves
# plain scalars by YAML 1.1. Where they differ, the CLI's reading wins: yes/no/on/off are
# strings, `1:30` is a string (no sexagesimal), `0600` is 600 (the loader trims leading zeros
# instead of reading octal), `1e3` / `1.5e3` are floats.
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DECIMAL = re.compile(r"[-+]?[0-9]+")


def _go_scalar(node: ScalarNode) -> tuple | None:
    """``(value,)`` where yaml.v3 + the CLI's loader read a plain scalar differently from PyYAML."""
    text, tag = node.value, node.tag
    if tag in ("tag:yaml.org,2002:value", "tag:yaml.org,2002:merge"):
        return (text,)  # YAML 1.1's `=` and a `<<` value: plain strings in YAML 1.2
    if tag == "tag:yaml.org,2002:bool" and text.lower() not in ("true", "false"):
        return (text,)
    if tag == "tag:yaml.org,2002:int":
        if ":" in text:
            return (text,)
        trimmed = text.lstrip("0")
        if _DECIMAL.fullmatch(trimmed):
            return (int(trimmed),)
        return None
    if tag == "tag:yaml.org,2002:str" and not node.style and _GO_FLOAT.fullmatch(text):
        return (float(text),)
    return None


class _Converter:
    def __init__(self, file: str, keys: dict | None = None, lines: list[str] | None = None,
                 anchored: set | None = None):
        self.file = file
        self.keys = keys if keys is not None else {}  # value location -> its key's location
        self.lines = lines or []
        self.anchored = anchored if anchored is not None else set()  # locations of values with an &anchor
        self.constructor = SafeConstructor()
        self.memo: dict[int, tuple[Value, int]] = {}
        self.expanded = 0  # nodes after alias expansion: guards against "billion laughs"

    def scalar(self, node: ScalarNode, loc: Location) -> Value:
        go = _go_scalar(node)
        if go is not None:
            return Value(go[0], loc)
        if node.tag == "tag:yaml.org,2002:str":
            return Value(node.value, loc)
        try:
            obj = self.constructor.construct_object(node)
        except ConstructorError as exc:
            raise YamlError(f"cannot parse value {node.value!r}: {exc.problem}", location=loc) from None
        except (ValueError, TypeError) as exc:
            raise YamlError(f"cannot parse value {node.value!r}: {exc}", location=loc) from None
        if isinstance(obj, (dt.date, dt.datetime)):
            obj = node.value  # the CLI keeps dates as strings
        elif isinstance(obj, bytes):
            obj = node.value
        elif isinstance(obj, float) and obj != obj:  # .nan
            obj = node.value
        return Value(obj, loc)

    def convert(self, node: Node, loc: Location | None = None, depth: int = 0) -> Value:
        loc = loc or _loc(self.file, node)
        if depth > MAX_DEPTH:
            raise YamlError(f"YAML nested more than {MAX_DEPTH} levels deep", location=loc)
        cached = self.memo.get(id(node))
        if cached is not None:  # an alias: same subtree, anchor's location
            self.expanded += cached[1]
            if self.expanded > MAX_EXPANDED_NODES:
                raise YamlError("too many aliases expanded (anchor/alias bomb?)", location=loc)
            return cached[0]
        start = self.expanded
        self.expanded += 1
        if isinstance(node, ScalarNode):
            out = self.scalar(node, loc)
        elif isinstance(node, SequenceNode):
            if node.tag not in ("tag:yaml.org,2002:seq",):
                raise YamlError(f"unsupported tag {node.tag} on a sequence", location=loc)
            out = Value([self.convert(item, depth=depth + 1) for item in node.value], loc)
        elif isinstance(node, MappingNode):
            if node.tag not in ("tag:yaml.org,2002:map",):
                raise YamlError(f"unsupported tag {node.tag} on a mapping", location=loc)
            out = self.mapping(node, loc, depth)
        else:  # pragma: no cover - composer only yields the three node kinds
            raise YamlError("unsupported YAML node", location=loc)
        self.memo[id(node)] = (out, self.expanded - start)
        if self._has_anchor(node):
            self.anchored.add(out.loc)
        return out

    def _value_loc(self, key: Node, node: Node) -> Location:
        """Where the value written after ``key:`` starts. An alias's own place is lost (the
        composer hands back the anchored node, written earlier), so it is found in the text
        after the colon."""
        if node.start_mark.index > key.end_mark.index:
            return _loc(self.file, node)
        m = key.end_mark
        rest = (self.lines[m.line] if m.line < len(self.lines) else "")[m.column:]
        found = re.match(r"\s*:\s*(?=\S)", rest)
        if found is None:
            return _loc(self.file, key)
        return Location(self.file, m.line + 1, m.column + found.end() + 1)

    def _has_anchor(self, node: Node) -> bool:
        # The composer drops anchor names, but an anchored node starts at its "&name".
        m = node.start_mark
        line = self.lines[m.line] if m.line < len(self.lines) else ""
        return line[m.column:m.column + 1] == "&"

    def mapping(self, node: MappingNode, loc: Location, depth: int) -> Value:
        """A map; a key written twice takes its later value, in the earlier key's place, as the
        CLI's loader (yaml.v3 checks duplicates only when decoding into Go maps and structs, and
        ``dyn.Mapping.Set`` replaces the value of a key it holds)."""
        for key_node, _ in node.value:
            if key_node.tag != "tag:yaml.org,2002:merge" and not isinstance(key_node, ScalarNode):
                raise YamlError("mapping keys must be strings", location=_loc(self.file, key_node))
        merged: dict[str, Value] = {}
        own: dict[str, Value] = {}
        merge_seen = False
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                if merge_seen:
                    # The CLI's loader keeps one merge node per map and panics on a second one
                    # ("merge node already set"): it accepts no such bundle, so neither do we.
                    message = "map merge key (<<) written twice in one mapping"
                    raise YamlError(message, location=_loc(self.file, key_node), loader_message=message)
                merge_seen = True
                for source in self.merge_sources(key_node, value_node, depth):
                    merged.update(source.v)
                continue
            kloc = _loc(self.file, key_node)
            value = self.convert(value_node, depth=depth + 1)
            self.keys.setdefault(value.loc, kloc)
            own[str(key_node.value)] = value
        return Value({**merged, **own}, loc)

    def merge_sources(self, key: Node, node: Node, depth: int) -> list[Value]:
        """The maps a merge key (``<<: *a`` or ``<<: [*a, *b]``) brings in, in order. As the CLI's
        yamlloader (``loadMapping``), not the YAML merge-key spec: it merges the listed maps in
        order and the map's own entries last ("the entries that we already accumulated have
        precedence"), each ``Mapping.Set`` replacing a value already there, so a later map in
        the list wins over an earlier one and the map's own keys win over all; a key keeps the
        place where it first appears."""
        value = self.convert(node, depth=depth + 1)
        # An alias stands for one map (`<<: *list_of_maps` is an error there); a sequence is
        # written in place. The composer hands back an alias's anchored node, written earlier.
        alias = node.start_mark.index <= key.end_mark.index
        sources = [value] if value.is_map or alias else value.v if value.is_list else None
        if sources is None or any(not s.is_map for s in sources):
            message = "map merge requires map or sequence of maps as the value"
            raise YamlError(message, location=self._value_loc(key, node), loader_message=message)
        return sources

def parse_text(text: str, file: str, keys: dict | None = None, anchored: set | None = None) -> Value:
    """Parse the first YAML document of ``text``. An empty or null document is an empty map. ``keys`` collects, for each
    mapping value's location, the location of its key (the CLI points at keys for some
    findings, e.g. unknown fields); ``anchored`` the locations of values that carry an anchor
    (``&name``; the CLI does not call a field holding one unknown)."""
    try:
        node = _first_document(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        problem = exc.problem or exc.context or "invalid YAML"
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        raise YamlError(f"invalid YAML: {problem}{context}", location=loc, syntax=go_yaml_message(exc, text)) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}", location=Location(file)) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise YamlError(f"invalid YAML: {exc}", location=Location(file)) from None
    if node is None:
        return Value({}, Location(file, 1, 1))
    try:
        value = _Converter(file, keys, text.splitlines() if anchored is not None else None, anchored).convert(node)
    except RecursionError:
        raise YamlError("YAML nesting too deep", location=Location(file, 1, 1)) from None
    # A document that is only `---` (or `null`) is empty too — also when documents follow it:
    # the CLI's normalisation keeps a nil configuration as an empty one.
    return Value({}, value.loc) if value.v is None else value


def _first_document(text: str) -> Node | None:
    """The first document's node, or None for a stream without one. The CLI's yamlloader decodes
    once (``yaml.NewDecoder(r).Decode``): later documents are never parsed, so a syntax error
    in them goes unnoticed too. Composing stops at the first document's end as libyaml reads
    it (the next ``---`` or the end of the stream), as yaml.v3's parser does."""
    loader = _Loader(text)
    try:
        return loader.get_node() if loader.check_node() else None
    finally:
        loader.dispose()


def parse_file(path: Path, display: str, keys: dict | None = None, anchored: set | None = None) -> Value:
    """Parse ``path``; locations name it as ``display`` (relative to the bundle root)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise YamlError(f"cannot read file: {exc.strerror}", location=Location(display)) from None
    # The CLI's YAML reader (libyaml's) takes UTF-16 when the file starts with its byte-order
    # mark, UTF-8 otherwise.
    encoding = "utf-16" if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else "utf-8"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise YamlError(f"file is not {encoding.upper()} ({exc.reason} at byte {exc.start})",
                        location=Location(display)) from None
    try:
        return parse_text(text, display, keys, anchored)
    except YamlError as exc:
        if exc.loader_message and exc.location is not None:
            # The CLI's yamlloader errors name the place as `yaml (<path>:line:col): ...`, with
            # the path config.Load was given (absolute).
            loc = exc.location
            exc.syntax = f"yaml ({os.path.abspath(path)}:{loc.line}:{loc.column}): {exc.loader_message}"
        raise
