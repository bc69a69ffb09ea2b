"""``healthmon sql "SELECT ..."``: Spark SQL over the local lakehouse (three-level names)."""

from __future__ import annotations

from typing import Any, Optional

import typer

from healthmon.settings import MAX_SQL_TIMEOUT

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command("sql")
def sql(
    query: str = typer.Argument(..., help="Spark SQL; use catalog.schema.table names. '-' reads the query from stdin."),
    format: str = typer.Option("table", "--format", "-f", help="table | csv | json"),
    engine: Optional[str] = typer.Option(
        None, "--engine", help="duckdb | spark (default: HEALTHMON_ENGINE or duckdb)."
    ),
    timeout: Optional[float] = typer.Option(
        None,
        "--timeout",
        min=0,
        max=MAX_SQL_TIMEOUT,
        help="Statement timeout in seconds (default: HEALTHMON_SQL_TIMEOUT or 600; 0 = none).",
    ),
) -> None:
    """Run SQL against the lakehouse and print the result."""
    import sys

    from healthmon.cli.checks import one_of
    from healthmon.lakehouse import Lakehouse
    from healthmon.lakehouse.render import FORMATS, emit

    one_of(format, "--format", FORMATS)
    if query == "-":
        query = sys.stdin.read()

    options: dict[str, Any] = {}
    if timeout is not None:
        options["timeout"] = timeout
    lh = Lakehouse.from_env(engine=engine, **options)
    emit(lh.sql(query), format)
