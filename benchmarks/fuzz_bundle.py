"""Fault injection on bundles: structured mutations of real bundles, fed to the CLI.

``python -m benchmarks.fuzz_bundle --n 2000 --seed 1`` takes every bundle under
``tests/bundle/conformance/`` and the Health Monitor bundle (the repository root), applies one
seeded mutation to the parsed YAML tree of one of its files (a node replaced by a value of
another kind, a key deleted, a list item duplicated, a container emptied, a target renamed, an
unknown field added, an include pointed at a broken file) and runs ``healthmon bundle validate``
(text and ``-o json``) in this process, as a user would, with ``HEALTHMON_HOME`` in a temporary
directory. ``--deploy`` runs ``bundle deploy`` and ``jobs run-now`` on a small three-job bundle
instead (see ``DEPLOY_BUNDLE``).

A finding is a Python traceback (or the CLI's "unexpected internal error"), an exit code other
than 0/1, stdout that is not JSON under ``-o json``, a command that runs longer than
``HANG_SECONDS``, an error diagnostic that names neither a file nor its cause, or (deploy) a
refused deploy that changed the jobs deployed before, or a run that ended in an internal error.
The same seed gives the same mutations, so a finding is reproduced with ``--seed S --only I``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
CONFORMANCE = REPO / "tests" / "bundle" / "conformance"
EXPECTATION_FILES = ("output.txt", "output.json", "args", "env.json", "root")
HANG_SECONDS = 20
USER = "fuzzer@example.com"

# Values a node is replaced by: one of every kind the YAML tree can hold, and the strings that
# have broken the loader before (references, an unterminated ``${``, path-like and long text).
REPLACEMENTS: list[Any] = [
    "a string", 0, 7, -1, 3.5, True, False, None, [], {}, ["x", 1], {"k": "v"}, {"task_key": "t"},
    "${var.x}", "${", "${var.", "${resources.jobs.x.id}", "${resources.jobs.x}", "${bundle.}",
    "x" * 5000, "Ünïcödé ✓ 日本語", "a/b c/../d e", "../../../etc/passwd", "", " ", "0 0 3 ? * SUN",
    "${var.catalog", "$${var.x}", "${workspace.file_path}/x", 10**30, float("inf"),
]

# Keys a map key is renamed to: YAML allows keys of every scalar kind, and names that look like
# paths, references or globs.
KEYS: list[Any] = [1, 0, True, False, None, 3.5, "", " ", "${var.x}", "a.b", "[0]", "tasks[0]", "*", "Ünï",
                   "a b/c", "x" * 300, "-", "<<", "resources", "name", "task_key"]

# Files an include may name, by what is wrong with them: (path in the bundle, bytes).
BROKEN_FILES: dict[str, tuple[str, bytes]] = {
    "binary": ("fuzz/binary.yml", bytes(range(256)) * 4),
    "empty": ("fuzz/empty.yml", b""),
    "only-separator": ("fuzz/sep.yml", b"---\n"),
    "multi-document": ("fuzz/multi.yml", b"resources: {}\n---\nresources: {}\n"),
    "tabs": ("fuzz/tabs.yml", b"resources:\n\tjobs:\n\t\tx:\n\t\t\tname: x\n"),
    "utf16": ("fuzz/utf16.yml", "resources:\n  jobs:\n    u16:\n      name: u\n".encode("utf-16")),
    "bom": ("fuzz/bom.yml", "\ufeffresources:\n  jobs:\n    bom_job:\n      name: b\n".encode()),
    "latin1": ("fuzz/latin1.yml", "resources:\n  jobs:\n    l1:\n      name: caf\xe9\n".encode("latin-1")),
    "scalar-document": ("fuzz/scalar.yml", b"just a string\n"),
    "list-document": ("fuzz/list.yml", b"- a\n- b\n"),
    "nested-include": ("fuzz/nested.yml", b"include:\n  - ../databricks.yml\n"),
    "not-yaml": ("fuzz/notes.txt", b"hello\n"),
}

# Include entries that name no readable file: (entry, how to prepare the bundle for it).
BROKEN_ENTRIES: dict[str, tuple[str, Callable[[Path], None] | None]] = {
    "missing": ("fuzz/missing.yml", None),
    "directory": ("fuzz/dir.yml", lambda root: (root / "fuzz" / "dir.yml").mkdir(parents=True, exist_ok=True)),
    "self-loop-symlink": ("fuzz/*.yml", lambda root: _symlink_loop(root / "fuzz" / "loop.yml")),
    "glob-none": ("nothing/**/*.yml", None),
    "absolute": ("/etc/hostname", None),
}


def _symlink_loop(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_symlink():
        os.symlink(path.name, path)


def broken_include(name: str, root: Path) -> str:
    """Prepare the broken include ``name`` in the bundle at ``root``; the entry for ``include``."""
    if name in BROKEN_FILES:
        rel, data = BROKEN_FILES[name]
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        return rel
    rel, prepare = BROKEN_ENTRIES[name]
    if prepare is not None:
        prepare(root)
    return rel


# -- bundles ------------------------------------------------------------------------------
@dataclass
class Case:
    name: str
    source: Path
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    links: tuple[str, ...] = ()  # large directories linked rather than copied

    def materialise(self, dest: Path) -> Path:
        """A fresh copy of the bundle under ``dest`` (with its ``outside/`` beside it)."""
        root = dest / "bundle"
        if self.links:
            root.mkdir(parents=True)
            for entry in self.source.iterdir():
                if entry.name in self.links:
                    os.symlink(entry, root / entry.name)
            for rel in ("databricks.yml", "resources"):
                src = self.source / rel
                if src.is_dir():
                    shutil.copytree(src, root / rel)
                elif src.exists():
                    shutil.copy(src, root / rel)
        else:
            shutil.copytree(self.source, root, symlinks=True,
                            ignore=shutil.ignore_patterns(*EXPECTATION_FILES, "outside"))
            if (self.source / "outside").is_dir():
                shutil.copytree(self.source / "outside", dest / "outside", symlinks=True)
        return root


def conformance_cases() -> list[Case]:
    cases = []
    for out in sorted(CONFORMANCE.glob("*/*/output.txt")):
        d = out.parent
        if (d / "root").exists():  # a bundle directory with a special name: the copy keeps ours
            continue
        args = (d / "args").read_text().split() if (d / "args").exists() else []
        env = json.loads((d / "env.json").read_text()) if (d / "env.json").exists() else {}
        cases.append(Case(f"{d.parent.name}/{d.name}", d, args, env))
    return cases


def health_monitor_case() -> Case:
    return Case("health-monitor", REPO, links=("src",))


def yaml_files(root: Path) -> list[Path]:
    """The bundle's YAML files whose tree the mutations can walk (one document that parses)."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file()):
        if path.is_symlink() or "src" in path.relative_to(root).parts[:1]:
            continue
        try:
            doc = yaml.safe_load(path.read_text())
        except (yaml.YAMLError, UnicodeDecodeError, ValueError):
            continue
        if isinstance(doc, dict):
            found.append(path)
    return found


# -- mutations ----------------------------------------------------------------------------
def paths_of(obj: Any, prefix: tuple = ()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from paths_of(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from paths_of(v, prefix + (i,))


def _parent(doc: Any, path: tuple) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


def mutate(doc: dict, root: Path, rng: random.Random) -> str:
    """Change ``doc`` (the tree of one file of the bundle at ``root``) in place; a description."""
    paths = [p for p in paths_of(doc) if p]
    kinds = ["replace"] * 5 + ["delete", "duplicate", "empty", "unknown", "include", "target", "rename", "rename"]
    kind = rng.choice(kinds)
    if kind == "include" or not paths:
        name = rng.choice(sorted([*BROKEN_FILES, *BROKEN_ENTRIES]))
        rel = broken_include(name, root)
        includes = doc.get("include")
        doc["include"] = (includes if isinstance(includes, list) else []) + [rel]
        return f"include {name} ({rel})"
    if kind == "target":
        targets = doc.get("targets")
        if isinstance(targets, dict) and targets:
            old = rng.choice(sorted(map(str, targets)))
            new = rng.choice(["prod", "dev", "x y", "", "Ünï", "${var.x}", "a/b"])
            doc["targets"] = {(new if str(k) == old else k): v for k, v in targets.items()}
            return f"rename target {old!r} -> {new!r}"
        kind = "replace"
    path = rng.choice(paths)
    parent, last = _parent(doc, path), path[-1]
    where = ".".join(map(str, path))
    if kind == "replace":
        value = rng.choice(REPLACEMENTS)
        parent[last] = value
        return f"replace {where} by {str(value)[:40]!r}"
    if kind == "rename" and isinstance(parent, dict):
        key = rng.choice(KEYS)
        parent[key] = parent.pop(last)
        return f"rename {where} to {key!r}"
    if kind in ("delete", "rename"):
        del parent[last]
        return f"delete {where}"
    if kind == "duplicate":
        lists = [p for p in paths if isinstance(_parent(doc, p + ("x",)), list) and _parent(doc, p + ("x",))]
        if lists:
            p = rng.choice(lists)
            items = _parent(doc, p + ("x",))
            items.append(json.loads(json.dumps(rng.choice(items), default=str)))
            return f"duplicate an item of {'.'.join(map(str, p))}"
        parent[last] = [parent[last], parent[last]]
        return f"listify {where}"
    if kind == "empty":
        containers = [p for p in paths if isinstance(_parent(doc, p + ("x",)), (dict, list))]
        p = rng.choice(containers) if containers else path
        node = _parent(doc, p + ("x",))
        _parent(doc, p)[p[-1]] = {} if isinstance(node, dict) else []
        return f"empty {'.'.join(map(str, p))}"
    # unknown field, in a map on the path
    maps = [p for p in paths if isinstance(_parent(doc, p + ("x",)), dict)]
    p = rng.choice(maps) if maps else ()
    target = _parent(doc, p + ("x",)) if p else doc
    target[rng.choice(["unknown_field", "Ünknown", "a b/c", "${var.x}", "tasks", "name"])] = rng.choice(REPLACEMENTS)
    return f"add a field to {'.'.join(map(str, p)) or '<root>'}"


def mutate_files(root: Path, files: list[Path], rng: random.Random) -> str:
    """One to three mutations, each of one of ``files`` (rewritten); a description of them."""
    changes = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        path = rng.choice(files)
        doc = yaml.safe_load(path.read_text())
        if not isinstance(doc, dict):
            break
        changes.append(f"{path.relative_to(root)}: " + mutate(doc, root, rng))
        path.write_text(dump(doc))
    return "; ".join(changes)


def dump(doc: dict) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=10**6)


# -- running the CLI ----------------------------------------------------------------------
class Hang(BaseException):
    """Raised by the alarm: a BaseException, so the CLI's last line of defence does not catch it."""


@dataclass
class Outcome:
    code: int | None
    out: str
    err: str


def run_cli(argv: list[str], env: dict[str, str], cwd: Path) -> Outcome:
    """``healthmon ARGV`` in this process, stdout and stderr captured, with ``env`` set."""
    from healthmon.cli.main import main

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    out, err = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(HANG_SECONDS)
    code: int | None = 0
    here = os.getcwd()
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Hang:
                code = None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        os.chdir(here)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return Outcome(code, out.getvalue(), err.getvalue())


def _on_alarm(signum, frame):
    raise Hang


# Errors the CLI gives without a file because the message names what is wrong (a variable, a
# target, a reference, a lookup, an include pattern, a path as written).
NAMED_NOT_LOCATED = (
    "Detected unresolved variables after ", "no value assigned to required variable ", "reference does not exist: ${",
    "cannot interpolate non-string value: ${", "cycle detected in field resolution: ",
    ": no such target. Available targets: ",
    " to ensure uniqueness when using 'mode: development'", "failed to resolve ", "invalid permission level: ",
    "cannot include a pipeline with 'development: true'", "multiple targets are marked as default (",
    "please specify target", "unable to define default workspace root: bundle name not defined",
    " defined in 'include' section does not match any files", ": includes must be relative paths",
    " is writable by all workspace users", " not found", " has not been defined", "file is not UTF-8",
    " is not contained in sync root path", '" but got a ',
    "variable has already been assigned value", "unable to load ", "no such file or directory", "is a directory",
    "exit status ",  # a failing script hook: the CLI prints the shell's exit status alone
    "failed to execute script: ", "invalid version constraint ", "version constraint not satisfied",
    "multiple bundle root configuration files found", "failed to parse variables file ", "variable file is not",
    "syntax error in pattern", " warnings were found.", "No such option: ", "app.yml detected",
    "Python wheel tasks require compute", "via --var flag", "environment variables (BUNDLE_VAR_",
    "unexpected flag value for variable assignment", "but the value in the variable file",
    " has no tasks to run.",  # run-now names the job
    "cannot copy the bundle's files to ",  # deploy's sync names the folder
    " but found a file", " but found a directory",  # translate_paths: the path as written, as the CLI
    " is not defined but is assigned a value", "only 'targets' should be used: ",
    " specified for 'mode': must be either ",
    "failed to load ",  # a file that does not parse: the CLI names it (absolute path) with yaml.v3's line
)
# ``Error: FILE:LINE:COL: summary``, the layout of a YAML file that does not parse.
LOCATED_SUMMARY = re.compile(r"^Error: [^:\s][^:]*:\d+:\d+: ")


def problems(outcome: Outcome, json_output: bool) -> list[tuple[str, str]]:
    """(kind, detail) of each finding in one run of the CLI."""
    text = outcome.out + outcome.err
    found = []
    if outcome.code is None:
        return [("hang", f"no answer in {HANG_SECONDS} s")]
    if "Traceback (most recent call last)" in text or "unexpected internal error" in text:
        line = next((x for x in text.splitlines() if "internal error" in x or "Error" in x), text[-200:])
        return [("traceback", line.strip()[:300])]
    usage = outcome.code == 2 and "Try 'healthmon " in text  # click's usage error (an unknown option)
    if outcome.code not in (0, 1) and not usage:
        found.append(("exit-code", f"exit {outcome.code}: {text.strip()[-200:]}"))
    if json_output and outcome.out.strip():
        try:
            json.loads(outcome.out)
        except ValueError:
            found.append(("not-json", outcome.out.strip()[:200]))
    for block in _diagnostics(outcome.err if json_output else text):
        head = block[0]
        if not head.startswith("Error: "):
            continue
        has_location = any(x.startswith("  in ") for x in block[1:])
        if not has_location and not LOCATED_SUMMARY.match(head) and not any(p in head for p in NAMED_NOT_LOCATED):
            found.append(("unlocated", head[:300]))
    return found


def _diagnostics(text: str) -> list[list[str]]:
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith(("Error: ", "Warning: ", "Recommendation: ")):
            blocks.append([line])
        elif blocks and line.startswith("  "):
            blocks[-1].append(line)
    return blocks


# -- campaigns ----------------------------------------------------------------------------
@dataclass
class Finding:
    index: int
    case: str
    mutation: str
    command: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"#{self.index} {self.kind} [{self.case}] {self.mutation} | {self.command}: {self.detail}"


def validate_one(index: int, case: Case, rng: random.Random, tmp: Path) -> tuple[str, list[Finding]]:
    root = case.materialise(tmp)
    files = yaml_files(root)
    if not files:
        return "no yaml", []
    mutation = mutate_files(root, files, rng)
    target = _some_target(root, rng) if rng.random() < 0.3 else []
    env = {**case.env, "HEALTHMON_HOME": str(tmp / "home"), "HEALTHMON_USER": USER}
    findings = []
    for extra in ([], ["-o", "json"]):
        argv = ["bundle", "validate", "-p", str(root), *case.args, *target, *extra]
        outcome = run_cli(argv, env, root)
        for kind, detail in problems(outcome, bool(extra)):
            findings.append(Finding(index, case.name, mutation, " ".join(["validate", *extra]), kind, detail))
    return mutation, findings


def _some_target(root: Path, rng: random.Random) -> list[str]:
    """``-t NAME`` for one of the targets the (mutated) root file names, if any."""
    try:
        targets = yaml.safe_load((root / "databricks.yml").read_text()).get("targets")
    except (OSError, yaml.YAMLError, AttributeError):
        return []
    return ["-t", str(rng.choice(sorted(map(str, targets))))] if isinstance(targets, dict) and targets else []


def campaign(n: int, seed: int, only: int | None, step: Callable, cases: list[Case], verbose: bool) -> list[Finding]:
    findings: list[Finding] = []
    for i in range(n) if only is None else [only]:
        rng = random.Random(f"{seed}:{i}")
        case = rng.choice(cases)
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="hm-fuzz-") as tmp:
            mutation, found = step(i, case, rng, Path(tmp))
        if verbose:
            print(f"#{i} [{case.name}] {mutation} ({time.monotonic() - started:.1f} s)", file=sys.__stderr__)
        for f in found:
            print(f, file=sys.__stderr__, flush=True)
        findings += found
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="number of mutations")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", type=int, help="run only mutation number I (to reproduce a finding)")
    parser.add_argument("--deploy", action="store_true", help="deploy + run-now on the three-job bundle")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every mutation")
    args = parser.parse_args(argv)
    if args.deploy:
        from benchmarks.fuzz_deploy import deploy_cases, deploy_one

        step, cases = deploy_one, deploy_cases()
    else:
        step, cases = validate_one, [*conformance_cases(), health_monitor_case()]
    findings = campaign(args.n, args.seed, args.only, step, cases, args.verbose)
    kinds = Counter(f.kind for f in findings)
    print(json.dumps({"mutations": args.n if args.only is None else 1, "seed": args.seed,
                      "findings": len(findings), "by_kind": dict(sorted(kinds.items()))}))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
