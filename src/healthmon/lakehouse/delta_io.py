"""Transactional writes to one Delta table, keeping healthmon's metadata in the Delta log.

Metadata convention (see docs/lakehouse.md): table comment = Delta ``description``; primary keys
= configuration ``healthmon.primaryKeys`` (comma-separated); tags = ``healthmon.tag.<name>``;
column comments = field metadata ``comment``.

Atomicity: every data change is one Delta commit (``write_deltalake`` / ``merge``), so a killed
writer leaves the previous version. A *new* table needs two commits (create with metadata, then
data, because deltalake refuses unknown configuration keys in ``write_deltalake``), so it is
built in a hidden staging directory beside its final path and renamed into place: readers see
either no table or the complete one.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError

from healthmon.errors import InvalidParameterError
from healthmon.lakehouse.arrow_utils import COMMENT_KEY, conform

PK_KEY = "healthmon.primaryKeys"
TAG_PREFIX = "healthmon.tag."
STAGING_PREFIX = ".staging-"

MODES = ("append", "overwrite", "merge")


@dataclass(frozen=True)
class TableMeta:
    comment: str | None
    primary_keys: list[str]
    tags: dict[str, str]
    column_comments: dict[str, str]
    configuration: dict[str, str]


def is_delta_table(path: Path) -> bool:
    return (Path(path) / "_delta_log").is_dir()


def read_meta(dt: DeltaTable) -> TableMeta:
    md = dt.metadata()
    config = dict(md.configuration or {})
    pks = [c for c in (config.get(PK_KEY) or "").split(",") if c]
    tags = {k[len(TAG_PREFIX):]: v for k, v in config.items() if k.startswith(TAG_PREFIX)}
    comments = {}
    for f in dt.schema().fields:
        c = (f.metadata or {}).get("comment")
        if c:
            comments[f.name] = c if isinstance(c, str) else str(c)
    return TableMeta(md.description, pks, tags, comments, config)


def arrow_schema(dt: DeltaTable) -> pa.Schema:
    return pa.schema(dt.schema().to_arrow())


def _config(primary_keys: list[str] | None, tags: dict[str, str] | None) -> dict[str, str]:
    config: dict[str, str] = {}
    if primary_keys:
        config[PK_KEY] = ",".join(primary_keys)
    for k, v in (tags or {}).items():
        config[TAG_PREFIX + k] = str(v)
    return config


def check_primary_keys(data: pa.Table, primary_keys: list[str], table_name: str) -> None:
    """Reject null or duplicate keys in ``data``, with counts."""
    missing = [k for k in primary_keys if k not in data.column_names]
    if missing:
        raise InvalidParameterError(
            f"Primary key column(s) {', '.join(missing)} not in the data for {table_name} "
            f"(columns: {', '.join(data.column_names)})."
        )
    nulls = {k: data.column(k).null_count for k in primary_keys}
    null_rows = sum(nulls.values())
    if null_rows:
        detail = ", ".join(f"{k}: {n}" for k, n in nulls.items() if n)
        raise InvalidParameterError(
            f"Null primary key values in data for {table_name}: {detail} row(s). Nothing was written."
        )
    if data.num_rows:
        counts = data.select(primary_keys).group_by(primary_keys).aggregate([([], "count_all")])
        dup = counts.filter(pc.greater(counts.column("count_all"), 1))
        if dup.num_rows:
            extra_rows = pc.sum(dup.column("count_all")).as_py() - dup.num_rows
            example = {k: dup.column(k)[0].as_py() for k in primary_keys}
            raise InvalidParameterError(
                f"Duplicate primary keys ({', '.join(primary_keys)}) in data for {table_name}: "
                f"{dup.num_rows} key(s) appear more than once ({extra_rows} extra row(s)), e.g. {example}. "
                "Nothing was written."
            )


def _check_append_conflicts(dt: DeltaTable, data: pa.Table, primary_keys: list[str], table_name: str) -> None:
    if not data.num_rows:
        return
    existing = dt.to_pyarrow_dataset().to_table(columns=primary_keys)
    if not existing.num_rows:
        return
    clash = data.select(primary_keys).join(existing, keys=primary_keys, join_type="left semi")
    if clash.num_rows:
        raise InvalidParameterError(
            f"Appending to {table_name} would duplicate {clash.num_rows} primary key(s) "
            f"({', '.join(primary_keys)}) already in the table. Nothing was written.",
            hint="use mode='merge' to upsert by primary key",
        )


def _quote(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


def _create_new(
    path: Path,
    data: pa.Table,
    *,
    comment: str | None,
    primary_keys: list[str] | None,
    tags: dict[str, str] | None,
    partition_by: list[str] | None,
) -> bool:
    """Create the table atomically; False if someone else created it first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.parent / f"{STAGING_PREFIX}{path.name}-{uuid.uuid4().hex}"
    try:
        DeltaTable.create(
            str(staging),
            data.schema,
            partition_by=partition_by or None,
            description=comment,
            configuration=_config(primary_keys, tags) or None,
            raise_if_key_not_exists=False,
        )
        if data.num_rows:
            write_deltalake(str(staging), data, mode="append")
        try:
            os.rename(staging, path)
        except OSError:
            if is_delta_table(path):
                return False
            raise
        return True
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def create_table(
    path: Path,
    schema: pa.Schema,
    *,
    table_name: str,
    comment: str | None = None,
    primary_keys: list[str] | None = None,
    tags: dict[str, str] | None = None,
    partition_by: list[str] | None = None,
) -> int:
    if is_delta_table(path):
        raise InvalidParameterError(f"Table {table_name} already exists.", hint="TABLE_OR_VIEW_ALREADY_EXISTS")
    empty = schema.empty_table()
    if primary_keys:
        check_primary_keys(empty, primary_keys, table_name)
    if not _create_new(path, empty, comment=comment, primary_keys=primary_keys, tags=tags, partition_by=partition_by):
        raise InvalidParameterError(f"Table {table_name} already exists.", hint="TABLE_OR_VIEW_ALREADY_EXISTS")
    return DeltaTable(str(path)).version()


def write(
    path: Path,
    data: pa.Table,
    *,
    table_name: str,
    mode: str = "append",
    primary_keys: list[str] | None = None,
    comment: str | None = None,
    tags: dict[str, str] | None = None,
    partition_by: list[str] | None = None,
) -> int:
    """Write ``data`` to the Delta table at ``path``; returns the new version."""
    if mode not in MODES:
        raise InvalidParameterError(
            f"Invalid write mode {mode!r} for {table_name}: expected one of {', '.join(MODES)}."
        )
    for _attempt in range(3):
        if not is_delta_table(path):
            if mode == "merge" and not primary_keys:
                raise InvalidParameterError(
                    f"mode='merge' needs primary_keys to create {table_name} (it does not exist yet)."
                )
            if primary_keys:
                check_primary_keys(data, primary_keys, table_name)
            if _create_new(
                path, data, comment=comment, primary_keys=primary_keys, tags=tags, partition_by=partition_by
            ):
                return DeltaTable(str(path)).version()
            continue  # lost a creation race: write into the table the winner created
        return _write_existing(path, data, table_name=table_name, mode=mode, primary_keys=primary_keys,
                               comment=comment, tags=tags, partition_by=partition_by)
    raise InvalidParameterError(f"Could not create {table_name}: concurrent creations kept conflicting.")


def _write_existing(
    path: Path,
    data: pa.Table,
    *,
    table_name: str,
    mode: str,
    primary_keys: list[str] | None,
    comment: str | None,
    tags: dict[str, str] | None,
    partition_by: list[str] | None,
) -> int:
    dt = DeltaTable(str(path))
    meta = read_meta(dt)
    pks = list(primary_keys or meta.primary_keys)
    if mode == "overwrite":
        # Overwrite replaces data and, if it differs, the schema (like Spark's overwriteSchema).
        if pks:
            check_primary_keys(data, pks, table_name)
        same_schema = arrow_schema(dt).remove_metadata().equals(pa.schema([f.remove_metadata() for f in data.schema]))
        if same_schema:
            data = conform(data, arrow_schema(dt), table_name)
        write_deltalake(
            dt, data, mode="overwrite",
            schema_mode=None if same_schema else "overwrite",
            partition_by=partition_by or None if not same_schema else None,
        )
    else:
        data = conform(data, arrow_schema(dt), table_name)
        if mode == "merge":
            if not pks:
                raise InvalidParameterError(
                    f"mode='merge' needs primary keys: {table_name} has none; pass primary_keys=[...]."
                )
            check_primary_keys(data, pks, table_name)
            _merge(dt, data, pks)
        else:
            if pks:
                check_primary_keys(data, pks, table_name)
                _check_append_conflicts(dt, data, pks, table_name)
            write_deltalake(dt, data, mode="append")
    dt = DeltaTable(str(path))
    _update_meta(dt, meta, comment=comment, primary_keys=primary_keys, tags=tags)
    return DeltaTable(str(path)).version()


def _merge(dt: DeltaTable, data: pa.Table, pks: list[str]) -> None:
    predicate = " AND ".join(f"t.{_quote(k)} = s.{_quote(k)}" for k in pks)
    for attempt in range(5):
        try:
            (
                dt.merge(data, predicate=predicate, source_alias="s", target_alias="t")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
            return
        except CommitFailedError:
            # A concurrent writer touched the same files: reload and merge again (merge is idempotent).
            if attempt == 4:
                raise
            dt.update_incremental()


def _update_meta(dt: DeltaTable, meta: TableMeta, *, comment, primary_keys, tags) -> None:
    if comment is not None and comment != meta.comment:
        dt.alter.set_table_description(comment)
    props = {}
    if primary_keys and list(primary_keys) != meta.primary_keys:
        missing = [k for k in primary_keys if k not in dt.schema().to_arrow().names]
        if missing:
            raise InvalidParameterError(f"Primary key column(s) not in the table: {', '.join(missing)}.")
        props[PK_KEY] = ",".join(primary_keys)
    for k, v in (tags or {}).items():
        if meta.tags.get(k) != str(v):
            props[TAG_PREFIX + k] = str(v)
    if props:
        dt.alter.set_table_properties(props, raise_if_not_exists=False)


def set_column_comment(dt: DeltaTable, column: str, comment: str) -> None:
    names = dt.schema().to_arrow().names
    if column not in names:
        raise InvalidParameterError(f"Unknown column {column!r}: the table has {', '.join(names)}.")
    dt.alter.set_column_metadata(column, {COMMENT_KEY.decode(): comment})
