"""Where the local workspace lives and how to reach its database.

Resolution order for every setting: explicit argument > environment variable > default.

- ``HEALTHMON_HOME``: workspace root (database, lakehouse, run logs, MLflow store);
  default ``~/.healthmon``.
- ``HEALTHMON_DATABASE_URL``: SQLAlchemy URL of the workspace database; default
  ``sqlite:///$HEALTHMON_HOME/workspace.db`` (WAL mode). PostgreSQL URLs
  (``postgresql+psycopg://...``) are supported.
- ``HEALTHMON_USER``: the local user name (``workspace.current_user.userName``); default
  ``$USER@localhost``.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


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


def short_name(user_name: str) -> str:
    """Databricks' ``workspace.current_user.short_name``: the part before ``@``, with
    characters other than letters, digits and underscores replaced by ``_``, lowercased."""
    local = user_name.split("@", 1)[0]
    return "".join(c if c.isalnum() or c == "_" else "_" for c in local).lower()
