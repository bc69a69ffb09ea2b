"""``healthmon secrets``: local secret scopes for ``dbutils.secrets`` (Databricks CLI verbs)."""

from __future__ import annotations

import sys
from typing import Optional

import typer

app = typer.Typer(no_args_is_help=True)


def _session():
    from healthmon.settings import Settings
    from healthmon.store.db import Database

    return Database.from_settings(Settings.from_env()).session()


@app.command("create-scope")
def create_scope(scope: str = typer.Argument(...)) -> None:
    """Create a secret scope."""
    from healthmon.store import secrets

    with _session() as s:
        secrets.create_scope(s, scope)


@app.command("delete-scope")
def delete_scope(scope: str = typer.Argument(...)) -> None:
    """Delete a scope and its secrets."""
    from healthmon.store import secrets

    with _session() as s:
        secrets.delete_scope(s, scope)


@app.command("list-scopes")
def list_scopes() -> None:
    from healthmon.store import secrets

    with _session() as s:
        for name in secrets.list_scopes(s):
            typer.echo(name)


@app.command("put-secret")
def put_secret(
    scope: str = typer.Argument(...),
    key: str = typer.Argument(...),
    string_value: Optional[str] = typer.Option(None, "--string-value", help="The value; read from stdin when omitted."),
) -> None:
    """Store a secret (value from --string-value or stdin)."""
    from healthmon.store import secrets

    value: str | bytes
    if string_value is not None:
        value = string_value
    else:
        # Stdin is read as bytes, as the Databricks CLI stores it (bytes_value): a binary value
        # is kept byte for byte; text keeps the old convenience of dropping the newline echo adds.
        data = sys.stdin.buffer.read()
        try:
            value = data.decode("utf-8").rstrip("\n")
        except UnicodeDecodeError:
            value = data
    with _session() as s:
        secrets.put_secret(s, scope, key, value)


@app.command("list-secrets")
def list_secrets(scope: str = typer.Argument(...)) -> None:
    """List secret keys of a scope (never values)."""
    from healthmon.store import secrets

    with _session() as s:
        for item in secrets.list_secrets(s, scope):
            typer.echo(f"{item['key']}\t{item['last_updated_timestamp']}")


@app.command("delete-secret")
def delete_secret(scope: str = typer.Argument(...), key: str = typer.Argument(...)) -> None:
    from healthmon.store import secrets

    with _session() as s:
        secrets.delete_secret(s, scope, key)
