"""A deployment lock whose holder is provably dead on this host is taken over with a notice; a
live holder, or one on another host, still refuses (Databricks' CLI would need --force-lock)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from healthmon.bundle.deploy import DeploymentLockedError, deployment_lock, holder_is_gone
from healthmon.settings import Settings
from healthmon.store.db import Database
from healthmon.store.jobs import DeploymentLock, now_ms

HOLD_LOCK = """
import time
from healthmon.bundle.deploy import deployment_lock
from healthmon.settings import Settings
from healthmon.store.db import Database

settings = Settings.from_env()
db = Database.from_settings(settings)
db.create_all()
with deployment_lock(db, "b", "dev", settings):
    print("locked", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def db():
    database = Database.from_settings(Settings.from_env())
    database.create_all()
    return database


def _holder_process():
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _lock_row(db):
    with db.session() as s:
        row = s.get(DeploymentLock, ("b", "dev"))
        return None if row is None else (row.holder, row.acquired_at)


def test_lock_of_a_killed_deploy_is_taken_over_with_a_notice(db, capsys):
    proc = _holder_process()
    dead_holder = _lock_row(db)[0]
    assert f"(pid {proc.pid})" in dead_holder
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    settings = Settings.from_env()
    with deployment_lock(db, "b", "dev", settings) as holder:
        assert _lock_row(db)[0] == holder == f"tester@example.com on {socket.gethostname()} (pid {os.getpid()})"
    assert _lock_row(db) is None
    err = capsys.readouterr().err
    assert err.startswith('Notice: taking over the deployment lock for bundle "b" target "dev" held by ' + dead_holder)
    assert "that process no longer exists" in err


def test_lock_of_a_live_deploy_still_refuses(db):
    proc = _holder_process()
    try:
        with pytest.raises(DeploymentLockedError, match=rf"is held by tester@example.com on .* \(pid {proc.pid}\)"):
            with deployment_lock(db, "b", "dev", Settings.from_env()):
                pass
    finally:
        proc.kill()
        proc.wait()


def _plant(db, holder: str, acquired_at: int) -> None:
    with db.session() as s:
        s.add(DeploymentLock(bundle_name="b", target="dev", holder=holder, acquired_at=acquired_at))


def test_lock_from_another_host_is_never_taken_over(db):
    _plant(db, "someone@example.com on build-agent-7 (pid 1)", now_ms() - 86_400_000)
    with pytest.raises(DeploymentLockedError, match="build-agent-7"):
        with deployment_lock(db, "b", "dev", Settings.from_env()):
            pass
    with deployment_lock(db, "b", "dev", Settings.from_env(), force=True):
        pass  # --force-lock still takes it


def test_reused_pid_counts_as_gone():
    host = socket.gethostname()
    me = f"x on {host} (pid {os.getpid()})"
    assert not holder_is_gone(me, now_ms())  # alive, and started before the lock was taken
    # The same pid, but the lock predates the process: the pid was reused, the holder is gone.
    assert holder_is_gone(me, int((time.time() - 10 * 365 * 86400) * 1000))
    assert not holder_is_gone("a holder string from an older version", 0)


def test_two_takeovers_of_one_stale_lock_leave_one_winner(db):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    _plant(db, f"x on {socket.gethostname()} (pid {proc.pid})", now_ms())
    # The first taker replaces the row; a second one then sees a live holder (this process).
    notices = []
    with deployment_lock(db, "b", "dev", Settings.from_env(), notice=notices.append):
        with pytest.raises(DeploymentLockedError):
            with deployment_lock(db, "b", "dev", Settings.from_env(), notice=notices.append):
                pass
    assert len(notices) == 1
