"""Shared fixtures: every test gets its own workspace (HEALTHMON_HOME) and user; a real SMTP server
(aiosmtpd) and a real HTTP webhook receiver on 127.0.0.1 for notification and alert tests."""

from __future__ import annotations

import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from mail_helpers import Mailbox

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def healthmon_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("hm_home")
    monkeypatch.setenv("HEALTHMON_HOME", str(home))
    monkeypatch.setenv("HEALTHMON_USER", "tester@example.com")
    monkeypatch.delenv("HEALTHMON_DATABASE_URL", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    # configure_mlflow() run in this process records the workspace's artifact root in the
    # environment (as an `mlflow server` would); without this, CLI subprocesses of a later test
    # would inherit an earlier test's artifact root, outside their own workspace.
    monkeypatch.delenv("_MLFLOW_SERVER_ARTIFACT_ROOT", raising=False)
    for key in [k for k in os.environ if k.startswith("BUNDLE_VAR_")]:
        monkeypatch.delenv(key, raising=False)
    yield home
    # Close this workspace's pooled database connections: the suite's process would otherwise
    # keep three descriptors per test workspace open and run out of them.
    from healthmon.store import db

    db.forget_under(home)


@pytest.fixture
def workspace_files(healthmon_home) -> Path:
    """A folder of the workspace's files (``/Workspace/Shared``): where task code must come from."""
    path = healthmon_home / "workspace" / "Shared"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT

@pytest.fixture
def mailbox(monkeypatch):
    box = Mailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("HEALTHMON_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("HEALTHMON_SMTP_PORT", str(port))
    yield box
    controller.stop()


@pytest.fixture
def hook():
    """(url, received JSON bodies, received Content-Type headers)."""
    bodies, types = [], []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            types.append(self.headers["Content-Type"])
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/slack", bodies, types
    server.shutdown()
    server.server_close()
