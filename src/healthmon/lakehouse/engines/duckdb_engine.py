"""The embedded engine: DuckDB over Arrow datasets of Delta snapshots (no DuckDB extensions,
so nothing is downloaded at run time)."""

from __future__ import annotations

from typing import Callable

import duckdb
import pyarrow as pa
from deltalake import DeltaTable
from sqlglot import exp

from healthmon.errors import InvalidParameterError
from healthmon.lakehouse.sql_translate import TableRef, to_dialect


class DuckDBEngine:
    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, threads: int | None = None):
        self.threads = threads

    def _connect(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(":memory:")
        if self.threads:
            con.execute(f"SET threads = {int(self.threads)}")
        return con

    def query(
        self, tree: exp.Expression, refs: list[TableRef], load: Callable[[TableRef], DeltaTable]
    ) -> pa.Table:
        sql = to_dialect(tree, self.dialect)
        con = self._connect()
        try:
            for ref in refs:
                con.register(ref.view, load(ref).to_pyarrow_dataset())
            try:
                return con.sql(sql).to_arrow_table()
            except duckdb.Error as exc:
                raise InvalidParameterError(f"SQL error: {_first_line(exc)}\n  (engine SQL: {sql})") from None
        finally:
            con.close()

    def query_arrow(self, sql: str, tables: dict[str, object]) -> pa.Table:
        """Run DuckDB SQL over in-memory Arrow objects (used by the feature store)."""
        con = self._connect()
        try:
            for name, obj in tables.items():
                con.register(name, obj)
            return con.sql(sql).to_arrow_table()
        finally:
            con.close()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
