"""Request authentication.

The REST API takes ``Authorization: Bearer <token>`` only (as Databricks does for PATs); the
browser UI takes a session id from an HttpOnly cookie set at login (a random id whose hash the
store keeps with the token it was opened with: the token never reaches the browser). Keeping the
cookie away from the API means a cross-site form can never drive the API, whatever the browser
does with SameSite. Token and session values are never logged nor echoed in an error message.
"""

from __future__ import annotations

import threading
import time

from fastapi import Request

from healthmon.server.errors import unauthenticated
from healthmon.store import auth as auth_store
from healthmon.store.auth import Principal

SESSION_COOKIE = "healthmon_session"


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


# Token grants (principal id, expiry) by token hash, for TOKEN_TTL seconds: most of an
# authenticated request's database work otherwise. Expiry is checked on every request against
# the cached expiry time; a revocation in this process (REST token API, or the store called
# from here) empties the cache at once; a revocation by another process (`healthmon tokens
# revoke`, another worker) applies within TOKEN_TTL. Unknown tokens are never cached.
TOKEN_TTL = 1.0
_grants: dict[str, tuple] = {}  # hash -> (fetched at, principal id, expiry ms, revocations, db)
# Principal (name, groups) by id, for a few seconds: group membership changes reach requests
# within PRINCIPAL_TTL.
PRINCIPAL_TTL = 5.0
_principals: dict[tuple[int, int], tuple[float, Principal]] = {}
_principals_lock = threading.Lock()


def forget_tokens() -> None:
    """Drop every cached token grant (after a revocation)."""
    _grants.clear()


def _grant(db, token: str) -> tuple[int, int] | None:
    token_hash = auth_store.hash_token(token)
    now = time.monotonic()
    generation = auth_store.revocation_count()
    hit = _grants.get(token_hash)
    if hit is not None and now - hit[0] < TOKEN_TTL and hit[3] == generation and hit[4] is db:
        return hit[1], hit[2]
    with db.connect() as conn:
        grant = auth_store.token_grant(conn, token_hash)
    if grant is None:
        _grants.pop(token_hash, None)
        return None
    if len(_grants) > 10_000:
        _grants.clear()
    _grants[token_hash] = (now, grant[0], grant[1], generation, db)
    return grant


def principal_for_token(request: Request, token: str | None) -> Principal | None:
    if not auth_store.looks_like_token(token):
        return None
    db = request.app.state.db
    grant = _grant(db, token)
    if grant is None or auth_store.is_expired(grant[1]):
        return None
    return _principal(db, grant[0])


def _principal(db, principal_id: int) -> Principal | None:
    key = (id(db), principal_id)
    now = time.monotonic()
    cached = _principals.get(key)
    if cached and now - cached[0] < PRINCIPAL_TTL:
        return cached[1]
    with db.session() as s:
        principal = auth_store.load_principal(s, principal_id)
    if principal is not None:
        with _principals_lock:
            _principals[key] = (now, principal)
    return principal


async def require_principal(request: Request) -> Principal:
    """FastAPI dependency for every API route: the caller, or 401 UNAUTHENTICATED.

    Async on purpose: one indexed read, cheaper on the event loop than a thread hop."""
    header = request.headers.get("authorization")
    token = bearer_token(request)
    if token is None:
        if header:
            raise unauthenticated("Authorization header must be 'Bearer <personal access token>'.")
        raise unauthenticated("Credential was not sent or was of an unsupported type for this API.")
    principal = principal_for_token(request, token)
    if principal is None:
        raise unauthenticated("Invalid access token (unknown, revoked or expired).")
    request.state.principal = principal
    return principal


def cookie_principal(request: Request) -> Principal | None:
    """The UI's caller from the session cookie, or None (the UI then redirects to login). The
    session is read on every page (not cached): a logout or revoked token ends it at once."""
    db = request.app.state.db
    with db.connect() as conn:
        principal_id = auth_store.session_principal_id(conn, request.cookies.get(SESSION_COOKIE))
    return None if principal_id is None else _principal(db, principal_id)
