"""``healthmon import system-tables``: build the gold tables from exports of the real Databricks
system tables.

Layout: ``DIR/<system table name>/`` (e.g. ``DIR/system.billing.usage/part-0.parquet``), each
folder holding Parquet, CSV or JSON-lines files. Every export is read and checked first (a
missing or mistyped column is an error naming the file and column; unknown columns are
ignored); only then are the gold tables staged and swapped in together, so a bad input writes
nothing. Gold derivations follow the Health Monitor's gold layer: structs flattened, latest row
per key for SCD sources, one row per run for the timelines, list price joined by SKU, cloud and
price window, ``is_tagged`` / ``is_failed_action`` / ``is_sensitive_action`` derived.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from healthmon.demodata import arrowgen as ag
from healthmon.demodata.readers import ImportFormatError, read_folder
from healthmon.demodata.schemas import GOLD_TABLES, LABEL_TABLES
from healthmon.demodata.system_schema import (ALIASES, SNAPSHOT_SOURCES, SPEC_BY_SOURCE, ImportSpec, column_paths,
                                              required_paths, system_tables)
from healthmon.demodata.writer import TableSetWriter
from healthmon.errors import HealthmonError, Location

SENSITIVE_PATTERN = "(?i)(grant|revoke|delete|secret|permission|token|password|credential)"


@dataclass
class ImportResult:
    rows: dict[str, int]
    ignored: list[str] = field(default_factory=list)
    not_built: list[str] = field(default_factory=list)


def _discover(source_dir: Path) -> tuple[dict[str, Path], list[str]]:
    if not source_dir.is_dir():
        raise HealthmonError(f"{source_dir}: not a directory (expected one folder per system table, "
                             "e.g. system.billing.usage/)")
    known = set(SPEC_BY_SOURCE) | set(SNAPSHOT_SOURCES)
    found, ignored = {}, []
    for child in sorted(source_dir.iterdir()):
        if not child.is_dir() or child.name.startswith("."):
            continue
        name = ALIASES.get(child.name.lower(), child.name.lower())
        if name in known:
            if name in found:
                raise HealthmonError(f"{child}: two folders for {name} ({found[name].name} and {child.name})")
            found[name] = child
        else:
            ignored.append(child.name)
    if not found:
        raise HealthmonError(
            f"{source_dir}: no system-table folders found; expected folders named like "
            + ", ".join(sorted(known)[:4]) + ", ...")
    return found, ignored


def _extract(src: pa.Table, path: tuple[str, ...]) -> pa.ChunkedArray:
    """The column at ``path`` (top-level column, then struct fields), chunk by chunk (no copy)."""
    arr = src.column(path[0])
    for name in path[1:]:
        arr = pc.struct_field(arr, [name])
    return arr


def _keep_last(table: pa.Table, keys: list[str], order: str, min_of: str | None = None) -> pa.Table:
    """One row per key: the one with the greatest ``order`` (NULLs first); optionally the
    minimum of ``min_of`` over the group replaces that row's value."""
    if not table.num_rows:
        return table
    idx = pc.sort_indices(table, sort_keys=[(order, "ascending", "at_start")])
    t = table.take(idx)
    work = t.select(keys).append_column("__i", pa.array(np.arange(t.num_rows)))
    aggs = [("__i", "max")]
    if min_of:
        work = work.append_column("__m", t.column(min_of))
        aggs.append(("__m", "min"))
    g = work.group_by(keys, use_threads=False).aggregate(aggs)
    out = t.take(g.column("__i_max"))
    if min_of:
        out = out.set_column(out.schema.get_field_index(min_of), out.schema.field(min_of), g.column("__m_min"))
    return out


def _prices(usage: pa.Table, prices: pa.Table | None) -> np.ndarray:
    """List price per usage row: same SKU and cloud, price window containing usage_start_time."""
    n = usage.num_rows
    out = np.full(n, np.nan)
    if prices is None or not prices.num_rows or not n:
        return out
    p_key = pc.binary_join_element_wise(pc.fill_null(prices.column("sku_name"), ""), pc.fill_null(prices.column("cloud"), ""), "|")
    u_key = pc.binary_join_element_wise(pc.fill_null(usage.column("sku_name"), ""), pc.fill_null(usage.column("cloud"), ""), "|")
    p_start = prices.column("price_start_time").cast(pa.int64()).to_numpy(zero_copy_only=False)
    p_end = pc.fill_null(prices.column("price_end_time").cast(pa.int64()), np.iinfo(np.int64).max).to_numpy(zero_copy_only=False)
    p_val = pc.struct_field(prices.column("pricing").combine_chunks(), ["default"]).cast(pa.float64()).to_numpy(zero_copy_only=False)
    u_start = pc.fill_null(usage.column("usage_start_time").cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    keys = p_key.to_pylist()
    u_codes = pc.index_in(u_key, value_set=pa.array(sorted(set(keys)))).to_numpy(zero_copy_only=False)
    uniq = sorted(set(keys))
    for code, key in enumerate(uniq):
        rows = np.nonzero(u_codes == code)[0]
        if not len(rows):
            continue
        sel = np.array([i for i, k in enumerate(keys) if k == key])
        order = np.argsort(p_start[sel])
        starts, ends, vals = p_start[sel][order], p_end[sel][order], p_val[sel][order]
        pos = np.searchsorted(starts, u_start[rows], side="right") - 1
        ok = (pos >= 0) & (u_start[rows] < ends[np.maximum(pos, 0)])
        out[rows[ok]] = vals[pos[ok]]
    return out


def build_gold(spec: ImportSpec, src: pa.Table, sources: dict[str, pa.Table]) -> pa.Table:
    gold = GOLD_TABLES[spec.gold]
    n = src.num_rows
    cols: dict[str, pa.Array] = {c: _extract(src, p) for c, p in column_paths(spec).items()}
    if spec.gold == "fact_usage":
        tags = src.column("custom_tags").combine_chunks()
        lengths = np.diff(tags.offsets.to_numpy(zero_copy_only=False))
        valid = tags.is_valid().to_numpy(zero_copy_only=False)
        cols["is_tagged"] = pa.array((lengths > 0) & valid)
        price = _prices(src, sources.get("system.billing.list_prices"))
        qty = src.column("usage_quantity").cast(pa.float64()).to_numpy(zero_copy_only=False)
        has = ~np.isnan(price)
        cols["list_price"] = ag.masked(ag.decimals(np.where(has, price, 0.0), 38, 18), has)
        cols["list_cost"] = ag.masked(ag.decimals(np.where(has, np.nan_to_num(qty * price), 0.0), 18, 6), has)
    elif spec.gold == "fact_audit_logs":
        status = pc.struct_field(src.column("response").combine_chunks(), ["status_code"])
        err = pc.struct_field(src.column("response").combine_chunks(), ["error_message"])
        failed = pc.or_(pc.fill_null(pc.greater_equal(status, 400), False), pc.is_valid(err))
        cols["is_failed_action"] = failed
        cols["is_sensitive_action"] = pc.fill_null(pc.match_substring_regex(src.column("action_name"), SENSITIVE_PATTERN), False)
    table = ag.table(gold, n, {c: cols[c] for c in gold.column_names if c in cols})
    table = ag.decode(table).cast(gold.schema)
    if spec.latest_by:
        table = _keep_last(table, list(gold.primary_keys), spec.latest_by)
    if spec.slices:
        table = _keep_last(table, list(gold.primary_keys), "period_end_time", min_of="period_start_time")
        start = table.column("period_start_time")
        end = table.column("period_end_time")
        secs = pc.divide(pc.subtract(end.cast(pa.int64()), start.cast(pa.int64())), 1_000_000)
        table = table.set_column(gold.schema.get_field_index("run_date"), gold.schema.field("run_date"),
                                 pc.cast(start, pa.date32()))
        table = table.set_column(gold.schema.get_field_index("run_duration_seconds"),
                                 gold.schema.field("run_duration_seconds"), secs.cast(pa.int64()))
    _check_keys(table, gold, spec.source)
    return table


def _check_keys(table: pa.Table, gold, source: str) -> None:
    for k in gold.primary_keys:
        nulls = table.column(k).null_count
        if nulls:
            raise HealthmonError(f"{source}: {nulls} row(s) with NULL {k}, a primary key of gold table {gold.name}")
    if table.num_rows:
        g = table.select(list(gold.primary_keys)).group_by(list(gold.primary_keys)).aggregate([([], "count_all")])
        if g.num_rows != table.num_rows:
            raise HealthmonError(f"{source}: {table.num_rows - g.num_rows} duplicate key(s) "
                                 f"({', '.join(gold.primary_keys)}) for gold table {gold.name}")


def build_dim_sku(sources: dict[str, pa.Table], usage: pa.Table | None) -> pa.Table | None:
    prices = sources.get("system.billing.list_prices")
    base = prices if prices is not None else usage
    if base is None:
        return None
    t = base.select(["sku_name", "cloud", "usage_unit"]).filter(pc.is_valid(base.column("sku_name")))
    t = t.append_column("__o", pa.array(np.arange(t.num_rows)))
    t = _keep_last(t, ["sku_name"], "__o").drop_columns(["__o"])
    return t.cast(GOLD_TABLES["dim_sku"].schema)


def build_snapshots(sources: dict[str, pa.Table], snapshot_date: dt.date, previous: pa.Table | None) -> pa.Table:
    gold = GOLD_TABLES["fact_table_snapshots"]
    tables = sources["system.information_schema.tables"]
    tables = tables.filter(pc.and_(pc.not_equal(tables.column("table_schema"), "information_schema"),
                                   pc.not_equal(tables.column("table_catalog"), "system")))
    key = lambda t: pc.binary_join_element_wise(t.column("table_catalog"), t.column("table_schema"), t.column("table_name"), ".")  # noqa: E731
    fq = key(tables).to_pylist()
    n = len(fq)
    columns = sources.get("system.information_schema.columns")
    count, hashes = {}, {}
    if columns is not None:
        ck = key(columns).to_pylist()
        order = np.lexsort((pc.fill_null(columns.column("ordinal_position"), 0).to_numpy(zero_copy_only=False), np.array(ck, dtype=object).astype(str)))
        names = columns.column("column_name").to_pylist()
        types = columns.column("full_data_type").to_pylist()
        acc: dict[str, list[str]] = {}
        for i in order:
            acc.setdefault(ck[i], []).append(f"{names[i]}:{types[i]}")
        count = {k: len(v) for k, v in acc.items()}
        hashes = {k: hashlib.sha256("\n".join(v).encode()).hexdigest()[:16] for k, v in acc.items()}
    pk: set[str] = set()
    cons = sources.get("system.information_schema.table_constraints")
    if cons is not None:
        sel = cons.filter(pc.equal(cons.column("constraint_type"), "PRIMARY KEY"))
        pk = set(key(sel).to_pylist())
    prev_count: dict[str, int] = {}
    if previous is not None and previous.num_rows:
        before = previous.filter(pc.less(previous.column("snapshot_date"), pa.scalar(snapshot_date, pa.date32())))
        if before.num_rows:
            last = _keep_last(before, ["table_catalog", "table_schema", "table_name"], "snapshot_date")
            for k, c in zip(key(last).to_pylist(), last.column("column_count").to_pylist()):
                prev_count[k] = c
    cc = [count.get(k) for k in fq]
    diff = [None if (c is None or k not in prev_count or prev_count[k] is None) else c - prev_count[k] for k, c in zip(fq, cc)]
    cols = {
        "snapshot_date": pa.array([snapshot_date] * n, pa.date32()),
        **{c: tables.column(c) for c in ("table_catalog", "table_schema", "table_name", "table_type", "data_source_format",
                                         "table_owner", "created", "created_by", "last_altered", "last_altered_by")},
        "column_count": pa.array(cc, pa.int32()),
        "has_primary_key": pa.array([k in pk for k in fq]) if cons is not None else pa.nulls(n, pa.bool_()),
        "schema_hash": pa.array([hashes.get(k) for k in fq], pa.string()),
        "columns_added": pa.array([None if d is None else max(0, d) for d in diff], pa.int32()),
        "columns_removed": pa.array([None if d is None else max(0, -d) for d in diff], pa.int32()),
    }
    new = ag.table(gold, n, cols)
    if previous is not None and previous.num_rows:
        keep = previous.filter(pc.not_equal(previous.column("snapshot_date"), pa.scalar(snapshot_date, pa.date32())))
        new = pa.concat_tables([keep.cast(gold.schema), new])
    return new


FILE_ROWS = 1 << 18


def _write_all(writer: TableSetWriter, built: dict[str, pa.Table]) -> None:
    """Every built table as Parquet files of at most :data:`FILE_ROWS` rows, encoded on two
    threads (pyarrow releases the GIL); file order follows row order."""
    jobs = [(GOLD_TABLES[name], table.slice(start, FILE_ROWS), k)
            for name, table in built.items()
            for k, start in enumerate(range(0, table.num_rows, FILE_ROWS))]
    jobs.sort(key=lambda j: -j[1].num_rows)  # biggest first: the two threads finish together
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="import-writer") as pool:
        for future in [pool.submit(writer.append, gold, piece, k) for gold, piece, k in jobs]:
            future.result()


def import_system_tables(source_dir: str | Path, catalog: str, schema: str = "gold", *,
                         snapshot_date: dt.date | None = None) -> ImportResult:
    from healthmon.settings import Settings

    source_dir = Path(source_dir)
    found, ignored = _discover(source_dir)
    stables = system_tables()
    sources: dict[str, pa.Table] = {}
    # 1. read and check everything (errors name file and column; nothing written yet)
    for name, folder in found.items():
        keys: frozenset[str] = frozenset()
        if name in SPEC_BY_SOURCE:
            spec = SPEC_BY_SOURCE[name]
            paths = required_paths(spec)
            cols = column_paths(spec)
            keys = frozenset(cols[k][0] for k in GOLD_TABLES[spec.gold].primary_keys if k in cols)
            if name == "system.billing.list_prices":
                paths = paths + [("pricing",)]
        else:
            need = {"system.information_schema.tables": ["table_catalog", "table_schema", "table_name", "table_type",
                                                         "data_source_format", "table_owner", "created", "created_by",
                                                         "last_altered", "last_altered_by"],
                    "system.information_schema.columns": ["table_catalog", "table_schema", "table_name", "column_name",
                                                          "ordinal_position", "full_data_type"],
                    "system.information_schema.table_constraints": ["table_catalog", "table_schema", "table_name",
                                                                    "constraint_type"]}[name]
            paths = [(c,) for c in need]
        sources[name] = read_folder(folder, stables[name], paths, keys)
    if any(s in sources for s in SNAPSHOT_SOURCES) and "system.information_schema.tables" not in sources:
        raise HealthmonError(f"{source_dir}: information_schema exports need system.information_schema.tables too")
    # 2. build every gold table in memory
    built: dict[str, pa.Table] = {}
    for name, src in sources.items():
        spec = SPEC_BY_SOURCE.get(name)
        if spec:
            built[spec.gold] = build_gold(spec, src, sources)
    sku = build_dim_sku(sources, sources.get("system.billing.usage"))
    if sku is not None:
        built["dim_sku"] = sku
    settings = Settings.from_env()
    writer = TableSetWriter(settings.lakehouse_root, catalog, schema)
    if "system.information_schema.tables" in sources:
        previous = None
        path = writer.final_path("fact_table_snapshots")
        if (path / "_delta_log").is_dir():
            from deltalake import DeltaTable

            previous = DeltaTable(str(path)).to_pyarrow_table()
        built["fact_table_snapshots"] = build_snapshots(sources, snapshot_date or dt.datetime.now(dt.timezone.utc).date(), previous)
    for name in LABEL_TABLES:  # real data has no labels
        built[name] = GOLD_TABLES[name].schema.empty_table()
    # 3. stage all, then swap in together
    with writer:
        for name in built:
            writer.ensure(GOLD_TABLES[name])
        _write_all(writer, built)
        rows = writer.commit()
    return ImportResult(rows=rows, ignored=ignored, not_built=sorted(set(GOLD_TABLES) - set(built)))


__all__ = ["ImportFormatError", "ImportResult", "import_system_tables", "Location"]
