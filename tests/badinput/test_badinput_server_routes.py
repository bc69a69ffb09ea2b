"""Hostile requests to the server's workspace, Files/DBFS and runs routes. Databricks answers each
with its error JSON (``error_code`` + ``message`` naming the field) and a 4xx status, never a
500; the real ``databricks-sdk`` raises the matching typed error."""

from __future__ import annotations

import pytest

from healthmon.settings import Settings
from healthmon.store import auth
from healthmon.store.db import Database

ALICE = "alice@example.com"


@pytest.fixture
def client(healthmon_home):
    from fastapi.testclient import TestClient

    from healthmon.server.app import create_app

    with Database.from_settings(Settings.from_env()).session() as s:
        token = auth.create_token(s, ALICE).token_value
    with TestClient(create_app(Settings.from_env()), raise_server_exceptions=False) as c:
        c.headers["Authorization"] = f"Bearer {token}"
        yield c


def _error(resp, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error_code"] == code, body
    return body["message"]


@pytest.mark.parametrize(
    "url",
    ["/api/2.0/workspace/list", "/api/2.0/workspace/export", "/api/2.0/workspace/get-status", "/api/2.0/dbfs/list"],
)
def test_a_missing_path_query_parameter_is_named_in_the_error(client, url):
    # The field is called "path"; the error must say so, not blame a request body a GET has none of.
    message = _error(client.get(url), 400, "INVALID_PARAMETER_VALUE")
    assert "path" in message and "request body" not in message, message
