"""``healthmon demo-data generate``: write a synthetic Databricks account's gold tables.

Heavy imports (numpy, pyarrow, deltalake) happen inside the command so ``healthmon --help``
stays fast.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Optional

import typer

from healthmon.cli.checks import one_of
from healthmon.errors import InvalidParameterError

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command("generate")
def generate(
    catalog: str = typer.Option(..., "--catalog", help="Catalog to write into (created if missing)."),
    schema: str = typer.Option("gold", "--schema", help="Schema of the gold tables."),
    workspaces: int = typer.Option(20, "--workspaces", help="Number of workspaces in the account."),
    days: int = typer.Option(180, "--days", help="Days of history; the last 20 % is the test period with incidents."),
    seed: int = typer.Option(7, "--seed", min=0, help="Random seed; the same seed gives the same tables."),
    scale: str = typer.Option("small", "--scale", help="small (CI), medium (demo) or large (>= 50M fact rows)."),
    end_date: Optional[str] = typer.Option(
        None, "--end-date", help="Last day of the period, YYYY-MM-DD (default 2026-09-30)."
    ),
    output: str = typer.Option("text", "--output", "-o", help="text or json."),
) -> None:
    """Generate every gold table (with labelled incidents in ground_truth_incidents)."""
    import json

    from rich.console import Console
    from rich.table import Table

    from healthmon.demodata import generate as run
    from healthmon.demodata.world import SCALES

    one_of(scale, "--scale", SCALES)
    end = None
    if end_date:
        try:
            end = dt.date.fromisoformat(end_date)
        except ValueError:
            raise InvalidParameterError(f"Invalid --end-date {end_date!r}: expected YYYY-MM-DD.") from None
    one_of(output, "--output", ("text", "json"))
    console = Console(stderr=True)
    started = time.perf_counter()
    total = 0

    def progress(table: str, rows: int) -> None:
        nonlocal total
        total += rows
        if output == "text" and rows:
            console.print(f"  {table}: +{rows:,} rows ({total:,} total)", highlight=False)

    try:
        rows = run(catalog, schema, workspaces=workspaces, days=days, seed=seed, scale=scale, end_date=end,
                   progress=progress)
    except KeyboardInterrupt:
        console.print(f"Stopped before the end: no table of {catalog}.{schema} is half-written (tables are staged "
                      "and each committed whole); run the command again for the full set.", highlight=False)
        raise
    elapsed = time.perf_counter() - started
    if output == "json":
        typer.echo(json.dumps({"catalog": catalog, "schema": schema, "rows": rows, "seconds": round(elapsed, 2)}))
        return
    t = Table(title=f"{catalog}.{schema}: {sum(rows.values()):,} rows in {elapsed:.1f} s")
    t.add_column("table")
    t.add_column("rows", justify="right")
    for name, n in rows.items():
        t.add_row(f"{catalog}.{schema}.{name}", f"{n:,}")
    Console().print(t)


@app.command("export-system-tables")
def export_system_tables(
    catalog: str = typer.Option(..., "--catalog", help="Catalog holding the gold tables."),
    schema: str = typer.Option("gold", "--schema", help="Schema of the gold tables."),
    to: str = typer.Option(..., "--to", help="Folder to write system.<schema>.<table>/ sub-folders into."),
    fmt: str = typer.Option("parquet", "--format", help="parquet, jsonl or csv."),
) -> None:
    """Write gold tables back in the system-table layout (sample input for `healthmon import system-tables`)."""
    from pathlib import Path

    from healthmon.demodata.exporter import export_catalog

    one_of(fmt, "--format", ("parquet", "jsonl", "csv"))
    written, missing = export_catalog(catalog, schema, Path(to), fmt)
    for name in written:
        typer.echo(f"{Path(to) / name}")
    if missing:
        typer.echo(f"Not exported (no gold table): {', '.join(missing)}", err=True)
