"""Fixtures for bundle tests: write a bundle into a temp dir and load it.

A plain module, not a conftest.py: several test directories import "conftest" by name, and a
second conftest.py would shadow theirs in sys.modules. Test files import the fixtures they use.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"

NOTEBOOK = """# Databricks notebook source
catalog = dbutils.widgets.get("catalog")
"""


def jupyter_notebook(*cells: str) -> str:
    """An ``.ipynb`` document with one code cell per source text."""
    import json

    return json.dumps({"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                                  "source": [c]} for c in cells],
                       "metadata": {"language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5})


def outside_sync_bundle(parent: Path, notebook_cell: str) -> Path:
    """``parent/my_bundle`` with ``sync.paths: [".", "../common"]`` and a job ``both`` running the
    Jupyter notebook ``src/designer.ipynb`` (one cell), then ``../common/tool.py``."""
    root = parent / "my_bundle"
    (root / "src").mkdir(parents=True)
    (parent / "common").mkdir()
    (parent / "common/tool.py").write_text("print('shared tool ran')\n")
    (root / "src/designer.ipynb").write_text(jupyter_notebook(notebook_cell))
    (root / "databricks.yml").write_text(textwrap.dedent("""
        bundle: {name: jupyter}
        sync: {paths: [".", "../common"]}
        resources:
          jobs:
            both:
              environments: [{environment_key: default, spec: {environment_version: "2"}}]
              tasks:
                - task_key: nb
                  notebook_task: {notebook_path: ./src/designer.ipynb}
                - task_key: tool
                  depends_on: [{task_key: nb}]
                  environment_key: default
                  spark_python_task: {python_file: ../common/tool.py}
        """))
    return root


def notebook_job(path: str = "./src/nb.py") -> str:
    """A bundle with one job whose task runs the notebook at ``path``, with a job parameter and a
    base parameter (what the notebook and widget checks read)."""
    return f"""
bundle: {{name: w}}
resources:
  jobs:
    j:
      parameters:
        - {{name: run_date, default: "2024-01-01"}}
      tasks:
        - task_key: t
          notebook_task:
            notebook_path: {path}
            base_parameters: {{catalog: c}}
"""


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def make_bundle(tmp_path):
    """``make_bundle({"databricks.yml": "...", "src/nb.py": "..."}) -> root``; text is dedented."""

    def make(files: dict[str, str], root: Path | None = None) -> Path:
        root = root or tmp_path / "bundle"
        for rel, text in files.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(textwrap.dedent(text).lstrip("\n"))
        return root

    return make


@pytest.fixture
def load(make_bundle):
    """Write files and load the bundle: ``load(files, target=None, variables=None, **kw)``."""
    from healthmon.bundle import load_bundle

    def go(files: dict[str, str], target=None, variables=None, **kw):
        root = make_bundle(files)
        return load_bundle(root, target, variables, **kw)

    return go


def run_step(step, text: str, *, target: str = "default", root: Path | None = None, user: str = "u@x.com",
             variables: dict | None = None, environ: dict | None = None):
    """Apply one step to the YAML ``text``: ``(config as plain data, diagnostics)``."""
    from healthmon.bundle.context import LoadContext
    from healthmon.bundle.step import BundleState
    from healthmon.bundle.yamlparse import parse_text

    ctx = LoadContext(root=root or Path("/tmp/bundle"), user_name=user, variables=variables or {},
                      environ=environ or {})
    state = BundleState(parse_text(textwrap.dedent(text), "databricks.yml"), ctx, target=target)
    diags = step.apply(state)
    return state.config.plain(), diags
