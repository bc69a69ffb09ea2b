"""``dbutils`` inside a task process: widgets, notebook.exit, jobs.taskValues, secrets, fs.

Built from the task spec the runner writes (parameters, upstream task values). Names and
behaviours follow Databricks; heavy imports (SQLAlchemy for secrets) happen on first use only.
"""

from __future__ import annotations

import builtins

# Only modules the interpreter has already loaded at startup are imported at module level:
# this runs in every task process, and its import time is per-task overhead.
import os
import sys

if False:  # for type checkers only; typing/pathlib cost import time in every task
    from pathlib import Path
    from typing import Any

MAX_EXIT_BYTES = 5 * 1024 * 1024  # Databricks returns the first 5 MB of notebook.exit values


class _Record(tuple):
    """A light namedtuple stand-in (``collections`` costs import time in every task)."""

    _fields: tuple[str, ...] = ()

    def __new__(cls, *values):
        return tuple.__new__(cls, values)

    def __getattr__(self, name):
        try:
            return self[self._fields.index(name)]
        except ValueError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in zip(self._fields, self))})"


class FileInfo(_Record):
    _fields = ("path", "name", "size", "modificationTime")


class SecretMetadata(_Record):
    _fields = ("key",)


class SecretScope(_Record):
    _fields = ("name",)


class NotebookExit(BaseException):
    """Raised by ``dbutils.notebook.exit``; BaseException so user ``except Exception`` won't eat it."""

    def __init__(self, value: str):
        super().__init__(value)
        self.value = value


class InputWidgetNotDefined(Exception):
    pass


class Widgets:
    def __init__(self, task_key: str, params: dict[str, str]):
        self._task_key = task_key
        self._params = dict(params)
        self._defined: dict[str, str] = {}

    def _define(self, name: str, default: Any) -> None:
        self._defined[name] = "" if default is None else str(default)

    def text(self, name: str, defaultValue: str = "", label: str | None = None) -> None:
        self._define(name, defaultValue)

    def dropdown(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:
        if defaultValue not in choices:
            raise ValueError(
                f"Default value {defaultValue!r} of dropdown widget {name!r} is not among its choices {choices}."
            )
        self._define(name, defaultValue)
        value = self._params.get(name)
        if value is not None and value not in choices:
            raise ValueError(f"Value {value!r} of dropdown widget {name!r} is not among its choices {choices}.")

    def combobox(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:
        self._define(name, defaultValue)

    def multiselect(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:
        self._define(name, defaultValue)

    def get(self, name: str) -> str:
        if name in self._params:
            return self._params[name]
        if name in self._defined:
            return self._defined[name]
        received = ", ".join(f"{k}={v!r}" for k, v in sorted(self._params.items())) or "none"
        raise InputWidgetNotDefined(
            f"No input widget named {name!r} is defined (task {self._task_key!r}; parameters received: {received})."
        )

    getArgument = get

    def getAll(self) -> dict[str, str]:
        return {**self._defined, **self._params}

    def remove(self, name: str) -> None:
        self._defined.pop(name, None)

    def removeAll(self) -> None:
        self._defined.clear()


class TaskValues:
    def __init__(self, task_key: str, upstream: dict[str, dict[str, Any]]):
        self._task_key = task_key
        self._upstream = upstream
        self.values: dict[str, Any] = {}

    def set(self, key: str, value: Any) -> None:
        import json

        try:
            text = json.dumps(value)
        except TypeError as exc:
            raise TypeError(f"Task value {key!r} must be JSON serialisable: {exc}") from None
        if len(text.encode()) > 48 * 1024:
            raise ValueError(f"Task value {key!r} is larger than 48 KiB once serialised as JSON.")
        self.values[key] = value

    def get(self, taskKey: str, key: str, default: Any = None, debugValue: Any = None) -> Any:
        if taskKey == self._task_key:
            if key in self.values:
                return self.values[key]
        values = self._upstream.get(taskKey)
        if values is not None and key in values:
            return values[key]
        if default is not None:
            return default
        raise ValueError(
            f"Task value {key!r} of task {taskKey!r} is not available to task {self._task_key!r} "
            f"(upstream tasks with values: {', '.join(sorted(self._upstream)) or 'none'}) and no default was given."
        )


class Jobs:
    def __init__(self, task_values: TaskValues):
        self.taskValues = task_values


class WorkflowException(Exception):
    """Raised by ``dbutils.notebook.run`` when the notebook fails or times out (Databricks' name)."""


class Notebook:
    def __init__(self, context: dict | None = None, redactor: "Redactor | None" = None):
        self._context = context or {}
        self._redactor = redactor
        self._runs = 0

    def exit(self, value: Any) -> None:
        raise NotebookExit("" if value is None else str(value))

    def run(self, path: str, timeout_seconds: int = 0, arguments: dict | None = None) -> "str | None":
        """Run notebook ``path`` (relative to this notebook, or a workspace path) in a new process
        with ``arguments`` as its widget values; returns the value it passed to
        ``dbutils.notebook.exit`` (None if it ended without one). Raises ``WorkflowException``
        when it fails or runs longer than ``timeout_seconds`` (0: no limit); its output goes to
        this task's log."""
        import marshal
        import signal
        import subprocess

        from healthmon.jobs.notebook import NotebookError, load_cells, resolve_relative

        # Checked before anything starts: the Scala signature is run(String, int, Map[String, String]).
        if not isinstance(path, str):
            raise TypeError(f"dbutils.notebook.run: path must be a string, got {type(path).__name__}.")
        if isinstance(timeout_seconds, bool) or not isinstance(timeout_seconds, (int, float)) or timeout_seconds < 0:
            raise TypeError(f"dbutils.notebook.run: timeout_seconds must be a number of seconds >= 0 (0: no limit), "
                            f"got {timeout_seconds!r}.")
        if arguments is not None and not isinstance(arguments, dict):
            raise TypeError(f"dbutils.notebook.run: arguments must be a dict of widget names to values, "
                            f"got {type(arguments).__name__}.")
        ctx = self._context
        try:
            target = resolve_relative(ctx.get("path"), path, "dbutils.notebook.run")
            cells = [(c.source, c.file, c.line) for c in load_cells(target)]
        except NotebookError as exc:
            raise WorkflowException(str(exc)) from None
        self._runs += 1
        work = os.path.join(ctx.get("work_dir") or os.getcwd(), f"notebook-run-{os.getpid()}-{self._runs}")
        os.makedirs(work, exist_ok=True)
        result_file = os.path.join(work, "result.bin")
        spec = {
            "task_key": ctx.get("task_key", ""), "kind": "notebook", "path": str(target), "cwd": str(target.parent),
            "cells": cells, "widgets": {str(k): str(v) for k, v in (arguments or {}).items()},
            "task_values": {}, "home": str(ctx.get("home", "")), "result_file": result_file,
            "redact": sorted(self._redactor.values) if self._redactor else [],
            "secrets_fd": ctx.get("secrets_fd"),
        }
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        # Its own session, so a timeout kills everything it started; stdout/stderr are ours (the log).
        channel = [ctx["secrets_fd"]] if ctx.get("secrets_fd") is not None else []
        proc = subprocess.Popen([sys.executable, "-c", "from healthmon.jobs.task_main import main; main()"],
                                stdin=subprocess.PIPE, start_new_session=True, pass_fds=channel)
        try:
            stdin = proc.stdin
            assert stdin is not None  # stdin=PIPE
            stdin.write(marshal.dumps(spec))
            stdin.close()
        except BrokenPipeError:
            pass
        try:
            proc.wait(timeout=timeout_seconds if timeout_seconds and timeout_seconds > 0 else None)
        except subprocess.TimeoutExpired:
            for kill in (os.killpg, os.kill):
                try:
                    kill(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            proc.wait()
            raise WorkflowException(f"Notebook {path} timed out after {timeout_seconds} seconds.") from None
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # what it left in its group
            except (ProcessLookupError, PermissionError):
                pass
        try:
            with open(result_file, "rb") as f:
                result = marshal.loads(f.read())
        except (OSError, EOFError, ValueError):
            raise WorkflowException(f"Notebook {path} exited with code {proc.returncode} without a result.") from None
        if result.get("status") != "SUCCESS":
            raise WorkflowException(f"Notebook {path} failed: {result.get('error') or 'unknown error'}")
        out = result.get("notebook_output")
        return None if out is None else out.get("result")


class SecretsError(Exception):
    pass


class Secrets:
    """``dbutils.secrets``: every read is a request to the runner over the attempt's secrets
    socket (``secret_access.answer`` on the other end); the attempt never opens the store."""

    def __init__(self, redactor: "Redactor", channel: int | None):
        self._redactor = redactor
        self._channel = channel

    def _ask(self, *request: str):
        import marshal

        if self._channel is None:
            raise SecretsError("dbutils.secrets is only available inside a task run by the jobs runtime.")
        try:
            os.write(self._channel, marshal.dumps(request))
            reply = os.read(self._channel, 1 << 22)
        except OSError as exc:
            raise SecretsError(f"dbutils.secrets: the runner did not answer ({exc.strerror}).") from None
        if not reply:
            raise SecretsError("dbutils.secrets: the runner did not answer (the task's runner has stopped).")
        status, value = marshal.loads(reply)
        if status != "ok":
            raise SecretsError(value)
        return value

    def get(self, scope: str, key: str) -> str:
        value = self._ask("get", scope, key)
        self._redactor.add(value)
        return value

    def getBytes(self, scope: str, key: str) -> bytes:
        return self.get(scope, key).encode()

    def list(self, scope: str) -> "builtins.list[SecretMetadata]":
        return [SecretMetadata(k) for k in self._ask("list", scope)]

    def listScopes(self) -> "builtins.list[SecretScope]":
        return [SecretScope(n) for n in self._ask("scopes")]


def local_path(path: str, home: "Path") -> "Path":
    """Databricks file paths on the local workspace: ``dbfs:/x`` → $HOME/dbfs/x,
    ``/Volumes/c/s/v/x`` → $HOME/volumes/c/s/v/x, ``file:/x`` → /x; other paths unchanged."""
    from pathlib import Path

    home = Path(home)
    if path.startswith("dbfs:/"):
        rest = path[len("dbfs:/"):].lstrip("/")
        if rest.startswith("Volumes/"):
            return home / "volumes" / rest[len("Volumes/"):]
        return home / "dbfs" / rest
    if path.startswith("/Volumes/"):
        return home / "volumes" / path[len("/Volumes/"):]
    if path.startswith("file:"):
        return Path(path[len("file:"):])
    return Path(path)


class Fs:
    def __init__(self, home: "Path"):
        self._home = home

    def _p(self, path: str) -> "Path":
        return local_path(path, self._home)

    def ls(self, path: str) -> list:
        p = self._p(path)
        if not p.exists():
            raise FileNotFoundError(f"{path} does not exist")
        entries = [p] if p.is_file() else sorted(p.iterdir())
        out = []
        for e in entries:
            st = e.stat()
            name = e.name + ("/" if e.is_dir() else "")
            shown = path.rstrip("/") + ("" if p.is_file() else "/" + name)
            out.append(FileInfo(shown, name, 0 if e.is_dir() else st.st_size, int(st.st_mtime * 1000)))
        return out

    def mkdirs(self, path: str) -> bool:
        self._p(path).mkdir(parents=True, exist_ok=True)
        return True

    def put(self, path: str, contents: str, overwrite: bool = False) -> bool:
        p = self._p(path)
        if p.exists() and not overwrite:
            raise FileExistsError(f"{path} already exists; pass overwrite=True")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(contents)
        return True

    def head(self, path: str, maxBytes: int = 65536) -> str:
        with self._p(path).open("rb") as f:
            return f.read(maxBytes).decode("utf-8", errors="replace")

    def cp(self, source: str, dest: str, recurse: bool = False) -> bool:
        import shutil

        src, dst = self._p(source), self._p(dest)
        if src.is_dir():
            if not recurse:
                raise IsADirectoryError(f"{source} is a directory; pass recurse=True")
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        return True

    def mv(self, source: str, dest: str, recurse: bool = False) -> bool:
        import shutil

        dst = self._p(dest)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(self._p(source), dst)
        return True

    def rm(self, path: str, recurse: bool = False) -> bool:
        p = self._p(path)
        if not p.exists():
            return False
        if p.is_dir():
            if not recurse:
                raise IsADirectoryError(f"{path} is a directory; pass recurse=True")
            import shutil

            shutil.rmtree(p)
        else:
            p.unlink()
        return True


class Redactor:
    """Replaces secret values with [REDACTED] in text (longest first, so overlapping values are
    fully hidden)."""

    def __init__(self, values=()):
        self.values: set[str] = {v for v in values if v}
        self.on_first_value = None  # called once, when the first value is added to an empty redactor

    def add(self, value: str) -> None:
        if value:
            self.values.add(value)
            hook, self.on_first_value = self.on_first_value, None
            if hook is not None:
                hook()

    def __call__(self, text: str) -> str:
        for v in sorted(self.values, key=len, reverse=True):
            if v in text:
                text = text.replace(v, "[REDACTED]")
        return text


class RedactingStream:
    """A text stream wrapper that redacts what it writes."""

    def __init__(self, stream, redactor: Redactor):
        self._stream = stream
        self._redactor = redactor

    def write(self, s: str) -> int:
        self._stream.write(self._redactor(s) if self._redactor.values else s)
        return len(s)

    def __getattr__(self, name):
        return getattr(self._stream, name)


class DBUtils:
    """The notebook's ``dbutils``. Each utility (widgets, jobs, notebook, secrets, fs) is created on
    first use: a forked attempt pays only for what its code touches (each new object there costs a
    copy-on-write page fault)."""

    _PARTS = ("widgets", "jobs", "notebook", "secrets", "fs")

    def __init__(
        self,
        *,
        task_key: str,
        params: dict[str, str],
        upstream_values: dict,
        home: "Path",
        redactor: Redactor,
        notebook_path: str | None = None,
        work_dir: str | None = None,
        secrets_fd: int | None = None,
    ):
        self._args = (task_key, params, upstream_values, home, redactor, notebook_path, work_dir, secrets_fd)

    def __getattr__(self, name: str):
        if name not in DBUtils._PARTS:
            raise AttributeError(f"dbutils has no attribute {name!r} (it has {', '.join(DBUtils._PARTS)})")
        task_key, params, upstream, home, redactor, notebook_path, work_dir, secrets_fd = self._args
        if name == "widgets":
            part: Any = Widgets(task_key, params)
        elif name == "jobs":
            part = Jobs(TaskValues(task_key, upstream))
        elif name == "notebook":
            part = Notebook({"path": notebook_path, "work_dir": work_dir, "task_key": task_key, "home": home,
                             "secrets_fd": secrets_fd}, redactor)
        elif name == "secrets":
            part = Secrets(redactor, secrets_fd)
        else:
            part = Fs(home)
        setattr(self, name, part)  # an instance attribute from now on: no second lookup through here
        return part

    def __dir__(self):
        return [*super().__dir__(), *DBUtils._PARTS]

    def task_values(self) -> dict[str, Any]:
        """The values this task set (``jobs.taskValues.set``); empty when it never used them."""
        jobs = self.__dict__.get("jobs")
        return jobs.taskValues.values if jobs is not None else {}

    def help(self) -> None:
        print("dbutils: widgets, notebook, jobs.taskValues, secrets, fs (local healthmon runtime)")


class LazySpark:
    """The notebook's ``spark`` global: a local SparkSession created on first attribute access
    (through the lakehouse's Spark engine, so configuration is shared), never at task start — a
    notebook that does not use Spark pays nothing, one that does pays the JVM start once."""

    __slots__ = ("_session",)

    def __init__(self):
        self._session = None

    def _get(self):
        if self._session is None:
            from healthmon.lakehouse.engines.spark_engine import get_session

            self._session = get_session()
        return self._session

    def __getattr__(self, name: str):
        return getattr(self._get(), name)

    def __repr__(self) -> str:
        state = "created" if self._session is not None else "created on first use"
        return f"<spark: local SparkSession ({state})>"


def display(obj: Any = None, *args, **kwargs) -> None:
    """Print a table: pandas / pyarrow / polars-like frames, lists of dicts, anything else as repr."""
    to_pandas = getattr(obj, "to_pandas", None)
    if callable(to_pandas) and not hasattr(obj, "to_string"):
        obj = to_pandas()
    if hasattr(obj, "to_string"):
        print(obj.to_string(max_rows=1000))
        return
    if isinstance(obj, list) and obj and all(isinstance(r, dict) for r in obj):
        cols = list(dict.fromkeys(k for r in obj for k in r))
        rows = [[str(r.get(c, "")) for c in cols] for r in obj]
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
        print(" | ".join(c.ljust(w) for c, w in zip(cols, widths)))
        print("-+-".join("-" * w for w in widths))
        for r in rows:
            print(" | ".join(v.ljust(w) for v, w in zip(r, widths)))
        return
    print(repr(obj))


__all__ = [
    "DBUtils",
    "SecretsError",
    "display",
    "NotebookExit",
    "Redactor",
    "RedactingStream",
    "MAX_EXIT_BYTES",
    "local_path",
    "LazySpark",
    "WorkflowException",
]
