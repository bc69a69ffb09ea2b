"""All-or-nothing writing of a set of gold tables, at Parquet-encoding speed.

Each table is staged in a hidden directory beside its final path (``.staging-<table>-<owner>``;
the lakehouse ignores dot-directories). ``<owner>`` names the writing process (pid, its start
time, a hash of the host name), so a later writer can tell a killed writer's leftovers from a
live one's: every new :class:`TableSetWriter` removes the staging directories of writers on
this host that are provably dead (:func:`sweep_dead_writers`). Every appended batch becomes one Parquet file written
by ``pyarrow.parquet`` (several batches, even of one table, can be encoded at once on
different threads: pyarrow releases the GIL). Nothing is committed per batch: when *every*
table of the set is complete, each staged table gets ONE Delta commit (version 0: protocol,
metadata and an ``add`` action with statistics per file, via deltalake's
``create_table_with_add_actions``) and all of them are renamed into place. A failure before
that leaves the previous tables untouched — what the importer promises ("nothing partial is
written") and what lets ``large`` stream batches without holding a table in memory.

Why not ``write_deltalake`` per batch: it encodes one file per call on one thread, computes
statistics for every column, and each append is a commit; measured on the medium account it
took ~1.8× the CPU of this path (docs/demodata.md §4).

Parquet layout (see :data:`PARQUET_OPTIONS`): one row group per batch (batches are at most a
few hundred thousand rows), dictionary encoding only for the columns that arrive
dictionary-encoded from the generators (low-cardinality pools; ids and free text are PLAIN),
Parquet footer and Delta ``stats`` min/max only for the columns queries filter on
(:func:`stats_columns`), null counts for every top-level column.

Metadata follows the lakehouse convention: table comment = Delta ``description``, primary keys =
configuration ``healthmon.primaryKeys``, column comments = Arrow field metadata ``comment``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import os
import re
import shutil
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable, Schema as DeltaSchema
from deltalake.transaction import AddAction, RemoveAction

from healthmon.demodata.arrowgen import same_logical_schema
from healthmon.demodata.schemas import GoldTable
from healthmon.lakehouse.paths import TableName, check_identifier

PK_KEY = "healthmon.primaryKeys"
# Snappy: every Parquet/Delta reader has it (Spark, Databricks, DuckDB, delta-rs). It is applied
# per column, only where it pays (:func:`column_compression`): random ids and timestamps barely
# shrink but cost ~6× the CPU of storing them as they are.
COMPRESSION = "snappy"
MIN_SAVING = 0.2       # compress a column when a sample shrinks by at least this fraction
SAMPLE_BYTES = 1 << 16
PARQUET_OPTIONS = dict(
    version="2.6",
    store_schema=False,  # the Delta log is the schema; no Arrow dictionary types leak to readers
    data_page_size=1 << 20,
)
# Columns worth min/max statistics besides times and dates: the identifiers the ML features and
# per-entity queries filter on. Metrics (bytes, durations) and random ids (event_id,
# statement_id...) would cost encoding CPU for bounds that prune nothing.
FILTER_COLUMNS = frozenset({"workspace_id", "job_id", "warehouse_id", "compute_warehouse_id", "cluster_id",
                            "user_name", "user_identity_email", "executed_by", "sku_name", "catalog_name",
                            "table_catalog", "table_schema", "table_name", "action_name", "service_name"})


def stats_columns(schema: pa.Schema) -> list[str]:
    """Top-level columns that get min/max statistics (Parquet footer and Delta log): timestamps,
    dates and :data:`FILTER_COLUMNS` — what time-window and per-entity reads prune on. Every
    column still gets its null count in the Delta log."""
    out = []
    for f in schema:
        t = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
        if pa.types.is_timestamp(t) or pa.types.is_date(t) or (f.name in FILTER_COLUMNS and not pa.types.is_nested(t)):
            out.append(f.name)
    return out


def column_compression(data: pa.Table, codec: str = COMPRESSION) -> dict[str, str]:
    """Codec per column: ``codec`` unless a sample of the column's values (the first
    :data:`SAMPLE_BYTES` of its data buffer) shrinks by less than :data:`MIN_SAVING`, then
    ``NONE``. Dictionary-encoded and nested columns always get ``codec`` (their indices, keys
    and repeated values compress well)."""
    out = {}
    for name, col in zip(data.column_names, data.columns):
        out[name] = codec
        if codec.lower() == "none" or not col.num_chunks:
            continue
        t = col.type
        if pa.types.is_dictionary(t) or pa.types.is_nested(t) or pa.types.is_boolean(t):
            continue
        buf = col.chunk(0).buffers()[-1]
        if buf is None or buf.size < 1024:
            continue
        sample = buf.slice(0, min(buf.size, SAMPLE_BYTES))
        if len(pa.compress(sample, codec=codec, asbytes=True)) > (1 - MIN_SAVING) * sample.size:
            out[name] = "NONE"
    return out


def _plain_dictionaries(data: pa.Table) -> pa.Table:
    """Parquet cannot write a dictionary whose *values* contain NULL: turn those entries into
    NULL indices (same logical column)."""
    cols = list(data.columns)
    changed = False
    for i, col in enumerate(cols):
        if not pa.types.is_dictionary(col.type):
            continue
        if not any(ch.dictionary.null_count for ch in col.chunks):
            continue
        chunks = []
        for ch in col.chunks:
            if ch.dictionary.null_count:
                nulls = pc.take(pc.is_null(ch.dictionary), ch.indices)
                idx = pc.if_else(pc.fill_null(nulls, True), pa.scalar(None, ch.indices.type), ch.indices)
                ch = pa.DictionaryArray.from_arrays(idx, pc.fill_null(ch.dictionary, ""))
            chunks.append(ch)
        cols[i] = pa.chunked_array(chunks, col.type)
        changed = True
    return pa.Table.from_arrays(cols, schema=data.schema) if changed else data


def _stat_value(value, type_: pa.DataType, upper: bool):
    """A Parquet statistic → its Delta stats JSON value. Timestamps are written with
    millisecond precision (as Spark and delta-rs do): min rounded down, max up, so the bounds
    stay true bounds."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        us = value.microsecond
        value = value.replace(microsecond=us - us % 1000)
        if upper and us % 1000:
            value += dt.timedelta(milliseconds=1)
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def file_stats(meta: pq.FileMetaData, data: pa.Table, columns: list[str]) -> str:
    """Delta ``stats`` JSON for one file: numRecords, min/max of ``columns`` from the Parquet
    footer (combined over row groups), nullCount of every non-struct top-level column."""
    mins: dict = {}
    maxs: dict = {}
    paths = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    for name in columns:
        i = paths.get(name)
        if i is None:
            continue
        lo = hi = None
        for rg in range(meta.num_row_groups):
            st = meta.row_group(rg).column(i).statistics
            if st is None or not st.has_min_max:
                if st is not None and st.null_count == meta.row_group(rg).num_rows:
                    continue  # all NULL: no bounds needed from this group
                lo = hi = None
                break
            lo = st.min if lo is None or st.min < lo else lo
            hi = st.max if hi is None or st.max > hi else hi
        else:
            if lo is not None:
                t = data.schema.field(name).type
                mins[name] = _stat_value(lo, t, upper=False)
                maxs[name] = _stat_value(hi, t, upper=True)
    nulls = {f.name: data.column(f.name).null_count for f in data.schema if not pa.types.is_struct(f.type)}
    return json.dumps({"numRecords": data.num_rows, "minValues": mins, "maxValues": maxs, "nullCount": nulls},
                      separators=(",", ":"), allow_nan=False)


def write_file(gold: GoldTable, data: pa.Table, directory: Path, part: int) -> AddAction:
    """One Parquet file of ``data`` in a table directory → its Delta ``add`` action (with stats).
    Pure apart from the file: callable from any thread or process."""
    if not same_logical_schema(data.schema, gold.schema):
        raise ValueError(f"batch for {gold.name} does not match its gold schema")
    data = _plain_dictionaries(data)
    columns = stats_columns(gold.schema)
    name = f"part-{part:010d}-{uuid.uuid4()}-c000.{COMPRESSION}.parquet"
    target = Path(directory) / name
    pq.write_table(
        data, target, row_group_size=max(data.num_rows, 1),
        use_dictionary=[f.name for f in data.schema if pa.types.is_dictionary(f.type)],
        write_statistics=[c for c in columns if c in data.schema.names],
        compression=column_compression(data),
        **PARQUET_OPTIONS,
    )
    stats = file_stats(pq.read_metadata(target), data, columns)  # footer bytes, just written
    return AddAction(path=name, size=target.stat().st_size, partition_values={},
                     modification_time=int(time.time() * 1000), data_change=True, stats=stats)


_OWNED = re.compile(
    r"^\.(?P<kind>staging|replaced)-(?P<table>.+)-p(?P<pid>\d+)s(?P<start>\d+)h(?P<host>[0-9a-f]{8})r[0-9a-f]+$"
)


def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _start_time(pid: int) -> int | None:
    """A process's start time in centiseconds since the epoch (None: no such process)."""
    import psutil

    try:
        return round(psutil.Process(pid).create_time() * 100)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.Error:
        return -1  # exists but unreadable: not provably dead


def owner_token() -> str:
    """This process as a staging-directory owner: pid, start time, host, and a random part."""
    pid = os.getpid()
    return f"p{pid}s{_start_time(pid)}h{_host()}r{uuid.uuid4().hex[:6]}"


def _dead(pid: int, start: int, host: str) -> bool:
    """True only when the owner is provably gone: same host, and no process with that pid or
    one started at another time (the pid was reused)."""
    if host != _host():
        return False
    now = _start_time(pid)
    return now is None or (now != -1 and now != start)


def sweep_dead_writers(root: Path) -> list[Path]:
    """Remove what killed writers left under ``root/<catalog>/<schema>/``: their staging
    directories, and the previous copy of a table they had moved aside (put back when the swap
    was cut between its two renames). Returns the removed paths."""
    removed: list[Path] = []
    root = Path(root)
    if not root.is_dir():
        return removed
    for schema_dir in (s for c in root.iterdir() if c.is_dir() for s in c.iterdir() if s.is_dir()):
        for entry in schema_dir.iterdir():
            m = _OWNED.match(entry.name)
            if not m or not _dead(int(m["pid"]), int(m["start"]), m["host"]):
                continue
            final = schema_dir / m["table"]
            if m["kind"] == "replaced" and not final.exists():
                os.rename(entry, final)
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


class _Staged:
    """One table being staged: its directory and the files written so far."""

    def __init__(self, gold: GoldTable, path: Path):
        self.gold = gold
        self.path = path
        self.adds: list[tuple[int, AddAction]] = []  # (part, file): log order = part order
        self.rows = 0
        self.committed = False


class TableSetWriter:
    """Stage several tables of one ``catalog.schema`` and commit them together."""

    def __init__(self, lakehouse_root: Path, catalog: str, schema: str):
        self.catalog = check_identifier(catalog, "catalog name")
        self.schema = check_identifier(schema, "schema name")
        self.root = Path(lakehouse_root)
        self._staged: dict[str, _Staged] = {}
        self._dropped: set[str] = set()
        self._token = owner_token()
        sweep_dead_writers(self.root)
        self._lock = threading.Lock()
        self._seq = itertools.count()

    def final_path(self, table: str) -> Path:
        return TableName.parse(f"{self.catalog}.{self.schema}.{table}").path(self.root)

    def _stage(self, gold: GoldTable) -> _Staged:
        with self._lock:
            staged = self._staged.get(gold.name)
            if staged is None:
                final = self.final_path(gold.name)
                path = final.parent / f".staging-{gold.name}-{self._token}"
                path.mkdir(parents=True, exist_ok=False)
                staged = self._staged[gold.name] = _Staged(gold, path)
            return staged

    def append(self, gold: GoldTable, data: pa.Table, part: int | None = None) -> None:
        """Write a batch as one Parquet file of the staged table. Thread-safe: any batches,
        of the same table or not, may be written concurrently. ``part`` orders the files of a
        table in the Delta log (and so the rows a reader sees); by default, call order."""
        staged = self._stage(gold)
        if not data.num_rows:
            return
        part = next(self._seq) if part is None else part
        self.adopt(gold, part, write_file(gold, data, staged.path, part), data.num_rows)

    def staging_dir(self, gold: GoldTable) -> Path:
        """Where another process may write files of this table (then :meth:`adopt` them)."""
        return self._stage(gold).path

    def adopt(self, gold: GoldTable, part: int, add: AddAction, rows: int) -> None:
        """Record a file written into :meth:`staging_dir` (by :func:`write_file`)."""
        staged = self._stage(gold)
        with self._lock:
            staged.adds.append((part, add))
            staged.rows += rows

    def ensure(self, gold: GoldTable) -> None:
        """Create the table even if no batch had rows for it."""
        self._stage(gold)

    def drop(self, table: str) -> None:
        """Remove the table ``table`` (if it exists) when the set is committed."""
        self._dropped.add(table)

    @property
    def rows(self) -> dict[str, int]:
        with self._lock:
            return {name: s.rows for name, s in self._staged.items()}

    def _commit_table(self, staged: _Staged) -> None:
        """Create the table (version 0: schema, comment, primary keys) and add every staged file
        in ONE write transaction (version 1). Two commits because deltalake's one-shot
        ``create_table_with_add_actions`` rejects the ``healthmon.*`` configuration key."""
        schema = DeltaSchema.from_arrow(staged.gold.schema)
        table = DeltaTable.create(
            str(staged.path), schema, description=staged.gold.comment,
            configuration={PK_KEY: ",".join(staged.gold.primary_keys)}, raise_if_key_not_exists=False,
        )
        if staged.adds:
            adds: list[AddAction | RemoveAction] = [add for _, add in sorted(staged.adds, key=lambda pa_: pa_[0])]
            table.create_write_transaction(adds, mode="append", schema=schema)
        staged.committed = True

    def commit(self) -> dict[str, int]:
        """Commit every staged table, then swap them into place (replacing an existing table of
        that name)."""
        pending = [s for s in self._staged.values() if not s.committed]
        if pending:
            # each table is its own Delta log: commit them concurrently (deltalake releases the GIL)
            with ThreadPoolExecutor(max_workers=min(4, len(pending)), thread_name_prefix="delta-commit") as pool:
                list(pool.map(self._commit_table, pending))
        self._register_schema()
        trash: list[Path] = []
        try:
            for name in sorted(self._dropped - set(self._staged)):
                final = self.final_path(name)
                if final.exists():
                    old = final.parent / f".replaced-{name}-{self._token}"
                    os.rename(final, old)
                    trash.append(old)
            for name, staged in self._staged.items():
                final = self.final_path(name)
                if final.exists():
                    old = final.parent / f".replaced-{name}-{self._token}"
                    os.rename(final, old)
                    trash.append(old)
                os.rename(staged.path, final)
        finally:
            for old in trash:
                shutil.rmtree(old, ignore_errors=True)
        rows = self.rows
        self._staged.clear()
        self._dropped.clear()
        return rows

    def _register_schema(self) -> None:
        """Give the catalog and schema their lakehouse properties (as ``CREATE SCHEMA`` would)."""
        try:
            from healthmon.lakehouse.catalog import Catalog
        except ImportError:  # lakehouse not installed in this checkout: the directories suffice
            return
        Catalog(self.root).create_schema(f"{self.catalog}.{self.schema}")

    def abort(self) -> None:
        for staged in self._staged.values():
            shutil.rmtree(staged.path, ignore_errors=True)
        self._staged.clear()
        self._dropped.clear()

    def __enter__(self) -> "TableSetWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
