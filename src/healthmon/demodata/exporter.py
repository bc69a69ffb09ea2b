"""Gold tables → the real system tables' layout (the inverse of the importer's flattening).

Used to produce sample exports (``DIR/system.billing.usage/part-0.parquet`` ...) from
generated data, e.g. for the importer's round-trip test or to try the importer without a
workspace. Gold-derived columns are dropped; struct fields that gold does not keep are NULL.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from healthmon.demodata.system_schema import SPECS, system_tables


def _build(dtype: pa.DataType, prefix: str, gold: pa.Table) -> pa.Array:
    if prefix in gold.column_names:
        col = gold.column(prefix).combine_chunks()
        return col if col.type == dtype else col.cast(dtype)
    if pa.types.is_struct(dtype):
        children = [_build(f.type, f"{prefix}_{f.name}", gold) for f in dtype]
        return pa.StructArray.from_arrays(children, fields=list(dtype))
    return pa.nulls(gold.num_rows, dtype)


def to_system_table(source: str, gold: pa.Table) -> pa.Table:
    schema = system_tables()[source]
    return pa.table([_build(f.type, f.name, gold) for f in schema], schema=schema)


def _json_default(v):
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    raise TypeError(type(v))


def _plain(v):
    """Arrow's Python values → JSON-friendly (maps arrive as lists of pairs)."""
    if isinstance(v, list) and v and all(isinstance(x, tuple) and len(x) == 2 for x in v):
        return {k: _plain(x) for k, x in v}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def write_export(table: pa.Table, folder: Path, fmt: str = "parquet") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        path = folder / "part-00000.parquet"
        pq.write_table(table, path)
    elif fmt == "jsonl":
        path = folder / "part-00000.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for row in table.to_pylist():
                fh.write(json.dumps({k: _plain(v) for k, v in row.items()}, default=_json_default) + "\n")
    elif fmt == "csv":
        path = folder / "part-00000.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(table.column_names)
            for row in table.to_pylist():
                out = []
                for v in row.values():
                    v = _plain(v)
                    if v is None:
                        out.append("")
                    elif isinstance(v, (dict, list)):
                        out.append(json.dumps(v, default=_json_default))
                    elif isinstance(v, (dt.datetime, dt.date)):
                        out.append(v.isoformat())
                    elif isinstance(v, bool):
                        out.append("true" if v else "false")
                    else:
                        out.append(str(v))
                w.writerow(out)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return path


def export_gold(gold_tables: dict[str, pa.Table], out_dir: str | Path, fmt: str = "parquet") -> list[str]:
    """Write the system tables behind the given gold tables; returns the system table names."""
    out_dir = Path(out_dir)
    written = []
    for spec in SPECS:
        if spec.gold in gold_tables:
            table = to_system_table(spec.source, gold_tables[spec.gold])
            write_export(table, out_dir / spec.source, fmt)
            written.append(spec.source)
    if "fact_list_prices" in gold_tables:
        pass  # list prices are exported by the loop (pricing struct rebuilt from pricing_* columns)
    return written
