"""UI sessions: the cookie carries a random session id (never the token), logout revokes it,
sessions expire and end with their token; the login form is protected against login CSRF."""

from __future__ import annotations

from sqlalchemy import update

from healthmon.store import auth
from tests.server.test_server_ui_http import csrf_of, login


def _session_cookie(resp) -> str:
    for header in resp.headers.get_list("set-cookie"):
        if header.startswith("healthmon_session="):
            return header.split(";", 1)[0].split("=", 1)[1]
    raise AssertionError("no session cookie set")


def test_the_cookie_is_a_session_id_not_the_token(client, tokens, db):
    resp = login(client, tokens.alice)
    assert resp.status_code == 303
    session_id = _session_cookie(resp)
    assert session_id != tokens.alice and tokens.alice not in resp.headers.get("set-cookie", "")
    assert session_id.startswith("hms_") and len(session_id) >= 40
    with db.session() as s:  # only its hash is stored
        stored = [r.session_hash for r in s.query(auth.SessionRecord).all()]
    assert stored == [auth.hash_token(session_id)]
    assert client.get("/jobs").status_code == 200
    # The token itself is no cookie: set as one, it opens nothing.
    client.cookies.clear()
    client.cookies.set("healthmon_session", tokens.alice)
    assert client.get("/jobs", follow_redirects=False).status_code == 303


def test_logout_revokes_the_session(client, tokens):
    session_id = _session_cookie(login(client, tokens.alice))
    page = client.get("/jobs")
    resp = client.post("/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/login"
    client.cookies.clear()
    client.cookies.set("healthmon_session", session_id)  # a copy of the cookie kept from before
    resp = client.get("/jobs", follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"].startswith("/login")


def test_sessions_expire_and_end_with_their_token(client, tokens, db):
    session_id = _session_cookie(login(client, tokens.bob))
    assert client.get("/jobs").status_code == 200
    with db.session() as s:
        s.execute(update(auth.SessionRecord).values(expiry_time=auth.now_ms() - 1))
    assert client.get("/jobs", follow_redirects=False).status_code == 303
    # A fresh session dies with the token it was opened with.
    with db.session() as s:
        extra = auth.create_token(s, "bob@example.com")
    session_id = _session_cookie(login(client, extra.token_value))
    assert client.get("/jobs").status_code == 200
    with db.session() as s:
        auth.revoke_token(s, extra.info["token_id"])
    assert client.get("/jobs", follow_redirects=False).status_code == 303
    assert session_id


def test_session_lifetime_is_capped_by_the_token_expiry(db, tokens):
    with db.session() as s:
        short = auth.create_token(s, "carol@example.com", lifetime_seconds=60)
        session_id = auth.create_session(s, short.token_value)
    with db.connect() as conn:
        assert auth.session_principal_id(conn, session_id) is not None
        assert auth.session_principal_id(conn, session_id, at_ms=auth.now_ms() + 61_000) is None


def test_login_needs_the_forms_csrf_token(client, tokens):
    """A foreign page cannot log the browser into the attacker's account: without the login
    form's token bound to this browser's login cookie, the login is refused."""
    for data in ({"token": tokens.alice}, {"token": tokens.alice, "csrf_token": "0" * 64}):
        resp = client.post("/login", data=data, follow_redirects=False)
        assert resp.status_code == 400 and "did not come from this server" in resp.text
        assert "healthmon_session=" not in resp.headers.get("set-cookie", "")
    # A token from another browser's form (another login cookie) does not work either.
    other_form = client.get("/login")
    stolen = csrf_of(other_form.text)
    client.get("/login")  # this browser's login cookie changes
    resp = client.post("/login", data={"token": tokens.alice, "csrf_token": stolen}, follow_redirects=False)
    assert resp.status_code == 400
    assert login(client, tokens.alice).status_code == 303


def test_login_cookie_flags(client):
    resp = client.get("/login")
    cookie = next(h for h in resp.headers.get_list("set-cookie") if h.startswith("healthmon_login="))
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=strict" in lowered and "path=/login" in lowered
