"""``healthmon import system-tables``: build the gold tables from exports of real Databricks
system tables (a folder or file per table: Parquet, Arrow, CSV or JSON lines). See
docs/demodata.md §5 for how to export them from a workspace."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional

import typer

from healthmon.cli.checks import one_of
from healthmon.errors import InvalidParameterError

app = typer.Typer(no_args_is_help=True, add_completion=False)


def _summary(report, title: str):
    from rich.console import JustifyMethod
    from rich.table import Table

    t = Table(title=title)
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("gold table", "left"),
        ("export found", "left"),
        ("files", "right"),
        ("rows", "right"),
        ("status", "left"),
        ("note", "left"),
    )
    for col, justify in columns:
        t.add_column(col, justify=justify)
    for line in report:
        t.add_row(line.table, line.found or "-", str(line.files) if line.files else "-",
                  f"{line.rows:,}" if line.rows is not None else "-", line.status, line.note)
    return t


@app.command("system-tables")
def system_tables(
    source: Path = typer.Option(
        ...,
        "--from",
        help="Folder with the exports: a folder or file per system table "
        "(system.billing.usage/, billing_usage.csv, usage.csv.gz, usage/ ...).",
    ),
    catalog: str = typer.Option(..., "--catalog", help="Catalog to write into."),
    schema: str = typer.Option("gold", "--schema", help="Schema of the gold tables."),
    snapshot_date: Optional[str] = typer.Option(
        None, "--snapshot-date", help="Date of the information_schema snapshot (default: today, UTC)."
    ),
    allow_missing: list[str] = typer.Option(
        [], "--allow-missing", help="System table that may be absent (repeat, or comma-separate; 'all' for every one)."
    ),
    keep_existing: Optional[bool] = typer.Option(
        None,
        "--keep-existing/--drop-existing",
        help="Keep, or drop, gold tables of an earlier import that this export has no source for.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Find, read and check everything; write nothing."),
    output: str = typer.Option("text", "--output", "-o", help="text or json."),
) -> None:
    """Import system-table exports into the gold tables (all or nothing) and print a summary."""
    import json

    from rich.console import Console

    from healthmon.demodata.importer import IncompleteExportError, import_system_tables

    one_of(output, "--output", ("text", "json"))
    snap = None
    if snapshot_date:
        try:
            snap = dt.date.fromisoformat(snapshot_date)
        except ValueError:
            raise InvalidParameterError(f"Invalid --snapshot-date {snapshot_date!r}: expected YYYY-MM-DD.") from None
    console = Console()
    try:
        result = import_system_tables(source, catalog, schema, snapshot_date=snap, allow_missing=allow_missing,
                                      keep_existing=keep_existing, dry_run=dry_run)
    except IncompleteExportError as exc:
        if output == "json":
            typer.echo(json.dumps({"error": str(exc), "tables": [r.as_dict() for r in exc.report]}))
        else:
            console.print(_summary(exc.report, f"{source}: nothing imported"))
        raise
    if output == "json":
        typer.echo(
            json.dumps(
                {
                    "dry_run": result.dry_run,
                    "rows": result.rows,
                    "tables": [r.as_dict() for r in result.tables],
                    "ignored": result.ignored,
                    "not_built": result.not_built,
                }
            )
        )
        return
    title = f"{'Dry run: nothing written to' if dry_run else 'Imported into'} {catalog}.{schema}"
    console.print(_summary(result.tables, title))
    if result.ignored:
        console.print(f"Ignored (not named after a system table the gold layer uses): {', '.join(result.ignored)}",
                      highlight=False)
