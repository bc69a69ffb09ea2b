"""``Lakehouse``: the catalog, Delta tables and the SQL engine behind one object."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable

from healthmon.errors import InvalidParameterError, NotFoundError
from healthmon.lakehouse import delta_io
from healthmon.lakehouse.arrow_utils import to_arrow, with_column_comments
from healthmon.lakehouse.catalog import Catalog
from healthmon.lakehouse.engines import get_engine
from healthmon.lakehouse.paths import TableName, check_identifier
from healthmon.lakehouse.sql_translate import TableRef
from healthmon.settings import Settings


class Lakehouse:
    def __init__(self, root: str | os.PathLike, engine: str | Any = "duckdb", **engine_options):
        self.root = Path(root)
        self.catalog = Catalog(self.root)
        self.engine = get_engine(engine, **engine_options) if isinstance(engine, str) else engine
        # Set by USE CATALOG / USE SCHEMA in `sql`, so one- and two-part names resolve.
        self.default_catalog: str | None = None
        self.default_schema: str | None = None
        # The dialect the engines transpile `sql` text from (set per call by sql_exec.execute).
        self._sql_dialect = "spark"

    @classmethod
    def from_env(cls, engine: str | None = None, settings: Settings | None = None, **engine_options) -> "Lakehouse":
        settings = settings or Settings.from_env()
        return cls(settings.lakehouse_root, engine or os.environ.get("HEALTHMON_ENGINE") or "duckdb", **engine_options)

    # -- namespaces -------------------------------------------------------------------------
    def create_catalog(self, name: str, comment: str | None = None, if_not_exists: bool = True) -> None:
        self.catalog.create_catalog(name, comment, if_not_exists)

    def drop_catalog(self, name: str, cascade: bool = False, if_exists: bool = False) -> None:
        self.catalog.drop_catalog(name, cascade, if_exists)

    def list_catalogs(self) -> list[str]:
        return self.catalog.list_catalogs()

    def create_schema(self, name: str, comment: str | None = None, if_not_exists: bool = True) -> None:
        """Create ``catalog.schema`` (and the catalog if needed)."""
        self.catalog.create_schema(name, comment, if_not_exists)

    def drop_schema(self, name: str, cascade: bool = False, if_exists: bool = False) -> None:
        self.catalog.drop_schema(name, cascade, if_exists)

    def list_schemas(self, catalog: str) -> list[str]:
        return self.catalog.list_schemas(catalog)

    def list_tables(self, schema: str) -> list[str]:
        """Fully qualified names of the tables in ``catalog.schema``."""
        return self.catalog.list_tables(schema)

    # -- tables -----------------------------------------------------------------------------
    def table_exists(self, name: str) -> bool:
        return self.catalog.table_exists(name)

    def table_path(self, name: str) -> Path:
        return self.catalog.table_path(name)

    def delta_table(self, name: str | TableName, version: int | None = None, timestamp: Any = None) -> DeltaTable:
        """The ``deltalake.DeltaTable`` for ``name`` (at a version or timestamp)."""
        path = self.catalog.require_table(name)
        dt = DeltaTable(str(path))
        if version is not None or timestamp is not None:
            if isinstance(timestamp, str):
                timestamp = _parse_timestamp(timestamp)
            try:
                dt.load_as_version(version if version is not None else timestamp)
            except Exception as exc:  # deltalake raises several types for "no such version"
                latest = DeltaTable(str(path)).version()
                what = f"version {version}" if version is not None else f"timestamp {timestamp}"
                raise NotFoundError(
                    f"Table {TableName.parse(str(name)) if isinstance(name, str) else name} has no {what} "
                    f"(latest version is {latest}): {str(exc).splitlines()[0]}"
                ) from None
        return dt

    def create_table(
        self,
        name: str,
        schema: pa.Schema,
        *,
        primary_keys: list[str] | None = None,
        comment: str | None = None,
        tags: dict[str, str] | None = None,
        column_comments: dict[str, str] | None = None,
        partition_by: list[str] | None = None,
    ) -> int:
        """Create an empty table with ``schema``; returns its version (0)."""
        tn = TableName.parse(name)
        empty = with_column_comments(to_arrow(schema.empty_table()), column_comments)
        _check_tags(tags)
        return delta_io.create_table(
            tn.path(self.root), empty.schema, table_name=str(tn), comment=comment,
            primary_keys=_pk_list(primary_keys), tags=tags, partition_by=partition_by,
        )

    def write_table(
        self,
        name: str,
        data: Any,
        mode: str = "append",
        primary_keys: list[str] | str | None = None,
        comment: str | None = None,
        *,
        tags: dict[str, str] | None = None,
        column_comments: dict[str, str] | None = None,
        partition_by: list[str] | None = None,
    ) -> int:
        """Append, overwrite or merge (upsert by primary key) ``data``; returns the new version.

        Creates the table (and its schema directories) if it does not exist."""
        tn = TableName.parse(name)
        table = with_column_comments(to_arrow(data), column_comments)
        _check_tags(tags)
        return delta_io.write(
            tn.path(self.root), table, table_name=str(tn), mode=mode, primary_keys=_pk_list(primary_keys),
            comment=comment, tags=tags, partition_by=partition_by,
        )

    def read_table(
        self, name: str, version: int | None = None, timestamp: Any = None, columns: list[str] | None = None
    ) -> pa.Table:
        return self.delta_table(name, version, timestamp).to_pyarrow_dataset().to_table(columns=columns)

    def drop_table(self, name: str, if_exists: bool = False) -> None:
        self.catalog.drop_table(name, if_exists)

    def history(self, name: str, limit: int | None = None) -> list[dict]:
        """Delta commits, newest first (like ``DESCRIBE HISTORY``)."""
        return self.delta_table(name).history(limit)

    def describe_table(self, name: str) -> dict:
        tn = TableName.parse(name)
        dt = self.delta_table(tn)
        meta = delta_io.read_meta(dt)
        schema = delta_io.arrow_schema(dt)
        return {
            "name": str(tn),
            "location": str(tn.path(self.root)),
            "format": "delta",
            "version": dt.version(),
            "comment": meta.comment,
            "primary_keys": meta.primary_keys,
            "tags": meta.tags,
            "partition_columns": list(dt.metadata().partition_columns),
            "properties": {k: v for k, v in meta.configuration.items()},
            "columns": [
                {
                    "name": f.name,
                    "type": str(f.type),
                    "nullable": f.nullable,
                    "comment": meta.column_comments.get(f.name),
                }
                for f in schema
            ],
            "num_files": len(dt.file_uris()),
        }

    def set_table_comment(self, name: str, comment: str) -> int:
        dt = self.delta_table(name)
        dt.alter.set_table_description(comment)
        return DeltaTable(dt.table_uri).version()

    def set_column_comment(self, name: str, column: str, comment: str) -> int:
        dt = self.delta_table(name)
        delta_io.set_column_comment(dt, column, comment)
        return DeltaTable(dt.table_uri).version()

    def set_tags(self, name: str, tags: dict[str, str]) -> int:
        _check_tags(tags)
        dt = self.delta_table(name)
        dt.alter.set_table_properties(
            {delta_io.TAG_PREFIX + k: str(v) for k, v in tags.items()}, raise_if_not_exists=False
        )
        return DeltaTable(dt.table_uri).version()

    def set_primary_keys(self, name: str, primary_keys: list[str]) -> int:
        """Declare primary keys on an existing table (checked against its current rows)."""
        dt = self.delta_table(name)
        pks = _pk_list(primary_keys) or []
        data = dt.to_pyarrow_dataset().to_table(columns=[k for k in pks if k in dt.schema().to_arrow().names])
        delta_io.check_primary_keys(data, pks, str(TableName.parse(name)))
        dt.alter.set_table_properties({delta_io.PK_KEY: ",".join(pks)}, raise_if_not_exists=False)
        return DeltaTable(dt.table_uri).version()

    # -- SQL --------------------------------------------------------------------------------
    def _load(self, ref: TableRef) -> DeltaTable:
        return self.delta_table(ref.name, ref.version, ref.timestamp)

    def sql(self, query: str, dialect: str = "spark") -> pa.Table:
        """Run Spark SQL (or another sqlglot dialect) with three-level table names; returns the
        last statement's result as Arrow."""
        from healthmon.lakehouse.sql_exec import execute

        return execute(self, query, dialect)


def _parse_timestamp(text: str):
    import datetime as _dt

    try:
        ts = _dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidParameterError(f"Invalid timestamp {text!r} for TIMESTAMP AS OF: expected ISO 8601.") from None
    # Spark reads a zone-less literal in the session time zone, which healthmon fixes to UTC.
    return ts if ts.tzinfo else ts.replace(tzinfo=_dt.timezone.utc)


def _pk_list(primary_keys: list[str] | str | None) -> list[str] | None:
    if primary_keys is None:
        return None
    if isinstance(primary_keys, str):
        primary_keys = [primary_keys]
    return list(primary_keys) or None


def _check_tags(tags: dict[str, str] | None) -> None:
    for key in tags or {}:
        check_identifier(key, "tag name")
    if tags is not None and not isinstance(tags, dict):
        raise InvalidParameterError("tags must be a mapping of tag name to value.")
