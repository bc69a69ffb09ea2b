"""``dbutils.secrets`` on the runner's side: an attempt asks, the runner reads the store and answers.

An attempt cannot open the workspace database (``confine.py``), so every ``dbutils.secrets`` call
is a request on the attempt's secrets socket (a SOCK_SEQPACKET pair: one ``marshal`` message per
request and per answer), served by the slot thread that pumps the attempt's output. Requests:
``("get", scope, key)``, ``("list", scope)``, ``("scopes",)``. Answers: ``("ok", value)`` or
``("error", message)`` — the message Databricks gives (``Secret does not exist with scope: …``).

``secret_value`` is the one place a value is read for a task: the run's principal (the job's
``run_as``) needs READ on the scope (``store.secrets.read_for_run``).
"""

from __future__ import annotations

import marshal

from healthmon.errors import HealthmonError
from healthmon.store import secrets
from healthmon.store.db import Database


def secret_value(db: Database, run_id: int, scope: str, key: str) -> str:
    """The value of secret ``scope``/``key`` for a task of job run ``run_id``."""
    with db.session() as s:
        return secrets.read_for_run(s, run_id, scope, key)


def secret_keys(db: Database, run_id: int, scope: str) -> list[str]:
    with db.session() as s:
        return [d["key"] for d in secrets.list_secrets_for_run(s, run_id, scope)]


def secret_scopes(db: Database, run_id: int) -> list[str]:
    with db.session() as s:
        return secrets.list_scopes(s)


def answer(db: Database, run_id: int, request: bytes) -> bytes:
    """The reply to one request of an attempt of run ``run_id``."""
    try:
        op, *args = marshal.loads(request)
        if op == "get" and len(args) == 2:
            reply: tuple = ("ok", secret_value(db, run_id, str(args[0]), str(args[1])))
        elif op == "list" and len(args) == 1:
            reply = ("ok", secret_keys(db, run_id, str(args[0])))
        elif op == "scopes" and not args:
            reply = ("ok", secret_scopes(db, run_id))
        else:
            reply = ("error", f"dbutils.secrets: unknown request {op!r}.")
    except HealthmonError as exc:
        reply = ("error", exc.message)
    except (ValueError, EOFError, TypeError):
        reply = ("error", "dbutils.secrets: malformed request.")
    return marshal.dumps(reply)
