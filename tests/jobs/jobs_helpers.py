"""Helpers shared by the jobs runtime tests (a uniquely named module: several test folders
have a conftest.py, so `from conftest import ...` would pick whichever was imported last)."""

from __future__ import annotations

import textwrap
from pathlib import Path


class Workspace:
    def __init__(self, root: Path):
        self.root = root

    def notebook(self, name: str, *cells: str, source_format: bool = True) -> str:
        """Write a notebook; returns its path without extension (as job settings carry it)."""
        path = self.root / f"{name}.py"
        bodies = [textwrap.dedent(c).strip("\n") for c in cells]
        if source_format:
            text = "# Databricks notebook source\n" + "\n\n# COMMAND ----------\n\n".join(bodies) + "\n"
        else:
            text = "\n".join(bodies) + "\n"
        path.write_text(text)
        return str(path.with_suffix(""))

    def file(self, name: str, text: str) -> str:
        path = self.root / name
        path.write_text(textwrap.dedent(text))
        return str(path)


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
