"""``healthmon server`` as a user starts it: a real process serving the API, the scheduler
started with it, runs linking back to it."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest

from tests.server.conftest import free_port


@pytest.mark.slow
def test_healthmon_server_process(tmp_path):
    created = subprocess.run([sys.executable, "-m", "healthmon.cli.main", "tokens", "create"], capture_output=True, text=True, timeout=60)
    token = json.loads(created.stdout)["token_value"]
    port = free_port()
    log = (tmp_path / "server.log").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "healthmon.cli.main", "server", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.time() < deadline, open(log.name).read()
            time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/api/2.2/jobs/list").status_code == 401
        resp = httpx.get(f"http://127.0.0.1:{port}/api/2.2/jobs/list", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 200 and resp.json() == {"has_more": False}
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    output = open(log.name).read()
    assert "Scheduler started." in output
    assert f"Serving http://127.0.0.1:{port}" in output
    assert token not in output
    assert '"GET /api/2.2/jobs/list" 200 tester@example.com' in output
