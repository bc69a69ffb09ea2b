"""The warm runner server: forks job runners that already have the runtime imported.

A runner started cold spends most of its first ~0.3 s (seconds on a loaded machine) importing
SQLAlchemy and the runtime. The first cold runner therefore also starts this server in the
background: a detached process that imports ``run_exec`` (and with it the store and the runtime),
opens no database connection and starts no thread, then waits on a Unix socket. Later
``python -m healthmon.jobs.runner`` processes connect, send their argv, environment, working
directory and standard streams (SCM_RIGHTS), and exit; the server ``fork()``s a runner that takes
them over and runs ``run_exec.main`` — a process of its own (own pid and session, recorded and
watched by recovery exactly like a cold runner).

Safety:

* One server per user, interpreter and checkout (the socket name hashes ``sys.executable`` and the
  package directory), serving every ``HEALTHMON_HOME``: each request carries its environment.
* Stale code: before each fork the server compares the modification times of every ``healthmon``
  module it has loaded with those at start; on any change it answers "stale" and exits, and the
  caller runs cold (and starts a fresh server).
* It exits after ``HEALTHMON_RUNNER_SERVER_IDLE`` seconds (default 600) without a request.
* ``HEALTHMON_RUNNER_SERVER=0`` disables it (every runner starts cold).
"""

from __future__ import annotations

import marshal
import os
import socket
import sys


def enabled() -> bool:
    return os.environ.get("HEALTHMON_RUNNER_SERVER", "1") != "0" and hasattr(os, "fork")


def address() -> str:
    import healthmon

    import zlib  # not hashlib/tempfile: this runs in every runner start, their imports cost ~25 ms

    key = f"{sys.executable}\0{os.path.dirname(os.path.abspath(healthmon.__file__))}".encode()
    digest = f"{zlib.crc32(key):08x}{zlib.adler32(key):08x}"
    return os.path.join(os.environ.get("TMPDIR") or "/tmp", f"healthmon-runner-{os.getuid()}-{digest}.sock")


def _frame(obj) -> bytes:
    data = marshal.dumps(obj)
    return len(data).to_bytes(4, "big") + data


def _read_frame(sock: socket.socket):
    fds: list[int] = []
    buf = b""
    need = 4
    size = None
    while len(buf) < need:
        data, got, _, _ = socket.recv_fds(sock, need - len(buf), 8)
        fds.extend(got)
        if not data:
            for fd in fds:
                os.close(fd)
            return None, []
        buf += data
        if size is None and len(buf) >= 4:
            size = int.from_bytes(buf[:4], "big")
            need = 4 + size
    return marshal.loads(buf[4:]), fds


def handoff(argv: list[str], timeout: float = 5.0, *, env: dict[str, str] | None = None,
            fds: list[int] | None = None) -> bool:
    """Ask the server to fork a runner for ``argv`` with ``env`` (default: ours) and ``fds`` as its
    stdin/stdout/stderr (default: ours); False when there is none (or it is stale)."""
    path = address()
    if not os.path.exists(path):
        return False
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        data = _frame((list(argv), dict(os.environ if env is None else env), os.getcwd()))
        sent = socket.send_fds(sock, [data], list(fds) if fds is not None else [0, 1, 2])
        if sent < len(data):
            sock.sendall(data[sent:])
        reply, _ = _read_frame(sock)
    except OSError:
        return False
    finally:
        sock.close()
    return bool(reply) and reply[0] == "ok"


def spawn() -> None:
    """Start a server in the background (no-op when one is starting or running)."""
    import subprocess

    try:
        subprocess.Popen(
            [sys.executable, "-c", "from healthmon.jobs.runner_server import serve; serve()"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True,
        )
    except OSError:
        pass


def _fingerprint() -> dict[str, float]:
    out = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and (name == "healthmon" or name.startswith("healthmon.")):
            try:
                out[path] = os.stat(path).st_mtime
            except OSError:
                out[path] = -1.0
    return out


def _stale(fingerprint: dict[str, float]) -> bool:
    for path, mtime in fingerprint.items():
        try:
            if os.stat(path).st_mtime != mtime:
                return True
        except OSError:
            return True
    return False


def serve() -> None:
    import fcntl
    import select
    import signal

    path = address()
    lock = open(path + ".lock", "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another server holds it
    # The zygote template boots (its own interpreter) while this one imports; the runners forked
    # below inherit the socket to it and get their task zygotes forked from it (procs.py).
    from healthmon.jobs import procs

    procs.TEMPLATE = procs.start_template(dict(os.environ))
    # Everything a runner needs, imported once; no connection, no thread (we fork).
    from importlib import import_module

    from healthmon.jobs import run_exec
    from healthmon.jobs.zygote import name_process
    from healthmon.store.db import TABLE_MODULES

    name_process("hm-runner-srv")

    for name in (*TABLE_MODULES, "healthmon.jobs.recovery", "healthmon.jobs.service", "healthmon.workspace_files",
                 "healthmon.store.secrets", "sqlalchemy.dialects.sqlite.pysqlite"):
        try:
            import_module(name)
        except ImportError:
            pass
    from sqlalchemy.orm import configure_mappers

    configure_mappers()
    import gc

    gc.collect()
    gc.freeze()  # the forked runners' collections then skip everything imported here

    fingerprint = _fingerprint()
    idle = float(os.environ.get("HEALTHMON_RUNNER_SERVER_IDLE", "600"))
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o077)
    try:
        listener.bind(path)
    finally:
        os.umask(old_umask)
    listener.listen(64)
    # Listening already: a runner asked for meanwhile waits these few milliseconds in the backlog.
    prepared: list[str] = []  # database URLs prepared for the next runner, oldest first
    _prepare_database(dict(os.environ), prepared)  # the workspace of whoever started us, most likely
    gc.collect()
    gc.freeze()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # runners are reaped by the kernel
    try:
        while True:
            ready, _, _ = select.select([listener], [], [], idle)
            if not ready:
                return
            conn, _ = listener.accept()
            request = None
            try:
                conn.settimeout(5)
                request, fds = _read_frame(conn)
                if request is None or len(fds) != 3:
                    continue
                if _stale(fingerprint):
                    conn.sendall(_frame(("stale",)))
                    return
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    conn.close()
                    lock.close()  # a long runner must not keep the next server from starting
                    _run_child(request, fds, run_exec.main)
                for fd in fds:
                    os.close(fd)
                conn.sendall(_frame(("ok", pid)))
            except OSError:
                pass
            finally:
                conn.close()
            if request is not None:
                _prepare_database(request[1], prepared)
    finally:
        try:
            if os.stat(path).st_ino == os.fstat(listener.fileno()).st_ino:
                os.unlink(path)
        except OSError:
            pass
        listener.close()


PREPARED_DATABASES = 4


def _prepare_database(environ: dict[str, str], prepared: list[str]) -> None:
    """After forking a runner (off its path): prepare the engine of that workspace's database in
    this process (``run_exec.prepare_database``), so that the next runner for it inherits the
    work of a first connection and of compiling its start-up queries instead of redoing it (some
    15 ms of every run's start). No connection stays open here; a few databases are kept."""
    from healthmon.jobs.run_exec import prepare_database
    from healthmon.settings import Settings
    from healthmon.store import db as store_db

    try:
        url = Settings.from_env(environ=environ).database_url
    except Exception:
        return
    # SQLite only (the default, and where it was measured): a server database could make this loop
    # wait on the network. Nor is a database created here: its client creates it first.
    if url in prepared or not url.startswith("sqlite:///") or not os.path.exists(url[len("sqlite:///"):]):
        return
    try:
        prepare_database(store_db.Database.from_url(url))
    except Exception:  # a database this process cannot reach: the runner reports it, not us
        store_db.forget(url)
        return
    prepared.append(url)
    while len(prepared) > PREPARED_DATABASES:
        store_db.forget(prepared.pop(0))


def _reread_environment() -> None:
    """Module constants the server computed from its own environment at import, recomputed from
    the caller's (the only one today: recovery's staleness threshold)."""
    from healthmon.jobs import recovery

    recovery.STALE_SECONDS = float(os.environ.get("HEALTHMON_RUNNER_STALE_SECONDS", "60"))


def _run_child(request, fds: list[int], execute) -> None:
    """In the forked runner: take over the caller's streams, environment and directory, run."""
    import signal

    rc = 70
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        from healthmon.jobs.zygote import name_process

        name_process("hm-runner")
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        argv, environ, cwd = request
        os.environ.clear()
        os.environ.update(environ)
        os.chdir(cwd)
        sys.argv = ["-m", *argv]
        _reread_environment()
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        from healthmon.jobs import procs

        procs.prestart()
        rc = execute(argv)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(rc)


__all__ = ["enabled", "address", "handoff", "spawn", "serve"]
