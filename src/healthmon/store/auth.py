"""Principals (users, service principals), group membership and personal access tokens.

Tokens look like Databricks PATs (``dapi`` + 32 hex characters). Only the sha256 of a token is
stored, so a leaked database does not leak usable tokens; the plain value is shown once, at
creation. A token is valid while it is neither revoked nor past its expiry time.

Every principal is implicitly in the ``users`` group (as in a Databricks workspace); the
``admins`` group has CAN_MANAGE on every job. The local user (``HEALTHMON_USER``) owns the
workspace: it is an admin (created so the first time it creates a token).

The web UI's sessions live here too: the browser holds a random session id, the table its
sha256, the token the user logged in with and an expiry; revoking the token ends its sessions.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import TypeGuard

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, bindparam, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from healthmon.errors import InvalidParameterError, NotFoundError
from healthmon.settings import Settings
from healthmon.store.db import Base, table_of
from healthmon.store.jsontext import loads
from healthmon.store.runs import RunRecord

TOKEN_PREFIX = "dapi"
USERS_GROUP = "users"
ADMINS_GROUP = "admins"
PRINCIPAL_KINDS = ("user", "service_principal")


def now_ms() -> int:
    return int(time.time() * 1000)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class PrincipalRecord(Base):
    __tablename__ = "principals"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    # userName for users; applicationId for service principals (what run_as/ACLs name).
    name: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    kind: Mapped[str] = mapped_column(String(32), default="user")
    display_name: Mapped[str] = mapped_column(String(255), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_time: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class GroupMemberRecord(Base):
    __tablename__ = "group_members"

    group_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    principal_id: Mapped[int] = mapped_column(ForeignKey("principals.id", ondelete="CASCADE"), primary_key=True)


class TokenRecord(Base):
    __tablename__ = "tokens"

    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    principal_id: Mapped[int] = mapped_column(ForeignKey("principals.id", ondelete="CASCADE"), index=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    creation_time: Mapped[int] = mapped_column(BigInteger)
    # -1 = never expires (the Databricks token API's value for "no expiry").
    expiry_time: Mapped[int] = mapped_column(BigInteger, default=-1)
    revoked_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    def to_api(self, owner: str | None = None) -> dict:
        """The Token API ``PublicTokenInfo`` (plus ``created_by_username`` as in token-management)."""
        info = {
            "token_id": self.token_id,
            "creation_time": self.creation_time,
            "expiry_time": self.expiry_time,
            "comment": self.comment,
        }
        if owner:
            info["created_by_username"] = owner
        return info


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: name (userName / applicationId), kind and groups."""

    id: int
    name: str
    kind: str = "user"
    display_name: str = ""
    groups: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return ADMINS_GROUP in self.groups

    def to_scim(self) -> dict:
        """SCIM ``User`` (``/api/2.0/preview/scim/v2/Me``), as the SDK's ``iam.User`` reads it."""
        doc = {
            "id": str(self.id),
            "userName": self.name,
            "displayName": self.display_name or self.name,
            "active": True,
            "groups": [{"display": g, "value": g} for g in sorted(self.groups)],
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        }
        if self.kind == "user" and "@" in self.name:
            doc["emails"] = [{"value": self.name, "primary": True, "type": "work"}]
        if self.kind == "service_principal":
            doc["applicationId"] = self.name
        return doc


def _load_principal(session: Session, record: PrincipalRecord) -> Principal:
    groups = set(
        session.scalars(select(GroupMemberRecord.group_name).where(GroupMemberRecord.principal_id == record.id))
    )
    groups.add(USERS_GROUP)
    return Principal(record.id, record.name, record.kind, record.display_name, frozenset(groups))


def ensure_principal(
    session: Session,
    name: str,
    *,
    kind: str = "user",
    groups: list[str] | tuple[str, ...] = (),
    display_name: str | None = None,
) -> Principal:
    """Create the principal if missing; add it to ``groups`` (existing memberships are kept)."""
    name = (name or "").strip()
    if not name:
        raise InvalidParameterError("A principal needs a non-empty name (userName or applicationId).")
    if kind not in PRINCIPAL_KINDS:
        raise InvalidParameterError(f"Principal kind must be one of {', '.join(PRINCIPAL_KINDS)}, got {kind!r}.")
    record = session.scalars(select(PrincipalRecord).where(PrincipalRecord.name == name)).first()
    if record is None:
        record = PrincipalRecord(name=name, kind=kind, display_name=display_name or name, created_time=now_ms())
        session.add(record)
        session.flush()
    existing = set(
        session.scalars(select(GroupMemberRecord.group_name).where(GroupMemberRecord.principal_id == record.id))
    )
    for group in groups:
        if group and group != USERS_GROUP and group not in existing:
            session.add(GroupMemberRecord(group_name=group, principal_id=record.id))
            existing.add(group)
    session.flush()
    return _load_principal(session, record)


def get_principal(session: Session, name: str) -> Principal:
    record = session.scalars(select(PrincipalRecord).where(PrincipalRecord.name == name)).first()
    if record is None:
        raise NotFoundError(f"Principal {name!r} does not exist.")
    return _load_principal(session, record)


def principal_named(session: Session, name: str) -> Principal:
    """The principal called ``name``, for permission checks on what a run does as it. A name
    never provisioned here (a bundle's ``run_as``, an ACL's teammate) is a member of ``users``
    only; the local user owns the workspace and is an admin."""
    record = session.scalars(select(PrincipalRecord).where(PrincipalRecord.name == name)).first()
    principal = _load_principal(session, record) if record is not None and record.active else \
        Principal(0, name, groups=frozenset({USERS_GROUP}))
    if name == Settings.from_env().user_name and not principal.is_admin:
        principal = replace(principal, groups=principal.groups | {ADMINS_GROUP})
    return principal


def run_principal_name(session: Session, run_id: int) -> str:
    """Whom a run executes as: the ``run_as`` its job run recorded when it was triggered (the
    job's ``run_as``, by default its owner; a one-time run's submitter), else — a run from before
    principals were recorded — its creator. A task run or for-each iteration answers for its
    job run."""
    row = session.get(RunRecord, run_id)
    while row is not None and row.task_key is not None and row.job_run_id is not None:
        row = session.get(RunRecord, row.job_run_id)
    if row is None:
        raise NotFoundError(f"Run {run_id} does not exist.")
    run_as = (loads(row.settings_json or "{}") or {}).get("run_as")
    if isinstance(run_as, dict):
        for key in ("user_name", "service_principal_name"):
            if isinstance(run_as.get(key), str) and run_as[key]:
                return run_as[key]
    return row.creator_user_name or Settings.from_env().user_name


def list_principals(session: Session) -> list[Principal]:
    records = session.scalars(select(PrincipalRecord).order_by(PrincipalRecord.id)).all()
    return [_load_principal(session, r) for r in records]


@dataclass(frozen=True)
class CreatedToken:
    token_value: str
    info: dict


MAX_TOKEN_LIFETIME_SECONDS = 10 * 365 * 24 * 3600  # what the token API takes (and an expiry the database can hold)


def create_token(
    session: Session,
    principal_name: str,
    *,
    lifetime_seconds: int | None = None,
    comment: str = "",
    kind: str = "user",
    groups: list[str] | tuple[str, ...] = (),
) -> CreatedToken:
    """Issue a token for ``principal_name`` (created if missing). The plain value is returned
    once and never stored."""
    if lifetime_seconds is not None and not 0 < lifetime_seconds <= MAX_TOKEN_LIFETIME_SECONDS:
        raise InvalidParameterError(
            f"lifetime_seconds must be a positive number of seconds, at most {MAX_TOKEN_LIFETIME_SECONDS} (10 years), "
            f"or omitted for no expiry; got {lifetime_seconds}."
        )
    principal = ensure_principal(session, principal_name, kind=kind, groups=groups)
    value = TOKEN_PREFIX + secrets.token_hex(16)
    created = now_ms()
    record = TokenRecord(
        token_id=uuid.uuid4().hex + uuid.uuid4().hex,
        token_hash=hash_token(value),
        principal_id=principal.id,
        comment=comment or "",
        creation_time=created,
        expiry_time=created + lifetime_seconds * 1000 if lifetime_seconds else -1,
    )
    session.add(record)
    session.flush()
    return CreatedToken(value, record.to_api(principal.name))


def authenticate(session: Session, token: str, *, at_ms: int | None = None) -> Principal | None:
    """The principal a token belongs to, or None if the token is unknown, revoked or expired."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 256:
        return None
    record = session.scalars(select(TokenRecord).where(TokenRecord.token_hash == hash_token(token))).first()
    if record is None or record.revoked_time is not None:
        return None
    if record.expiry_time not in (-1, 0, None) and record.expiry_time <= (at_ms or now_ms()):
        return None
    owner = session.get(PrincipalRecord, record.principal_id)
    if owner is None or not owner.active:
        return None
    return _load_principal(session, owner)


# Built once: constructing the statement costs more than running it.
_TOKEN_LOOKUP = select(TokenRecord.principal_id, TokenRecord.expiry_time, TokenRecord.revoked_time).where(
    TokenRecord.token_hash == bindparam("token_hash")
)


def token_grant(connection, token_hash: str) -> tuple[int, int] | None:
    """(principal id, expiry time in ms, -1 = never) of an unrevoked token, by its sha256, in
    one indexed query on a plain connection; None for an unknown or revoked token. Callers
    check the expiry themselves (``is_expired``), which lets them cache a grant briefly."""
    row = connection.execute(_TOKEN_LOOKUP, {"token_hash": token_hash}).first()
    if row is None or row.revoked_time is not None:
        return None
    return row.principal_id, row.expiry_time if row.expiry_time is not None else -1


def is_expired(expiry_time: int, at_ms: int | None = None) -> bool:
    return expiry_time not in (-1, 0) and expiry_time <= (at_ms or now_ms())


def looks_like_token(token: str | None) -> TypeGuard[str]:
    return token is not None and token.startswith(TOKEN_PREFIX) and len(token) <= 256


def token_owner_id(connection, token: str, *, at_ms: int | None = None) -> int | None:
    """The owning principal's id for a valid token (unknown, revoked, expired: None)."""
    if not looks_like_token(token):
        return None
    grant = token_grant(connection, hash_token(token))
    if grant is None or is_expired(grant[1], at_ms):
        return None
    return grant[0]


# Bumped by every revocation in this process: request-side caches of token grants compare it
# to drop what they hold at once (other processes' revocations reach them within their TTL).
_revocations = 0


def revocation_count() -> int:
    return _revocations


def load_principal(session: Session, principal_id: int) -> Principal | None:
    record = session.get(PrincipalRecord, principal_id)
    if record is None or not record.active:
        return None
    return _load_principal(session, record)


def list_tokens(session: Session, principal_name: str | None = None, *, include_revoked: bool = False) -> list[dict]:
    query = select(TokenRecord, PrincipalRecord.name).join(
        PrincipalRecord, PrincipalRecord.id == TokenRecord.principal_id
    )
    if principal_name is not None:
        query = query.where(PrincipalRecord.name == principal_name)
    if not include_revoked:
        query = query.where(TokenRecord.revoked_time.is_(None))
    rows = session.execute(query.order_by(TokenRecord.creation_time)).all()
    return [token.to_api(owner) for token, owner in rows]


def revoke_token(session: Session, token_id: str, *, principal_name: str | None = None) -> None:
    """Revoke a token by id. With ``principal_name``, only that principal's own tokens qualify
    (what the REST token API allows a non-admin)."""
    record = session.get(TokenRecord, token_id)
    if record is not None and principal_name is not None:
        owner = session.get(PrincipalRecord, record.principal_id)
        if owner is None or owner.name != principal_name:
            record = None
    if record is None or record.revoked_time is not None:
        raise NotFoundError(f"Token {token_id} does not exist (or is already revoked).")
    record.revoked_time = now_ms()
    session.flush()
    global _revocations
    _revocations += 1


# -- web UI sessions --------------------------------------------------------------------------
SESSION_PREFIX = "hms_"
SESSION_LIFETIME_SECONDS = 12 * 3600


class SessionRecord(Base):
    """A browser session: only the sha256 of its id is stored, with the token it was opened
    with (its revocation or expiry ends the session too)."""

    __tablename__ = "ui_sessions"

    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[str] = mapped_column(ForeignKey("tokens.token_id", ondelete="CASCADE"), index=True)
    created_time: Mapped[int] = mapped_column(BigInteger)
    expiry_time: Mapped[int] = mapped_column(BigInteger, index=True)
    revoked_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


def create_session(session: Session, token: str, *, lifetime_seconds: int = SESSION_LIFETIME_SECONDS) -> str | None:
    """Open a session for a valid token; returns the session id (shown once, to the browser),
    or None when the token is unknown, revoked or expired. Expired sessions are purged here."""
    if not looks_like_token(token):
        return None
    record = session.scalars(select(TokenRecord).where(TokenRecord.token_hash == hash_token(token))).first()
    now = now_ms()
    if record is None or record.revoked_time is not None or is_expired(record.expiry_time, now):
        return None
    session.execute(table_of(SessionRecord).delete().where(SessionRecord.expiry_time <= now))
    session_id = SESSION_PREFIX + secrets.token_urlsafe(32)
    expiry = now + lifetime_seconds * 1000
    if record.expiry_time not in (-1, 0, None):
        expiry = min(expiry, record.expiry_time)
    session.add(SessionRecord(session_hash=hash_token(session_id), token_id=record.token_id, created_time=now,
                              expiry_time=expiry))
    session.flush()
    return session_id


_SESSION_LOOKUP = (
    select(TokenRecord.principal_id, SessionRecord.expiry_time, SessionRecord.revoked_time,
           TokenRecord.expiry_time.label("token_expiry"), TokenRecord.revoked_time.label("token_revoked"))
    .join(TokenRecord, TokenRecord.token_id == SessionRecord.token_id)
    .where(SessionRecord.session_hash == bindparam("session_hash"))
)


def session_principal_id(connection, session_id: str | None, *, at_ms: int | None = None) -> int | None:
    """The principal of a live session: neither it nor its token revoked or expired."""
    if not session_id or not session_id.startswith(SESSION_PREFIX) or len(session_id) > 128:
        return None
    row = connection.execute(_SESSION_LOOKUP, {"session_hash": hash_token(session_id)}).first()
    now = at_ms or now_ms()
    if row is None or row.revoked_time is not None or row.token_revoked is not None:
        return None
    if row.expiry_time <= now or is_expired(row.token_expiry, now):
        return None
    return row.principal_id


def revoke_session(session: Session, session_id: str | None) -> None:
    """End a session (logout); unknown ids are ignored."""
    if session_id:
        record = session.get(SessionRecord, hash_token(session_id))
        if record is not None and record.revoked_time is None:
            record.revoked_time = now_ms()
