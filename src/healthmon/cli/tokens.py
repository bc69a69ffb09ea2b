"""``healthmon tokens create|list|revoke``: personal access tokens for the workspace server.

Same verbs and JSON as ``databricks tokens``: ``create`` prints ``{"token_info": ..., "token_value": ...}``.
Tokens are created for the local user (``HEALTHMON_USER``, a workspace admin) unless
``--user-name`` / ``--service-principal`` name another principal, which is how a local admin
provisions other users and CI service principals.
"""

from __future__ import annotations

import json
from typing import Optional

import typer

from healthmon.errors import InvalidParameterError

app = typer.Typer(no_args_is_help=True, add_completion=False)


def _db_and_settings():
    from healthmon.settings import Settings
    from healthmon.store.db import Database

    settings = Settings.from_env()
    return Database.from_settings(settings), settings


@app.command("create")
def create(
    lifetime_seconds: Optional[int] = typer.Option(
        None, "--lifetime-seconds", help="Seconds until the token expires (default: never)."
    ),
    comment: str = typer.Option("", "--comment", help="What the token is for."),
    user_name: Optional[str] = typer.Option(
        None, "--user-name", help="Issue the token for this user instead of the local user."
    ),
    service_principal: Optional[str] = typer.Option(
        None, "--service-principal", help="Issue the token for this service principal (application id)."
    ),
    group: list[str] = typer.Option([], "--group", help="Add the principal to this group (repeatable)."),
) -> None:
    """Create a personal access token; prints its value once."""
    from healthmon.store import auth

    if user_name is not None and service_principal is not None:
        raise InvalidParameterError("Give --user-name or --service-principal, not both.")
    if any(not g.strip() for g in group):
        raise InvalidParameterError("--group: a group name must not be empty.")
    db, settings = _db_and_settings()
    # An empty --user-name/--service-principal is an error (ensure_principal), never the local user.
    given = service_principal if service_principal is not None else user_name
    name = given if given is not None else settings.user_name
    kind = "service_principal" if service_principal is not None else "user"
    groups = list(group)
    if name == settings.user_name:
        groups.append(auth.ADMINS_GROUP)  # the workspace's own user administers it
    with db.session() as s:
        created = auth.create_token(
            s, name, lifetime_seconds=lifetime_seconds, comment=comment, kind=kind, groups=groups
        )
    typer.echo(json.dumps({"token_info": created.info, "token_value": created.token_value}, indent=2))


@app.command("list")
def list_(
    all_principals: bool = typer.Option(False, "--all", help="Tokens of every principal, not only the local user's."),
    output: str = typer.Option("text", "--output", "-o", help="text | json"),
) -> None:
    """List active tokens (ids, comments, expiry; never the token values)."""
    from healthmon.cli.checks import one_of
    from healthmon.store import auth

    one_of(output, "--output", ("text", "json"))
    db, settings = _db_and_settings()
    with db.session() as s:
        infos = auth.list_tokens(s, None if all_principals else settings.user_name)
    if output == "json":
        typer.echo(json.dumps({"token_infos": infos}, indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table("token_id", "owner", "comment", "created", "expires")
    table.columns[0].no_wrap = True
    for info in infos:
        table.add_row(
            info["token_id"], escape(info.get("created_by_username", "")), escape(info["comment"]),
            _fmt_ms(info["creation_time"]), _fmt_ms(info["expiry_time"]) if info["expiry_time"] > 0 else "never",
        )
    Console().print(table)


@app.command("revoke")
def revoke(token_id: str = typer.Option(..., "--token-id", help="Id of the token to revoke.")) -> None:
    """Revoke a token: requests that present it are refused from now on."""
    from healthmon.store import auth

    db, _ = _db_and_settings()
    with db.session() as s:
        auth.revoke_token(s, token_id)
    typer.echo(f"Revoked token {token_id}.")


def _fmt_ms(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
