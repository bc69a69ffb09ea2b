"""``healthmon tokens create|list|revoke`` through the real CLI entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def hm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "healthmon.cli.main", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_create_list_revoke_roundtrip(db):
    from healthmon.store import auth

    out = hm("tokens", "create", "--comment", "laptop", "--lifetime-seconds", "3600")
    assert out.returncode == 0, out.stderr
    created = json.loads(out.stdout)
    value, token_id = created["token_value"], created["token_info"]["token_id"]
    assert created["token_info"]["expiry_time"] - created["token_info"]["creation_time"] == 3_600_000
    with db.session() as s:
        who = auth.authenticate(s, value)
    assert who.name == "tester@example.com" and who.is_admin

    listed = hm("tokens", "list", "-o", "json")
    assert listed.returncode == 0
    infos = json.loads(listed.stdout)["token_infos"]
    assert [i["token_id"] for i in infos] == [token_id]
    assert value not in listed.stdout

    assert hm("tokens", "revoke", "--token-id", token_id).returncode == 0
    with db.session() as s:
        assert auth.authenticate(s, value) is None
    again = hm("tokens", "revoke", "--token-id", token_id)
    assert again.returncode == 1 and "Traceback" not in again.stderr and token_id in again.stderr


def test_create_for_service_principal(db):
    from healthmon.store import auth

    out = hm("tokens", "create", "--service-principal", "ci-bot", "--group", "deployers")
    assert out.returncode == 0, out.stderr
    value = json.loads(out.stdout)["token_value"]
    with db.session() as s:
        who = auth.authenticate(s, value)
    assert (who.kind, who.groups, who.is_admin) == ("service_principal", {"users", "deployers"}, False)


def test_bad_lifetime_is_a_clean_error():
    out = hm("tokens", "create", "--lifetime-seconds", "-5")
    assert out.returncode == 1
    assert "lifetime_seconds" in out.stderr and "Traceback" not in out.stderr
