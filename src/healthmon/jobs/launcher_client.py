"""The runner's side of the launcher (``launcher.py``): start attempts, learn their pids and exits.

``start`` sends a request and returns at once with an ``Attempt`` (the runner's ends of its output
pipe, result pipe and secrets socket); one reader thread per launcher turns the launcher's reports
into the attempt's pid (``on_start``) and exit code (``wait``), so a slot thread waiting for its
attempt sleeps instead of polling.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from healthmon.jobs.launcher import REPORT, pack_request

BOOT = "from healthmon.jobs.launcher import main; main({fd}, {config!r})"


class LauncherError(RuntimeError):
    pass


@dataclass
class Attempt:
    """One task attempt's process as the runner sees it."""

    read_fd: int  # its merged stdout/stderr
    result_fd: int  # its result (task_main.write_result)
    secrets: socket.socket  # its dbutils.secrets requests
    on_start: Callable[[int], None] | None = None  # called with the pid, on the reader thread
    pid: int | None = None
    returncode: int | None = None  # negative: killed by that signal; None: the launcher died
    done: threading.Event = field(default_factory=threading.Event)

    def wait(self) -> int | None:
        self.done.wait()
        return self.returncode


@dataclass(frozen=True)
class LaunchConfig:
    """What every attempt of a run is confined to (see ``confine.py``)."""

    home: str
    scratch: str
    writable: tuple[str, ...]
    confine: bool
    memory_limit: int


class Launcher:
    def __init__(self, python: str, env: dict[str, str], config: LaunchConfig):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        fd = theirs.fileno()
        boot = BOOT.format(fd=fd, config=json.dumps(config.__dict__))
        # Its own session: a Ctrl-C meant for whoever started the runner never reaches it.
        self.proc = subprocess.Popen([python, "-c", boot], pass_fds=[fd], env=env, stdin=subprocess.DEVNULL,
                                     start_new_session=True, cwd=config.scratch)
        theirs.close()
        self.python = python
        self.sock = ours
        self.lock = threading.Lock()
        self.pending: dict[int, Attempt] = {}
        self.running: dict[int, Attempt] = {}
        self.next_id = 0
        self.dead = False
        self.reader = threading.Thread(target=self._read, name="launcher-reader", daemon=True)
        self.reader.start()

    def start(self, spec: dict, on_start: Callable[[int], None] | None = None) -> Attempt:
        """Ask for an attempt running ``spec``; returns at once."""
        read_fd, write_fd = os.pipe()
        result_r, result_w = os.pipe()
        secrets_ours, secrets_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        attempt = Attempt(read_fd, result_r, secrets_ours, on_start)
        try:
            with self.lock:
                if self.dead:
                    raise LauncherError(f"the launcher of {self.python} has exited")
                self.next_id += 1
                self.pending[self.next_id] = attempt
                data = pack_request(self.next_id, spec)
                sent = socket.send_fds(self.sock, [data], [write_fd, result_w, secrets_theirs.fileno()])
                if sent < len(data):
                    self.sock.sendall(data[sent:])
        except OSError as exc:
            _close_attempt(attempt)
            raise LauncherError(f"the launcher of {self.python} is gone: {exc}") from None
        except BaseException:
            _close_attempt(attempt)
            raise
        finally:
            os.close(write_fd)
            os.close(result_w)
            secrets_theirs.close()
        return attempt

    def _read(self) -> None:
        size = REPORT.size
        pending = b""
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                break
            pending += data
            usable = len(pending) - len(pending) % size
            records, pending = list(REPORT.iter_unpack(pending[:usable])), pending[usable:]
            for kind, a, b in records:
                with self.lock:
                    if kind == b"S":
                        attempt = self.pending.pop(a)
                        attempt.pid = b
                        self.running[b] = attempt
                    else:
                        attempt = self.running.pop(a)
                        attempt.returncode = b
                        attempt.done.set()
                if kind == b"S" and attempt.on_start is not None:
                    try:
                        attempt.on_start(b)
                    except Exception:  # a bookkeeping failure must not stop the reader
                        traceback.print_exc()
        with self.lock:
            self.dead = True
            for attempt in [*self.pending.values(), *self.running.values()]:
                attempt.done.set()
            self.pending.clear()
            self.running.clear()

    def close(self) -> None:
        """EOF to the launcher: it kills whatever still runs, then exits."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.sock.close()


def _close_attempt(attempt: Attempt) -> None:
    for fd in (attempt.read_fd, attempt.result_fd):
        try:
            os.close(fd)
        except OSError:
            pass
    attempt.secrets.close()


class Launchers:
    """A run's launchers, one per interpreter (the default one started with the runner, a task
    environment's on its first task)."""

    def __init__(self, env: dict[str, str], config: LaunchConfig, default: str | None = None):
        self.env = env
        self.config = config
        self.lock = threading.Lock()
        self.launchers: dict[str, Launcher] = {}
        self.closed = False
        if default:
            self.get(default)

    def get(self, python: str) -> Launcher:
        with self.lock:
            if self.closed:
                raise LauncherError("the runner is shutting down")
            launcher = self.launchers.get(python)
            if launcher is None or launcher.dead:
                launcher = self.launchers[python] = Launcher(python, self.env, self.config)
            return launcher

    def start(self, python: str, spec: dict, on_start: Callable[[int], None] | None = None) -> Attempt:
        try:
            return self.get(python).start(spec, on_start)
        except LauncherError:  # one restart: the launcher may have been killed from outside
            return self.get(python).start(spec, on_start)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            launchers, self.launchers = list(self.launchers.values()), {}
        for launcher in launchers:
            launcher.close()


def kill_group(pgid: int) -> None:
    """SIGKILL a process group (and its leader, in case it has not called setsid() yet)."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
