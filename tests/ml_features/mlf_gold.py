"""Hand-made gold tables for the feature tests: a few rows with the real gold schemas."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa

from healthmon.demodata.schemas import GOLD_TABLES

CATALOG = "cat"
GOLD = "gold"
FEATURES = "gold_ml"

# Defaults for the gold columns declared NOT NULL.
_NOT_NULL_DEFAULTS = {"is_tagged": False, "is_failed_action": False, "is_sensitive_action": False}


def gold_table(name: str, rows: list[dict]) -> pa.Table:
    schema = GOLD_TABLES[name].schema
    filled = []
    for row in rows:
        unknown = set(row) - set(schema.names)
        assert not unknown, f"{name} has no columns {unknown}"
        full = {c: row.get(c, _NOT_NULL_DEFAULTS.get(c)) for c in schema.names}
        for col, typ in zip(schema.names, schema.types):
            v = full[col]
            if v is not None and pa.types.is_decimal(typ) and not isinstance(v, Decimal):
                full[col] = Decimal(str(v))
        filled.append(full)
    return pa.Table.from_pylist(filled, schema=schema)


def write_gold(lh, name: str, rows: list[dict], catalog: str = CATALOG, schema: str = GOLD) -> str:
    fqn = f"{catalog}.{schema}.{name}"
    lh.create_schema(f"{catalog}.{schema}")
    lh.write_table(fqn, gold_table(name, rows), mode="overwrite")
    return fqn


def day(n: int, start: dt.date = dt.date(2024, 1, 1)) -> dt.date:
    return start + dt.timedelta(days=n)


def ts(d: dt.date, hour: int = 12, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(d.year, d.month, d.day, hour, minute, second, tzinfo=dt.timezone.utc)


def rows_by_key(table: pa.Table, *keys: str) -> dict[tuple, dict]:
    return {tuple(r[k] for k in keys): r for r in table.to_pylist()}
