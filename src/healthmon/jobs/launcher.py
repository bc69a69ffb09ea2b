"""The launcher: the process that starts a run's task attempts (server side; the runner's side is
``launcher_client.py``).

A runner starts one launcher per interpreter it needs (``python -c "from healthmon.jobs.launcher
import main; main(FD, CONFIG)"``), connected by a Unix socket pair. The launcher imports the task
runtime once, builds the run's confinement rule set once (``confine.py``), and then, single-
threaded, handles two kinds of events:

* a request (a 4-byte big-endian length, then ``marshal((request id, spec bytes))``, with three
  descriptors as SCM_RIGHTS: the write ends of the attempt's output pipe and result pipe, and the
  attempt's end of its secrets socket). It ``fork()``s; the child calls ``setsid()`` (its own
  session and process group), becomes a child subreaper, points fds 1 and 2 at the output pipe,
  confines itself (memory limit, Landlock, no capabilities), closes every other descriptor it
  inherited (the launcher's socket above all) and runs the spec (``task_main.run_spec``). The
  launcher answers ``S`` + request id + pid.
* an attempt's exit (its pidfd becomes readable): the launcher reaps it, kills its process group
  and then every other child it has — see below — and answers ``E`` + pid + exit code.

Why the sweep is exact without cgroups: the launcher and every attempt are child subreapers.
While an attempt runs, its orphaned descendants (a double fork, a child that called ``setsid()``)
are re-parented to the attempt, never further up; once the attempt's main process is gone they
are re-parented to the launcher. So any child of the launcher that is not a live attempt belongs
to a finished attempt: it is SIGKILLed and reaped, until none is left.

When the runner goes away (its end of the socket closes: exit or SIGKILL) the launcher kills
every attempt's group and exits: no task outlives its runner.

Why fork instead of starting an interpreter per attempt: an interpreter start with the runtime's
imports costs ~25 ms of CPU, a fork ~2 ms; on a 1,000-task DAG that is the difference between
beating Prefect and Dagster and not (see docs/jobs.md, Performance).
"""

from __future__ import annotations

import array
import json
import marshal
import os
import select
import signal
import socket
import struct
import sys

from healthmon.jobs import confine, task_main

REPORT = struct.Struct(">cii")  # kind (S started / E exited), request id or pid, pid or exit code
FDS_PER_REQUEST = 3
PR_SET_CHILD_SUBREAPER = 36


def pack_request(req_id: int, spec: dict) -> bytes:
    body = marshal.dumps((req_id, marshal.dumps(spec)))
    return len(body).to_bytes(4, "big") + body


def set_subreaper() -> bool:
    import ctypes

    return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (a single-threaded process), from /proc."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _received_fds(ancillary) -> list[int]:
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    return list(fds)


class Launcher:
    def __init__(self, sock: socket.socket, ruleset: int, memory_limit: int):
        self.sock = sock
        self.ruleset = ruleset
        self.memory_limit = memory_limit
        self.buf = b""
        self.fds: list[int] = []
        self.attempts: dict[int, int] = {}  # live attempt pid -> its pidfd
        self.poller = select.poll()
        self.lost = False

    def serve(self) -> None:
        """The request loop; returns when the runner is gone (every attempt killed and reaped).
        In a forked attempt it never returns (``_child`` exits)."""
        sock_fd = self.sock.fileno()
        self.poller.register(sock_fd, select.POLLIN)
        while True:
            events = self.poller.poll()
            if any(fd != sock_fd for fd, _ in events):
                self.reap()
            if self.lost:
                break
            if any(fd == sock_fd for fd, _ in events):
                try:
                    data, ancillary, _flags, _addr = self.sock.recvmsg(1 << 16, socket.CMSG_LEN(32 * 4))
                except OSError:
                    data, ancillary = b"", []
                self.fds.extend(_received_fds(ancillary))
                if not data:
                    break
                self.buf += data
                while (request := self._next()) is not None:
                    self.fork(*request)
        self.shutdown()

    def _next(self) -> tuple[int, bytes, list[int]] | None:
        """The next complete request (request id, spec bytes, descriptors), or None. Descriptors
        arrive with the bytes they were sent with, so the queue stays aligned with the frames."""
        if len(self.buf) < 4:
            return None
        end = 4 + int.from_bytes(self.buf[:4], "big")
        if len(self.buf) < end or len(self.fds) < FDS_PER_REQUEST:
            return None
        req_id, spec = marshal.loads(self.buf[4:end])
        self.buf = self.buf[end:]
        fds, self.fds = self.fds[:FDS_PER_REQUEST], self.fds[FDS_PER_REQUEST:]
        return req_id, spec, fds

    def fork(self, req_id: int, spec: bytes, fds: list[int]) -> None:
        pid = os.fork()
        if pid == 0:
            self._child(spec, fds)  # never returns
        for fd in fds:
            os.close(fd)
        pidfd = os.pidfd_open(pid)
        self.attempts[pid] = pidfd
        self.poller.register(pidfd, select.POLLIN)
        self._send(b"S", req_id, pid)

    def _child(self, data: bytes, fds: list[int]) -> None:
        out_fd, result_fd, secrets_fd = fds
        try:
            os.setsid()
            set_subreaper()
            os.dup2(out_fd, 1)
            os.dup2(out_fd, 2)
            confine.apply(self.ruleset, self.memory_limit)
            keep = sorted({result_fd, secrets_fd})
            low = 3
            for fd in keep:  # the launcher's socket, pidfds of other attempts, the rule set...
                os.closerange(low, fd)
                low = fd + 1
            os.closerange(low, 1 << 16)
            spec = marshal.loads(data)
            spec["result_fd"], spec["secrets_fd"] = result_fd, secrets_fd
            spec["memory_limit"], spec["confined"] = self.memory_limit, self.ruleset >= 0
        except BaseException as exc:  # never run the task unconfined, never fall back into the loop
            os.write(2, f"The task process could not be set up: {type(exc).__name__}: {exc}\n".encode())
            os._exit(70)
        try:
            task_main.exit_process(task_main.run_spec(spec))
        except BaseException:
            os._exit(70)

    def _send(self, kind: bytes, a: int, b: int) -> None:
        try:
            self.sock.sendall(REPORT.pack(kind, a, b))
        except OSError:  # the runner is gone: the loop shuts down at its next turn
            self.lost = True

    def reap(self) -> None:
        """Reap the attempts that have exited: kill what is left of each one's process group and
        every stray (``sweep``), then report its exit code."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            pidfd = self.attempts.pop(pid, None)
            if pidfd is None:
                continue  # a stray that ended on its own: nothing to report
            self.poller.unregister(pidfd)
            os.close(pidfd)
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.sweep()
            self._send(b"E", pid, os.waitstatus_to_exitcode(status))

    def sweep(self, rounds: int = 200) -> None:
        """SIGKILL and reap every child that is not a live attempt (orphans of finished attempts)."""
        me = os.getpid()
        for _ in range(rounds):
            strays = [p for p in children(me) if p not in self.attempts]
            if not strays:
                return
            for p in strays:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for p in strays:
                try:
                    os.waitpid(p, 0)
                except ChildProcessError:
                    pass
            os.sched_yield()  # let the re-parenting of their own children happen

    def shutdown(self) -> None:
        for pid, pidfd in list(self.attempts.items()):
            os.close(pidfd)
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        self.attempts.clear()
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break
            self.sweep()


def main(fd: int, config: str) -> None:
    """Started by ``launcher_client.Launcher`` with its socket and the run's confinement settings
    (JSON: ``home``, ``scratch``, ``writable``, ``confine``, ``memory_limit``)."""
    from pathlib import Path

    cfg = json.loads(config)
    null = os.open(os.devnull, os.O_RDONLY)  # every attempt's stdin, inherited
    os.dup2(null, 0)
    os.close(null)
    set_subreaper()
    ruleset = -1
    if cfg["confine"]:
        grants = confine.grants(Path(cfg["home"]), Path(cfg["scratch"]), [Path(p) for p in cfg["writable"]])
        ruleset = confine.build_ruleset(grants)
    import gc

    gc.collect()
    gc.freeze()  # what the runtime loaded stays out of every attempt's collections
    Launcher(socket.socket(fileno=fd), ruleset, int(cfg["memory_limit"])).serve()
    sys.stdout.flush()
    os._exit(0)
