"""Rendering Arrow results for the terminal: a Rich table, CSV or JSON (one object per row)."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json

import pyarrow as pa

FORMATS = ("table", "csv", "json")


def _jsonable(v):
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    return str(v)


def to_json(table: pa.Table) -> str:
    return json.dumps(table.to_pylist(), default=_jsonable, indent=1)


def to_csv(table: pa.Table) -> str:
    import pyarrow.csv as pcsv

    buf = io.BytesIO()
    pcsv.write_csv(table, buf)
    return buf.getvalue().decode()


def print_table(table: pa.Table, title: str | None = None, max_rows: int = 1000) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    # Values are data, not Rich markup: '[dev root] job' must print as stored.
    t = Table(title=None if title is None else escape(title), show_lines=False)
    for name in table.column_names:
        t.add_column(escape(name), overflow="fold")
    for row in table.slice(0, max_rows).to_pylist():
        t.add_row(*("NULL" if v is None else escape(str(v)) for v in row.values()))
    console = Console()
    console.print(t)
    if table.num_rows > max_rows:
        console.print(f"({table.num_rows} rows, first {max_rows} shown; use --format csv for all)")
    else:
        console.print(f"({table.num_rows} row{'s' if table.num_rows != 1 else ''})")


def emit(table: pa.Table, fmt: str, title: str | None = None) -> None:
    import sys

    from healthmon.errors import InvalidParameterError

    if fmt == "json":
        sys.stdout.write(to_json(table) + "\n")
    elif fmt == "csv":
        sys.stdout.write(to_csv(table))
    elif fmt == "table":
        print_table(table, title)
    else:
        raise InvalidParameterError(f"Invalid --format {fmt!r}: expected one of {', '.join(FORMATS)}.")
