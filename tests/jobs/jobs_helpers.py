"""Helpers shared by the jobs runtime tests (a uniquely named module: several test folders
have a conftest.py, so `from conftest import ...` would pick whichever was imported last)."""

from __future__ import annotations

import textwrap
from pathlib import Path

USER_FOLDER = "Users/tester@example.com"


class Workspace:
    """Task files in the test workspace's files (``$HEALTHMON_HOME/workspace``), where a task's
    code must come from; paths handed to job settings are workspace paths (``/Workspace/...``)."""

    def __init__(self, home: Path):
        self.home = home
        self.root = home / "workspace" / USER_FOLDER
        self.root.mkdir(parents=True, exist_ok=True)
        # A folder task code may write (a volume) and the test can read back.
        self.out = home / "volumes" / "main" / "default" / "out"
        self.out.mkdir(parents=True, exist_ok=True)

    def workspace_path(self, local: Path) -> str:
        return "/Workspace/" + str(local.relative_to(self.home / "workspace"))

    def notebook(self, name: str, *cells: str, source_format: bool = True) -> str:
        """Write a notebook; returns its workspace path without extension (as job settings carry it)."""
        path = self.root / f"{name}.py"
        bodies = [textwrap.dedent(c).strip("\n") for c in cells]
        if source_format:
            text = "# Databricks notebook source\n" + "\n\n# COMMAND ----------\n\n".join(bodies) + "\n"
        else:
            text = "\n".join(bodies) + "\n"
        path.write_text(text)
        return self.workspace_path(path.with_suffix(""))

    def file(self, name: str, text: str) -> str:
        """Write a workspace file; returns its workspace path."""
        path = self.root / name
        path.write_text(textwrap.dedent(text))
        return self.workspace_path(path)


def nb_task(key: str, path: str, **extra) -> dict:
    task = {"task_key": key, "notebook_task": {"notebook_path": path}}
    params = extra.pop("params", None)
    if params:
        task["notebook_task"]["base_parameters"] = params
    deps = extra.pop("deps", None)
    if deps:
        task["depends_on"] = [{"task_key": d} if isinstance(d, str) else d for d in deps]
    task.update(extra)
    return task
