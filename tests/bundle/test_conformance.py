"""Conformance cases: bundles with the output the Databricks CLI (>= 0.250) gives for
``databricks bundle validate``, run through healthmon's real CLI entry point (``healthmon.cli.main:main``).

Each ``conformance/<area>/<case>/`` holds a bundle and:

- ``output.txt``: the text output of ``bundle validate`` (diagnostics, the summary header, the
  count line), then ``Exit code: N`` when it is not 0 — the layout of the CLI's acceptance tests;
- ``output.json`` (optional): ``{selector: value}`` checked against ``bundle validate -o json``,
  a selector being a path into the document (``resources.jobs.foo.tasks[0]``,
  ``__locations.locations["bundle.name"]``, ``.`` for all);
- ``args`` (optional): more command-line arguments; ``env.json`` (optional): environment;
- ``root`` (optional): the name of the bundle's directory (default ``bundle``);
- ``git-repo`` (optional, empty): the bundle's directory is made a git repository (``git init``,
  as the acceptance tests' ``git-repo-init``);
- ``outside/`` (optional): files placed beside the bundle's directory, for paths and includes
  outside the bundle root (``../outside/x.yml``).

The expectations are written from the CLI's documented behaviour, not from healthmon's output.
``[USERNAME]`` stands for the current user, ``[BUNDLE_ROOT]`` for the bundle's directory and
``[TEST_TMP_DIR]`` for the directory holding it and ``outside/`` (in ``output.txt`` and
``output.json``).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "conformance"
CASES = sorted(p.parent for p in HERE.glob("*/*/output.txt"))
EXPECTATION_FILES = ("output.txt", "output.json", "args", "env.json", "root", "git-repo")
OUTSIDE = "outside"
USER = "tester@example.com"


# A selector's parts: `name`, `[index]` or `["key with dots"]` (a `__locations` entry).
_SELECTOR_PART = re.compile(r'\.?([^.\[\]"]+)|\[(\d+)\]|\["([^"]+)"\]')


def select(doc, selector: str):
    if selector == ".":
        return doc
    for m in _SELECTOR_PART.finditer(selector):
        name, index, key = m.groups()
        doc = doc[int(index)] if index is not None else doc[name if name is not None else key]
    return doc


def run(args: list[str], capsys) -> tuple[int, str, str]:
    """``healthmon bundle validate ARGS`` through the installed entry point (``main``, which also
    turns usage errors into click's message and exit 2): (exit code, stdout, stderr)."""
    from healthmon.cli.main import main

    with pytest.raises(SystemExit) as exited:
        main(["bundle", "validate", *args])
    out = capsys.readouterr()
    return exited.value.code or 0, out.out, out.err


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_conformance(case: Path, tmp_path, monkeypatch, capsys):
    root = tmp_path / ((case / "root").read_text().strip() if (case / "root").exists() else "bundle")
    shutil.copytree(case, root, symlinks=True, ignore=shutil.ignore_patterns(*EXPECTATION_FILES, OUTSIDE))
    if (case / OUTSIDE).is_dir():
        shutil.copytree(case / OUTSIDE, tmp_path / OUTSIDE)
    if (case / "git-repo").exists():
        subprocess.run(["git", "init", "-q", str(root)], check=True)
    monkeypatch.setenv("HEALTHMON_USER", USER)
    monkeypatch.chdir(root)
    env = case / "env.json"
    for k, v in (json.loads(env.read_text()) if env.exists() else {}).items():
        monkeypatch.setenv(k, v)
    args = shlex.split((case / "args").read_text()) if (case / "args").exists() else []

    expected = ((case / "output.txt").read_text().replace("[USERNAME]", USER)
                .replace("[BUNDLE_ROOT]", str(root.resolve())).replace("[TEST_TMP_DIR]", str(tmp_path.resolve())))
    code, out, err = run(["-p", str(root), *args], capsys)
    assert "Traceback" not in err and "internal error" not in err, err
    assert out + err + (f"\nExit code: {code}\n" if code else "") == expected

    want = case / "output.json"
    if want.exists():
        code, out, err = run(["-p", str(root), "-o", "json", *args], capsys)
        assert code == (1 if "Exit code: 1" in expected else 0), err
        doc = json.loads(out)
        text = want.read_text().replace("[USERNAME]", USER).replace("[BUNDLE_ROOT]", json.dumps(str(root.resolve()))[1:-1])
        for selector, value in json.loads(text).items():
            assert select(doc, selector) == value, selector


def test_there_are_many_cases_per_area():
    areas = {c.parent.name for c in CASES}
    assert len(CASES) >= 82 and len(areas) >= 7
