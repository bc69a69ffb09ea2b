"""``healthmon import system-tables``: build the gold tables from exports of the real Databricks
system tables.

Flow: find the exports (:mod:`healthmon.demodata.discovery`: folders or flat files named
after the tables, in wrapper folders or not) → check that every table the ML layer reads is
there (or explicitly allowed to be missing) and what happens to gold tables an earlier import
left → read each export file by file, batch by batch (:mod:`healthmon.demodata.readers`),
derive its gold rows and stage them as Parquet files (:class:`TableSetWriter`) → swap every
table in together. A bad input raises before the swap, so nothing is written; memory holds
one batch, the running result of a reduced table (the SCD dimensions and run timelines are
reduced as they stream) and the small tables read whole (list prices, information_schema).

Gold derivations follow the Health Monitor's gold layer: structs flattened, latest row per key
for SCD sources, one row per run for the timelines, list price joined by SKU, cloud and price
window, ``is_tagged`` / ``is_failed_action`` / ``is_sensitive_action`` derived.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from healthmon.demodata import arrowgen as ag
from healthmon.demodata.discovery import KNOWN, Discovery, discover, parse_table_names
from healthmon.demodata.readers import DATA_SUFFIXES, ImportFormatError, data_files, empty_table, read_file
from healthmon.demodata.schemas import GOLD_TABLES, LABEL_TABLES
from healthmon.demodata.system_schema import (
    SNAPSHOT_SOURCES,
    SPEC_BY_SOURCE,
    SPECS,
    ImportSpec,
    column_paths,
    required_paths,
    system_tables,
)
from healthmon.demodata.writer import TableSetWriter
from healthmon.errors import HealthmonError, Location

SENSITIVE_PATTERN = "(?i)(grant|revoke|delete|secret|permission|token|password|credential)"
FILE_ROWS = 1 << 18
PENDING_FILES = 4  # Parquet files queued for the writer threads at most (bounds memory)
REDUCE_ROWS = 1 << 20  # rows of a reduced table (SCD, timelines) gathered before they are reduced
SNAPSHOT_COLUMNS = {
    "system.information_schema.tables": ("table_catalog", "table_schema", "table_name", "table_type",
                                         "data_source_format", "table_owner", "created", "created_by",
                                         "last_altered", "last_altered_by"),
    "system.information_schema.columns": ("table_catalog", "table_schema", "table_name", "column_name",
                                          "ordinal_position", "full_data_type"),
    "system.information_schema.table_constraints": ("table_catalog", "table_schema", "table_name", "constraint_type"),
}
# gold table → the system tables it is built from (the first one is required for it)
GOLD_SOURCES: dict[str, tuple[str, ...]] = {
    **{s.gold: (s.source,) for s in SPECS},
    "dim_sku": ("system.billing.list_prices", "system.billing.usage"),
    "fact_table_snapshots": SNAPSHOT_SOURCES,
    **{name: () for name in LABEL_TABLES},  # real data has no labels: written empty
}


@dataclass
class TableReport:
    """One line of the import summary: a gold table, where it came from, what happened to it."""

    table: str
    source: str = ""         # the system table(s) read for it
    found: str = ""          # the export's path relative to the import folder
    files: int = 0
    rows: int | None = None
    status: str = ""         # CREATED, REPLACED, KEPT, DROPPED, MISSING (would-be statuses in a dry run)
    note: str = ""

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class ImportResult:
    rows: dict[str, int]
    tables: list[TableReport] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    not_built: list[str] = field(default_factory=list)
    dry_run: bool = False


class IncompleteExportError(HealthmonError):
    """Needed exports are missing or earlier tables need a decision; ``report`` says which."""

    def __init__(self, message: str, report: list[TableReport], *, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.report = report


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
    p_key = pc.binary_join_element_wise(
        pc.fill_null(prices.column("sku_name"), ""), pc.fill_null(prices.column("cloud"), ""), "|"
    )
    u_key = pc.binary_join_element_wise(
        pc.fill_null(usage.column("sku_name"), ""), pc.fill_null(usage.column("cloud"), ""), "|"
    )
    p_start = prices.column("price_start_time").cast(pa.int64()).to_numpy(zero_copy_only=False)
    p_end = pc.fill_null(prices.column("price_end_time").cast(pa.int64()), np.iinfo(np.int64).max).to_numpy(
        zero_copy_only=False
    )
    p_val = (
        pc.struct_field(prices.column("pricing").combine_chunks(), ["default"])
        .cast(pa.float64())
        .to_numpy(zero_copy_only=False)
    )
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


def derive_gold(spec: ImportSpec, src: pa.Table, prices: pa.Table | None) -> pa.Table:
    """A piece of a source table → the same rows as gold columns (flattened structs, derived
    columns). Row-wise: can run on any slice of the source."""
    gold = GOLD_TABLES[spec.gold]
    n = src.num_rows
    cols: dict[str, pa.Array] = {c: _extract(src, p) for c, p in column_paths(spec).items()}
    if spec.gold == "fact_usage":
        tags = src.column("custom_tags").combine_chunks()
        lengths = np.diff(tags.offsets.to_numpy(zero_copy_only=False))
        valid = tags.is_valid().to_numpy(zero_copy_only=False)
        cols["is_tagged"] = pa.array((lengths > 0) & valid)
        price = _prices(src, prices)
        qty = src.column("usage_quantity").cast(pa.float64()).to_numpy(zero_copy_only=False)
        has = ~np.isnan(price)
        cols["list_price"] = ag.masked(ag.decimals(np.where(has, price, 0.0), 38, 18), has)
        cols["list_cost"] = ag.masked(ag.decimals(np.where(has, np.nan_to_num(qty * price), 0.0), 18, 6), has)
    elif spec.gold == "fact_audit_logs":
        status = pc.struct_field(src.column("response").combine_chunks(), ["status_code"])
        err = pc.struct_field(src.column("response").combine_chunks(), ["error_message"])
        failed = pc.or_(pc.fill_null(pc.greater_equal(status, 400), False), pc.is_valid(err))
        cols["is_failed_action"] = failed
        cols["is_sensitive_action"] = pc.fill_null(
            pc.match_substring_regex(src.column("action_name"), SENSITIVE_PATTERN), False
        )
    table = ag.table(gold, n, {c: cols[c] for c in gold.column_names if c in cols})
    return ag.decode(table).cast(gold.schema)


def reduce_gold(spec: ImportSpec, table: pa.Table) -> pa.Table:
    """Whole-table reductions: latest row per key (SCD sources), one row per run (timelines)."""
    gold = GOLD_TABLES[spec.gold]
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
    return table


def build_gold(spec: ImportSpec, src: pa.Table, sources: dict[str, pa.Table]) -> pa.Table:
    """A whole source table → its gold table (derived, reduced, keys checked)."""
    table = reduce_gold(spec, derive_gold(spec, src, sources.get("system.billing.list_prices")))
    _check_keys(table, GOLD_TABLES[spec.gold], spec.source)
    return table


def _check_null_keys(table: pa.Table, gold, source: str) -> None:
    for k in gold.primary_keys:
        nulls = table.column(k).null_count
        if nulls:
            raise HealthmonError(f"{source}: {nulls} row(s) with NULL {k}, a primary key of gold table {gold.name}")


def _check_keys(table: pa.Table, gold, source: str) -> None:
    _check_null_keys(table, gold, source)
    if table.num_rows:
        g = table.select(list(gold.primary_keys)).group_by(list(gold.primary_keys)).aggregate([([], "count_all")])
        if g.num_rows != table.num_rows:
            raise HealthmonError(f"{source}: {table.num_rows - g.num_rows} duplicate key(s) "
                                 f"({', '.join(gold.primary_keys)}) for gold table {gold.name}")


def build_snapshots(sources: dict[str, pa.Table], snapshot_date: dt.date, previous: pa.Table | None) -> pa.Table:
    gold = GOLD_TABLES["fact_table_snapshots"]
    tables = sources["system.information_schema.tables"]
    tables = tables.filter(pc.and_(pc.not_equal(tables.column("table_schema"), "information_schema"),
                                   pc.not_equal(tables.column("table_catalog"), "system")))
    def key(t: pa.Table):
        return pc.binary_join_element_wise(
            t.column("table_catalog"), t.column("table_schema"), t.column("table_name"), "."
        )

    fq = key(tables).to_pylist()
    n = len(fq)
    columns = sources.get("system.information_schema.columns")
    count, hashes = {}, {}
    if columns is not None:
        ck = key(columns).to_pylist()
        order = np.lexsort(
            (
                pc.fill_null(columns.column("ordinal_position"), 0).to_numpy(zero_copy_only=False),
                np.array(ck, dtype=object).astype(str),
            )
        )
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
    diff = [
        None if (c is None or k not in prev_count or prev_count[k] is None) else c - prev_count[k]
        for k, c in zip(fq, cc)
    ]
    cols = {
        "snapshot_date": pa.array([snapshot_date] * n, pa.date32()),
        **{
            c: tables.column(c)
            for c in (
                "table_catalog",
                "table_schema",
                "table_name",
                "table_type",
                "data_source_format",
                "table_owner",
                "created",
                "created_by",
                "last_altered",
                "last_altered_by",
            )
        },
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


# ---------------------------------------------------------------- the import


def _needed_columns(name: str) -> tuple[list[tuple[str, ...]], frozenset[str]]:
    """Source paths to read for a system table and its key columns."""
    if name in SPEC_BY_SOURCE:
        spec = SPEC_BY_SOURCE[name]
        paths = required_paths(spec)
        cols = column_paths(spec)
        keys = frozenset(cols[k][0] for k in GOLD_TABLES[spec.gold].primary_keys if k in cols)
        if name == "system.billing.list_prices":
            paths = paths + [("pricing",)]
        return paths, keys
    return [(c,) for c in SNAPSHOT_COLUMNS[name]], frozenset()


class _KeyCheck:
    """Duplicate primary keys of a streamed table: 64-bit hashes of each piece's key columns,
    compared at the end (a false duplicate needs a hash collision: ~n²/2⁶⁵)."""

    def __init__(self, gold, source: str):
        self.gold, self.source = gold, source
        self.hashes: list[np.ndarray] = []

    def add(self, table: pa.Table) -> None:
        import pandas as pd

        _check_null_keys(table, self.gold, self.source)
        if table.num_rows:
            keys = table.select(list(self.gold.primary_keys)).to_pandas()
            self.hashes.append(pd.util.hash_pandas_object(keys, index=False).to_numpy())

    def finish(self) -> None:
        if not self.hashes:
            return
        h = np.concatenate(self.hashes)
        self.hashes = []  # the pieces go before the sort, which works in place
        h.sort()
        dup = int(np.count_nonzero(h[1:] == h[:-1]))
        if dup:
            raise HealthmonError(f"{self.source}: {dup} duplicate key(s) ({', '.join(self.gold.primary_keys)}) "
                                 f"for gold table {self.gold.name}")


class _Sink:
    """Gold rows → Parquet files of at most :data:`FILE_ROWS` rows, encoded on two threads
    (pyarrow releases the GIL) with at most :data:`PENDING_FILES` waiting; part numbers follow
    arrival, so file order = row order. Without a writer (dry run) rows are only counted."""

    def __init__(self, writer: TableSetWriter | None):
        self.writer = writer
        self.rows: dict[str, int] = {}
        self.parts: dict[str, int] = {}
        self.pending: deque[Future] = deque()
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="import-writer") if writer else None

    def ensure(self, name: str) -> None:
        self.rows.setdefault(name, 0)
        if self.writer:
            self.writer.ensure(GOLD_TABLES[name])

    def put(self, name: str, table: pa.Table) -> None:
        self.ensure(name)
        self.rows[name] += table.num_rows
        if not self.writer or self.pool is None:  # the pool exists exactly when the writer does
            return
        for start in range(0, table.num_rows, FILE_ROWS):
            part = self.parts.get(name, 0)
            self.parts[name] = part + 1
            while len(self.pending) >= PENDING_FILES:
                self.pending.popleft().result()
            self.pending.append(
                self.pool.submit(self.writer.append, GOLD_TABLES[name], table.slice(start, FILE_ROWS), part)
            )

    def close(self) -> None:
        try:
            while self.pending:
                self.pending.popleft().result()
        finally:
            if self.pool:
                self.pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class _Source:
    name: str
    path: Path
    files: int = 0
    rows: int = 0
    note: str = ""


def _pieces(src: _Source) -> Iterator[pa.Table]:
    paths, keys = _needed_columns(src.name)
    schema = system_tables()[src.name]
    found = data_files(src.path)
    if not found.files and not found.markers:
        raise ImportFormatError(f"no data files ({DATA_SUFFIXES})", location=Location(str(src.path)))
    src.files = len(found.files)
    notes = []
    if found.uncommitted:
        notes.append(f"{len(found.uncommitted)} uncommitted part file(s) skipped")
    if not found.files:
        notes.append("empty export (commit markers only)")
    src.note = "; ".join(notes)
    any_piece = False
    for f in found.files:
        for piece in read_file(f, schema, paths, keys):
            src.rows += piece.num_rows
            any_piece = True
            yield piece
    if not any_piece:
        yield empty_table(schema, paths)


def _whole(src: _Source) -> pa.Table:
    pieces = list(_pieces(src))
    return pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]


def _reduced(spec: ImportSpec, src: _Source, prices: pa.Table | None) -> pa.Table:
    """The gold table of a source reduced to one row per key, read batch by batch: the running
    result is reduced again with the rows that arrived since (latest-row-per-key and the run
    timelines' min/max are associative, and later rows still win ties), once those rows
    outnumber it. Memory holds the result, at most as many pending rows, and one batch — not
    the source, which for the timelines has many slices per run."""
    gold = GOLD_TABLES[spec.gold]
    result: pa.Table | None = None
    pending: list[pa.Table] = []
    waiting = 0
    for piece in _pieces(src):
        rows = derive_gold(spec, piece, prices)
        _check_null_keys(rows, gold, spec.source)
        pending.append(rows)
        waiting += rows.num_rows
        if waiting >= max(REDUCE_ROWS, result.num_rows if result is not None else 0):
            result = reduce_gold(spec, pa.concat_tables(([result] if result is not None else []) + pending))
            pending, waiting = [], 0
    if pending or result is None:
        result = reduce_gold(spec, pa.concat_tables(([result] if result is not None else []) + pending))
    _check_keys(result, gold, spec.source)
    return result


def _sku_rows(table: pa.Table) -> pa.Table:
    t = table.select(["sku_name", "cloud", "usage_unit"]).filter(pc.is_valid(table.column("sku_name")))
    return t


def _dim_sku(rows: pa.Table) -> pa.Table:
    t = rows.append_column("__o", pa.array(np.arange(rows.num_rows)))
    t = _keep_last(t, ["sku_name"], "__o").drop_columns(["__o"])
    return t.cast(GOLD_TABLES["dim_sku"].schema)


def _read_previous_snapshots(writer: TableSetWriter) -> pa.Table | None:
    path = writer.final_path("fact_table_snapshots")
    if not (path / "_delta_log").is_dir():
        return None
    from deltalake import DeltaTable

    return DeltaTable(str(path)).to_pyarrow_table()


def _build(found: Discovery, sink: _Sink, writer: TableSetWriter, snapshot_date: dt.date) -> dict[str, _Source]:
    """Read every export and put its gold rows into ``sink``; list prices first (usage needs
    them), streamed tables batch by batch, reduced tables whole."""
    sources = {name: _Source(name, path) for name, path in found.found.items()}
    prices = None
    if "system.billing.list_prices" in sources:
        prices = _whole(sources["system.billing.list_prices"])
        sink.put("fact_list_prices", build_gold(SPEC_BY_SOURCE["system.billing.list_prices"], prices, {}))
        sink.put("dim_sku", _dim_sku(_sku_rows(prices)))
    for spec in SPECS:
        src = sources.get(spec.source)
        if src is None or spec.source == "system.billing.list_prices":
            continue
        gold = GOLD_TABLES[spec.gold]
        sink.ensure(spec.gold)
        if spec.latest_by or spec.slices:
            sink.put(spec.gold, _reduced(spec, src, prices))
            continue
        keys = _KeyCheck(gold, spec.source)
        skus = []
        for piece in _pieces(src):
            rows = derive_gold(spec, piece, prices)
            keys.add(rows)
            sink.put(spec.gold, rows)
            if spec.gold == "fact_usage" and prices is None:
                skus.append(_sku_rows(piece))
        keys.finish()
        if skus:
            sink.put("dim_sku", _dim_sku(pa.concat_tables(skus)))
    if "system.information_schema.tables" in sources:
        snap = {name: _whole(sources[name]) for name in SNAPSHOT_SOURCES if name in sources}
        sink.put("fact_table_snapshots", build_snapshots(snap, snapshot_date, _read_previous_snapshots(writer)))
    elif any(s in sources for s in SNAPSHOT_SOURCES):
        raise HealthmonError(f"{found.root}: information_schema exports need system.information_schema.tables too")
    for name in LABEL_TABLES:
        sink.put(name, GOLD_TABLES[name].schema.empty_table())
    return sources


def _plan(found: Discovery, allowed: set[str], existing: dict[str, int | None], keep_existing: bool | None,
          dry_run: bool) -> tuple[list[TableReport], list[str], list[str]]:
    """The summary before reading: per gold table its sources and fate. Returns (report,
    missing sources not allowed, earlier tables needing a keep/drop decision)."""
    report = []
    missing = sorted(set(KNOWN) - set(found.found) - allowed)
    undecided = []
    for gold, sources in GOLD_SOURCES.items():
        line = TableReport(gold, source=", ".join(sources) if sources else "(none: real data has no labels)")
        present = [s for s in sources if s in found.found]
        if gold == "dim_sku":
            present = present[:1]
        if present:
            line.found = ", ".join(found.relative(found.found[s]) for s in present)
        buildable = (
            not sources or bool(present) and (gold != "fact_table_snapshots" or SNAPSHOT_SOURCES[0] in found.found)
        )
        if buildable:
            line.status = "REPLACED" if gold in existing else "CREATED"
        elif gold in existing:
            if keep_existing is None:
                undecided.append(gold)
                line.status = "EXISTS"
                line.note = "from an earlier import; --keep-existing or --drop-existing"
            else:
                line.status = "KEPT" if keep_existing else "DROPPED"
                line.rows = existing[gold] if keep_existing else 0
                line.note = "from an earlier import" if keep_existing else "removed: no export"
        else:
            line.status = "MISSING"
            gone = [s for s in sources if s not in found.found]
            line.note = "allowed missing" if gone and all(s in allowed for s in gone) else "no export"
        if dry_run and line.status in ("CREATED", "REPLACED", "DROPPED"):
            line.status = {"CREATED": "WOULD CREATE", "REPLACED": "WOULD REPLACE", "DROPPED": "WOULD DROP"}[line.status]
        report.append(line)
    return report, missing, undecided


def _existing_tables(writer: TableSetWriter) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for name in GOLD_TABLES:
        path = writer.final_path(name)
        if (path / "_delta_log").is_dir():
            out[name] = None
    return out


def import_system_tables(source_dir: str | Path, catalog: str, schema: str = "gold", *,
                         snapshot_date: dt.date | None = None, allow_missing: list[str] | None = None,
                         keep_existing: bool | None = None, dry_run: bool = False) -> ImportResult:
    """Import the exports under ``source_dir`` into ``catalog.schema``.

    ``allow_missing``: system tables (any accepted spelling, or ``all``) that may be absent;
    any other absent one is an error. ``keep_existing``: what to do with a gold table an earlier
    import wrote when this export has no source for it (True keep, False drop, None: error).
    ``dry_run``: find, read and check everything, write nothing."""
    from healthmon.settings import Settings

    source_dir = Path(source_dir)
    allowed = parse_table_names(list(allow_missing or []), "--allow-missing")
    found = discover(source_dir)
    writer = TableSetWriter(Settings.from_env().lakehouse_root, catalog, schema)
    existing = _existing_tables(writer)
    report, missing, undecided = _plan(found, allowed, existing, keep_existing, dry_run)
    if missing:
        raise IncompleteExportError(
            f"{source_dir}: no export of {', '.join(missing)}",
            report, hint="export them (docs/demodata.md §5), or name those that may be absent with "
                         f"--allow-missing (e.g. --allow-missing {missing[0]})")
    if undecided and not dry_run:
        raise IncompleteExportError(
            f"{catalog}.{schema} has {', '.join(undecided)} from an earlier import, and this export has no source "
            "for them", report, hint="pass --keep-existing to keep them or --drop-existing to remove them")
    by_table = {r.table: r for r in report}
    sink = _Sink(None if dry_run else writer)
    with writer:  # an error anywhere removes every staged file: nothing is written
        try:
            sources = _build(found, sink, writer, snapshot_date or dt.datetime.now(dt.timezone.utc).date())
        finally:
            sink.close()  # writer threads finish before the staging directories can go
        for line in report:
            if line.status == "DROPPED":
                writer.drop(line.table)
        if dry_run:
            writer.abort()
            rows = dict(sink.rows)
        else:
            rows = writer.commit()
    for name, src in sources.items():
        for gold, srcs in GOLD_SOURCES.items():
            if srcs and srcs[0] == name or (gold == "dim_sku" and name == "system.billing.usage"
                                             and "system.billing.list_prices" not in sources):
                line = by_table[gold]
                line.files += src.files
                line.note = "; ".join(x for x in (line.note, src.note) if x)
    for gold, n in rows.items():
        by_table[gold].rows = n
    return ImportResult(rows=rows, tables=report, ignored=found.ignored, dry_run=dry_run,
                        not_built=sorted(set(GOLD_TABLES) - set(rows)))


__all__ = [
    "ImportFormatError",
    "ImportResult",
    "IncompleteExportError",
    "TableReport",
    "import_system_tables",
    "Location",
]
