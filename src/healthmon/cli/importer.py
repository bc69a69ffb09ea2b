"""``healthmon import system-tables``: build the gold tables from exports of real Databricks
system tables (one folder per table, Parquet / CSV / JSON lines). See docs/demodata.md for
how to export them from a workspace."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional

import typer

from healthmon.errors import InvalidParameterError

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command("system-tables")
def system_tables(
    source: Path = typer.Option(..., "--from", help="Folder with one sub-folder per system table, e.g. system.billing.usage/."),
    catalog: str = typer.Option(..., "--catalog", help="Catalog to write into."),
    schema: str = typer.Option("gold", "--schema", help="Schema of the gold tables."),
    snapshot_date: Optional[str] = typer.Option(None, "--snapshot-date", help="Date of the information_schema snapshot (default: today, UTC)."),
    output: str = typer.Option("text", "--output", "-o", help="text or json."),
) -> None:
    """Import system-table exports into the gold tables (all or nothing)."""
    import json

    from rich.console import Console
    from rich.table import Table

    from healthmon.demodata.importer import import_system_tables

    snap = None
    if snapshot_date:
        try:
            snap = dt.date.fromisoformat(snapshot_date)
        except ValueError:
            raise InvalidParameterError(f"Invalid --snapshot-date {snapshot_date!r}: expected YYYY-MM-DD.") from None
    result = import_system_tables(source, catalog, schema, snapshot_date=snap)
    if output == "json":
        typer.echo(json.dumps({"rows": result.rows, "ignored_folders": result.ignored, "not_built": result.not_built}))
        return
    t = Table(title=f"Imported into {catalog}.{schema}")
    t.add_column("table")
    t.add_column("rows", justify="right")
    for name, n in result.rows.items():
        t.add_row(f"{catalog}.{schema}.{name}", f"{n:,}")
    console = Console()
    console.print(t)
    if result.ignored:
        console.print(f"Ignored folders (not a system table the gold layer uses): {', '.join(result.ignored)}")
    if result.not_built:
        console.print(f"Not built (no export for their source): {', '.join(result.not_built)}")
