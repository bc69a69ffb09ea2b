"""Local secret scopes for ``dbutils.secrets`` (Databricks CLI verbs: create-scope, put-secret,
list-secrets, delete-secret, list-scopes, delete-scope).

Values are stored in the workspace database as given (the database file is the trust boundary,
as the workspace itself is on Databricks); every log and output redacts them as ``[REDACTED]``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from healthmon.errors import HealthmonError, InvalidParameterError, NotFoundError
from healthmon.store.db import Base
from healthmon.store.jobs import now_ms

import re

_NAME = re.compile(r"^[A-Za-z0-9_.\-@]{1,128}$")


class SecretScope(Base):
    __tablename__ = "secret_scopes"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_time: Mapped[int] = mapped_column(BigInteger)


class Secret(Base):
    __tablename__ = "secrets"

    scope: Mapped[str] = mapped_column(String(128), ForeignKey("secret_scopes.name", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    last_updated_timestamp: Mapped[int] = mapped_column(BigInteger)


def _check(name: str, what: str) -> str:
    if not _NAME.match(name or ""):
        raise InvalidParameterError(
            f"Invalid {what} {name!r}: expected 1-128 characters among letters, digits, '_', '-', '.', '@'."
        )
    return name


def create_scope(session: Session, scope: str) -> None:
    _check(scope, "scope name")
    if session.get(SecretScope, scope) is not None:
        raise HealthmonError(f"Scope {scope} already exists!")
    session.add(SecretScope(name=scope, created_time=now_ms()))


def delete_scope(session: Session, scope: str) -> None:
    row = _scope(session, scope)
    for s in session.scalars(select(Secret).where(Secret.scope == scope)).all():
        session.delete(s)
    session.delete(row)


def list_scopes(session: Session) -> list[str]:
    return list(session.scalars(select(SecretScope.name).order_by(SecretScope.name)).all())


def _scope(session: Session, scope: str) -> SecretScope:
    row = session.get(SecretScope, scope)
    if row is None:
        raise NotFoundError(f"Scope {scope} does not exist!")
    return row


def put_secret(session: Session, scope: str, key: str, value: str) -> None:
    _scope(session, scope)
    _check(key, "secret key")
    row = session.get(Secret, (scope, key))
    if row is None:
        session.add(Secret(scope=scope, key=key, value=value, last_updated_timestamp=now_ms()))
    else:
        row.value = value
        row.last_updated_timestamp = now_ms()


def get_secret(session: Session, scope: str, key: str) -> str:
    _scope(session, scope)
    row = session.get(Secret, (scope, key))
    if row is None:
        raise NotFoundError(f"Secret does not exist with scope: {scope} and key: {key}")
    return row.value


def list_secrets(session: Session, scope: str) -> list[dict]:
    _scope(session, scope)
    rows = session.scalars(select(Secret).where(Secret.scope == scope).order_by(Secret.key)).all()
    return [{"key": r.key, "last_updated_timestamp": r.last_updated_timestamp} for r in rows]


def delete_secret(session: Session, scope: str, key: str) -> None:
    _scope(session, scope)
    row = session.get(Secret, (scope, key))
    if row is None:
        raise NotFoundError(f"Secret does not exist with scope: {scope} and key: {key}")
    session.delete(row)


def all_values(session: Session) -> list[str]:
    """Every secret value, for redaction of logs and outputs."""
    return [v for v in session.scalars(select(Secret.value)).all() if v]
