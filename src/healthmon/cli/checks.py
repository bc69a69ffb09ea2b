"""Checks of command-line values that click's types do not express. Each failure is a
``HealthmonError`` naming the option and what it expects, so every command words them alike."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import typer

from healthmon.errors import HealthmonError, UsageError

INT64_MAX = 2**63 - 1


def id_option(flag: str, default: Any = ..., **kwargs: Any) -> Any:
    """A ``--job-id`` / ``--run-id`` option: the Jobs API's ids are int64, so a value beyond is a
    usage error naming the option and the range (exit 2), not a number the database cannot bind."""
    return typer.Option(default, flag, min=0, max=INT64_MAX, **kwargs)


def one_of(value: str, option: str, allowed: Iterable[str]) -> str:
    """``value`` when it is one of ``allowed``; otherwise a usage error (exit 2)."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise UsageError(f"Invalid {option} {value!r}: expected one of {', '.join(allowed)}.")
    return value


def input_file(path: Path, option: str) -> Path:
    """A file to read: it must exist and not be a directory."""
    if path.is_dir():
        raise HealthmonError(f"{option} {path}: is a directory; expected a file.")
    if not path.exists():
        raise HealthmonError(f"{option} {path}: no such file.")
    return path


def output_file(path: Path, option: str, *, creates_folders: bool = False) -> Path:
    """A file to write: not a directory, in a folder that exists (or, for a command that
    ``creates_folders``, below no file)."""
    if path.is_dir():
        raise HealthmonError(f"{option} {path}: is a directory; expected the path of a file to write.")
    folder = path.parent
    if creates_folders:
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
    if not folder.is_dir():
        what = "is not a directory" if folder.exists() else "does not exist"
        raise HealthmonError(f"{option} {path}: its folder {folder} {what}; expected a path in an existing folder.")
    return path


def can_listen(host: str, port: int) -> None:
    """Bind ``host:port`` once before a server starts, so a port in use or a host that is not an
    address of this machine is one clear error rather than the server's log lines (uvicorn exits
    3, ``mlflow ui`` even 0)."""
    import errno
    import socket

    where = f"--host {host} --port {port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise HealthmonError(f"{where}: cannot resolve {host!r} ({exc.strerror}); expected an IP address or a "
                             "host name of this machine (127.0.0.1, 0.0.0.0, ::1, localhost).") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # What uvicorn sets: a port left in TIME_WAIT by an earlier server is free to use.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            hint = ("another process listens there; stop it or choose another --port" if exc.errno == errno.EADDRINUSE
                    else "expected an address of this machine and a port you may bind")
            raise HealthmonError(f"{where}: cannot listen ({exc.strerror}); {hint}.") from None
