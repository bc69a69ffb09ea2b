"""The fork server ("zygote"): one small process per runner and interpreter that forks task attempts.

Started by the runner as ``python -c "from healthmon.jobs.zygote import main; main(FD)"`` with one end
of a Unix socket pair. It imports the task runtime once (``task_main``, ``dbutils``) and then,
single-threaded, serves two kinds of events:

* a request from the runner (``("run", req_id, spec, exec_mode)`` plus, as SCM_RIGHTS, the write ends
  of the pipes that capture the attempt's output and carry its result): it ``fork()``s; the child calls ``setsid()`` (own
  session and process group), marks itself a child subreaper, keeps the zygote's fd 0 (/dev/null),
  points fds 1/2 at the pipe and runs the spec, writing its result to a second pipe (``task_main.write_result``) — or, in exec mode, ``execv``s a fresh interpreter (cold start).
  The zygote answers ``("started", req_id, pid)``.
* an attempt's exit (its pidfd becomes readable): it reaps it, kills the attempt's process group and every
  descendant left behind (see below), then answers ``("exited", pid, returncode)``.

Descendant cleanup without cgroups: the zygote and every attempt are child subreapers
(``PR_SET_CHILD_SUBREAPER``). While an attempt runs, its orphaned descendants (a double fork, a
child that ``setsid()``s and outlives its parent) are re-parented to the attempt itself, never
further up. Once the attempt's main process is gone, they are re-parented to the zygote. So any
child of the zygote that is not a live attempt belongs to a finished attempt: it is SIGKILLed and
reaped (its own children then come to the zygote in turn, until none is left).

When the runner goes away (its socket end closes: exit or SIGKILL) the zygote kills every attempt's
group and exits, so no task outlives its runner.

Wire format (both ends are the same Python). Requests: a 4-byte big-endian length, then
``R`` + exec flag (1 byte) + request id (4 bytes) + the spec as ``marshal`` bytes, with the two
pipe ends as SCM_RIGHTS. The zygote does not decode the spec: the child does, after the fork.
Reports: fixed 9-byte records, ``S`` + request id + pid ("started") or ``E`` + pid + exit code
("exited"), signed 32-bit big-endian. Why so spare: every page the zygote writes between two forks
is copy-on-write shared with the attempts alive at that moment, so each costs a page fault; the
loop allocates and touches as little as it can. For the same reason the loop also exists in C
(``_forkloop.c``, built at install time where a compiler is found): ~12 pages touched per attempt
instead of ~90, half the zygote's CPU. ``Zygote.serve`` uses it when it is there (and pidfds
exist), unless ``HEALTHMON_ZYGOTE_LOOP=python``; both loops behave the same and are tested alike.
"""

from __future__ import annotations

# C modules, not their Python wrappers: ``socket`` and ``signal`` pull in ``enum`` and a megabyte of
# class objects that every fork would copy page-table entries for and every exit tear down.
import _signal
import _socket
import _struct
import array
import marshal
import os
import select
import sys

# Imported before any fork: every attempt starts with the task runtime loaded.
from healthmon.jobs import task_main

try:  # the request loop in C (_forkloop.c); optional: built only where a C compiler was found
    from healthmon.jobs import _forkloop
except ImportError:
    _forkloop = None

PR_SET_CHILD_SUBREAPER = 36
_HAS_PIDFD = hasattr(os, "pidfd_open")


def use_c_loop() -> bool:
    """The C request loop when it was built and pidfds exist; ``HEALTHMON_ZYGOTE_LOOP=python``
    selects the Python loop (same behaviour; for comparison and for its tests)."""
    return _forkloop is not None and _HAS_PIDFD and os.environ.get("HEALTHMON_ZYGOTE_LOOP", "c") != "python"


def _pidfd(pid: int) -> int:
    """A pidfd for our child ``pid`` (readable once it has exited), or -1 where there are none."""
    global _HAS_PIDFD
    if _HAS_PIDFD:
        try:
            return os.pidfd_open(pid)
        except OSError:  # ENOSYS: a kernel older than 5.3
            _HAS_PIDFD = False
    return -1


def _prctl():
    if _forkloop is not None:  # the extension calls prctl itself: no ctypes in the zygote
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Looked up once, before any fork (a dlopen in every child would cost). With the C extension the
# zygote does without ctypes and libffi altogether: two shared libraries and their Python modules
# fewer for every fork to copy and every attempt's exit to tear down.
_PRCTL = _prctl()


PR_SET_NAME = 15


def name_process(name: str) -> None:
    """Set the calling thread's name (``comm``: what ps, top and perf show); threads started after
    it inherit it. Best effort, at most 15 bytes."""
    if _forkloop is not None:
        _forkloop.set_name(name.encode()[:15])
    elif _PRCTL is not None:
        import ctypes

        _PRCTL(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)


def trim_heap() -> None:
    """Give the allocator's free memory back to the system (glibc ``malloc_trim``): what importing
    and compiling the runtime freed would otherwise stay mapped, and every fork copies the page
    table entries of every mapped page and every exit tears them down."""
    if _forkloop is not None:
        _forkloop.malloc_trim()
        return
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def set_subreaper() -> bool:
    """Make this process a child subreaper (Linux); False where unsupported."""
    if _forkloop is not None:
        return _forkloop.set_subreaper()
    return _PRCTL is not None and _PRCTL(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def children(pid: int, fd: int = -1) -> list[int]:
    """Direct children of ``pid`` (a single-threaded process) from /proc; ``fd``: that process's
    open ``/proc/PID/task/PID/children`` (re-read with ``pread``: no path lookup per call)."""
    try:  # os-level calls: no file object to allocate on every reap
        if fd >= 0:
            data = os.pread(fd, 1 << 16, 0)
        else:
            fd = os.open(f"/proc/{pid}/task/{pid}/children", os.O_RDONLY)
            try:
                data = os.read(fd, 1 << 16)
            finally:
                os.close(fd)
        return [int(p) for p in data.split()] if data else []
    except OSError:
        pass
    out = []
    for name in os.listdir("/proc"):  # kernels without CONFIG_PROC_CHILDREN
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    stat = f.read()
                if int(stat[stat.rindex(b")") + 2:].split()[1]) == pid:
                    out.append(int(name))
            except (OSError, ValueError, IndexError):
                continue
    return out


def _children_fd(pid: int) -> int:
    try:
        return os.open(f"/proc/{pid}/task/{pid}/children", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return -1


REPORT = _struct.Struct(">cii")  # kind, a, b


def pack_request(req_id: int, spec: dict, exec_mode: bool) -> bytes:
    body = b"R" + (b"\x01" if exec_mode else b"\x00") + req_id.to_bytes(4, "big") + marshal.dumps(spec)
    return len(body).to_bytes(4, "big") + body


def received_fds(ancillary) -> list[int]:
    """The file descriptors in a ``recvmsg`` result's SCM_RIGHTS ancillary data."""
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    return list(fds)


class _Reader:
    """Buffered reader of framed requests and the descriptors sent with them (two per request, in
    order: SCM_RIGHTS data arrives with the bytes it was sent with, so the queue stays aligned)."""

    def __init__(self, sock: _socket.socket):
        self.sock = sock
        self.buf = b""
        self.fds: list[int] = []

    def fill(self) -> bool:
        """One receive (the socket is readable); False at EOF."""
        data, ancillary, _flags, _addr = self.sock.recvmsg(1 << 16, _socket.CMSG_LEN(32 * 4))
        self.fds.extend(received_fds(ancillary))
        if not data:
            return False
        self.buf = self.buf + data if self.buf else data
        return True

    def next(self) -> tuple[bool, int, bytes, list[int]] | None:
        """The next complete request (exec mode, request id, spec bytes, fds), or None."""
        buf = self.buf
        if len(buf) < 4:
            return None
        end = 4 + int.from_bytes(buf[:4], "big")
        if len(buf) < end or len(self.fds) < 2:
            return None
        body, self.buf = buf[4:end], buf[end:]
        fds, self.fds = self.fds[:2], self.fds[2:]
        return body[1] == 1, int.from_bytes(body[2:6], "big"), body[6:], fds


class Zygote:
    def __init__(self, sock: _socket.socket):
        self.sock = sock
        self.reader = _Reader(sock)
        self.attempts: dict[int, int] = {}  # live attempt pid -> its pidfd (-1 without pidfds)
        self.lost = False
        self.pid = os.getpid()
        self.children_fd = _children_fd(self.pid)
        self.poller = select.poll()

    def serve(self) -> int | None:
        """The request loop. Returns None in the zygote (runner gone) and the exit code in a child.

        It sleeps in ``poll`` on the runner's socket and on a pidfd per live attempt (readable once
        the attempt has exited): no SIGCHLD handler, so no signal wake-up to run and nothing for
        an attempt to undo after the fork. Without pidfds (Linux < 5.3) it checks every 10 ms."""
        sock_fd = self.sock.fileno()
        if use_c_loop() and self.children_fd >= 0:
            request = _forkloop.serve(sock_fd, self.children_fd)
            if request is None:  # the runner is gone; every attempt was killed and reaped
                return None
            exec_mode, spec, result_fd = request  # in a forked child, set up by the C loop
            return _run_child(spec, exec_mode, result_fd)
        poll = self.poller.poll
        self.poller.register(sock_fd, select.POLLIN)
        while True:
            events = poll(None if _HAS_PIDFD else 10)
            if not _HAS_PIDFD or len(events) > 1 or events[0][0] != sock_fd:
                self.reap()
            if self.lost:
                self.shutdown()
                return None
            for fd, _ in events:
                if fd != sock_fd:
                    continue
                try:
                    more = self.reader.fill()
                except OSError:
                    more = False
                if not more or self.lost:
                    self.shutdown()
                    return None
                while True:
                    request = self.reader.next()
                    if request is None:
                        break
                    rc = self.fork(*request)
                    if rc is not None:
                        return rc

    def fork(self, exec_mode: bool, req_id: int, spec: bytes, fds: list[int]) -> int | None:
        pid = os.fork()
        if pid == 0:
            return self._child(spec, exec_mode, fds)
        for fd in fds:
            os.close(fd)
        pidfd = _pidfd(pid)
        self.attempts[pid] = pidfd
        if pidfd >= 0:
            self.poller.register(pidfd, select.POLLIN)
        self._send(b"S", req_id, pid)
        return None

    def _send(self, kind: bytes, a: int, b: int) -> None:
        try:
            self.sock.sendall(REPORT.pack(kind, a, b))
        except OSError:  # the runner is gone: the loop shuts down at the next turn
            self.lost = True

    def _child(self, data: bytes, exec_mode: bool, fds: list[int]) -> int:
        out_fd, result_fd = fds
        try:
            # What the C loop does in C before it returns in the child (same order).
            os.setsid()
            # Every object this fresh child touches costs it a copy-on-write fault: C-level calls only.
            os.close(self.sock.detach())
            if self.children_fd >= 0:
                os.close(self.children_fd)
            for fd in self.attempts.values():  # pidfds of other attempts still running
                if fd >= 0:
                    os.close(fd)
            set_subreaper()
            # fd 0 is the zygote's: /dev/null (``_serve``).
            os.dup2(out_fd, 1)
            os.dup2(out_fd, 2)
            os.close(out_fd)
        except BaseException:  # never fall back into the zygote's loop
            return _child_failed()
        return _run_child(data, exec_mode, result_fd)

    def reap(self) -> None:
        """Reap the attempts that have exited: kill what is left of each one's process group and
        every stray (see ``sweep``), then report its exit code."""
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
            if pidfd >= 0:
                self.poller.unregister(pidfd)
                os.close(pidfd)
            try:
                os.killpg(pid, _signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.sweep()
            self._send(b"E", pid, os.waitstatus_to_exitcode(status))

    def sweep(self, rounds: int = 200) -> None:
        """SIGKILL and reap every child that is not a live attempt (orphans of finished attempts)."""
        for _ in range(rounds):
            if self.children_fd >= 0 and not os.pread(self.children_fd, 1, 0):
                return  # no child at all: the common case, decided without parsing anything
            strays = [p for p in children(self.pid, self.children_fd) if p not in self.attempts]
            if not strays:
                return
            for p in strays:
                try:
                    os.kill(p, _signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for p in strays:
                try:
                    os.waitpid(p, 0)
                except ChildProcessError:
                    pass
            os.sched_yield()  # let re-parenting of their children happen

    def shutdown(self) -> None:
        for pid, pidfd in list(self.attempts.items()):
            if pidfd >= 0:
                os.close(pidfd)
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, _signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        self.attempts.clear()
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break
            self.sweep()


def _run_child(data: bytes, exec_mode: bool, result_fd: int) -> int:
    """In a forked attempt (own session, subreaper, stdout/stderr on its output pipe): run the spec
    and exit — or, in exec mode, become a fresh interpreter that does."""
    try:
        spec = marshal.loads(data)
        spec["result_fd"] = result_fd
        if exec_mode:
            os.set_inheritable(result_fd, True)
            path = spec["result_file"] + ".spec"
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(marshal.dumps(spec))
            os.execv(sys.executable, [sys.executable, "-c", task_main.BOOT_FILE, path])
        # Exit from here: unwinding the zygote's frames would only touch (copy) more pages.
        task_main.exit_process(task_main.run_spec(spec))
    except BaseException:  # never fall back into the zygote's loop
        return _child_failed()
    return 70


def _child_failed() -> int:
    import traceback

    traceback.print_exc()
    return 70


def _prepare() -> None:
    """Once per interpreter, before any fork: run an attempt's code path (``task_main.warm_up``),
    collect, freeze what is left (it stays out of the children's collections, and shared), give
    the allocator's free memory back."""
    import gc

    task_main.warm_up()
    gc.collect()
    gc.freeze()
    trim_heap()


def _serve(sock: _socket.socket) -> None:
    null = os.open(os.devnull, os.O_RDONLY)  # every attempt's stdin, inherited
    os.dup2(null, 0)
    os.close(null)
    set_subreaper()
    rc = Zygote(sock).serve()
    if rc is None:
        os._exit(0)
    task_main.exit_process(rc)


def main(fd: int) -> None:
    """A zygote of its own interpreter, started by a runner (``procs.ForkServer``)."""
    name_process("hm-zygote")
    _prepare()
    _serve(_socket.socket(fileno=fd))


# -- the zygote template --------------------------------------------------------------------
# Booting a zygote (an interpreter start and the runtime's imports: ~30 ms of CPU) for every run
# is the largest fixed cost of a short run. The warm runner server therefore starts one template
# per server: an interpreter that has done exactly what ``main`` does before serving, and then
# forks a ready zygote for each runner that asks. A request is one SOCK_SEQPACKET message: the
# runner's environment for its tasks (``marshal``) and, as SCM_RIGHTS, the runner's end of a
# fresh socket pair. The forked zygote takes the environment, reports ``Z`` + its pid on that
# socket and serves it exactly like a zygote started by the runner. Interpreter start-up state
# cannot be redone in a fork, so a runner whose ``PYTHON*`` variables differ from the template's
# gets ``X`` and starts a zygote of its own.


def _start_up_env(env) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith("PYTHON") and k != "PYTHONUNBUFFERED"}


def template_main(fd: int) -> None:
    name_process("hm-zygote-tpl")
    _signal.signal(_signal.SIGCHLD, _signal.SIG_IGN)  # the zygotes are reaped by the kernel
    _prepare()
    baseline = _start_up_env(os.environ)
    sock = _socket.socket(fileno=fd)
    while True:
        try:
            data, ancillary, _flags, _addr = sock.recvmsg(1 << 20, _socket.CMSG_LEN(8 * 4))
        except InterruptedError:
            continue
        except OSError:
            break
        fds = received_fds(ancillary)
        if not data and not fds:
            break  # every holder of the other end (the server, its runners) is gone
        if len(fds) != 1:
            for fd_ in fds:
                os.close(fd_)
            continue
        try:
            env = marshal.loads(data)
        except (EOFError, ValueError, TypeError):
            env = None
        if not isinstance(env, dict) or _start_up_env(env) != baseline:
            try:
                os.write(fds[0], REPORT.pack(b"X", 0, 0))
            except OSError:
                pass
            os.close(fds[0])
            continue
        pid = os.fork()
        if pid == 0:
            try:
                os.close(sock.detach())
                _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
                os.environ.clear()
                os.environ.update(env)
                name_process("hm-zygote")  # before the report: a runner that knows the pid sees the name
                zsock = _socket.socket(fileno=fds[0])
                zsock.sendall(REPORT.pack(b"Z", os.getpid(), 0))
            except BaseException:
                os._exit(70)
            _serve(zsock)
        os.close(fds[0])
    os._exit(0)


__all__ = ["main", "template_main", "set_subreaper", "children", "pack_request", "REPORT", "name_process"]
