"""Where the local workspace lives and how to reach its database.

Resolution order for every setting: explicit argument > environment variable > default.

- ``HEALTHMON_HOME``: workspace root (database, lakehouse, run logs, MLflow store);
  default ``~/.healthmon``.
- ``HEALTHMON_DATABASE_URL``: SQLAlchemy URL of the workspace database; default
  ``sqlite:///$HEALTHMON_HOME/workspace.db`` (WAL mode). PostgreSQL URLs
  (``postgresql+psycopg://...``) are supported.
- ``HEALTHMON_USER``: the local user name (``workspace.current_user.userName``); default
  ``$USER@localhost``.

Numeric settings (``NUMERIC_SETTINGS``) are read with ``env_number``; ``check_environment``
checks every setting at once, so the CLI refuses a bad one before it touches anything.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from healthmon.errors import HealthmonError, InvalidParameterError


def _default_user() -> str:
    try:
        name = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        name = "user"
    return f"{name}@localhost"


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    user_name: str

    @property
    def lakehouse_root(self) -> Path:
        return self.home / "lakehouse"

    @property
    def runs_root(self) -> Path:
        return self.home / "runs"

    @property
    def mlflow_tracking_uri(self) -> str:
        # In a folder of its own: task attempts may write the MLflow store (SQLite puts its journal
        # next to the file) but nothing else of the workspace folder (jobs/confine.py).
        return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{self.home / 'mlflow' / 'mlflow.db'}"

    @property
    def mlflow_artifact_root(self) -> Path:
        return self.home / "mlartifacts"

    @classmethod
    def from_env(cls, home: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None) -> "Settings":
        """From ``environ`` (default: this process's environment)."""
        env = os.environ if environ is None else environ
        root = Path(home or env.get("HEALTHMON_HOME") or Path.home() / ".healthmon").expanduser().resolve()
        url = env.get("HEALTHMON_DATABASE_URL") or f"sqlite:///{root / 'workspace.db'}"
        user = env.get("HEALTHMON_USER") or _default_user()
        return cls(home=root, database_url=url, user_name=user)


@dataclass(frozen=True)
class NumericSetting:
    """A number read from the environment: its default, bounds and what a user must give."""

    default: float | None
    minimum: float
    maximum: float = float("inf")
    whole: bool = False
    expected: str = ""


# The longest statement timeout: a timer beyond what the platform's clock can represent (inf,
# 1e300) fails on its thread and leaves the statement without any timeout.
MAX_SQL_TIMEOUT = 366 * 24 * 3600

NUMERIC_SETTINGS: dict[str, NumericSetting] = {
    "HEALTHMON_SQL_TIMEOUT": NumericSetting(
        600, 0, MAX_SQL_TIMEOUT, expected=f"a number of seconds from 0 to {MAX_SQL_TIMEOUT} (0 = no timeout)"),
    "HEALTHMON_TASK_SLOTS": NumericSetting(None, 1, whole=True, expected="a whole number of task slots >= 1"),
    "HEALTHMON_RUNNER_STALE_SECONDS": NumericSetting(60, 1, expected="a number of seconds >= 1"),
    "HEALTHMON_LOG_MAX_BYTES": NumericSetting(10 * 1024 * 1024, 1, whole=True, expected="a whole number of bytes >= 1"),
    "HEALTHMON_SMTP_PORT": NumericSetting(25, 1, 65535, whole=True, expected="a TCP port from 1 to 65535"),
}


def env_number(name: str, environ: Mapping[str, str] | None = None) -> float | None:
    """The value of the numeric setting ``name`` (its default when unset or blank); a value that
    is not a number within its bounds is an error naming the variable and what it expects."""
    spec = NUMERIC_SETTINGS[name]
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return spec.default
    try:
        value = int(raw) if spec.whole else float(raw)
    except ValueError:
        value = None
    if value is None or value != value or not spec.minimum <= value <= spec.maximum:
        raise InvalidParameterError(f"Invalid {name} {raw!r}: expected {spec.expected}.")
    return value


def check_home(home: Path) -> None:
    """``HEALTHMON_HOME`` must be a directory this user can write, or creatable as one."""
    import stat

    where = f"HEALTHMON_HOME={home}"
    existing = home
    while True:  # the nearest part of the path that exists
        try:
            mode = existing.stat().st_mode
            break
        except PermissionError:  # a folder on the way this user may not look into
            raise HealthmonError(f"{where}: a folder on the way is not readable by this user; expected a directory "
                                 "you own (the workspace folder).") from None
        except OSError:
            if existing == existing.parent:
                raise
            existing = existing.parent
    if not stat.S_ISDIR(mode):
        what = "is a file" if existing == home else f"cannot be created: {existing} is a file"
        raise HealthmonError(f"{where}: {what}; expected a directory (the workspace folder, created if missing).")
    if not os.access(existing, os.R_OK | os.W_OK | os.X_OK):
        what = "" if existing == home else f" (its parent {existing})"
        raise HealthmonError(f"{where}{what}: not readable and writable by this user; expected a directory "
                             "you own (the workspace folder).")


def check_database_url(url: str) -> None:
    """A URL SQLAlchemy can parse, for a dialect whose driver is installed."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    expected = "expected sqlite:///<path> or postgresql+psycopg://user:password@host:port/database"
    try:
        make_url(url).get_dialect()
    except NoSuchModuleError:  # a subclass of ArgumentError: the URL parsed, its dialect is unknown
        parsed = make_url(url)
        raise HealthmonError(f"Invalid HEALTHMON_DATABASE_URL {parsed.render_as_string(hide_password=True)!r}: "
                             f"no database driver for {parsed.drivername!r}; {expected}.") from None
    except ArgumentError:
        raise HealthmonError(f"Invalid HEALTHMON_DATABASE_URL {url!r}: not a database URL; {expected}.") from None


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Every ``HEALTHMON_*`` setting the process reads, checked at once; raises a
    ``HealthmonError`` naming the variable and what it expects."""
    env = os.environ if environ is None else environ
    settings = Settings.from_env(environ=env)
    check_home(settings.home)
    # The default (SQLite under the home) needs no check, and parsing a URL imports SQLAlchemy
    # (0.2 s on every command, which `bundle validate` would feel).
    if env.get("HEALTHMON_DATABASE_URL"):
        check_database_url(settings.database_url)
    for name in NUMERIC_SETTINGS:
        env_number(name, env)
    # HEALTHMON_ML_BACKEND is checked where the ML layer picks its backend (importing it here
    # would load pandas on every command).
    from healthmon.lakehouse.engines import ENGINES

    engine = env.get("HEALTHMON_ENGINE", "").strip().lower()
    if engine and engine not in ENGINES:
        raise InvalidParameterError(
            f"Invalid HEALTHMON_ENGINE {env['HEALTHMON_ENGINE']!r}: expected one of {', '.join(ENGINES)}.")


def short_name(user_name: str) -> str:
    """Databricks' ``workspace.current_user.short_name``: the part before ``@``, with
    characters other than letters, digits and underscores replaced by ``_``, lowercased."""
    local = user_name.split("@", 1)[0]
    return "".join(c if c.isalnum() or c == "_" else "_" for c in local).lower()
