"""Helpers for the bad-input tests: run ``healthmon`` in this process as a user would, and call
the server's REST API as a signed-in user."""

from __future__ import annotations

import pytest

from healthmon.cli.main import main
from healthmon.settings import Settings
from healthmon.store import auth
from healthmon.store.db import Database

ALICE = "alice@example.com"


@pytest.fixture
def cli(capsys):
    """``cli("jobs", "list")`` → (exit code, stdout + stderr), through the real entry point."""

    def run(*argv: str) -> tuple[int, str]:
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in argv])
        out = capsys.readouterr()
        text = out.out + out.err
        assert "Traceback" not in text and "unexpected internal error" not in text, text
        return exit_info.value.code, text

    return run


@pytest.fixture
def app(healthmon_home):
    from healthmon.server.app import create_app

    return create_app(Settings.from_env())


@pytest.fixture
def token(healthmon_home) -> str:
    with Database.from_settings(Settings.from_env()).session() as s:
        return auth.create_token(s, ALICE).token_value


@pytest.fixture
def client(app, token):
    """A TestClient of the server, signed in as ALICE with a personal access token."""
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        c.headers["Authorization"] = f"Bearer {token}"
        yield c


def api_error(resp, status: int, code: str) -> str:
    """The message of a Databricks error response, after checking its status and error_code."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error_code"] == code, body
    return body["message"]
