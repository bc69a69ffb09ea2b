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
