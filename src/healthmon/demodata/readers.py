"""Read one exported system table (Parquet, CSV or JSON lines) into Arrow, typed as the real
system table, checking the columns the gold layer needs.

Parquet keeps its types, which must be compatible with the real ones (any integer width for
an integer, any timestamp unit, decimal/float/integer for a decimal...). CSV and JSON carry
text: values are parsed into the real type, complex ones (struct, map, array) from JSON, as
Databricks writes them when exporting. Errors name the file, the column and, for text
formats, the line.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from healthmon.demodata.types import spark_type
from healthmon.errors import HealthmonError, Location

FORMATS = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json"}


class ImportFormatError(HealthmonError):
    """A system-table export that does not match the real schema."""


def data_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in FORMATS
                   and not p.name.startswith((".", "_")))
    return files


# ---------------------------------------------------------------- type compatibility (Parquet)

def _compatible(actual: pa.DataType, expected: pa.DataType, need: set[tuple[str, ...]] | None, where: str) -> str | None:
    """None if ``actual`` can be cast to ``expected``; else why not. ``need``: struct sub-paths
    that must exist (None = every field of the expected struct that the file has is checked)."""
    if pa.types.is_null(actual) or actual == expected:
        return None
    if pa.types.is_dictionary(actual):
        return _compatible(actual.value_type, expected, need, where)
    if pa.types.is_string(expected) or pa.types.is_large_string(expected):
        ok = pa.types.is_string(actual) or pa.types.is_large_string(actual)
    elif pa.types.is_integer(expected):
        ok = pa.types.is_integer(actual)
    elif pa.types.is_floating(expected):
        ok = pa.types.is_floating(actual) or pa.types.is_integer(actual) or pa.types.is_decimal(actual)
    elif pa.types.is_decimal(expected):
        ok = pa.types.is_decimal(actual) or pa.types.is_integer(actual) or pa.types.is_floating(actual)
    elif pa.types.is_boolean(expected):
        ok = pa.types.is_boolean(actual)
    elif pa.types.is_timestamp(expected):
        ok = pa.types.is_timestamp(actual)
    elif pa.types.is_date(expected):
        ok = pa.types.is_date(actual) or pa.types.is_timestamp(actual)
    elif pa.types.is_map(expected):
        if not pa.types.is_map(actual):
            return f"expected {spark_type(expected)}, found {spark_type(actual)}"
        return (_compatible(actual.key_type, expected.key_type, None, where)
                or _compatible(actual.item_type, expected.item_type, None, where))
    elif pa.types.is_list(expected):
        if not (pa.types.is_list(actual) or pa.types.is_large_list(actual)):
            return f"expected {spark_type(expected)}, found {spark_type(actual)}"
        return _compatible(actual.value_type, expected.value_type, None, where)
    elif pa.types.is_struct(expected):
        if not pa.types.is_struct(actual):
            return f"expected {spark_type(expected)}, found {spark_type(actual)}"
        names = {f.name for f in actual}
        wanted = {p[0] for p in need} if need else names & {f.name for f in expected}
        for name in wanted:
            if name not in names:
                return f"struct field {where}.{name} is missing"
            sub = {p[1:] for p in need if p[0] == name and len(p) > 1} if need else None
            why = _compatible(actual.field(name).type, expected.field(name).type, sub or None, f"{where}.{name}")
            if why:
                return f"{where}.{name}: {why}" if not why.startswith("struct field") else why
        return None
    else:
        ok = False
    return None if ok else f"expected {spark_type(expected)}, found {spark_type(actual)}"


def _cast(arr: pa.ChunkedArray, expected: pa.DataType) -> pa.ChunkedArray:
    """Cast a compatible column to the expected type; struct fields the file lacks become NULL."""
    if arr.type == expected:
        return arr
    if pa.types.is_struct(expected) and pa.types.is_struct(arr.type):
        chunks = []
        for chunk in arr.chunks:
            if isinstance(chunk, pa.DictionaryArray):
                chunk = chunk.dictionary_decode()
            names = {f.name for f in chunk.type}
            children = []
            for f in expected:
                child = chunk.field(f.name) if f.name in names else pa.nulls(len(chunk), f.type)
                children.append(_cast(pa.chunked_array([child], child.type), f.type).combine_chunks())
            chunks.append(pa.StructArray.from_arrays(children, fields=list(expected), mask=chunk.is_null()))
        return pa.chunked_array(chunks, expected)
    if pa.types.is_date(expected) and pa.types.is_timestamp(arr.type):
        return pc.cast(arr, expected, safe=False)
    return pc.cast(arr, expected, safe=False)


def read_parquet(path: Path, schema: pa.Schema, paths: list[tuple[str, ...]]) -> pa.Table:
    pf = pq.ParquetFile(path)
    file_schema = pf.schema_arrow
    tops = list(dict.fromkeys(p[0] for p in paths))
    for top in tops:
        if top not in file_schema.names:
            raise ImportFormatError(f"missing column {top} ({spark_type(schema.field(top).type)})",
                                    location=Location(str(path)))
        need = {p[1:] for p in paths if p[0] == top and len(p) > 1}
        why = _compatible(file_schema.field(top).type, schema.field(top).type, need or None, top)
        if why:
            raise ImportFormatError(f"column {top}: {why}", location=Location(str(path)))
    table = pf.read(columns=tops)
    cols = [_cast(table.column(t), schema.field(t).type) for t in tops]
    return pa.table(cols, schema=pa.schema([schema.field(t) for t in tops]))


# ---------------------------------------------------------------- text formats (CSV, JSON lines)

def _parse_ts(v) -> dt.datetime:
    if isinstance(v, (int, float)):
        return dt.datetime.fromtimestamp(v / 1000 if v > 1e11 else v, dt.timezone.utc)
    s = str(v).strip().replace("Z", "+00:00")
    if " " in s and "T" not in s:
        s = s.replace(" ", "T", 1)
    if s.endswith(" UTC"):
        s = s[:-4] + "+00:00"
    t = dt.datetime.fromisoformat(s)
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def convert(value, dtype: pa.DataType, *, from_text: bool):
    """A JSON/CSV value → the Python value of ``dtype`` (raises ValueError with a reason)."""
    if value is None or (from_text and value == ""):
        return None
    if pa.types.is_string(dtype):
        return value if isinstance(value, str) else json.dumps(value)
    if pa.types.is_boolean(dtype):
        if isinstance(value, bool):
            return value
        s = str(value).strip().lower()
        if s in ("true", "1"):
            return True
        if s in ("false", "0"):
            return False
        raise ValueError(f"{value!r} is not a boolean")
    if pa.types.is_integer(dtype):
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not an integer")
        if isinstance(value, int):
            return value
        f = float(str(value).strip())
        if f != int(f):
            raise ValueError(f"{value!r} is not an integer")
        return int(f)
    if pa.types.is_floating(dtype):
        return float(value)
    if pa.types.is_decimal(dtype):
        try:
            return Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal") from None
    if pa.types.is_timestamp(dtype):
        return _parse_ts(value)
    if pa.types.is_date(dtype):
        return dt.date.fromisoformat(str(value).strip()[:10])
    if isinstance(value, str) and (pa.types.is_struct(dtype) or pa.types.is_map(dtype) or pa.types.is_list(dtype)):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"{value[:40]!r} is not JSON for {spark_type(dtype)}") from None
        if value is None:
            return None
    if pa.types.is_struct(dtype):
        if not isinstance(value, dict):
            raise ValueError(f"expected an object for {spark_type(dtype)}")
        return {f.name: convert(value.get(f.name), f.type, from_text=False) for f in dtype}
    if pa.types.is_map(dtype):
        if isinstance(value, dict):
            items = value.items()
        elif isinstance(value, list):
            items = [(x["key"], x["value"]) if isinstance(x, dict) else tuple(x) for x in value]
        else:
            raise ValueError(f"expected an object for {spark_type(dtype)}")
        return [(convert(k, dtype.key_type, from_text=False), convert(v, dtype.item_type, from_text=False)) for k, v in items]
    if pa.types.is_list(dtype):
        if not isinstance(value, list):
            raise ValueError(f"expected an array for {spark_type(dtype)}")
        return [convert(x, dtype.value_type, from_text=False) for x in value]
    raise ValueError(f"unsupported type {dtype}")


def _rows_json(path: Path):
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ImportFormatError(f"invalid JSON: {exc.msg}", location=Location(str(path), lineno, exc.colno)) from None
                if not isinstance(row, dict):
                    raise ImportFormatError("expected one JSON object per line", location=Location(str(path), lineno, 1))
                yield lineno, row


def read_text(path: Path, schema: pa.Schema, paths: list[tuple[str, ...]], fmt: str,
              keys: frozenset[str] = frozenset()) -> pa.Table:
    """Vectorised (pyarrow.csv / pyarrow.json, see :mod:`healthmon.demodata.text_fast`) when the
    file is well-formed; anything it cannot take as is — a malformed line, a value in a form
    only the row reader accepts (``3.0`` for an integer, epoch numbers for a timestamp...) —
    goes through the row-by-row reader, which gives the same result or the error with its
    line and column."""
    from healthmon.demodata.text_fast import Unsupported, read_text_fast

    try:
        return read_text_fast(path, schema, paths, fmt, keys)
    except (Unsupported, pa.ArrowException, ValueError, UnicodeDecodeError):
        return read_text_rows(path, schema, paths, fmt, keys)


def read_text_rows(path: Path, schema: pa.Schema, paths: list[tuple[str, ...]], fmt: str,
                   keys: frozenset[str] = frozenset()) -> pa.Table:
    """The row-by-row reader: every value through :func:`convert` (exact error locations)."""
    tops = list(dict.fromkeys(p[0] for p in paths))
    if fmt == "csv":
        fh = path.open(encoding="utf-8", newline="")
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [t for t in tops if t not in header]
        if missing:
            fh.close()
            raise ImportFormatError(f"missing column {missing[0]} ({spark_type(schema.field(missing[0]).type)})",
                                    location=Location(str(path), 1, 1))
        rows = ((i + 2, r) for i, r in enumerate(reader))
        from_text = True
    else:
        fh = None
        rows = _rows_json(path)
        from_text = False
    values: dict[str, list] = {t: [] for t in tops}
    seen: set[str] = set()
    try:
        for lineno, row in rows:
            for t in tops:
                if t in row:
                    seen.add(t)
                try:
                    values[t].append(convert(row.get(t), schema.field(t).type, from_text=from_text))
                except (ValueError, TypeError, KeyError) as exc:
                    raise ImportFormatError(f"column {t}: {exc} (expected {spark_type(schema.field(t).type)})",
                                            location=Location(str(path), lineno, 1)) from None
    finally:
        if fh:
            fh.close()
    n = len(next(iter(values.values()))) if values else 0
    if fmt == "json" and n:
        # Spark's JSON writer omits null fields, so a key absent from every line is a NULL
        # column — except a key column, which can never be NULL.
        missing = [t for t in tops if t not in seen and t in keys]
        if missing:
            raise ImportFormatError(f"missing column {missing[0]} ({spark_type(schema.field(missing[0]).type)})",
                                    location=Location(str(path)))
    # needed struct sub-fields must be present in text too (when the struct is present at all)
    return pa.table({t: pa.array(values[t], schema.field(t).type) for t in tops},
                    schema=pa.schema([schema.field(t) for t in tops]))


def read_folder(folder: Path, schema: pa.Schema, paths: list[tuple[str, ...]],
                keys: frozenset[str] = frozenset()) -> pa.Table:
    files = data_files(folder)
    if not files:
        raise ImportFormatError("no .parquet, .csv, .json or .jsonl files", location=Location(str(folder)))
    parts = []
    for f in files:
        fmt = FORMATS[f.suffix.lower()]
        parts.append(read_parquet(f, schema, paths) if fmt == "parquet" else read_text(f, schema, paths, fmt, keys))
    return pa.concat_tables(parts) if len(parts) > 1 else parts[0]
