"""A run's run_page_url, when no server has set HEALTHMON_SERVER_URL, points at the UI that
`healthmon server` serves with its default options (README: http://127.0.0.1:8080)."""

from __future__ import annotations

import typer

from healthmon.cli.main import app
from healthmon.jobs.api import run_page_url


def _server_default_port() -> int:
    server = typer.main.get_command(app).commands["server"]  # type: ignore[attr-defined]
    return next(p.default for p in server.params if p.name == "port")


def test_run_page_url_defaults_to_the_servers_default_address(monkeypatch):
    monkeypatch.delenv("HEALTHMON_SERVER_URL", raising=False)
    port = _server_default_port()
    assert port == 8080
    assert run_page_url(12, 7) == f"http://127.0.0.1:{port}/jobs/7/runs/12"
    assert run_page_url(12, None) == f"http://127.0.0.1:{port}/runs/12"


def test_run_page_url_follows_the_server_url_it_was_given(monkeypatch):
    monkeypatch.setenv("HEALTHMON_SERVER_URL", "http://localhost:9000/")
    assert run_page_url(12, 7) == "http://localhost:9000/jobs/7/runs/12"
