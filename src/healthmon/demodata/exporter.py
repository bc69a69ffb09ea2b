"""Gold tables → the real system tables' layout (the inverse of the importer's flattening).

Used to produce sample exports (``DIR/system.billing.usage/part-00000.parquet`` ...) from
generated data, e.g. for the importer's round-trip test or to try the importer without a
workspace. Every system table the importer reads is written: the twelve behind the gold
facts and dimensions, and the three ``information_schema`` views behind
``fact_table_snapshots`` — as a workspace shows them on the day of the latest snapshot (one
row per table; its columns named ``col_1`` … ``col_<column_count>``, since gold keeps only the
count and a hash; a ``PRIMARY KEY`` constraint where the table has one). Gold-derived columns
are dropped; struct fields that gold does not keep are NULL.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from healthmon.demodata.system_schema import SNAPSHOT_SOURCES, SPECS, system_tables


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


def _csv_text(col: pa.ChunkedArray) -> pa.Array:
    """A column as the SQL editor's CSV download writes it: complex values as JSON text,
    timestamps in ISO 8601, booleans true/false, NULL as an empty field. Vectorised except
    for the JSON of complex values."""
    col = col.combine_chunks()
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.dictionary_decode()
        t = col.type
    if pa.types.is_nested(t):
        return pa.array([None if v is None else json.dumps(_plain(v), default=_json_default) for v in col.to_pylist()],
                        pa.string())
    if pa.types.is_timestamp(t):
        text = pc.strftime(col.cast(pa.timestamp(t.unit, "UTC")) if t.tz else col, "%Y-%m-%dT%H:%M:%S")
        return pc.binary_join_element_wise(text, "+00:00" if t.tz else "", "") if t.tz else text
    return col.cast(pa.string())


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
        pcsv.write_csv(pa.table([_csv_text(c) for c in table.columns], names=table.column_names), path)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return path


def _filled(source: str, n: int, columns: dict[str, object]) -> pa.Table:
    """A system table of ``n`` rows from ``columns`` (arrays or constants); others NULL."""
    schema = system_tables()[source]
    arrays = []
    for f in schema:
        v = columns.get(f.name)
        if v is None:
            arrays.append(pa.nulls(n, f.type))
        elif isinstance(v, (pa.Array, pa.ChunkedArray)):
            arrays.append(v.cast(f.type))
        else:
            arrays.append(pa.array([v] * n, f.type))
    return pa.table(arrays, schema=schema)


def information_schema(snapshots: pa.Table) -> dict[str, pa.Table]:
    """The three information_schema views as of the latest snapshot in ``fact_table_snapshots``."""
    if not snapshots.num_rows:
        return {name: system_tables()[name].empty_table() for name in SNAPSHOT_SOURCES}
    day = pc.max(snapshots.column("snapshot_date"))
    latest = snapshots.filter(pc.equal(snapshots.column("snapshot_date"), day))
    latest = latest.sort_by(
        [("table_catalog", "ascending"), ("table_schema", "ascending"), ("table_name", "ascending")]
    )
    n = latest.num_rows
    names = ("table_catalog", "table_schema", "table_name")
    tables = _filled("system.information_schema.tables", n, {
        **{c: latest.column(c) for c in names + ("table_type", "data_source_format", "table_owner", "created",
                                                 "created_by", "last_altered", "last_altered_by")},
        "is_insertable_into": "YES", "commit_action": "PRESERVE"})
    counts = pc.fill_null(latest.column("column_count"), 0).to_numpy(zero_copy_only=False).astype("int64")
    rows = [i for i, c in enumerate(counts) for _ in range(int(c))]
    ordinal = [k for c in counts for k in range(int(c))]
    take = pa.array(rows, pa.int64())
    columns = _filled("system.information_schema.columns", len(rows), {
        **{c: latest.column(c).take(take) for c in names},
        "column_name": pa.array([f"col_{k + 1}" for k in ordinal]), "ordinal_position": pa.array(ordinal),
        "is_nullable": "YES", "full_data_type": "string", "data_type": "STRING", "is_identity": "NO",
        "is_generated": "NEVER", "is_system_time_period_start": "NO", "is_system_time_period_end": "NO",
        "is_updatable": "YES"})
    with_pk = latest.filter(pc.fill_null(latest.column("has_primary_key"), False))
    constraints = _filled("system.information_schema.table_constraints", with_pk.num_rows, {
        **{c: with_pk.column(c) for c in names},
        "constraint_catalog": with_pk.column("table_catalog"), "constraint_schema": with_pk.column("table_schema"),
        "constraint_name": pc.binary_join_element_wise(with_pk.column("table_name"), "pk", "_"),
        "constraint_type": "PRIMARY KEY", "is_deferrable": "NO", "initially_deferred": "NO", "enforced": "NO"})
    return {"system.information_schema.tables": tables, "system.information_schema.columns": columns,
            "system.information_schema.table_constraints": constraints}


def export_gold(gold_tables: dict[str, pa.Table], out_dir: str | Path, fmt: str = "parquet") -> list[str]:
    """Write the system tables behind the given gold tables; returns the system table names."""
    out_dir = Path(out_dir)
    written = []
    for spec in SPECS:
        if spec.gold in gold_tables:
            table = to_system_table(spec.source, gold_tables[spec.gold])
            write_export(table, out_dir / spec.source, fmt)
            written.append(spec.source)
    if "fact_table_snapshots" in gold_tables:
        for name, table in information_schema(gold_tables["fact_table_snapshots"]).items():
            write_export(table, out_dir / name, fmt)
            written.append(name)
    return written


def export_catalog(catalog: str, schema: str, out_dir: str | Path, fmt: str = "parquet") -> tuple[list[str], list[str]]:
    """Export the gold tables of ``catalog.schema`` (a lakehouse schema), one table in memory at a
    time: (written system tables, gold tables that were not there)."""
    from deltalake import DeltaTable

    from healthmon.errors import NotFoundError
    from healthmon.lakehouse.paths import TableName
    from healthmon.settings import Settings

    root = Settings.from_env().lakehouse_root
    wanted = [s.gold for s in SPECS] + ["fact_table_snapshots"]
    written, missing = [], []
    for name in wanted:
        path = TableName.parse(f"{catalog}.{schema}.{name}").path(root)
        if not (path / "_delta_log").is_dir():
            missing.append(name)
            continue
        written += export_gold({name: DeltaTable(str(path)).to_pyarrow_table()}, out_dir, fmt)
    if not written:
        raise NotFoundError(f"No gold tables in {catalog}.{schema} (expected e.g. {catalog}.{schema}.fact_usage).")
    return written, missing
