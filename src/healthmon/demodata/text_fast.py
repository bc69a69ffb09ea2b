"""Vectorised reading of CSV and JSON-lines system-table exports (pyarrow.csv / pyarrow.json).

No per-row Python: CSV columns are read as text and converted with Arrow casts; JSON lines are
parsed by pyarrow.json against the real types. Complex CSV values (struct, map, array — JSON
text, as Databricks downloads them) are parsed by pyarrow.json too, one wrapped line per value.
pyarrow.json has no map type, so map columns are read as inferred structs (one field per key
seen) and folded back into maps.

Anything this path cannot take as is raises :class:`Unsupported` (or an Arrow error) and the
caller falls back to the row reader (:func:`healthmon.demodata.readers.read_text_rows`), which
accepts the looser forms and reports errors with their line and column. So the result never
depends on which path ran. A ``.gz`` file is read as its decompressed bytes (:func:`file_bytes`).
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pjson

from healthmon.interrupts import map_on_threads

BLOCK = 1 << 24  # 16 MiB blocks: few blocks per file, parsed on Arrow's thread pool
# Python's json module raises RecursionError past ~1000 levels; pyarrow.json (RapidJSON) has no
# limit and overflows the stack. Lines or values with more opening brackets than this (an upper
# bound of their depth) go to the row reader, which turns the RecursionError into a message.
MAX_BRACKETS = 512


class Unsupported(Exception):
    """The vectorised reader cannot read this file exactly; use the row reader."""


def file_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed when its name ends in ``.gz`` (whole, so a truncated or
    corrupt one raises EOFError, zlib.error or gzip.BadGzipFile before any row is used)."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.lower().endswith(".gz") else data


def has_map(t: pa.DataType) -> bool:
    if pa.types.is_map(t):
        return True
    if pa.types.is_struct(t):
        return any(has_map(f.type) for f in t)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return has_map(t.value_type)
    return False


def _json_type(t: pa.DataType) -> pa.DataType | None:
    """The type to ask pyarrow.json for (None = infer: maps). Dates are read as text
    (pyarrow.json takes dates as day numbers only) and converted after."""
    if has_map(t):
        return None
    if pa.types.is_date(t):
        return pa.string()
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(_json_type(f.type)) for f in t])
    if pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(_json_type(t.value_type)))
    return t


def _struct_to_map(arr: pa.Array, expected: pa.MapType) -> pa.Array:
    """An inferred struct (one field per key) → map: each row gets the keys whose value is
    present, in field (first-seen) order."""
    n = len(arr)
    if pa.types.is_null(arr.type):
        return pa.nulls(n, expected)
    if not pa.types.is_struct(arr.type):
        raise Unsupported(f"expected a JSON object for a map, found {arr.type}")
    names = [f.name for f in arr.type]
    k = len(names)
    row_valid = arr.is_valid().to_numpy(zero_copy_only=False)
    if k == 0:
        offsets = np.zeros(n + 1, dtype=np.int32)
        return pa.MapArray.from_arrays(pa.array(offsets), pa.array([], expected.key_type),
                                       pa.array([], expected.item_type), mask=pa.array(~row_valid))
    children = [_conform(arr.field(i), expected.item_type) for i in range(k)]
    present = np.stack([c.is_valid().to_numpy(zero_copy_only=False) for c in children], axis=1) & row_valid[:, None]
    counts = present.sum(axis=1)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    rows, fields = np.nonzero(present)  # row-major: each row's keys in field order
    values = pa.concat_arrays(children).take(pa.array(fields * n + rows))
    keys = pa.array(names, expected.key_type).take(pa.array(fields.astype(np.int32)))
    return pa.MapArray.from_arrays(pa.array(offsets), keys, values, mask=pa.array(~row_valid))


def _conform(arr: pa.Array, expected: pa.DataType) -> pa.Array:
    """A parsed column → the expected type (struct fields by name, missing ones NULL)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type == expected:
        return arr
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), expected)
    if pa.types.is_map(expected):
        return _struct_to_map(arr, expected)
    if pa.types.is_struct(expected):
        if not pa.types.is_struct(arr.type):
            raise Unsupported(f"expected a JSON object, found {arr.type}")
        names = {f.name for f in arr.type}
        children = [_conform(arr.field(f.name), f.type) if f.name in names else pa.nulls(len(arr), f.type)
                    for f in expected]
        return pa.StructArray.from_arrays(children, fields=list(expected), mask=arr.is_null())
    if pa.types.is_list(expected):
        if not pa.types.is_list(arr.type):
            raise Unsupported(f"expected a JSON array, found {arr.type}")
        values = _conform(arr.values, expected.value_type)
        return pa.ListArray.from_arrays(arr.offsets, values, type=expected, mask=arr.is_null())
    if pa.types.is_date(expected) and pa.types.is_string(arr.type):
        return pc.cast(pc.utf8_slice_codeunits(pc.utf8_trim_whitespace(arr), 0, 10), expected)
    if pa.types.is_string(expected) and not pa.types.is_string(arr.type):
        raise Unsupported("a string column holds JSON values")  # the row reader re-serialises them
    return pc.cast(arr, expected)


def _timestamps(text: pa.Array, expected: pa.DataType) -> pa.Array:
    try:
        return pc.cast(text, expected)
    except pa.ArrowInvalid:
        # no zone (``2026-01-01 10:00:00``): UTC, as the row reader assumes
        naive = pc.cast(text, pa.timestamp(expected.unit))
        return pc.cast(naive, expected)


def _from_text(text: pa.Array, expected: pa.DataType) -> pa.Array:
    """A CSV text column (NULL = empty field) → the expected type."""
    if pa.types.is_string(expected):
        return text
    if pa.types.is_nested(expected):
        return from_json_text(text, expected)
    text = pc.utf8_trim_whitespace(text)
    if pa.types.is_timestamp(expected):
        return _timestamps(text, expected)
    if pa.types.is_date(expected):
        return pc.cast(pc.utf8_slice_codeunits(text, 0, 10), expected)
    if pa.types.is_floating(expected):
        return pc.cast(pc.cast(text, pa.float64()), expected)
    return pc.cast(text, expected)  # integers, decimals, booleans (true/false/1/0)


def from_json_text(text: pa.Array, expected: pa.DataType) -> pa.Array:
    """JSON text per row → struct/map/list, through pyarrow.json: ``{"v": <text>}`` per line."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    deepest = pc.max(pc.add(pc.count_substring(text, "["), pc.count_substring(text, "{"))).as_py() if len(text) else 0
    if (deepest or 0) > MAX_BRACKETS:
        raise Unsupported("deeply nested JSON")  # RapidJSON would overflow the stack
    if pc.any(pc.match_substring(text, "\n")).as_py():
        raise Unsupported("line breaks in JSON values")
    if pa.types.is_map(expected):  # an empty map written as an empty list
        text = pc.if_else(pc.equal(pc.utf8_trim_whitespace(text), "[]"), pa.scalar("{}"), text)
    lines = pc.binary_join_element_wise("{\"v\":", pc.fill_null(text, "null"), "}\n", "")
    lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    # the lines' character data back to back = the JSON-lines document (no copy per row)
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset:lines.offset + len(lines) + 1]
    body = lines.buffers()[2][int(offsets[0]):int(offsets[-1])] if len(lines) else pa.py_buffer(b"")
    jt = _json_type(expected)
    opts = pjson.ParseOptions(explicit_schema=pa.schema([("v", jt)]) if jt else None,
                              unexpected_field_behavior="ignore" if jt else "infer", newlines_in_values=False)
    parsed = pjson.read_json(pa.BufferReader(body), read_options=pjson.ReadOptions(block_size=BLOCK),
                             parse_options=opts)
    if parsed.num_rows != len(text):
        raise Unsupported("JSON values span lines")
    col = parsed.column("v") if "v" in parsed.column_names else pa.nulls(len(text))
    return _conform(col, expected)


def _csv_header(raw: BinaryIO) -> list[str]:
    with io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh), [])


def read_csv_fast(path: Path, schema: pa.Schema, tops: list[str]) -> pa.Table:
    # A plain file is streamed from disk; a .gz is decompressed whole first (file_bytes), so a
    # truncated one fails here instead of yielding the rows before the cut.
    data = file_bytes(path) if path.name.lower().endswith(".gz") else None
    header = _csv_header(io.BytesIO(data) if data is not None else path.open("rb"))
    if any(t not in header for t in tops) or len(set(header)) != len(header):
        raise Unsupported("header")  # the row reader names the missing column
    # Block by block, not read_csv's one native call: an interrupt is handled between blocks.
    reader = pcsv.open_csv(
        pa.BufferReader(data) if data is not None else path,
        read_options=pcsv.ReadOptions(block_size=BLOCK),
        parse_options=pcsv.ParseOptions(newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(include_columns=tops, column_types={t: pa.string() for t in tops},
                                            null_values=[""], strings_can_be_null=True,
                                            quoted_strings_can_be_null=True),
    )
    batches = [batch for batch in reader]  # noqa: C416 - list(reader) would not return to Python between blocks
    table = pa.Table.from_batches(batches, schema=reader.schema)
    # Columns are converted on two threads: parsing a column of JSON text (structs, maps) is most
    # of the work, and one column is often a single pyarrow.json block (one thread) otherwise.
    # Each column in slices of about a block of text, so that an interrupt waits for one slice.
    slices = [(t, start, length) for t in tops for start, length in _slices(table.column(t))]
    parts = map_on_threads(lambda s: _from_text(table.column(s[0]).slice(s[1], s[2]).combine_chunks(),
                                                schema.field(s[0]).type), slices)
    cols = []
    for t in tops:
        mine = [p for s, p in zip(slices, parts) if s[0] == t]
        cols.append(mine[0] if len(mine) == 1 else pa.concat_arrays(mine))
    return pa.table(cols, schema=pa.schema([schema.field(t).with_nullable(True) for t in tops]))


def _slices(col: pa.ChunkedArray) -> list[tuple[int, int]]:
    """(offset, length) row ranges of about BLOCK bytes of ``col`` each (at least one range)."""
    n = len(col)
    count = max(1, min(n, -(-col.nbytes // BLOCK)))
    step = -(-n // count) if n else 0
    return [(start, min(step, n - start)) for start in range(0, n, step)] if n else [(0, 0)]


def _empty_maps_as_objects(data: bytes, names: list[str]) -> bytes:
    """``data`` with ``"<map column>": []`` rewritten as ``{}`` (some writers emit an empty map
    as an empty list; pyarrow.json needs one JSON kind per column). Literal replacements of the
    two usual spellings (with and without a space), no per-row work; any other spelling makes
    pyarrow.json fail and the row reader take the file."""
    for name in names:
        for sep in (": ", ":"):
            data = data.replace(f'"{name}"{sep}[]'.encode(), f'"{name}"{sep}{{}}'.encode())
    return data


def _check_depth(data: bytes) -> None:
    """Unsupported when a line holds more than MAX_BRACKETS opening brackets (an upper bound of
    its nesting depth): RapidJSON recurses without a limit and would overflow the stack."""
    raw = np.frombuffer(data, dtype=np.uint8)
    opening = (raw == ord("[")) | (raw == ord("{"))
    if int(opening.sum()) <= MAX_BRACKETS:
        return
    ends = np.flatnonzero(raw == ord("\n"))
    per_line = (
        np.add.reduceat(opening.astype(np.int32), np.concatenate(([0], ends[:-1] + 1)))
        if len(ends)
        else [opening.sum()]
    )
    tail = int(opening[ends[-1] + 1:].sum()) if len(ends) else 0
    if max(int(np.max(per_line)), tail) > MAX_BRACKETS:
        raise Unsupported("deeply nested JSON")


def _line_blocks(data: bytes, size: int) -> list[tuple[int, int]]:
    """(start, end) byte ranges of about ``size`` bytes of ``data``, each ending at a line end
    (or the end of the data); at least one range."""
    blocks = []
    start = 0
    while start < len(data):
        cut = data.find(b"\n", min(start + size, len(data)) - 1)
        end = len(data) if cut < 0 else cut + 1
        blocks.append((start, end))
        start = end
    return blocks or [(0, 0)]


def read_json_fast(path: Path, schema: pa.Schema, tops: list[str], keys: frozenset[str]) -> pa.Table:
    fields = [pa.field(t, _json_type(schema.field(t).type)) for t in tops if _json_type(schema.field(t).type)]
    maps = [t for t in tops if pa.types.is_map(schema.field(t).type)]
    opts = pjson.ParseOptions(explicit_schema=pa.schema(fields),
                              unexpected_field_behavior="infer" if len(fields) < len(tops) else "ignore")
    data = file_bytes(path)

    def read_block(block: tuple[int, int]) -> list[pa.Array]:
        body = data[block[0]:block[1]]
        _check_depth(body)
        if maps:
            body = _empty_maps_as_objects(body, maps)
        table = pjson.read_json(pa.BufferReader(body), read_options=pjson.ReadOptions(block_size=BLOCK),
                                parse_options=opts)
        return [_conform(table.column(t), schema.field(t).type) if t in table.column_names
                else pa.nulls(table.num_rows, schema.field(t).type) for t in tops]

    # Parsed block by block on two threads (pyarrow.json's read of the whole file is one native
    # call, minutes long for a large export): an interrupt waits for the blocks in progress only,
    # a quarter of a CSV block each (a JSON block's parse and conversion take about as long).
    parts = map_on_threads(read_block, _line_blocks(data, BLOCK // 4))
    cols = [pa.concat_arrays([p[i] for p in parts]) for i in range(len(tops))]
    n = len(cols[0]) if cols else 0
    for t, col in zip(tops, cols):
        if t in keys and n and col.null_count == n:
            raise Unsupported("key column absent")  # the row reader tells absent from NULL
    return pa.table(cols, schema=pa.schema([schema.field(t).with_nullable(True) for t in tops]))


def read_text_fast(path: Path, schema: pa.Schema, paths: list[tuple[str, ...]], fmt: str,
                   keys: frozenset[str] = frozenset()) -> pa.Table:
    tops = list(dict.fromkeys(p[0] for p in paths))
    if fmt == "csv":
        return read_csv_fast(path, schema, tops)
    return read_json_fast(path, schema, tops, keys)
