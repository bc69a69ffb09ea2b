"""MLflow tracking and model registry on the workspace store.

``configure_mlflow()`` points tracking *and* registry at ``settings.mlflow_tracking_uri``
(a SQLite database in the workspace by default; any MLflow URI is accepted) with artifacts under
``settings.mlflow_artifact_root``. Registered models use Unity Catalog's three-level names
(``catalog.schema.model``), validated like table names.

Concurrency (25 training processes at once, see docs/lakehouse.md for the measurement):
- the SQLite schema is created/migrated once, under an inter-process file lock, instead of by
  every process racing on an empty file;
- SQLite runs in WAL mode so readers never block the writer;
- registry writes (create model / version / alias) go through ``registry_write`` which retries
  "database is locked" with jittered backoff.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from healthmon.errors import InvalidParameterError
from healthmon.lakehouse.paths import check_identifier
from healthmon.logsetup import quiet_mlflow
from healthmon.settings import Settings

T = TypeVar("T")

# MLflow reads this to choose the default artifact root of a store it opens for a database URI
# (otherwise "./mlruns" relative to the current directory). It is how `mlflow server` passes its
# --default-artifact-root to its workers; we set it so every experiment, including ones created
# by plain `mlflow.set_experiment`, keeps artifacts in the workspace.
_ARTIFACT_ROOT_ENV = "_MLFLOW_SERVER_ARTIFACT_ROOT"

_configured: dict[str, str] = {}


def _sqlite_path(uri: str) -> Path | None:
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///"):])
    return None


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock (flock) on ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _init_sqlite(uri: str, artifact_root: Path) -> None:
    db = _sqlite_path(uri)
    assert db is not None
    marker = db.with_name(db.name + ".initialised")
    if marker.exists():
        return
    with file_lock(db.with_name(db.name + ".lock")):
        if marker.exists():
            return
        db.parent.mkdir(parents=True, exist_ok=True)
        import sqlite3

        con = sqlite3.connect(db)
        try:
            con.execute("PRAGMA journal_mode=WAL")  # persistent: readers stop blocking writers
        finally:
            con.close()
        from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        SqlAlchemyStore(uri, artifact_root.as_uri())  # creates + migrates tables, Default experiment
        RegistryStore(uri)
        con = sqlite3.connect(db)
        try:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the schema is in the main file now
        finally:
            con.close()
        marker.write_text("ok\n")


def configure_mlflow(settings: Settings | None = None) -> str:
    """Point MLflow tracking and registry at the workspace store; returns the tracking URI."""
    import mlflow

    quiet_mlflow()  # before MLflow's first words (its store setup logs)
    settings = settings or Settings.from_env()
    uri = settings.mlflow_tracking_uri
    artifact_root = settings.mlflow_artifact_root
    artifact_root.mkdir(parents=True, exist_ok=True)
    current = os.environ.get(_ARTIFACT_ROOT_ENV)
    if current is None or current == _configured.get("artifact_root"):
        # Ours to set (not a real `mlflow server` process); follow the current workspace.
        os.environ[_ARTIFACT_ROOT_ENV] = artifact_root.as_uri()
        _configured["artifact_root"] = artifact_root.as_uri()
    if _sqlite_path(uri) is not None:
        _init_sqlite(uri, artifact_root)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    _configured["uri"] = uri
    return uri


def model_name(name: str) -> str:
    """Validate a Unity Catalog model name ``catalog.schema.model`` (lower-cased like UC)."""
    parts = name.split(".") if isinstance(name, str) else []
    if len(parts) != 3:
        raise InvalidParameterError(
            f"Invalid registered model name {name!r}: expected catalog.schema.model (three-level name)."
        )
    return ".".join(check_identifier(p, w) for p, w in zip(parts, ("catalog name", "schema name", "model name")))


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text or "busy" in text and "sqlite" in text


def registry_write(fn: Callable[..., T], *args: Any, attempts: int = 8, **kwargs: Any) -> T:
    """Call ``fn`` retrying SQLite lock errors with jittered exponential backoff."""
    delay = 0.05
    for attempt in range(attempts):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # MlflowException wraps OperationalError
            if not _is_lock_error(exc) or attempt == attempts - 1:
                raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")


def set_experiment(name: str) -> str:
    """``mlflow.set_experiment`` on the configured store; returns the experiment id."""
    import mlflow

    if "uri" not in _configured:
        configure_mlflow()
    exp = registry_write(mlflow.set_experiment, name)
    return exp.experiment_id


def set_alias(name: str, alias: str, version: int | str) -> None:
    """``MlflowClient().set_registered_model_alias`` with lock retries (e.g. Champion)."""
    from mlflow import MlflowClient

    registry_write(MlflowClient().set_registered_model_alias, model_name(name), alias, str(version))


def get_version_by_alias(name: str, alias: str):
    from mlflow import MlflowClient

    return MlflowClient().get_model_version_by_alias(model_name(name), alias)


def register_model(model_uri: str, name: str, tags: dict[str, str] | None = None):
    """``mlflow.register_model`` under a three-level name, with lock retries."""
    import mlflow

    return registry_write(mlflow.register_model, model_uri, model_name(name), tags=tags)
