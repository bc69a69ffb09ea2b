"""Turning user data (pandas or Arrow) into Arrow tables a Delta table accepts, and checking it
against an existing table's schema before anything is written."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from healthmon.errors import InvalidParameterError

COMMENT_KEY = b"comment"


def to_arrow(data: Any) -> pa.Table:
    """pandas DataFrame / pyarrow Table / RecordBatch / anything exporting Arrow → pa.Table with
    Delta-compatible types (Delta timestamps are microseconds)."""
    if isinstance(data, pa.Table):
        table = data
    elif isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    elif hasattr(data, "to_arrow_table") and not hasattr(data, "iloc"):
        table = data.to_arrow_table()
    else:
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover
            pd = None
        if pd is not None and isinstance(data, pd.DataFrame):
            if data.columns.duplicated().any():
                dupes = sorted(set(data.columns[data.columns.duplicated()]))
                raise InvalidParameterError(f"Duplicate column names in the data: {', '.join(map(str, dupes))}.")
            table = pa.Table.from_pandas(data, preserve_index=False)
        elif hasattr(data, "__arrow_c_stream__"):
            table = pa.table(data)
        else:
            raise InvalidParameterError(
                f"Cannot write {type(data).__name__}: expected a pandas DataFrame or a pyarrow Table."
            )
    return normalize(table.replace_schema_metadata(None))


def _normalize_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(t):
        # Delta stores microseconds, either naive (timestamp_ntz) or UTC instants.
        return pa.timestamp("us", "UTC" if t.tz else None)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_null(t):
        return pa.string()
    if pa.types.is_dictionary(t):
        return _normalize_type(t.value_type)
    return t


def normalize(table: pa.Table) -> pa.Table:
    fields = [f.with_type(_normalize_type(f.type)) for f in table.schema]
    target = pa.schema(fields)
    if target.equals(table.schema, check_metadata=True):
        return table
    # Casting ns -> us may drop sub-microsecond precision; Delta cannot store it anyway.
    return table.cast(target, safe=False)


def with_column_comments(table: pa.Table, comments: dict[str, str] | None) -> pa.Table:
    if not comments:
        return table
    unknown = sorted(set(comments) - set(table.column_names))
    if unknown:
        raise InvalidParameterError(f"Column comments for unknown columns: {', '.join(unknown)}.")
    fields = []
    for f in table.schema:
        if f.name in comments:
            meta = dict(f.metadata or {})
            meta[COMMENT_KEY] = comments[f.name].encode()
            f = f.with_metadata(meta)
        fields.append(f)
    return table.cast(pa.schema(fields))


def _family(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "time"
    if pa.types.is_null(t):
        return "null"
    return str(t)


def _castable(src: pa.DataType, dst: pa.DataType) -> bool:
    """Implicit casts a Delta INSERT would accept: widening within numbers, dates/timestamps among
    themselves; never numbers <-> strings (that is almost always a column mix-up)."""
    a, b = _family(src), _family(dst)
    return a == b or a == "null" or (a, b) == ("int", "float")


def conform(table: pa.Table, target: pa.Schema, table_name: str) -> pa.Table:
    """Reorder/cast ``table`` to ``target`` (an existing Delta table's schema), or raise an error
    naming every column that is missing, unexpected or of an incompatible type."""
    have = {n.lower(): n for n in table.column_names}
    want = {f.name.lower(): f for f in target}
    missing = [want[k].name for k in want if k not in have]
    extra = [have[k] for k in have if k not in want]
    problems = []
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if extra:
        problems.append(f"columns not in the table: {', '.join(extra)}")
    bad_types = []
    arrays = []
    if not problems:
        for key, field in want.items():
            col = table.column(have[key])
            if col.type.equals(field.type):
                arrays.append(col)
                continue
            if not _castable(col.type, field.type):
                bad_types.append(f"{field.name} (table: {field.type}, data: {col.type})")
                continue
            try:
                arrays.append(col.cast(field.type, safe=True))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                bad_types.append(f"{field.name} (table: {field.type}, data: {col.type})")
        if bad_types:
            problems.append(f"incompatible types: {'; '.join(bad_types)}")
    if problems:
        raise InvalidParameterError(
            f"Schema mismatch writing {table_name}: {'; '.join(problems)}. Nothing was written.",
            hint="use mode='overwrite' to replace the table's schema",
        )
    return pa.Table.from_arrays(arrays, schema=pa.schema([f.remove_metadata() for f in target]))
