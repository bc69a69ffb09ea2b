"""Vectorised builders of Arrow columns from numpy arrays (ids, timestamps, pools, decimals).

Everything here is O(n) in C (numpy / Arrow compute); no per-row Python, which is what keeps
generation above a million rows per second.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

US = 1_000_000  # microseconds per second
DAY_US = 86_400 * US
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_UUID_LAYOUT = [8, 4, 4, 4, 12]


def _strings_from_matrix(chars: np.ndarray) -> pa.Array:
    """(n, width) uint8 matrix of ASCII → string array, zero-copy of the bytes."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(chars)))


# byte → its two hex digits, as one little-endian uint16 (one gather per byte instead of two)
_HEX2 = (_HEX[np.arange(256) >> 4].astype(np.uint16) | (_HEX[np.arange(256) & 15].astype(np.uint16) << 8))


def _hex_matrix(rng: np.random.Generator, n: int, nchars: int) -> np.ndarray:
    raw = np.frombuffer(rng.bytes(n * ((nchars + 1) // 2)), dtype=np.uint8).reshape(n, -1)
    out = _HEX2[raw].view(np.uint8).reshape(n, -1)
    return out[:, :nchars]


def hex_ids(rng: np.random.Generator, n: int, nchars: int = 32) -> pa.Array:
    return _strings_from_matrix(_hex_matrix(rng, n, nchars))


def prefixed_hex(rng: np.random.Generator, n: int, prefix: str, nchars: int) -> pa.Array:
    """``prefix`` + random hex, e.g. EC2-like instance ids ``i-0a1b...``."""
    p = len(prefix)
    out = np.empty((n, p + nchars), dtype=np.uint8)
    out[:, :p] = np.frombuffer(prefix.encode(), dtype=np.uint8)
    out[:, p:] = _hex_matrix(rng, n, nchars)
    return _strings_from_matrix(out)


def uuids(rng: np.random.Generator, n: int) -> pa.Array:
    """Random version-4 UUID strings (``8-4-4-4-12`` hex)."""
    hexes = _hex_matrix(rng, n, 32)
    hexes[:, 12] = ord("4")
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    src = 0
    dst = 0
    for width in _UUID_LAYOUT:
        out[:, dst:dst + width] = hexes[:, src:src + width]
        src += width
        dst += width + 1
    return _strings_from_matrix(out)


def int_strings(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def timestamps(us: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(us, dtype=np.int64)).cast(pa.timestamp("us", tz="UTC"))


def dates(us: np.ndarray) -> pa.Array:
    days = (np.asarray(us, dtype=np.int64) // DAY_US).astype(np.int32)
    return pa.array(days).cast(pa.date32())


def decimals(values: np.ndarray, precision: int, scale: int) -> pa.Array:
    # Values come from float64 (~16 significant digits): round where float noise starts, so a
    # price of 0.36 is stored as 0.36 and round-trips through any export format unchanged.
    coarse = min(scale, 9)
    arr = pa.array(np.asarray(values, dtype=np.float64)).cast(pa.decimal128(precision, coarse), safe=False)
    return arr if coarse == scale else arr.cast(pa.decimal128(precision, scale))


def pool(values: Sequence | pa.Array, type_: pa.DataType | None = None) -> pa.Array:
    return values if isinstance(values, pa.Array) else pa.array(list(values), type=type_)


def take(values: Sequence | pa.Array, idx: np.ndarray, type_: pa.DataType | None = None) -> pa.Array:
    """``values[idx]`` for a small pool of values (strings, maps, lists...), in C.

    Strings come back dictionary-encoded: no copy of the text per row, and Parquet stores
    them dictionary-encoded anyway (Delta sees a plain ``string`` column).
    """
    values = pool(values, type_)
    indices = pa.array(np.asarray(idx, dtype=np.int32))
    if pa.types.is_string(values.type):
        return pa.DictionaryArray.from_arrays(indices, values)
    return values.take(indices)


def map_column(keys: Sequence[str], pool_values: Sequence[str], idx: np.ndarray, present: np.ndarray) -> pa.Array:
    """A map<string,string> column: rows where ``present`` get ``{k: pool_values[idx] for k in
    keys}`` (every key maps to the same value), the others an empty map. Built from offsets and
    index arrays, without per-row objects."""
    present = np.asarray(present, dtype=bool)
    k = len(keys)
    offsets = np.concatenate([[0], np.cumsum(np.where(present, k, 0))]).astype(np.int32)
    sel = np.asarray(idx)[present]
    items = pa.DictionaryArray.from_arrays(pa.array(np.repeat(sel, k).astype(np.int32)),
                                           pa.array(list(pool_values), pa.string())).cast(pa.string())
    key_arr = pa.DictionaryArray.from_arrays(pa.array(np.tile(np.arange(k, dtype=np.int32), len(sel))),
                                             pa.array(list(keys), pa.string())).cast(pa.string())
    return pa.MapArray.from_arrays(pa.array(offsets), key_arr, items)


def const(value: str | None, n: int) -> pa.Array:
    """The same string on every row (dictionary-encoded: one value, n zero indices)."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([value], pa.string()))


def masked(arr: pa.Array, keep: np.ndarray) -> pa.Array:
    """NULL where ``keep`` is false."""
    keep = np.asarray(keep, dtype=bool)
    if pa.types.is_dictionary(arr.type):
        idx = arr.indices.to_numpy(zero_copy_only=False)
        return pa.DictionaryArray.from_arrays(pa.array(idx, mask=~keep), arr.dictionary)
    return pc.if_else(pa.array(keep), arr, pa.scalar(None, arr.type))


def ips(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> pa.Array:
    parts = [int_strings(x) for x in (a, b, c, d)]
    return pc.binary_join_element_wise(*parts, ".")


def table(gold, n: int, columns: dict[str, pa.Array | np.ndarray]) -> pa.Table:
    """Assemble a gold table: every schema column, in order; absent ones are NULL."""
    arrays = []
    for f in gold.schema:
        col = columns.get(f.name)
        if col is None:
            arrays.append(pa.nulls(n, f.type))
            continue
        if not isinstance(col, (pa.Array, pa.ChunkedArray)):
            col = pa.array(col)
        if pa.types.is_dictionary(col.type) and col.type.value_type == f.type:
            pass  # stays dictionary-encoded until Parquet
        elif col.type != f.type:
            col = col.cast(f.type)
        arrays.append(col)
    unknown = set(columns) - set(gold.column_names)
    if unknown:
        raise KeyError(f"columns not in {gold.name}: {sorted(unknown)}")
    fields = [f.with_type(a.type) for f, a in zip(gold.schema, arrays)]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def same_logical_schema(a: pa.Schema, b: pa.Schema) -> bool:
    """Equal names and types, treating dictionary<string> as string."""
    if a.names != b.names:
        return False
    for x, y in zip(a, b):
        tx = x.type.value_type if pa.types.is_dictionary(x.type) else x.type
        if tx != y.type:
            return False
    return True


def decode(table: pa.Table) -> pa.Table:
    """Dictionary columns → plain (for callers that compare or compute on the table)."""
    cols = [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns]
    return pa.Table.from_arrays(cols, names=table.column_names)
