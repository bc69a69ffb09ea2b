"""Entry point of one task attempt: ``python -m healthmon.jobs.task_main <spec.json>``.

The runner writes a spec (what to run, widget values, upstream task values) and reads back a
result file: ``{"status": "SUCCESS"|"FAILED", "notebook_output": {...}, "error", "error_trace",
"task_values"}``. A process that dies without writing it is judged by its exit code.

Kept import-light (no SQLAlchemy, pandas... unless the task itself uses them) because its start
time is the per-task overhead.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

from healthmon.jobs.dbutils import MAX_EXIT_BYTES, DBUtils, NotebookExit, RedactingStream, Redactor, display


def _user_traceback(exc: BaseException, files: set[str]) -> str:
    """The traceback without the runtime's own frames (as a notebook shows it)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename not in files:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _truncate(value: str) -> tuple[str, bool]:
    data = value.encode("utf-8")
    if len(data) <= MAX_EXIT_BYTES:
        return value, False
    return data[:MAX_EXIT_BYTES].decode("utf-8", errors="ignore"), True


def _run_notebook(spec: dict, namespace: dict) -> set[str]:
    from healthmon.jobs.notebook import load_cells

    cells = load_cells(Path(spec["path"]))
    files = {c.file for c in cells}
    namespace["__file__"] = spec["path"]
    for cell in cells:
        # Pad with newlines so line numbers in tracebacks match the notebook file.
        code = compile("\n" * (cell.line - 1) + cell.source, cell.file, "exec")
        exec(code, namespace)
    return files


def _run_python_file(spec: dict, namespace: dict) -> set[str]:
    path = spec["path"]
    sys.argv = [path, *spec.get("argv", [])]
    sys.path.insert(0, str(Path(path).parent))
    source = Path(path).read_text(encoding="utf-8")
    namespace["__file__"] = path
    exec(compile(source, path, "exec"), namespace)
    return {path}


def _run_wheel(spec: dict, namespace: dict) -> set[str]:
    from importlib import import_module, metadata

    package, entry = spec["package_name"], spec["entry_point"]
    argv = list(spec.get("argv", []))
    for k, v in (spec.get("named_parameters") or {}).items():
        argv.append(f"--{k}={v}")
    sys.argv = [package, *argv]
    normalized = package.replace("-", "_").lower()
    target = None
    for ep in metadata.entry_points():
        dist = getattr(ep, "dist", None)
        dist_name = (dist.metadata["Name"] if dist is not None else "").replace("-", "_").lower()
        if ep.name == entry and dist_name == normalized:
            target = ep.load()
            break
    if target is None:
        module = import_module(package.replace("-", "_"))
        target = getattr(module, entry, None)
        if target is None:
            raise ModuleNotFoundError(
                f"python_wheel_task: package {package!r} has no entry point {entry!r} (neither in its metadata nor as a function)."
            )
    rc = target()
    if isinstance(rc, int) and rc != 0:
        raise SystemExit(rc)
    return {getattr(target, "__code__", None) and target.__code__.co_filename or ""}


RUNNERS = {"notebook": _run_notebook, "python_file": _run_python_file, "wheel": _run_wheel}


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    redactor = Redactor(spec.get("redact", []))
    sys.stdout = RedactingStream(sys.stdout, redactor)
    sys.stderr = RedactingStream(sys.stderr, redactor)
    dbutils = DBUtils(
        task_key=spec["task_key"],
        params=spec.get("widgets", {}),
        upstream_values=spec.get("task_values", {}),
        home=Path(spec["home"]),
        redactor=redactor,
    )
    namespace = {"__name__": "__main__", "dbutils": dbutils, "display": display, "displayHTML": print}
    result: dict = {"status": "SUCCESS"}
    files: set[str] = {spec.get("path", "")}
    try:
        files = RUNNERS[spec["kind"]](spec, namespace) or files
    except NotebookExit as exc:
        value, truncated = _truncate(redactor(exc.value))
        result["notebook_output"] = {"result": value, "truncated": truncated}
    except SystemExit as exc:
        if exc.code not in (None, 0):
            result = {"status": "FAILED", "error": f"SystemExit: {exc.code}", "error_trace": ""}
    except BaseException as exc:  # the task's own failure, reported, not raised
        files.add(spec.get("path", ""))
        message = str(exc)
        result = {
            "status": "FAILED",
            "error": redactor(f"{type(exc).__name__}: {message}" if message else type(exc).__name__),
            "error_trace": redactor(_user_traceback(exc, files) if hasattr(exc, "__traceback__") else ""),
        }
        # Notebook-parsing errors have no useful user frames: keep the full trace.
        if not result["error_trace"].strip().count("\n"):
            result["error_trace"] = redactor("".join(traceback.format_exception(exc)))
        print(result["error_trace"], file=sys.stderr)
    result["task_values"] = dbutils.jobs.taskValues.values
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    tmp = spec["result_file"] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, default=str)
    os.replace(tmp, spec["result_file"])
    return 0 if result["status"] == "SUCCESS" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
