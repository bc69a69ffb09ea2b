"""User-facing errors.

Every error a user can provoke is a ``HealthmonError`` (or a subclass). The CLI prints its
message and exits non-zero without a traceback; anything else escaping is a bug. Exit codes:
2 for a command line that is wrong by itself (``UsageError``, and click's usage errors), 1 for
everything else (a missing file or job, bad file content, a bad environment setting).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """A position in a source file (1-based line and column), as printed ``file:line:col``."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}"
        return self.file


class HealthmonError(Exception):
    """An error caused by user input or environment; printed without a traceback."""

    exit_code = 1

    def __init__(self, message: str, *, location: Location | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class UsageError(HealthmonError):
    """A command line that is wrong by itself (an option value outside its allowed set), whatever
    the workspace holds: exit 2, like click's own usage errors."""

    exit_code = 2


class NotFoundError(HealthmonError):
    """A job, run, table, model... that does not exist (Databricks: RESOURCE_DOES_NOT_EXIST)."""

    error_code = "RESOURCE_DOES_NOT_EXIST"


class InvalidParameterError(HealthmonError):
    """A request or argument with a wrong value (Databricks: INVALID_PARAMETER_VALUE)."""

    error_code = "INVALID_PARAMETER_VALUE"


class PermissionDeniedError(HealthmonError):
    error_code = "PERMISSION_DENIED"
