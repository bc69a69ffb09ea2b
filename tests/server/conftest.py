"""Fixtures for the workspace server tests: an app, tokens for a few principals, and a real
uvicorn server on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import pytest

from healthmon.settings import Settings
from healthmon.store import auth
from healthmon.store.db import Database


@dataclass
class Tokens:
    admin: str
    alice: str
    bob: str
    carol: str
    robot: str


@pytest.fixture
def settings(healthmon_home) -> Settings:
    return Settings.from_env()


@pytest.fixture
def db(settings) -> Database:
    return Database.from_settings(settings)


@pytest.fixture
def tokens(db) -> Tokens:
    """admin = the local user (admins group); alice, bob (group data-eng), carol (no groups),
    robot = a service principal."""
    with db.session() as s:
        return Tokens(
            admin=auth.create_token(s, "tester@example.com", groups=["admins"]).token_value,
            alice=auth.create_token(s, "alice@example.com").token_value,
            bob=auth.create_token(s, "bob@example.com", groups=["data-eng"]).token_value,
            carol=auth.create_token(s, "carol@example.com").token_value,
            robot=auth.create_token(s, "6f1c0b7e-robot", kind="service_principal").token_value,
        )


@pytest.fixture
def app(settings):
    from healthmon.server.app import create_app

    return create_app(settings)


@pytest.fixture
def client(app):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """A real uvicorn server in a thread (the SDK and CLIs talk HTTP to it)."""

    def __init__(self, app, host: str = "127.0.0.1", port: int | None = None):
        import uvicorn

        self.host = host
        self.port = port or free_port()
        config = uvicorn.Config(app, host=host, port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.time() + 15
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(app):
    with LiveServer(app) as srv:
        yield srv


@pytest.fixture
def workspace(app, tokens, monkeypatch):
    """A real databricks-sdk WorkspaceClient (as alice) over HTTP to a live server, configured
    the way the seed configures it: DATABRICKS_HOST/TOKEN."""
    from databricks.sdk import WorkspaceClient

    for key in ("DATABRICKS_CONFIG_PROFILE", "DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET", "DATABRICKS_USERNAME", "DATABRICKS_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", "/nonexistent/.databrickscfg")
    with LiveServer(app) as srv:
        monkeypatch.setenv("DATABRICKS_HOST", srv.url)
        monkeypatch.setenv("DATABRICKS_TOKEN", tokens.alice)
        yield WorkspaceClient()


def workspace_file(settings, owner: str, name: str, body: str) -> str:
    """Write ``body`` to ``/Workspace/Users/<owner>/<name>`` (the workspace tree, where task code
    lives) and return that workspace path."""
    local = settings.home / "workspace" / "Users" / owner / name
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(body)
    return f"/Workspace/Users/{owner}/{name}"


def notebook(settings, owner: str, name: str, source: str) -> str:
    """A Databricks-format notebook in ``owner``'s home; its workspace path (no suffix)."""
    path = workspace_file(settings, owner, f"{name}.py", "# Databricks notebook source\n" + source + "\n")
    return path[: -len(".py")]
