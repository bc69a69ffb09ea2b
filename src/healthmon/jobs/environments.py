"""The interpreter a task runs with, from its job's ``environments[].spec.dependencies``.

The current interpreter is used when it satisfies every dependency; otherwise a virtual
environment per dependency set is built once (``--system-site-packages``, so the runtime itself and
the already installed libraries stay importable) under ``$HEALTHMON_HOME/envs/<hash>`` and reused.
A dependency pip cannot install fails the task with "Dependencies not found" naming it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

from healthmon.errors import HealthmonError
from healthmon.jobs.notebook import unsatisfied

_lock = threading.Lock()


class DependencyError(HealthmonError):
    pass


def dependencies_for(job_settings: dict, task: dict) -> list[str]:
    key = task.get("environment_key")
    if not key:
        return []
    for env in job_settings.get("environments") or []:
        if env.get("environment_key") == key:
            return [str(d) for d in (env.get("spec") or {}).get("dependencies") or []]
    raise DependencyError(
        f"Task {task.get('task_key')!r}: environment_key {key!r} is not defined in the job's environments."
    )


def _local_dep(dep: str) -> str:
    """Workspace paths of wheels (``/Workspace/...whl``) become local paths."""
    if dep.startswith("/Workspace/"):
        from healthmon.workspace_files import to_local

        return str(to_local(dep))
    return dep


_resolved: dict[tuple[str, ...], "str | DependencyError"] = {}


def python_for(dependencies: list[str], home: Path) -> str:
    """The interpreter for a dependency set (resolved once per set per process: a 25-task job
    sharing one environment checks it once)."""
    key = tuple(dependencies)
    if key not in _resolved:
        try:
            _resolved[key] = _python_for(dependencies, home)
        except DependencyError as exc:  # fail the other tasks of this set fast, same message
            _resolved[key] = exc
    found = _resolved[key]
    if isinstance(found, DependencyError):
        raise DependencyError(found.message)
    return found


def _python_for(dependencies: list[str], home: Path) -> str:
    deps = [_local_dep(d) for d in dependencies]
    if not deps or not unsatisfied(deps):
        return sys.executable
    digest = hashlib.sha256("\n".join(sorted(deps)).encode()).hexdigest()[:16]
    env_dir = home / "envs" / digest
    python = env_dir / "bin" / "python"
    marker = env_dir / ".healthmon-ready"
    with _lock:
        if marker.exists():
            return str(python)
        subprocess.run(
            [sys.executable, "-m", "venv", "--system-site-packages", str(env_dir)], check=True, capture_output=True
        )
        proc = subprocess.run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *deps],
            capture_output=True, text=True,
        )
        if proc.returncode != 0:
            bad = _failing_requirement(proc.stderr + proc.stdout, deps)
            raise DependencyError(
                f"Dependencies not found: {bad} could not be installed "
                f"({(proc.stderr.strip().splitlines() or ['pip failed'])[-1]})."
            )
        marker.write_text("\n".join(deps))
    return str(python)


def _failing_requirement(output: str, deps: list[str]) -> str:
    for d in deps:
        name = d.split("==")[0].split(">=")[0].split("<")[0].split("[")[0].strip()
        if name and name in output:
            return d
    return ", ".join(deps)


def task_env(base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(base if base is not None else os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env
