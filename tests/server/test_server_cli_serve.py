"""``healthmon server`` as a user starts it: a real process serving the API, the scheduler
started with it, runs linking back to it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.server.conftest import free_port


@pytest.mark.slow
def _wait_until_serving(proc: subprocess.Popen, port: int, log_name: str) -> None:
    deadline = time.time() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None and time.time() < deadline, open(log_name).read()
        time.sleep(0.2)


def test_healthmon_server_process(tmp_path):
    created = subprocess.run([sys.executable, "-m", "healthmon.cli.main", "tokens", "create"], capture_output=True, text=True, timeout=60)
    token = json.loads(created.stdout)["token_value"]
    port = free_port()
    log = (tmp_path / "server.log").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "healthmon.cli.main", "server", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_until_serving(proc, port, log.name)
        assert httpx.get(f"http://127.0.0.1:{port}/api/2.2/jobs/list").status_code == 401
        resp = httpx.get(f"http://127.0.0.1:{port}/api/2.2/jobs/list", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 200 and resp.json() == {"has_more": False}
    finally:
        proc.terminate()
        code = proc.wait(timeout=20)
    output = open(log.name).read()
    assert code == 128 + signal.SIGTERM, output
    assert "Scheduler started." in output
    assert f"Serving http://127.0.0.1:{port}" in output
    assert token not in output
    assert '"GET /api/2.2/jobs/list" 200 tester@example.com' in output


def _children(pid: int) -> list[int]:
    tasks = f"/proc/{pid}/task"
    return [int(c) for t in os.listdir(tasks) for c in open(f"{tasks}/{t}/children").read().split()]


@pytest.mark.slow
@pytest.mark.parametrize(("workers", "signum"), [(1, signal.SIGINT), (2, signal.SIGTERM), (2, signal.SIGINT)],
                         ids=["1-SIGINT", "2-SIGTERM", "2-SIGINT"])
def test_server_stops_on_a_signal_with_128_plus_signal(tmp_path, workers, signum):
    """README, *Errors and exit codes*: 130 / 143 and "Interrupted (SIG...).", with one server
    process or several (whose supervisor alone used to exit 0); the workers and the scheduler
    are stopped first."""
    port = free_port()
    log = (tmp_path / "server.log").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "healthmon.cli.main", "server", "--port", str(port),
                             "--workers", str(workers)], stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_until_serving(proc, port, log.name)
        children = _children(proc.pid)
        assert workers == 1 or len(children) >= workers, children
        proc.send_signal(signum)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = open(log.name).read()
    assert code == 128 + signum, output
    assert output.rstrip().splitlines()[-1] == f"Interrupted ({signal.Signals(signum).name}).", output
    assert "Traceback" not in output
    assert "healthmon.scheduler: scheduler" in output and output.rstrip().splitlines()[-2].endswith("stopped"), output
    deadline = time.time() + 5
    while any(os.path.exists(f"/proc/{c}") and open(f"/proc/{c}/stat").read().split()[2] != "Z" for c in children):
        assert time.time() < deadline, f"server processes left: {children}"
        time.sleep(0.1)
