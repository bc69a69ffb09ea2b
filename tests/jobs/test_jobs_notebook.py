"""Notebook source parsing: Databricks source format, %run, %pip, .ipynb."""

from __future__ import annotations

import json

import pytest

from healthmon.jobs.notebook import NotebookError, load_cells


def test_source_format_cells_magic_and_run(tmp_path):
    (tmp_path / "lib.py").write_text("# Databricks notebook source\nHELPER = 'from lib'\n")
    nb = tmp_path / "main.py"
    nb.write_text(
        "# Databricks notebook source\n"
        "# MAGIC %md\n# MAGIC # Title\n\n"
        "# COMMAND ----------\n\n"
        "# MAGIC %run ./lib\n\n"
        "# COMMAND ----------\n\n"
        "x = HELPER\n"
    )
    cells = load_cells(nb)
    assert [c.source.strip() for c in cells] == ["HELPER = 'from lib'", "x = HELPER"]
    assert cells[0].file.endswith("lib.py")
    # Line numbers point into the original file (x = HELPER is on line 11).
    assert cells[1].file.endswith("main.py") and cells[1].source.split("\n").index("x = HELPER") + cells[1].line == 11


def test_run_cycle_and_missing_target(tmp_path):
    (tmp_path / "a.py").write_text("# Databricks notebook source\n# MAGIC %run ./b\n")
    (tmp_path / "b.py").write_text("# Databricks notebook source\n# MAGIC %run ./a\n")
    with pytest.raises(NotebookError, match="%run cycle"):
        load_cells(tmp_path / "a.py")
    (tmp_path / "c.py").write_text("# Databricks notebook source\n# MAGIC %run ./missing\n")
    with pytest.raises(NotebookError, match=r"c.py:2:1: %run ./missing: notebook not found"):
        load_cells(tmp_path / "c.py")


def test_pip_accepted_when_satisfied_refused_otherwise(tmp_path):
    ok = tmp_path / "ok.py"
    ok.write_text("# Databricks notebook source\n# MAGIC %pip install pyyaml>=5\n\n# COMMAND ----------\nx = 1\n")
    assert [c.source.strip() for c in load_cells(ok)] == ["x = 1"]
    bad = tmp_path / "bad.py"
    bad.write_text("# Databricks notebook source\n# MAGIC %pip install surely-not-installed-pkg==1.0\n")
    with pytest.raises(NotebookError, match="surely-not-installed-pkg==1.0 not installed.*environments"):
        load_cells(bad)


def test_other_languages_refused_with_location(tmp_path):
    nb = tmp_path / "sql.py"
    nb.write_text("# Databricks notebook source\nx = 1\n\n# COMMAND ----------\n\n# MAGIC %sql\n# MAGIC SELECT 1\n")
    with pytest.raises(NotebookError, match=r"sql.py:6:1: %sql cells are not supported"):
        load_cells(nb)


def test_ipynb_and_plain_py(tmp_path):
    nb = tmp_path / "n.ipynb"
    nb.write_text(json.dumps({"cells": [
        {"cell_type": "markdown", "source": ["# hi"]},
        {"cell_type": "code", "source": ["a = 1\n", "b = a + 1"]},
        {"cell_type": "code", "source": "%md\nnot code"},
    ]}))
    assert [c.source for c in load_cells(nb)] == ["a = 1\nb = a + 1"]
    plain = tmp_path / "plain.py"
    plain.write_text("print('x')\n")
    assert [c.source for c in load_cells(plain)] == ["print('x')\n"]
