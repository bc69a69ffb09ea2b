"""Spark SQL type strings (as in ``information_schema.columns.full_data_type``) ↔ Arrow types.

The gold schemas and the real system-table schemas are both written in Databricks' own type
syntax, so they read like the catalog and can be compared with it; this module turns them
into ``pyarrow`` types. TIMESTAMP is UTC-aware microseconds, as Delta stores it.
"""

from __future__ import annotations

import re

import pyarrow as pa

_PRIMITIVES = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "long": pa.int64(),
    "int": pa.int32(),
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "short": pa.int16(),
    "tinyint": pa.int8(),
    "byte": pa.int8(),
    "double": pa.float64(),
    "float": pa.float32(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "timestamp_ntz": pa.timestamp("us"),
    "binary": pa.binary(),
}

_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|[<>,:()]|\d+)")


class TypeSyntaxError(ValueError):
    pass


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = [m.group(1) for m in _TOKEN.finditer(text)]
        if "".join(self.tokens) != re.sub(r"\s+", "", text):
            raise TypeSyntaxError(f"cannot tokenize type {text!r}")
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise TypeSyntaxError(f"expected {expected or 'a token'} at token {self.pos} of {self.text!r}")
        self.pos += 1
        return tok

    def parse(self) -> pa.DataType:
        name = self.take().lower()
        if name == "struct":
            self.take("<")
            fields = []
            while self.peek() != ">":
                fname = self.take()
                self.take(":")
                fields.append(pa.field(fname, self.parse()))
                if self.peek() == ",":
                    self.take(",")
            self.take(">")
            return pa.struct(fields)
        if name == "array":
            self.take("<")
            item = self.parse()
            self.take(">")
            # Delta (and Parquet's LIST convention) names the item field "element".
            return pa.list_(pa.field("element", item))
        if name == "map":
            self.take("<")
            key = self.parse()
            self.take(",")
            value = self.parse()
            self.take(">")
            return pa.map_(key, value)
        if name == "decimal":
            precision, scale = 10, 0
            if self.peek() == "(":
                self.take("(")
                precision = int(self.take())
                if self.peek() == ",":
                    self.take(",")
                    scale = int(self.take())
                self.take(")")
            return pa.decimal128(precision, scale)
        if name in _PRIMITIVES:
            return _PRIMITIVES[name]
        raise TypeSyntaxError(f"unknown type {name!r} in {self.text!r}")


def parse_type(text: str) -> pa.DataType:
    """``"map<string,string>"`` → ``pa.map_(pa.string(), pa.string())``."""
    parser = _Parser(text)
    result = parser.parse()
    if parser.peek() is not None:
        raise TypeSyntaxError(f"trailing tokens in type {text!r}")
    return result


def spark_type(dtype: pa.DataType) -> str:
    """The inverse of :func:`parse_type`, for messages and catalog views."""
    if pa.types.is_struct(dtype):
        return "struct<" + ",".join(f"{f.name}:{spark_type(f.type)}" for f in dtype) + ">"
    if pa.types.is_map(dtype):
        return f"map<{spark_type(dtype.key_type)},{spark_type(dtype.item_type)}>"
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return f"array<{spark_type(dtype.value_type)}>"
    if pa.types.is_decimal(dtype):
        return f"decimal({dtype.precision},{dtype.scale})"
    if pa.types.is_timestamp(dtype):
        return "timestamp" if dtype.tz else "timestamp_ntz"
    if pa.types.is_large_string(dtype) or pa.types.is_string(dtype):
        return "string"
    for name, t in _PRIMITIVES.items():
        if t == dtype:
            return name
    return str(dtype)
