"""Make a computed feature frame safe to train and score on.

Every model input is a finite DOUBLE: NULL, NaN and ±inf become 0.0 (the original's fix for
"Input X contains NaN" at inference, ml-layer.md §7 #10, applied once here rather than in every
model). Rows with a NULL key are dropped, keys are cast to their declared types, and one row per
key is kept (the SQL groups by key, so a duplicate would be an engine bug we refuse to merge).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from healthmon.errors import HealthmonError

KEY_TYPES = {"date": pa.date32(), "string": pa.string()}


def clean_features(
    data: pa.Table,
    primary_keys: tuple[str, ...],
    features: tuple[str, ...],
    extra_columns: tuple[str, ...] = (),
) -> tuple[pa.Table, dict[str, int]]:
    """Return the cleaned table (keys, extras, features in that order) and counts of what was
    changed: ``{"null_key_rows": n, "non_finite_values": m}``."""
    missing = [c for c in (*primary_keys, *extra_columns, *features) if c not in data.column_names]
    if missing:
        raise HealthmonError(f"feature query did not produce columns {missing}")

    mask = None
    for key in primary_keys:
        valid = pc.is_valid(data[key])
        mask = valid if mask is None else pc.and_(mask, valid)
    null_key_rows = data.num_rows - ((pc.sum(mask).as_py() or 0) if data.num_rows else 0)
    if null_key_rows:
        data = data.filter(mask)

    columns: dict[str, pa.ChunkedArray] = {}
    for key in primary_keys:
        col = data[key]
        target = pa.date32() if pa.types.is_date(col.type) or pa.types.is_timestamp(col.type) else pa.string()
        columns[key] = col.cast(target)
    for extra in extra_columns:
        columns[extra] = data[extra].cast(pa.string())
    non_finite = 0
    for name in features:
        col = data[name].cast(pa.float64())
        finite = pc.fill_null(pc.is_finite(col), False)
        bad = len(col) - (pc.sum(finite).as_py() or 0)
        non_finite += bad
        columns[name] = pc.if_else(finite, col, 0.0) if bad else col

    schema = pa.schema(
        [pa.field(k, columns[k].type, nullable=False) for k in primary_keys]
        + [pa.field(c, pa.string()) for c in extra_columns]
        + [pa.field(f, pa.float64(), nullable=False) for f in features]
    )
    out = pa.table([columns[f.name] for f in schema], schema=schema)

    if out.num_rows:
        distinct = out.group_by(list(primary_keys)).aggregate([]).num_rows
        if distinct != out.num_rows:
            raise HealthmonError(
                f"feature query produced {out.num_rows - distinct} duplicate key rows for {list(primary_keys)}"
            )
    return out, {"null_key_rows": int(null_key_rows), "non_finite_values": int(non_finite)}
