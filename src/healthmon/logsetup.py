"""Where library logs and warnings go in a user-facing process: into the workspace's log file
(``$HEALTHMON_HOME/logs/healthmon.log``), never onto the user's terminal.

A command's terminal output is its own: results, progress and one-paragraph errors. What
MLflow, pandas, scikit-learn, SQLAlchemy or alembic say along the way ("Experiment ... does not
exist", "Saving scikit-learn models in the pickle ...", "Created version ...", a pandas
``UserWarning``) is kept in the log file for whoever debugs a run.

``route_library_output`` is called once by the CLI (``cli/main.py``) and by every worker
process the CLI starts (the evaluation workers pass it as their pool initializer), because
logging and warnings settings are per process. Job runs do not call it: a task's log is its
notebook's output and keeps what the libraries print, as on Databricks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

LOG_FILE_NAME = "healthmon.log"
# At start, a log file larger than this is moved to healthmon.log.1 (one old file is kept).
ROTATE_BYTES = 10 * 1024 * 1024
FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"

_routed_to: str | None = None  # the log file this process routes library output to (None: not routed)


class _WorkspaceLogHandler(logging.FileHandler):
    """Appends to the log file, creating its folder on the first record (a command that logs
    nothing leaves no trace); a log file that cannot be written loses the record silently
    instead of printing logging's own traceback onto the terminal."""

    def __init__(self, path: str) -> None:
        super().__init__(path, mode="a", encoding="utf-8", delay=True)

    def emit(self, record: logging.LogRecord) -> None:
        if self.stream is None:
            try:
                Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
            except OSError:
                return
        super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        pass


def default_log_file() -> str | None:
    """``$HEALTHMON_HOME/logs/healthmon.log``, or None when the workspace location is unusable."""
    try:
        from healthmon.settings import Settings

        return str(Settings.from_env().home / "logs" / LOG_FILE_NAME)
    except Exception:  # noqa: BLE001 - an unusable HEALTHMON_HOME is reported by the command itself
        return None


def _rotate(path: str) -> None:
    try:
        if os.path.getsize(path) > ROTATE_BYTES:
            os.replace(path, path + ".1")
    except OSError:
        pass


def route_library_output(log_file: str | None = None, *, rotate: bool = False) -> str | None:
    """Send every log record (INFO and up) and every Python warning of this process to
    ``log_file`` (default: the workspace's), and nothing to the terminal. Returns the file, for
    worker processes to route theirs to the same place. Idempotent.

    ``python -W ...`` / ``PYTHONWARNINGS`` still decide which warnings are shown, and where:
    whoever sets them asked to see them."""
    global _routed_to
    path = log_file or default_log_file()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, (_WorkspaceLogHandler, logging.NullHandler)):
            root.removeHandler(handler)
            handler.close()
    if path is not None:
        if rotate:
            _rotate(path)
        handler = _WorkspaceLogHandler(path)
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    else:
        root.addHandler(logging.NullHandler())  # keeps logging's last-resort stderr handler quiet
    root.setLevel(logging.INFO)
    if not sys.warnoptions:
        logging.captureWarnings(True)  # shown by Python's default filters: into the log file
    _routed_to = path or os.devnull
    if "mlflow" in sys.modules:
        quiet_mlflow()
    return path


class _LoggerStream:
    """A text stream whose lines become INFO records of one logger."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._pending = ""

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            if line.strip():
                self.logger.info(line)
        return len(text)

    def flush(self) -> None:
        pass


def quiet_mlflow() -> None:
    """MLflow gives its loggers their own stderr handler, and prints some events ("Successfully
    registered model", "Created version") to its own stderr stream, when it is imported. In a
    process whose library output is routed, its loggers propagate to the log file like any
    other, and that stream becomes a logger too (MLflow's ``disable_logging`` would not hold:
    its autologging contexts switch the stream back on when they exit). Called after MLflow is
    imported (``lakehouse.registry.configure_mlflow``); a no-op in a process that is not routed."""
    if _routed_to is None:
        return
    from mlflow.utils import logging_utils

    for name in ("mlflow", "alembic", "huey", "sqlalchemy.engine"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    if not isinstance(logging_utils.MLFLOW_LOGGING_STREAM, _LoggerStream):
        logging_utils.MLFLOW_LOGGING_STREAM = _LoggerStream(logging.getLogger("mlflow.events"))  # type: ignore[assignment]


def worker_pool_options() -> dict:
    """Options for a ``ProcessPoolExecutor`` whose workers route their library output where
    this process routes its own (nothing when this process does not route it)."""
    if _routed_to is None:
        return {}
    return {"initializer": route_library_output, "initargs": (_routed_to,)}


@contextlib.contextmanager
def native_output_to_log_file() -> Iterator[None]:
    """While starting a native child (the Spark JVM), point this process's file descriptors 1
    and 2 at the log file, so the child inherits them: its banner and warnings ("Using Spark's
    default log4j profile", "WARN NativeCodeLoader") go to the log file for its whole life.
    A no-op in a process that is not routed (a job's task keeps them in its log)."""
    path = _routed_to
    if path is None:
        yield
        return
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        target = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError:
        target = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(target, 1)
        os.dup2(target, 2)
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, target):
            os.close(fd)
