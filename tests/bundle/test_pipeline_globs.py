from pathlib import Path

import pytest

from bundle_fixtures import run_step
from healthmon.bundle.mutators.pipeline_globs import ExpandPipelineGlobPaths, is_go_pattern

YAML = """
resources:
  pipelines:
    p:
      libraries:
        - notebook: {path: "./nb/*.py"}
        - file: {path: "dbfs:/x/*.py"}
        - file: {path: "./none/*.py"}
        - jar: x.jar
"""


def test_a_glob_becomes_one_library_per_match_and_the_rest_is_kept(tmp_path: Path):
    (tmp_path / "nb").mkdir()
    for name in ("b.py", "a.py", ".hidden.py"):
        (tmp_path / "nb" / name).write_text("# Databricks notebook source\n")
    config, diags = run_step(ExpandPipelineGlobPaths(), YAML, root=tmp_path)
    assert not diags.items
    assert config["resources"]["pipelines"]["p"]["libraries"] == [
        {"notebook": {"path": "nb/.hidden.py"}},  # Go's filepath.Glob: "*" matches dot files
        {"notebook": {"path": "nb/a.py"}},
        {"notebook": {"path": "nb/b.py"}},
        {"file": {"path": "dbfs:/x/*.py"}},
        {"file": {"path": "./none/*.py"}},
        {"jar": "x.jar"},
    ]


@pytest.mark.parametrize("pattern, ok", [
    ("nb/*.py", True), ("nb/[ab].py", True), ("nb/[^a]?.py", True), ("nb/[a-c]*", True), (r"nb/\[x\].py", True),
    ("nb/[a*.py", False), ("nb/[].py", False), ("nb/[-a].py", False), ("nb/x\\", False), ("nb/[a-]", False),
])
def test_patterns_are_checked_with_gos_grammar(pattern, ok):
    assert is_go_pattern(pattern) is ok
