"""Read a JSON file as the CLI's ``libs/dyn/jsonloader`` does (for
``.databricks/bundle/<target>/variable-overrides.json``).

The CLI decodes token by token with Go's ``json.Decoder``: it reads one top-level value and
ignores what follows it, a key written twice takes its later value, and each value is located
at the decoder's offset *after* its token (a string at its closing quote, a map or list just
after its bracket; the column is that offset minus the line's start). A syntax error carries
Go's ``encoding/json`` wording; one in the first token has no place (``:0:0``, the invalid
value's empty location), a later one the offset where the decoder stopped.
"""

from __future__ import annotations

import bisect
import json

from healthmon.bundle.dyn import Value
from healthmon.errors import Location

_SPACE = " \t\r\n"
_ESCAPES = '"\\/bfnrtu'


class JsonError(Exception):
    """Go's message and where the decoder stopped (``None``: the first token failed)."""

    def __init__(self, message: str, offset: int | None):
        super().__init__(message)
        self.message = message
        self.offset = offset


def _quote(c: str) -> str:
    """Go's ``quoteChar``."""
    if c == "'":
        return "'\\''"
    if c == '"':
        return "'\"'"
    q = json.dumps(c)[1:-1] if (c < " " or c == "\\") else c
    return f"'{q}'"


class _Reader:
    def __init__(self, text: str, file: str):
        self.text, self.file = text, file
        self.starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]

    def at(self, offset: int) -> Location:
        line = bisect.bisect_right(self.starts, offset)
        return Location(self.file, line, offset - self.starts[line - 1])

    def skip(self, i: int) -> int:
        while i < len(self.text) and self.text[i] in _SPACE:
            i += 1
        return i

    def peek(self, i: int, first: bool) -> tuple[str, int]:
        """The next non-space character; the end of input is the decoder's io.EOF, which the
        CLI words as "unexpected end of JSON input"."""
        i = self.skip(i)
        if i >= len(self.text):
            raise JsonError("unexpected end of JSON input", None if first else i)
        return self.text[i], i

    def value(self, i: int, first: bool = False) -> tuple[Value, int]:
        c, i = self.peek(i, first)
        if c == "{":
            return self.mapping(i)
        if c == "[":
            return self.sequence(i)
        if c in "]},:":
            raise JsonError(f"invalid character {_quote(c)} looking for beginning of value", None if first else i)
        return self.scalar(i, first)

    def mapping(self, i: int) -> tuple[Value, int]:
        out: dict[str, Value] = {}
        loc, i = self.at(i + 1), i + 1
        c, i = self.peek(i, False)
        if c == "}":
            return Value(out, loc), i + 1
        while True:
            if c != '"':
                raise JsonError(f"invalid character {_quote(c)} looking for beginning of object key string", i)
            key, i = self.scalar(i, False)
            c, i = self.peek(i, False)
            if c != ":":
                raise JsonError(f"invalid character {_quote(c)} after object key", i)
            out[str(key.v)], i = self.value(i + 1)
            c, i = self.peek(i, False)
            if c == "}":
                return Value(out, loc), i + 1
            if c != ",":
                raise JsonError(f"invalid character {_quote(c)} after object key:value pair", i)
            c, i = self.peek(i + 1, False)

    def sequence(self, i: int) -> tuple[Value, int]:
        items: list[Value] = []
        loc, i = self.at(i + 1), i + 1
        c, i = self.peek(i, False)
        if c == "]":
            return Value(items, loc), i + 1
        while True:
            item, i = self.value(i)
            items.append(item)
            c, i = self.peek(i, False)
            if c == "]":
                return Value(items, loc), i + 1
            if c != ",":
                raise JsonError(f"invalid character {_quote(c)} after array element", i)
            i += 1

    def scalar(self, i: int, first: bool) -> tuple[Value, int]:
        """A string, number or literal, checked as Go's scanner does (its messages); the value
        itself is read by Python's decoder once it is known to be valid."""
        where = None if first else i
        end = self._scan_scalar(i, where)
        raw = self.text[i:end]
        obj = json.loads(raw)
        if isinstance(obj, float) and obj.is_integer():
            obj = int(obj)  # Go decodes numbers as float64; the loader keeps an integral one as int
        return Value(obj, self.at(end)), end

    def _scan_scalar(self, i: int, where: int | None) -> int:
        t, n = self.text, len(self.text)

        def bad(c: str, context: str):
            return JsonError(f"invalid character {_quote(c)} {context}", where)

        c = t[i]
        if c == '"':
            j = i + 1
            while True:
                if j >= n:
                    raise JsonError("unexpected EOF", where)
                ch = t[j]
                if ch == '"':
                    return j + 1
                if ch < " ":
                    raise bad(ch, "in string literal")
                if ch == "\\":
                    if j + 1 >= n:
                        raise JsonError("unexpected EOF", where)
                    esc = t[j + 1]
                    if esc not in _ESCAPES:
                        raise bad(esc, "in string escape code")
                    if esc == "u":
                        for k in range(j + 2, j + 6):
                            if k >= n:
                                raise JsonError("unexpected EOF", where)
                            if t[k] not in "0123456789abcdefABCDEF":
                                raise bad(t[k], "in \\u hexadecimal character escape")
                        j += 6
                        continue
                    j += 2
                    continue
                j += 1
        if c == "-" or c.isdigit():
            j = i + 1 if c == "-" else i
            if j >= n or not t[j].isdigit():
                if j >= n:
                    raise JsonError("unexpected EOF", where)
                raise bad(t[j], "in numeric literal")
            j = j + 1 if t[j] == "0" else self._digits(j)
            if j < n and t[j] == ".":
                if j + 1 >= n:
                    raise JsonError("unexpected EOF", where)
                if not t[j + 1].isdigit():
                    raise bad(t[j + 1], "after decimal point in numeric literal")
                j = self._digits(j + 1)
            if j < n and t[j] in "eE":
                j += 1
                if j < n and t[j] in "+-":
                    j += 1
                if j >= n:
                    raise JsonError("unexpected EOF", where)
                if not t[j].isdigit():
                    raise bad(t[j], "in exponent of numeric literal")
                j = self._digits(j)
            return j
        for word in ("true", "false", "null"):
            if c == word[0]:
                for k, want in enumerate(word[1:], start=i + 1):
                    if k >= n:
                        raise JsonError("unexpected EOF", where)
                    if t[k] != want:
                        raise bad(t[k], f"in literal {word} (expecting {_quote(want)})")
                return i + len(word)
        raise bad(c, "looking for beginning of value")

    def _digits(self, j: int) -> int:
        while j < len(self.text) and self.text[j].isdigit():
            j += 1
        return j


def load_json(text: str, file: str) -> Value:
    """The first JSON value of ``text``, located in ``file`` (see the module's docstring)."""
    reader = _Reader(text, file)
    try:
        return reader.value(0, first=True)[0]
    except RecursionError:
        raise JsonError("exceeded max depth", 0) from None


def error_location(exc: JsonError, text: str, file: str) -> str:
    """``file:line:col`` as the CLI prints a JSON error's place (``:0:0`` when it has none)."""
    if exc.offset is None:
        return ":0:0"
    loc = _Reader(text, file).at(exc.offset)
    return f"{file}:{loc.line}:{loc.column}"
