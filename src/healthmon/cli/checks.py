"""Checks of command-line values that click's types do not express. Each failure is a
``HealthmonError`` naming the option and what it expects, so every command words them alike."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from healthmon.errors import HealthmonError, UsageError


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


def output_file(path: Path, option: str) -> Path:
    """A file to write: not a directory, in a folder that exists."""
    if path.is_dir():
        raise HealthmonError(f"{option} {path}: is a directory; expected the path of a file to write.")
    folder = path.parent
    if not folder.is_dir():
        what = "is not a directory" if folder.exists() else "does not exist"
        raise HealthmonError(f"{option} {path}: its folder {folder} {what}; expected a path in an existing folder.")
    return path
