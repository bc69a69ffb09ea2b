"""Secrets: the Secrets API through the real databricks-sdk (scopes, put/get/list/delete, ACLs
per scope with READ < WRITE < MANAGE), values encrypted at rest (AES-GCM under a 0600 key file;
plaintext from older workspaces encrypted on open), and the workspace's file modes."""

from __future__ import annotations

import base64
import os
import stat

import pytest
from sqlalchemy import select, text

from healthmon.store import secrets
from healthmon.store.db import Database
from tests.jobs.test_jobs_store import db_url  # noqa: F401  (the SQLite + PostgreSQL database fixture)
from tests.server.conftest import bearer

VALUE = "pa55-Word-Only-Alice-Knows"


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_sdk_secrets_roundtrip_and_acls(workspace, client, tokens):
    from databricks.sdk.errors import NotFound, ResourceAlreadyExists
    from databricks.sdk.service.workspace import AclPermission

    w = workspace  # alice
    w.secrets.create_scope("team")
    with pytest.raises(ResourceAlreadyExists):
        w.secrets.create_scope("team")
    w.secrets.put_secret("team", "db_password", string_value=VALUE)
    w.secrets.put_secret("team", "blob", bytes_value=base64.b64encode(b"\x00\x01binary").decode())
    assert "team" in [s.name for s in w.secrets.list_scopes()]
    assert sorted(m.key for m in w.secrets.list_secrets("team")) == ["blob", "db_password"]
    got = w.secrets.get_secret("team", "db_password")
    assert base64.b64decode(got.value).decode() == VALUE
    assert base64.b64decode(w.secrets.get_secret("team", "blob").value) == b"\x00\x01binary"
    assert {(a.principal, a.permission) for a in w.secrets.list_acls("team")} == {("alice@example.com", AclPermission.MANAGE)}

    def as_bob(method, path, **kw):
        return client.request(method, path, headers=bearer(tokens.bob), **kw)

    # bob: no grant -> no read, no write, no ACL management; names are listed (as Databricks).
    assert as_bob("GET", "/api/2.0/secrets/get", params={"scope": "team", "key": "db_password"}).status_code == 403
    assert as_bob("GET", "/api/2.0/secrets/list", params={"scope": "team"}).status_code == 403
    assert as_bob("POST", "/api/2.0/secrets/put", json={"scope": "team", "key": "k", "string_value": "v"}).status_code == 403
    assert as_bob("POST", "/api/2.0/secrets/acls/put", json={"scope": "team", "principal": "bob@example.com",
                                                             "permission": "MANAGE"}).status_code == 403
    assert as_bob("POST", "/api/2.0/secrets/scopes/delete", json={"scope": "team"}).status_code == 403
    # READ to the data-eng group (bob's): read, not write.
    w.secrets.put_acl("team", "data-eng", AclPermission.READ)
    assert as_bob("GET", "/api/2.0/secrets/list", params={"scope": "team"}).status_code == 200
    value = as_bob("GET", "/api/2.0/secrets/get", params={"scope": "team", "key": "db_password"}).json()["value"]
    assert base64.b64decode(value).decode() == VALUE
    denied = as_bob("POST", "/api/2.0/secrets/delete", json={"scope": "team", "key": "db_password"})
    assert denied.status_code == 403 and denied.json()["error_code"] == "PERMISSION_DENIED"
    # WRITE: put and delete; still no ACL management.
    w.secrets.put_acl("team", "bob@example.com", AclPermission.WRITE)
    assert w.secrets.get_acl("team", "bob@example.com").permission == AclPermission.WRITE
    assert as_bob("POST", "/api/2.0/secrets/put", json={"scope": "team", "key": "k", "string_value": "v"}).status_code == 200
    assert as_bob("POST", "/api/2.0/secrets/delete", json={"scope": "team", "key": "k"}).status_code == 200
    assert as_bob("GET", "/api/2.0/secrets/acls/list", params={"scope": "team"}).status_code == 403
    w.secrets.delete_acl("team", "bob@example.com")
    assert as_bob("POST", "/api/2.0/secrets/put", json={"scope": "team", "key": "k", "string_value": "v"}).status_code == 403
    # Bad input: Databricks error bodies.
    bad = client.post("/api/2.0/secrets/acls/put", headers=bearer(tokens.alice),
                      json={"scope": "team", "principal": "carol@example.com", "permission": "OWN"})
    assert bad.status_code == 400 and "Permission OWN is not valid" in bad.json()["message"]
    both = client.post("/api/2.0/secrets/put", headers=bearer(tokens.alice),
                       json={"scope": "team", "key": "x", "string_value": "a", "bytes_value": "YQ=="})
    assert both.status_code == 400
    with pytest.raises(NotFound):
        w.secrets.get_secret("team", "nope")
    with pytest.raises(NotFound):
        w.secrets.list_secrets("no-such-scope")
    # The admin manages every scope; alice deletes hers.
    assert client.get("/api/2.0/secrets/acls/list", headers=bearer(tokens.admin), params={"scope": "team"}).status_code == 200
    w.secrets.delete_secret("team", "blob")
    w.secrets.delete_scope("team")
    assert "team" not in [s.name for s in w.secrets.list_scopes()]
    w.secrets.create_scope("alice-only")
    bob = as_bob("GET", "/api/2.0/secrets/acls/get", params={"scope": "alice-only", "principal": "alice@example.com"})
    assert bob.status_code == 403 and bob.json()["error_code"] == "PERMISSION_DENIED"


def test_initial_manage_principal_users_opens_the_scope_to_everyone(client, tokens):
    assert client.post("/api/2.0/secrets/scopes/create", headers=bearer(tokens.alice),
                       json={"scope": "open", "initial_manage_principal": "users"}).status_code == 200
    assert client.post("/api/2.0/secrets/put", headers=bearer(tokens.carol),
                       json={"scope": "open", "key": "k", "string_value": "v"}).status_code == 200
    bad = client.post("/api/2.0/secrets/scopes/create", headers=bearer(tokens.alice),
                      json={"scope": "x", "initial_manage_principal": "bob@example.com"})
    assert bad.status_code == 400


def test_values_are_encrypted_at_rest(db, settings):
    with db.session() as s:
        secrets.create_scope(s, "prod")
        secrets.put_secret(s, "prod", "token", VALUE)
    with db.connect() as conn:
        stored = conn.execute(text("SELECT value FROM secrets")).scalar()
    assert stored.startswith("aesgcm1:") and VALUE not in stored and VALUE.encode() not in base64.b64decode(stored[8:])
    raw = (settings.home / "workspace.db").read_bytes()
    assert VALUE.encode() not in raw
    key = settings.home / ".secret-key"
    assert key.exists() and mode(key) == 0o600
    with db.session() as s:
        assert secrets.get_secret(s, "prod", "token") == VALUE
        assert secrets.all_values(s) == [VALUE]


def test_a_ciphertext_moved_to_another_secret_does_not_decrypt(db):
    """The scope and key are authenticated with the value: copying alice's ciphertext into a
    scope someone else can read yields an error, not her secret."""
    with db.session() as s:
        secrets.create_scope(s, "alice")
        secrets.create_scope(s, "open")
        secrets.put_secret(s, "alice", "k", VALUE)
        secrets.put_secret(s, "open", "k", "decoy")
    with db.session() as s:
        stolen = s.scalar(select(secrets.Secret.value).where(secrets.Secret.scope == "alice"))
        s.get(secrets.Secret, ("open", "k")).value = stolen
    with db.session() as s, pytest.raises(Exception, match="cannot be decrypted"):
        secrets.get_secret(s, "open", "k")


def test_plaintext_values_are_encrypted_when_the_database_opens(settings):
    """A workspace from before encryption: plaintext rows, no key file. Opening it encrypts them."""
    from healthmon.store import db as db_module

    db = Database.from_settings(settings)
    db.create_all()
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO secret_scopes (name, created_time) VALUES ('old', 1)"))
        conn.execute(text("INSERT INTO secrets (scope, key, value, last_updated_timestamp) VALUES ('old', 'k', :v, 1)"),
                     {"v": VALUE})
    db_module.forget(settings.database_url)
    reopened = Database.from_settings(settings)
    with reopened.connect() as conn:
        stored = conn.execute(text("SELECT value FROM secrets")).scalar()
    assert stored.startswith("aesgcm1:") and VALUE not in stored
    with reopened.session() as s:
        assert secrets.get_secret(s, "old", "k") == VALUE


def test_workspace_file_modes(app, client, tokens, settings, db):
    """The workspace directory 0700, its database (and WAL, shared memory), the server secret and
    the secret key 0600, the run log tree 0700."""
    with db.session() as s:
        secrets.create_scope(s, "m")
        secrets.put_secret(s, "m", "k", "v")
    assert client.get("/api/2.2/jobs/list", headers=bearer(tokens.alice)).status_code == 200
    home = settings.home
    assert mode(home) == 0o700
    assert mode(home / "runs") == 0o700
    for name in ("workspace.db", "workspace.db-wal", "workspace.db-shm", ".server-secret", ".secret-key",
                 "workspace.db.schema-lock"):
        assert (home / name).exists(), name
        assert mode(home / name) == 0o600, name


def test_existing_world_readable_workspace_is_tightened(tmp_path, monkeypatch):
    from healthmon.settings import Settings
    from healthmon.store import private

    home = tmp_path / "old"
    home.mkdir(mode=0o755)
    (home / "runs").mkdir(mode=0o755)
    for name in ("workspace.db", "workspace.db-wal", "workspace.db-shm"):
        (home / name).touch(mode=0o644)
    os.chmod(home, 0o755)
    monkeypatch.setenv("HEALTHMON_HOME", str(home))
    private._secured.discard(str(home))
    settings = Settings.from_env()
    Database.from_settings(settings)
    assert mode(home) == 0o700 and mode(home / "runs") == 0o700
    for name in ("workspace.db", "workspace.db-wal", "workspace.db-shm"):
        assert mode(home / name) == 0o600, name


def test_store_secrets_acls_sessions_and_upgrade_on_sqlite_and_postgresql(db_url):
    """The store's new tables and functions on both backends (PostgreSQL:
    HEALTHMON_TEST_POSTGRES_URL): encrypted values, scope ACLs by group, the plaintext upgrade on
    open, UI sessions, a run's principal."""
    from healthmon.store import auth
    from healthmon.store.db import forget
    from healthmon.store.runs import RunRecord

    db = Database(db_url)
    with db.session() as s:
        bob = auth.ensure_principal(s, "bob@example.com", groups=["data-eng"])
        carol = auth.ensure_principal(s, "carol@example.com")
        secrets.create_scope(s, "pg", principal=carol)
        secrets.put_secret(s, "pg", "k", VALUE, principal=carol)
        secrets.put_acl(s, "pg", "data-eng", "READ", principal=carol)
    with db.session() as s:
        assert secrets.get_secret(s, "pg", "k", principal=bob) == VALUE
        with pytest.raises(Exception, match="does not have WRITE permission"):
            secrets.put_secret(s, "pg", "k", "x", principal=bob)
        assert secrets.list_acls(s, "pg", principal=carol) == [
            {"principal": "carol@example.com", "permission": "MANAGE"}, {"principal": "data-eng", "permission": "READ"}]
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO secrets (scope, key, value, last_updated_timestamp) VALUES ('pg', 'old', 'plain', 1)"))
    db.engine.dispose()
    forget(db_url)
    reopened = Database(db_url)
    reopened.create_all()
    with reopened.connect() as conn:
        stored = dict(conn.execute(text("SELECT key, value FROM secrets")).all())
    assert all(v.startswith("aesgcm1:") for v in stored.values()) and "plain" not in stored.values()
    with reopened.session() as s:
        token = auth.create_token(s, "bob@example.com").token_value
        session_id = auth.create_session(s, token)
        run = RunRecord(job_id=1, run_name="r", creator_user_name="bob@example.com", life_cycle_state="TERMINATED")
        run.set_j("settings", {"run_as": {"service_principal_name": "robot"}})
        s.add(run)
        s.flush()
        task = RunRecord(job_id=1, job_run_id=run.run_id, task_key="t", run_name="t", life_cycle_state="TERMINATED")
        s.add(task)
        s.flush()
        assert auth.run_principal_name(s, task.run_id) == "robot"
        assert secrets.get_secret(s, "pg", "old") == "plain"
    with reopened.connect() as conn:
        assert auth.session_principal_id(conn, session_id) == bob.id
    with reopened.session() as s:
        auth.revoke_session(s, session_id)
    with reopened.connect() as conn:
        assert auth.session_principal_id(conn, session_id) is None
    reopened.engine.dispose()
