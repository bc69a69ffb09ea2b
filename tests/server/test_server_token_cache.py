"""The server caches token grants briefly; revocation and expiry still apply: at once for a
revocation made in the server's process, within TOKEN_TTL for one made by another process."""

from __future__ import annotations

import time

from sqlalchemy import create_engine, text

from healthmon.server import auth as server_auth
from healthmon.store import auth
from tests.server.conftest import bearer

ME = "/api/2.0/preview/scim/v2/Me"


def _status(client, token: str) -> int:
    return client.get(ME, headers=bearer(token)).status_code


def test_revocation_in_process_applies_to_the_next_request(client, db):
    with db.session() as s:
        created = auth.create_token(s, "alice@example.com")
    assert _status(client, created.token_value) == 200  # now cached
    with db.session() as s:
        auth.revoke_token(s, created.info["token_id"])
    assert _status(client, created.token_value) == 401


def test_revocation_through_the_token_api_applies_to_the_next_request(client, db):
    with db.session() as s:
        created = auth.create_token(s, "alice@example.com")
    assert _status(client, created.token_value) == 200
    r = client.post("/api/2.0/token/delete", headers=bearer(created.token_value), json={"token_id": created.info["token_id"]})
    assert r.status_code == 200
    assert _status(client, created.token_value) == 401


def test_revocation_by_another_process_applies_within_the_ttl(client, db, settings):
    with db.session() as s:
        created = auth.create_token(s, "alice@example.com")
    assert _status(client, created.token_value) == 200
    other = create_engine(settings.database_url)  # as `healthmon tokens revoke` would, elsewhere
    with other.begin() as conn:
        conn.execute(text("UPDATE tokens SET revoked_time = 1 WHERE token_id = :t"), {"t": created.info["token_id"]})
    other.dispose()
    time.sleep(server_auth.TOKEN_TTL + 0.05)
    assert _status(client, created.token_value) == 401


def test_expiry_is_checked_on_every_request_even_when_cached(client, db):
    with db.session() as s:
        created = auth.create_token(s, "alice@example.com", lifetime_seconds=1)
    assert _status(client, created.token_value) == 200
    expiry_ms = created.info["expiry_time"]
    time.sleep(max(0.0, expiry_ms / 1000 - time.time()) + 0.05)
    assert _status(client, created.token_value) == 401
