"""Conformance cases: bundles with the output the Databricks CLI (>= 0.250) gives for
``databricks bundle validate``, run through healthmon's real CLI entry point.

Each ``conformance/<area>/<case>/`` holds a bundle and:

- ``output.txt``: the text output of ``bundle validate`` (diagnostics, the summary header, the
  count line), then ``Exit code: N`` when it is not 0 — the layout of the CLI's acceptance tests;
- ``output.json`` (optional): ``{selector: value}`` checked against ``bundle validate -o json``,
  a selector being a path into the document (``resources.jobs.foo.tasks[0]``, ``.`` for all);
- ``args`` (optional): more command-line arguments; ``env.json`` (optional): environment.

The expectations are written from the CLI's documented behaviour, not from healthmon's output.
``[USERNAME]`` stands for the current user, ``[BUNDLE_ROOT]`` for the bundle's directory.
"""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from healthmon.bundle.dyn import parse_path

HERE = Path(__file__).parent / "conformance"
CASES = sorted(p.parent for p in HERE.glob("*/*/output.txt"))
EXPECTATION_FILES = ("output.txt", "output.json", "args", "env.json")
USER = "tester@example.com"


def select(doc, selector: str):
    if selector == ".":
        return doc
    for part in parse_path(selector):
        doc = doc[part]
    return doc


def run(args: list[str]):
    from healthmon.cli.main import app

    return CliRunner().invoke(app, ["bundle", "validate", *args])


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_conformance(case: Path, tmp_path, monkeypatch):
    root = tmp_path / "bundle"
    shutil.copytree(case, root, symlinks=True, ignore=shutil.ignore_patterns(*EXPECTATION_FILES))
    monkeypatch.setenv("HEALTHMON_USER", USER)
    monkeypatch.chdir(root)
    env = case / "env.json"
    for k, v in (json.loads(env.read_text()) if env.exists() else {}).items():
        monkeypatch.setenv(k, v)
    args = shlex.split((case / "args").read_text()) if (case / "args").exists() else []

    expected = (case / "output.txt").read_text().replace("[USERNAME]", USER).replace("[BUNDLE_ROOT]", str(root.resolve()))
    r = run(["-p", str(root), *args])
    text = r.stdout + r.stderr + (f"\nExit code: {r.exit_code}\n" if r.exit_code else "")
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert text == expected

    want = case / "output.json"
    if want.exists():
        r = run(["-p", str(root), "-o", "json", *args])
        assert r.exit_code == (1 if "Exit code: 1" in expected else 0), r.stderr
        doc = json.loads(r.stdout)
        for selector, value in json.loads(want.read_text().replace("[USERNAME]", USER)).items():
            assert select(doc, selector) == value, selector


def test_there_are_many_cases_per_area():
    areas = {c.parent.name for c in CASES}
    assert len(CASES) >= 82 and len(areas) >= 7
