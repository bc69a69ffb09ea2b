"""Token store: hashing, expiry, revocation, principals and groups."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from healthmon.errors import InvalidParameterError, NotFoundError
from healthmon.store import auth


def test_token_is_stored_only_as_its_sha256(db):
    with db.session() as s:
        created = auth.create_token(s, "alice@example.com", comment="ci")
    value = created.token_value
    assert value.startswith("dapi") and len(value) == 36
    with db.session() as s:
        rows = s.scalars(select(auth.TokenRecord)).all()
    assert len(rows) == 1
    assert rows[0].token_hash == hashlib.sha256(value.encode()).hexdigest()
    assert value not in repr(rows[0].__dict__)


def test_authenticate_returns_owner_with_groups(db):
    with db.session() as s:
        value = auth.create_token(s, "bob@example.com", groups=["data-eng"]).token_value
    with db.session() as s:
        who = auth.authenticate(s, value)
    assert who.name == "bob@example.com"
    assert who.groups == {"users", "data-eng"}
    assert not who.is_admin


def test_wrong_token_is_refused(db):
    with db.session() as s:
        value = auth.create_token(s, "bob@example.com").token_value
        assert auth.authenticate(s, value[:-1] + ("0" if value[-1] != "0" else "1")) is None
        assert auth.authenticate(s, "") is None
        assert auth.authenticate(s, "not-a-token") is None


def test_expired_token_is_refused(db):
    with db.session() as s:
        created = auth.create_token(s, "a@example.com", lifetime_seconds=60)
    expiry = created.info["expiry_time"]
    assert expiry - created.info["creation_time"] == 60_000
    with db.session() as s:
        assert auth.authenticate(s, created.token_value, at_ms=expiry - 1) is not None
        assert auth.authenticate(s, created.token_value, at_ms=expiry) is None


def test_revoked_token_is_refused_and_hidden_from_list(db):
    with db.session() as s:
        created = auth.create_token(s, "a@example.com", comment="old")
        keep = auth.create_token(s, "a@example.com", comment="new")
    with db.session() as s:
        auth.revoke_token(s, created.info["token_id"])
    with db.session() as s:
        assert auth.authenticate(s, created.token_value) is None
        assert auth.authenticate(s, keep.token_value).name == "a@example.com"
        listed = auth.list_tokens(s, "a@example.com")
    assert [t["comment"] for t in listed] == ["new"]
    with db.session() as s, pytest.raises(NotFoundError):
        auth.revoke_token(s, created.info["token_id"])


def test_revoke_scoped_to_owner(db):
    with db.session() as s:
        created = auth.create_token(s, "a@example.com")
    with db.session() as s, pytest.raises(NotFoundError):
        auth.revoke_token(s, created.info["token_id"], principal_name="b@example.com")


def test_bad_lifetime_and_kind(db):
    with db.session() as s:
        with pytest.raises(InvalidParameterError, match="lifetime_seconds"):
            auth.create_token(s, "a@example.com", lifetime_seconds=0)
        with pytest.raises(InvalidParameterError, match="kind"):
            auth.ensure_principal(s, "x", kind="robot")


def test_service_principal_scim_shape(db):
    with db.session() as s:
        value = auth.create_token(s, "11111111-2222", kind="service_principal").token_value
        who = auth.authenticate(s, value)
    doc = who.to_scim()
    assert doc["applicationId"] == "11111111-2222"
    assert "emails" not in doc
