"""Secret scopes, their secrets and their access control lists, as the Databricks Secrets API has
them (``dbutils.secrets``, the REST API, ``healthmon secrets``).

Values are encrypted at rest with AES-256-GCM (``cryptography``) under the workspace's key file
``$HEALTHMON_HOME/.secret-key`` (mode 0600, created on first use); the scope and key are the
authenticated data, so a ciphertext copied onto another secret does not decrypt. Plaintext values
an older version stored are encrypted when the database is opened (``upgrade``). A value is
decrypted by ``get_secret`` (for a caller with READ on its scope: a REST caller, or the run that
reads it, ``read_for_run``) and by ``all_values``, which the control plane uses to redact values
from logs and outputs as ``[REDACTED]``.

Scope ACLs: READ < WRITE < MANAGE, granted to a user, service principal or group name. The
creator of a scope gets MANAGE (``initial_manage_principal: users`` gives it to everyone), admins
have MANAGE on every scope. Functions take the acting ``principal``; ``None`` is the workspace's
owner on its own machine (``healthmon secrets``), who needs no grant.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import BigInteger, ForeignKey, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from healthmon.errors import HealthmonError, InvalidParameterError, NotFoundError, PermissionDeniedError
from healthmon.settings import Settings
from healthmon.store.auth import USERS_GROUP, Principal, principal_named, run_principal_name
from healthmon.store.db import Base, table_of
from healthmon.store.jobs import now_ms
from healthmon.store.private import key_file

_NAME = re.compile(r"^[A-Za-z0-9_.\-@]{1,128}$")
PERMISSIONS = ("READ", "WRITE", "MANAGE")
RANK = {p: i + 1 for i, p in enumerate(PERMISSIONS)}
KEY_FILE = ".secret-key"
SEALED = "aesgcm1:"  # prefix of an encrypted value: version 1, base64(nonce || ciphertext || tag)
MAX_VALUE_BYTES = 128 * 1024  # Databricks' limit for one secret


class ScopeExistsError(HealthmonError):
    error_code = "RESOURCE_ALREADY_EXISTS"


class SecretScope(Base):
    __tablename__ = "secret_scopes"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_time: Mapped[int] = mapped_column(BigInteger)


class Secret(Base):
    __tablename__ = "secrets"

    scope: Mapped[str] = mapped_column(
        String(128), ForeignKey("secret_scopes.name", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)  # SEALED + base64 of the AES-GCM ciphertext
    last_updated_timestamp: Mapped[int] = mapped_column(BigInteger)


class SecretAcl(Base):
    __tablename__ = "secret_acls"

    scope: Mapped[str] = mapped_column(
        String(128), ForeignKey("secret_scopes.name", ondelete="CASCADE"), primary_key=True
    )
    principal: Mapped[str] = mapped_column(String(255), primary_key=True)
    permission: Mapped[str] = mapped_column(String(16))


# -- encryption -------------------------------------------------------------------------------
_ciphers: dict[Path, AESGCM] = {}


def key_path() -> Path:
    return Settings.from_env().home / KEY_FILE


def _cipher() -> AESGCM:
    path = key_path()
    cipher = _ciphers.get(path)
    if cipher is None:
        cipher = _ciphers[path] = AESGCM(key_file(path, 32))
    return cipher


def _aad(scope: str, key: str) -> bytes:
    return f"{scope}\0{key}".encode()


def seal(scope: str, key: str, value: bytes) -> str:
    nonce = os.urandom(12)
    return SEALED + base64.b64encode(nonce + _cipher().encrypt(nonce, value, _aad(scope, key))).decode()


def unseal(scope: str, key: str, stored: str) -> bytes:
    if not stored.startswith(SEALED):  # written by an older version since this process opened the database
        return stored.encode()
    raw = base64.b64decode(stored[len(SEALED):])
    try:
        return _cipher().decrypt(raw[:12], raw[12:], _aad(scope, key))
    except InvalidTag:
        raise HealthmonError(
            f"Secret {key} of scope {scope} cannot be decrypted with this workspace's key ({key_path()}): "
            "was the key file replaced? Put the secret again.") from None


def upgrade(connection) -> None:
    """Encrypt the plaintext values an older version stored (run when the database is opened)."""
    table = table_of(Secret)
    rows = connection.execute(select(table.c.scope, table.c.key, table.c.value)
                              .where(table.c.value.not_like(SEALED + "%"))).all()
    for scope, key, value in rows:
        connection.execute(update(table).where(table.c.scope == scope, table.c.key == key)
                           .values(value=seal(scope, key, value.encode())))


# -- permissions ------------------------------------------------------------------------------
def _check(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidParameterError(
            f"Invalid {what}: expected 1-128 characters among letters, digits, '_', '-', '.', '@'."
        )
    return name


def _scope(session: Session, scope: str) -> SecretScope:
    row = session.get(SecretScope, scope) if isinstance(scope, str) else None
    if row is None:
        raise NotFoundError(f"Scope {scope} does not exist!")
    return row


def permission_of(session: Session, scope: str, principal: Principal | None) -> str | None:
    """The highest permission ``principal`` holds on ``scope`` (None: the local owner: MANAGE)."""
    if principal is None or principal.is_admin:
        return "MANAGE"
    names = {principal.name, *principal.groups}
    levels = session.scalars(select(SecretAcl.permission).where(SecretAcl.scope == scope,
                                                                SecretAcl.principal.in_(names))).all()
    best = max((RANK.get(p, 0) for p in levels), default=0)
    return PERMISSIONS[best - 1] if best else None


def _require(session: Session, scope: str, principal: Principal | None, needed: str) -> SecretScope:
    row = _scope(session, scope)
    held = permission_of(session, scope, principal)
    if principal is not None and RANK.get(held or "", 0) < RANK[needed]:  # None: the local owner
        raise PermissionDeniedError(f"User {principal.name} does not have {needed} permission on scope {scope}.")
    return row


# -- scopes -----------------------------------------------------------------------------------
def create_scope(session: Session, scope: str, *, principal: Principal | None = None,
                 initial_manage_principal: str | None = None) -> None:
    _check(scope, "scope name")
    if initial_manage_principal not in (None, "", USERS_GROUP):
        raise InvalidParameterError(
            "initial_manage_principal must be 'users' (or omitted: the creator manages the scope)."
        )
    if session.get(SecretScope, scope) is not None:
        raise ScopeExistsError(f"Scope {scope} already exists!")
    session.add(SecretScope(name=scope, created_time=now_ms()))
    session.flush()
    if principal is not None:
        session.add(SecretAcl(scope=scope, principal=principal.name, permission="MANAGE"))
    if initial_manage_principal == USERS_GROUP:
        session.add(SecretAcl(scope=scope, principal=USERS_GROUP, permission="MANAGE"))


def delete_scope(session: Session, scope: str, *, principal: Principal | None = None) -> None:
    row = _require(session, scope, principal, "MANAGE")
    for model in (Secret, SecretAcl):
        for item in session.scalars(select(model).where(model.scope == scope)).all():
            session.delete(item)
    session.delete(row)


def list_scopes(session: Session) -> list[str]:
    """Every scope's name (as Databricks, to every user: names are not secret)."""
    return list(session.scalars(select(SecretScope.name).order_by(SecretScope.name)).all())


# -- secrets ----------------------------------------------------------------------------------
def put_secret(
    session: Session, scope: str, key: str, value: str | bytes, *, principal: Principal | None = None
) -> None:
    _require(session, scope, principal, "WRITE")
    _check(key, "secret key")
    # surrogateescape: a command-line argument that is not UTF-8 (Python decodes argv with it)
    # is stored as the bytes given; the REST layer refuses unpaired surrogates before this.
    data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)
    if len(data) > MAX_VALUE_BYTES:
        raise InvalidParameterError(f"A secret value holds at most {MAX_VALUE_BYTES} bytes; this one has {len(data)}.")
    sealed = seal(scope, key, data)
    row = session.get(Secret, (scope, key))
    if row is None:
        session.add(Secret(scope=scope, key=key, value=sealed, last_updated_timestamp=now_ms()))
    else:
        row.value = sealed
        row.last_updated_timestamp = now_ms()


def _secret_row(session: Session, scope: str, key: str) -> Secret:
    row = session.get(Secret, (scope, key)) if isinstance(key, str) else None
    if row is None:
        raise NotFoundError(f"Secret does not exist with scope: {scope} and key: {key}")
    return row


def get_secret_bytes(session: Session, scope: str, key: str, *, principal: Principal | None = None) -> bytes:
    _require(session, scope, principal, "READ")
    return unseal(scope, key, _secret_row(session, scope, key).value)


def get_secret(session: Session, scope: str, key: str, *, principal: Principal | None = None) -> str:
    return get_secret_bytes(session, scope, key, principal=principal).decode("utf-8", errors="replace")


def read_for_run(session: Session, run_id: int, scope: str, key: str) -> str:
    """A secret's value for a run (``dbutils.secrets.get``): the principal the run executes as
    needs READ on the scope."""
    return get_secret(session, scope, key, principal=principal_named(session, run_principal_name(session, run_id)))


def list_secrets_for_run(session: Session, run_id: int, scope: str) -> list[dict]:
    """``dbutils.secrets.list`` of a run: READ on the scope, as for its values."""
    return list_secrets(session, scope, principal=principal_named(session, run_principal_name(session, run_id)))


def list_secrets(session: Session, scope: str, *, principal: Principal | None = None) -> list[dict]:
    _require(session, scope, principal, "READ")
    rows = session.scalars(select(Secret).where(Secret.scope == scope).order_by(Secret.key)).all()
    return [{"key": r.key, "last_updated_timestamp": r.last_updated_timestamp} for r in rows]


def delete_secret(session: Session, scope: str, key: str, *, principal: Principal | None = None) -> None:
    _require(session, scope, principal, "WRITE")
    session.delete(_secret_row(session, scope, key))


def all_values(session: Session) -> list[str]:
    """Every secret value, decrypted, for redaction of logs and outputs by the control plane."""
    rows = session.execute(select(Secret.scope, Secret.key, Secret.value)).all()
    values = (unseal(scope, key, value).decode("utf-8", errors="replace") for scope, key, value in rows)
    return [v for v in values if v]


# -- ACLs -------------------------------------------------------------------------------------
def _check_permission(permission: str) -> str:
    if permission not in RANK:
        shown = permission if isinstance(permission, str) and len(permission) <= 64 else type(permission).__name__
        raise InvalidParameterError(
            f"Permission {shown} is not valid for a secret scope: expected one of {', '.join(PERMISSIONS)}."
        )
    return permission


def _check_principal(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise InvalidParameterError("principal must be a user name, service principal application id or group name.")
    return name


def put_acl(
    session: Session, scope: str, acl_principal: str, permission: str, *, principal: Principal | None = None
) -> None:
    _require(session, scope, principal, "MANAGE")
    _check_principal(acl_principal)
    _check_permission(permission)
    row = session.get(SecretAcl, (scope, acl_principal))
    if row is None:
        session.add(SecretAcl(scope=scope, principal=acl_principal, permission=permission))
    else:
        row.permission = permission


def _acl_row(session: Session, scope: str, acl_principal: str) -> SecretAcl:
    row = session.get(SecretAcl, (scope, acl_principal)) if isinstance(acl_principal, str) else None
    if row is None:
        raise NotFoundError(f"No ACL for principal {acl_principal} on scope {scope}.")
    return row


def delete_acl(session: Session, scope: str, acl_principal: str, *, principal: Principal | None = None) -> None:
    _require(session, scope, principal, "MANAGE")
    session.delete(_acl_row(session, scope, acl_principal))


def get_acl(session: Session, scope: str, acl_principal: str, *, principal: Principal | None = None) -> dict:
    _require(session, scope, principal, "MANAGE")
    row = _acl_row(session, scope, acl_principal)
    return {"principal": row.principal, "permission": row.permission}


def list_acls(session: Session, scope: str, *, principal: Principal | None = None) -> list[dict]:
    _require(session, scope, principal, "MANAGE")
    rows = session.scalars(select(SecretAcl).where(SecretAcl.scope == scope).order_by(SecretAcl.principal)).all()
    return [{"principal": r.principal, "permission": r.permission} for r in rows]
