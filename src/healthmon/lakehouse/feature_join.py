"""Feature lookups as DuckDB joins: exact-key LEFT JOINs, and point-in-time ASOF LEFT JOINs
(latest feature row at or before the spine's timestamp, optionally within a lookback window).

Pure over Arrow: the caller passes the spine and the feature tables' Arrow datasets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from healthmon.errors import InvalidParameterError

ROW_ID = "__hm_row"


@dataclass(frozen=True)
class ResolvedLookup:
    """A FeatureLookup bound to its table: which spine columns match which table keys."""

    table_name: str
    spine_keys: list[str]            # columns of the spine (lookup_key)
    table_keys: list[str]            # the table's primary keys, minus its timestamp key
    features: list[str]              # table columns to bring
    outputs: list[str]               # names in the result (after rename_outputs)
    spine_timestamp: str | None = None
    table_timestamp: str | None = None
    lookback_seconds: float | None = None
    defaults: dict = field(default_factory=dict)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def join_features(
    spine: pa.Table, lookups: list[tuple[ResolvedLookup, object]], threads: int | None = None
) -> pa.Table:
    """``spine`` + every lookup's features, in the spine's row order."""
    from healthmon.lakehouse.engines.duckdb_engine import confined_connection

    con = confined_connection(threads=threads)  # Arrow objects only: no file is read by DuckDB
    try:
        spine = spine.append_column(ROW_ID, pa.array(range(spine.num_rows), pa.int64()))
        con.register("spine", spine)
        select = ["s.*"]
        joins = []
        for i, (lk, dataset) in enumerate(lookups):
            alias = f"f{i}"
            con.register(f"ft{i}", dataset)
            on = " AND ".join(f"s.{_q(sk)} = {alias}.{_q(tk)}" for sk, tk in zip(lk.spine_keys, lk.table_keys))
            table_ts = lk.table_timestamp  # set exactly when spine_timestamp is
            if lk.spine_timestamp and table_ts:
                cond = f"{on} AND s.{_q(lk.spine_timestamp)} >= {alias}.{_q(table_ts)}"
                joins.append(f"ASOF LEFT JOIN ft{i} {alias} ON {cond}")
            for feat, out in zip(lk.features, lk.outputs):
                expr = f"{alias}.{_q(feat)}"
                if lk.spine_timestamp and table_ts and lk.lookback_seconds is not None:
                    # ASOF finds the latest row; drop it again if it is older than the window.
                    expr = (
                        f"CASE WHEN s.{_q(lk.spine_timestamp)} - {alias}.{_q(table_ts)} "
                        f"<= INTERVAL {float(lk.lookback_seconds)} SECONDS THEN {expr} END"
                    )
                if feat in lk.defaults:
                    expr = f"coalesce({expr}, {_literal(lk.defaults[feat])})"
                select.append(f"{expr} AS {_q(out)}")
            if not lk.spine_timestamp:
                # Feature tables are unique by primary key, so a LEFT JOIN never multiplies spine rows.
                joins.append(f"LEFT JOIN ft{i} {alias} ON {on}")
        sql = f"SELECT {', '.join(select)} FROM spine s {' '.join(joins)} ORDER BY s.{ROW_ID}"
        try:
            out = con.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise InvalidParameterError(f"Feature lookup failed: {str(exc).splitlines()[0]}") from None
        return out.drop_columns([ROW_ID])
    finally:
        con.close()


def _literal(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"
