"""Task processes, runner side: a client of the fork server (``jobs/zygote.py``) and group kills.

Every attempt is its own process, forked by the zygote of its interpreter, in its own session and
process group; the zygote reports its pid at once and its exit code when it ends (after cleaning
up everything the attempt left behind). One reader thread per zygote turns those reports into
events, so a slot thread waiting for its attempt sleeps instead of polling.

``HEALTHMON_FORK_SERVER=0`` makes the zygote ``exec`` a fresh interpreter for every attempt (cold
start, same supervision): slower, for measuring or for code that is unhappy in a forked process.
"""

from __future__ import annotations

import marshal
import os
import signal
import socket
import subprocess
import sys
import threading

from healthmon.jobs.zygote import REPORT, pack_request

BOOT = "from healthmon.jobs.zygote import main; main({fd})"


def exec_mode() -> bool:
    return os.environ.get("HEALTHMON_FORK_SERVER", "1") == "0"


class Attempt:
    """One task attempt's process: pid (once started), output pipe, exit code (once ended)."""

    def __init__(self, read_fd: int, result_fd: int, on_start=None):
        self.read_fd = read_fd
        self.result_fd = result_fd
        self.on_start = on_start  # called with the pid on the reader thread, as soon as it is known
        self.pid: int | None = None
        self.returncode: int | None = None
        self.done = threading.Event()

    def close(self) -> None:
        """Close the runner's ends (the output pipe is closed by its log pump instead)."""
        for fd in (self.read_fd, self.result_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    def wait(self) -> int | None:
        """The exit code (negative: killed by that signal); None when the fork server died."""
        self.done.wait()
        return self.returncode


class ForkServerError(RuntimeError):
    pass


# The runner server's zygote template (``zygote.template_main``), inherited by the runners it
# forks: a SOCK_SEQPACKET socket to which a runner sends a request for a ready zygote.
TEMPLATE: socket.socket | None = None
TEMPLATE_BOOT = "from healthmon.jobs.zygote import template_main; template_main({fd})"


def start_template(env: dict[str, str]) -> socket.socket | None:
    """Start a zygote template (the runner server does, once); returns the socket to ask it on."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        subprocess.Popen([sys.executable, "-c", TEMPLATE_BOOT.format(fd=theirs.fileno())], pass_fds=[theirs.fileno()],
                         env={**env, "PYTHONUNBUFFERED": "1"}, stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        ours.close()
        return None
    finally:
        theirs.close()
    return ours


def _from_template(python: str, env: dict[str, str]) -> tuple[socket.socket, int] | None:
    """A zygote forked by the template: (our end of its socket, its pid), or None (no template,
    another interpreter, a refusal, no answer within 5 s)."""
    if TEMPLATE is None or python != sys.executable:
        return None
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        socket.send_fds(TEMPLATE, [marshal.dumps(env)], [theirs.fileno()])
        theirs.close()
        ours.settimeout(5)
        record = b""
        while len(record) < REPORT.size:
            chunk = ours.recv(REPORT.size - len(record))
            if not chunk:
                break
            record += chunk
        ours.settimeout(None)
        if len(record) == REPORT.size:
            kind, pid, _ = REPORT.unpack(record)
            if kind == b"Z":
                return ours, pid
    except (OSError, ValueError):
        pass
    theirs.close()
    ours.close()
    return None


class ForkServer:
    def __init__(self, python: str, env: dict[str, str]):
        forked = _from_template(python, env)
        if forked is not None:
            ours, self.pid = forked
            self.proc = None
        else:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            fd = theirs.fileno()
            # Its own session: a Ctrl-C meant for whoever started the runner never reaches the
            # zygote (which then needs no SIGINT setting that every forked attempt would undo).
            self.proc = subprocess.Popen(
                [python, "-c", BOOT.format(fd=fd)], pass_fds=[fd], env=env, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            self.pid = self.proc.pid
            theirs.close()
        self.python = python
        self.exec_mode = exec_mode()
        self.sock = ours
        self.lock = threading.Lock()
        self.pending: dict[int, Attempt] = {}
        self.running: dict[int, Attempt] = {}
        self.next_id = 0
        self.dead = False
        self.reader = threading.Thread(target=self._read, name="zygote-reader", daemon=True)
        self.reader.start()

    def start(self, spec: dict, on_start=None) -> Attempt:
        """Ask for an attempt running ``spec``; returns at once (the caller reads its output while the
        zygote forks; ``on_start(pid)`` runs when the pid is known)."""
        read_fd, write_fd = os.pipe()
        result_r, result_w = os.pipe()
        attempt = Attempt(read_fd, result_r, on_start)
        try:
            with self.lock:
                if self.dead:
                    raise ForkServerError(f"the fork server of {self.python} has exited")
                self.next_id += 1
                self.pending[self.next_id] = attempt
                data = pack_request(self.next_id, spec, self.exec_mode)
                sent = socket.send_fds(self.sock, [data], [write_fd, result_w])
                if sent < len(data):
                    self.sock.sendall(data[sent:])
        except OSError as exc:
            attempt.close()
            raise ForkServerError(f"the fork server of {self.python} is gone: {exc}") from None
        except BaseException:
            attempt.close()
            raise
        finally:
            os.close(write_fd)
            os.close(result_w)
        return attempt

    def _read(self) -> None:
        # The zygote sends no descriptors back and its reports are fixed-size records: one
        # recv takes whatever has arrived, and every complete record in it is handled.
        size = REPORT.size
        pending = b""
        records: list = []
        while True:
            if not records:
                try:
                    data = self.sock.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    break
                pending += data
                usable = len(pending) - len(pending) % size
                records = list(REPORT.iter_unpack(pending[:usable]))
                records.reverse()
                pending = pending[usable:]
                continue
            kind, a, b = records.pop()
            with self.lock:
                if kind == b"S":
                    attempt = self.pending.pop(a)
                    attempt.pid = b
                    self.running[b] = attempt
                else:  # exited
                    attempt = self.running.pop(a)
                    attempt.returncode = b
                    attempt.done.set()
            if kind == b"S" and attempt.on_start is not None:
                try:
                    attempt.on_start(b)
                except Exception:  # a bookkeeping failure must not stop the reader
                    import traceback

                    traceback.print_exc()
        with self.lock:
            self.dead = True
            for attempt in [*self.pending.values(), *self.running.values()]:
                attempt.done.set()
            self.pending.clear()
            self.running.clear()

    def close(self) -> None:
        """EOF to the zygote: it kills whatever still runs, then exits."""
        if self.proc is None:  # the template's child, not ours: its exit closes the socket
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self.reader.join(10)
            if self.reader.is_alive():
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            self.sock.close()
            return
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


class ForkServers:
    """Fork servers by interpreter and *lane*, started on first use (the default interpreter's
    lane 0 eagerly). A lane is a slot: each slot has its own zygote, so that one slot's request
    never waits while the zygote reaps and sweeps the other's finished attempt (a zygote is
    single-threaded, and that bookkeeping is most of its time). With the runner server's
    template a zygote costs about a millisecond; without it, an interpreter start, paid only by
    the slots that run a task of that interpreter."""

    def __init__(self, env: dict[str, str], default: str | None = None):
        self.env = env
        self.lock = threading.Lock()
        self.servers: dict[tuple[str, int], ForkServer] = {}
        self.closed = False
        if default:
            self.get(default)

    def get(self, python: str, lane: int = 0) -> ForkServer:
        with self.lock:
            if self.closed:
                raise ForkServerError("the runner is shutting down")
            server = self.servers.get((python, lane))
            if server is None or server.dead:
                server = self.servers[(python, lane)] = ForkServer(python, self.env)
            return server

    def start(self, python: str, spec: dict, on_start=None, lane: int = 0) -> Attempt:
        try:
            return self.get(python, lane).start(spec, on_start)
        except ForkServerError:  # one restart: the zygote may have been killed from outside
            return self.get(python, lane).start(spec, on_start)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            servers, self.servers = list(self.servers.values()), {}
        for s in servers:
            s.close()


_prestarted: ForkServers | None = None


def prestart() -> None:
    """Boot the default interpreter's fork server now (runner start-up), for ``take_prestarted``."""
    global _prestarted
    import sys

    from healthmon.jobs.environments import task_env

    if _prestarted is None:
        _prestarted = ForkServers(task_env(), default=sys.executable)


def take_prestarted() -> ForkServers | None:
    global _prestarted
    servers, _prestarted = _prestarted, None
    return servers


def kill_group(pgid: int) -> None:
    """SIGKILL a process group (and its leader, in case it has not called setsid() yet)."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
