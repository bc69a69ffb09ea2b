"""A real SMTP server (aiosmtpd) and a real HTTP webhook receiver on 127.0.0.1 for the alerts."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from aiosmtpd.controller import Controller


class Mailbox:
    def __init__(self):
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


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
