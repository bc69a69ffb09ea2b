"""``healthmon tables list|describe|history``: the lakehouse catalog."""

from __future__ import annotations

from typing import Optional

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command("list")
def list_(
    schema: Optional[str] = typer.Argument(None, help="catalog.schema (or a catalog; default: every catalog)."),
    format: str = typer.Option("table", "--format", "-f", help="table | csv | json"),
) -> None:
    """List tables (with their comments)."""
    import pyarrow as pa

    from healthmon.cli.checks import one_of
    from healthmon.lakehouse import Lakehouse
    from healthmon.lakehouse.render import FORMATS, emit

    one_of(format, "--format", FORMATS)
    lh = Lakehouse.from_env()
    if schema is None:
        names = lh.catalog.all_tables()
    elif "." in schema:
        names = lh.list_tables(schema)
    else:
        names = [t for s in lh.list_schemas(schema) for t in lh.list_tables(f"{schema}.{s}")]
    comments = []
    for n in names:
        comments.append(lh.delta_table(n).metadata().description)
    emit(pa.table({"name": pa.array(names, pa.string()), "comment": pa.array(comments, pa.string())}), format)


@app.command("describe")
def describe(
    name: str = typer.Argument(..., help="catalog.schema.table"),
    format: str = typer.Option("table", "--format", "-f", help="table | json"),
) -> None:
    """Columns, types, comments, primary keys, tags and location of a table."""
    import json

    import pyarrow as pa

    from healthmon.cli.checks import one_of
    from healthmon.lakehouse import Lakehouse
    from healthmon.lakehouse.render import print_table

    one_of(format, "--format", ("table", "json"))
    d = Lakehouse.from_env().describe_table(name)
    if format == "json":
        typer.echo(json.dumps(d, indent=1))
        return
    cols = d["columns"]
    print_table(
        pa.table({
            "col_name": [c["name"] for c in cols],
            "data_type": [c["type"] for c in cols],
            "nullable": [c["nullable"] for c in cols],
            "comment": pa.array([c["comment"] for c in cols], pa.string()),
        }),
        title=d["name"],
    )
    typer.echo(f"Comment:       {d['comment'] or ''}")
    typer.echo(f"Primary keys:  {', '.join(d['primary_keys'])}")
    typer.echo(f"Tags:          {', '.join(f'{k}={v}' for k, v in d['tags'].items())}")
    typer.echo(f"Version:       {d['version']}")
    typer.echo(f"Location:      {d['location']}")


@app.command("history")
def history(
    name: str = typer.Argument(..., help="catalog.schema.table"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Newest N commits only."),
    format: str = typer.Option("table", "--format", "-f", help="table | csv | json"),
) -> None:
    """Delta commits of a table, newest first (DESCRIBE HISTORY)."""
    from healthmon.cli.checks import one_of
    from healthmon.lakehouse import Lakehouse
    from healthmon.lakehouse.render import FORMATS, emit
    from healthmon.lakehouse.sql_exec import history_table

    one_of(format, "--format", FORMATS)
    emit(history_table(Lakehouse.from_env().history(name, limit)), format)
