"""Inside a task attempt: run the spec the runner built, report the result.

An attempt is a process forked by the launcher (``launcher.py``), already confined. The spec
says what to run (a notebook's cells, already parsed and compiled by the runner; a Python file;
a wheel's entry point), the widget values and the upstream task values. The result —
``{"status": "SUCCESS"|"FAILED", "notebook_output", "error", "error_trace", "task_values"}`` as
``marshal`` — goes through the result pipe (``write_result``). A process that dies without one is
judged by its exit code. ``dbutils.notebook.run`` starts a fresh interpreter on ``main``.
"""

from __future__ import annotations

import atexit
import builtins
import fcntl
import marshal
import os
import sys

from healthmon.jobs.confine import format_size
from healthmon.jobs.dbutils import (
    MAX_EXIT_BYTES,
    DBUtils,
    LazySpark,
    NotebookExit,
    RedactingStream,
    Redactor,
    display,
)


def _user_traceback(exc: BaseException, files: set[str]) -> str:
    """The traceback without the runtime's own frames (as a notebook shows it)."""
    import traceback

    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename not in files:
        tb = tb.tb_next
    if tb is None:  # the failure is in the runtime itself (bad path...): keep everything
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _source_files(spec: dict) -> set[str]:
    """The files of the task's own code (a notebook's cells, %run-inlined ones included)."""
    if "code" in spec:
        files = {code.co_filename for code in spec["code"]}
    else:
        files = {cell[1] for cell in spec.get("cells", ())}
    return files | {spec.get("path", "")}


def _truncate(value: str, limit: int) -> tuple[str, bool]:
    data = value.encode("utf-8")
    if len(data) <= limit:
        return value, False
    return data[:limit].decode("utf-8", errors="ignore"), True


def _run_cells(spec: dict, namespace: dict) -> None:
    code = spec.get("code")
    if code is not None:  # compiled once by the runner (same interpreter)
        for cell in code:
            exec(cell, namespace)
        return
    for source, file, line in spec["cells"]:
        # Pad with newlines so line numbers in tracebacks match the notebook file.
        exec(compile("\n" * (line - 1) + source, file, "exec", dont_inherit=True), namespace)


def _run_python_file(spec: dict, namespace: dict) -> None:
    path = spec["path"]
    sys.argv = [path, *spec.get("argv", [])]
    sys.path.insert(0, os.path.dirname(path))
    # Bytes, as `python file.py` reads them: a PEP 263 coding line is honoured, and a file that is
    # not UTF-8 without one is a SyntaxError naming the file and line.
    with open(path, "rb") as f:
        source = f.read()
    namespace["__file__"] = path
    exec(compile(source, path, "exec", dont_inherit=True), namespace)


def _run_wheel(spec: dict, namespace: dict) -> None:
    """The wheel's entry point, looked up in its distribution's metadata (``entry_points.txt``):
    a distribution installed in the task's environment, never any module on the path."""
    from importlib import metadata

    package, entry = spec["package_name"], spec["entry_point"]
    argv = list(spec.get("argv", []))
    for k, v in (spec.get("named_parameters") or {}).items():
        argv.append(f"--{k}={v}")
    sys.argv = [package, *argv]
    try:
        points = metadata.distribution(package).entry_points
    except metadata.PackageNotFoundError:
        raise ModuleNotFoundError(f"python_wheel_task: package {package!r} is not installed in the task's environment "
                                  "(add its wheel to the environment's dependencies).") from None
    target = next((ep for ep in points if ep.name == entry), None)
    if target is None:
        names = ", ".join(sorted({ep.name for ep in points})) or "none"
        raise ModuleNotFoundError(f"python_wheel_task: package {package!r} has no entry point {entry!r} "
                                  f"(its entry points: {names}).")
    rc = target.load()()
    if isinstance(rc, int) and rc != 0:
        raise SystemExit(rc)


RUNNERS = {"notebook": _run_cells, "python_file": _run_python_file, "wheel": _run_wheel}


def run_spec(spec: dict) -> int:
    if spec.get("cwd"):
        os.chdir(spec["cwd"])
        sys.path.insert(0, spec["cwd"])  # as on Databricks: the notebook's folder is importable
    redactor = Redactor(spec.get("redact", []))

    def redact_output() -> None:
        sys.stdout = RedactingStream(sys.stdout, redactor)
        sys.stderr = RedactingStream(sys.stderr, redactor)

    # Output is redacted from the first secret value known to the task on (the workspace's values
    # from the start, or the first one dbutils.secrets.get fetches): until then there is nothing to
    # redact, and an attempt that never sees a secret does without the wrappers.
    if redactor.values:
        redact_output()
    else:
        redactor.on_first_value = redact_output
    dbutils = DBUtils(
        task_key=spec["task_key"],
        params=spec.get("widgets", {}),
        upstream_values=spec.get("task_values", {}),
        home=spec["home"],
        redactor=redactor,
        notebook_path=spec.get("path"),
        work_dir=os.path.dirname(spec["result_file"]),
        secrets_fd=spec.get("secrets_fd"),
    )
    # One literal with every name the runtime adds: the dict is created at its final size (each
    # resize in a forked attempt would copy it into freshly touched memory).
    namespace = {"__name__": "__main__", "__builtins__": builtins, "__file__": spec.get("path"), "dbutils": dbutils,
                 "display": display, "displayHTML": print, "spark": LazySpark()}
    result: dict = {"status": "SUCCESS"}
    try:
        RUNNERS[spec["kind"]](spec, namespace)
    except NotebookExit as exc:
        value, truncated = _truncate(redactor(exc.value), MAX_EXIT_BYTES)
        result["notebook_output"] = {"result": value, "truncated": truncated}
    except SystemExit as exc:
        if exc.code not in (None, 0):
            result = {"status": "FAILED", "error": f"SystemExit: {exc.code}", "error_trace": ""}
    except BaseException as exc:  # the task's own failure, reported, not raised
        message = str(exc)
        if isinstance(exc, MemoryError) and spec.get("memory_limit"):
            message = f"out of memory (limit {format_size(spec['memory_limit'])})"
        elif isinstance(exc, PermissionError) and spec.get("confined"):
            message += (" (tasks are confined: they read the workspace's files and the lakehouse, and write only the "
                        "lakehouse, the MLflow store, volumes, DBFS and their scratch folder)")
        result = {
            "status": "FAILED",
            "error": redactor(f"{type(exc).__name__}: {message}" if message else type(exc).__name__),
            "error_trace": redactor(_user_traceback(exc, _source_files(spec))),
        }
        print(result["error_trace"], file=sys.stderr, end="")
    result["task_values"] = dbutils.task_values()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    try:
        data = marshal.dumps(result)
    except ValueError:  # a non-marshallable task value slipped through: keep the JSON form
        import json

        result["task_values"] = json.loads(json.dumps(result["task_values"], default=str))
        data = marshal.dumps(result)
    write_result(spec, data)
    return 0 if result["status"] == "SUCCESS" else 1


def write_result(spec: dict, data: bytes) -> None:
    """The result goes through the attempt's result pipe when it fits in the (empty) pipe buffer,
    so it never blocks and no file is created (file creation costs about a millisecond); else to
    ``result_file``, announced on the pipe. Without a pipe (a ``notebook.run`` child), to the file."""
    fd = spec.get("result_fd")
    if fd is not None:
        try:
            capacity = fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
        except OSError:
            capacity = 4096
        if len(data) + 5 < capacity:
            payload = memoryview(b"M" + len(data).to_bytes(4, "big") + data)
            while payload:
                payload = payload[os.write(fd, payload):]
            os.close(fd)
            return
    path = spec["result_file"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    if fd is not None:
        os.write(fd, b"F")
        os.close(fd)


def drain(fd: int) -> bytes:
    """What is in the result pipe now (non-blocking: a descendant may still hold its write end)."""
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        if len(chunks) == 1 and _complete(chunk):  # the usual case: one read, no second syscall
            break
    return b"".join(chunks)


def _complete(data: bytes) -> bool:
    """Whether ``data`` is a whole ``write_result`` record."""
    if data[:1] == b"F":
        return True
    return data[:1] == b"M" and len(data) >= 5 and len(data) >= 5 + int.from_bytes(data[1:5], "big")


def parse_result(data: bytes, path: str) -> dict | None:
    """The runner's side of ``write_result``: None while incomplete, or when there is none."""
    try:
        if data[:1] == b"M" and len(data) >= 5:
            size = int.from_bytes(data[1:5], "big")
            if len(data) >= 5 + size:
                return marshal.loads(data[5:5 + size])
        if data[:1] == b"F":
            with open(path, "rb") as f:
                return marshal.loads(f.read())
    except (OSError, EOFError, ValueError, TypeError):
        pass
    return None


def exit_process(rc: int) -> None:
    """End a forked attempt as an interpreter exit would (non-daemon threads joined, atexit
    handlers run, streams flushed) without tearing down the modules it shares with the launcher.
    Each step only when there is something to do: in a forked child every object touched costs a
    copy-on-write page fault, and most attempts start no thread and register no exit handler."""
    threading = sys.modules.get("threading")
    if threading is not None and len(threading._active) + len(threading._limbo) > 1:
        try:
            threading._shutdown()
        except Exception:
            pass
    if atexit._ncallbacks():
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    # Close the output pipe before the kernel tears the address space down (the slowest part of
    # an exit): the runner sees EOF, takes the result and moves on while this process goes away.
    for fd in (1, 2):
        try:
            os.close(fd)
        except OSError:
            pass
    os._exit(rc)


def main() -> None:
    """A child process reading its spec on stdin (``dbutils.notebook.run``)."""
    data = sys.stdin.buffer.read()
    if not data:
        os._exit(0)
    sys.stdin.close()
    sys.stdin = open(os.devnull)
    rc = run_spec(marshal.loads(data))
    sys.exit(rc)


if __name__ == "__main__":
    main()
