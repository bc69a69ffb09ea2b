"""The Health Monitor orchestrator run: this tree's jobs runtime against the old process path.

Issue target: the orchestrator run no slower than the old process path (runner server, zygotes, C
fork loop; commit ``f7de2f0``) by more than 5 %. Whole ``make demo`` runs of the two commits would
also measure every ML change made since, so only the runtime is compared:

- the bundle is this repository's ``databricks.yml`` and ``resources/**/*.yml`` copied unchanged
  (the orchestrator job, its ``run_job_task`` jobs, their notebook tasks, ``depends_on``, retries,
  timeouts, environments, notifications), with every notebook it names replaced by one synthetic
  notebook: read its widgets, import what a real task imports first (numpy, pandas, pyarrow),
  spend a fixed amount of CPU time, exit with a JSON result;
- each version deploys its own copy of that bundle into its own ``HEALTHMON_HOME`` with its own
  CLI (``bundle deploy -t dev``), runs it once to warm up, then ``bundle run -t dev
  ml_orchestrator_job`` is timed in rounds that alternate the versions (old-new, new-old, ...),
  so that a slow spell of the machine hits both;
- the value is the wall time of ``bundle run`` (what ``make demo``'s ``orchestrator_run`` phase
  measures); the run's own duration (start → end in the run record) and the load average around
  each run are reported too.

The old code is a git worktree of ``f7de2f0`` with its own ``.venv`` (``make setup`` there, which
builds its C extension with gcc)::

    git worktree add /work/wt/orch-old f7de2f0 && make -C /work/wt/orch-old setup
    HEALTHMON_BENCH_OLD_TREE=/work/wt/orch-old HEALTHMON_BENCH_ROUNDS=10 \\
        .venv/bin/python -m benchmarks.run orchestrator

Without an old tree the benchmark reports nothing (and the stored results stay).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from benchmarks.run import Result

ROOT = Path(__file__).resolve().parents[1]
OLD_COMMIT = "f7de2f0"
JOB_KEY = "ml_orchestrator_job"
TARGET_RATIO = 1.05

# Every task's body. The imports come first, as in the real notebooks (whose first import is the
# healthmon library, which imports these): a task attempt's start-up is then as heavy as a real
# one's without measuring the healthmon import itself, which differs between the two commits.
SYNTHETIC_NOTEBOOK = """# Databricks notebook source
import json
import time

import numpy as np
import pandas as pd
import pyarrow as pa

# COMMAND ----------

params = {{name: dbutils.widgets.get(name) for name in ("catalog", "gold_schema", "feature_schema")}}

# COMMAND ----------

# A fixed amount of CPU time (not wall time: on a busy machine the task then takes longer, as a
# real one would), spent in pandas as a real task's would be.
start = time.process_time()
frame = pd.DataFrame({{"key": np.arange(20_000) % 97, "value": np.arange(20_000, dtype="float64")}})
rounds = 0
while time.process_time() - start < {cpu_seconds}:
    frame.groupby("key")["value"].sum()
    rounds += 1
table = pa.Table.from_pandas(frame.head(10))
print(json.dumps({{"params": params, "rounds": rounds, "rows": table.num_rows}}))

# COMMAND ----------

dbutils.notebook.exit(json.dumps({{"status": "SUCCESS", "rounds": rounds}}))
"""


@dataclass
class Version:
    """One jobs runtime: its CLI, and the bundle copy and workspace it deploys to."""

    label: str
    tree: Path
    cli: Path
    bundle: Path
    home: Path
    env: dict[str, str]
    job_id: int = 0


def _notebook_paths(resources: Path) -> set[Path]:
    """Every notebook_path in the bundle's resource files, resolved against the file naming it."""
    found: set[Path] = set()

    def walk(node: object, base: Path) -> None:
        if isinstance(node, dict):
            path = node.get("notebook_path")
            if isinstance(path, str):
                found.add((base / path).resolve())
            for value in node.values():
                walk(value, base)
        elif isinstance(node, list):
            for value in node:
                walk(value, base)

    for file in sorted(resources.rglob("*.yml")):
        walk(yaml.safe_load(file.read_text()), file.parent)
    return found


def job_graph(resources: Path, key: str = JOB_KEY) -> tuple[int, int]:
    """(job runs, notebook tasks) one run of job ``key`` makes, following its run_job_tasks."""
    jobs: dict[str, dict] = {}
    for file in sorted(resources.rglob("*.yml")):
        jobs.update((yaml.safe_load(file.read_text()) or {}).get("resources", {}).get("jobs", {}))

    def count(job: str) -> tuple[int, int]:
        runs, notebooks = 1, 0
        for task in jobs[job].get("tasks", []):
            if "notebook_task" in task:
                notebooks += 1
            elif "run_job_task" in task:
                child = str(task["run_job_task"]["job_id"]).removeprefix("${resources.jobs.").removesuffix(".id}")
                child_runs, child_notebooks = count(child)
                runs, notebooks = runs + child_runs, notebooks + child_notebooks
        return runs, notebooks

    return count(key)


def write_bundle(dest: Path, cpu_seconds: float) -> None:
    """The repository's bundle definition, unchanged, with a synthetic notebook at every notebook
    path it names."""
    dest.mkdir(parents=True)
    shutil.copy2(ROOT / "databricks.yml", dest / "databricks.yml")
    shutil.copytree(ROOT / "resources", dest / "resources")
    body = SYNTHETIC_NOTEBOOK.format(cpu_seconds=cpu_seconds)
    for path in _notebook_paths(dest / "resources"):
        if not path.is_relative_to(dest):
            raise ValueError(f"notebook {path} lies outside the bundle {dest}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)


def _closed_port() -> int:
    """A local port nothing listens on: the bundle's email notifications fail at once, the same way
    for both versions, instead of reaching a mail server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _version(label: str, tree: Path, cli: Path, work: Path, cpu_seconds: float, smtp_port: int) -> Version:
    if not cli.exists():
        raise FileNotFoundError(f"{label}: no healthmon CLI at {cli} (run `make setup` in {tree})")
    bundle, home = work / label / "bundle", work / label / "home"
    write_bundle(bundle, cpu_seconds)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEALTHMON_", "MLFLOW_", "VIRTUAL_ENV"))}
    env.update(HEALTHMON_HOME=str(home), HEALTHMON_SMTP_HOST="127.0.0.1", HEALTHMON_SMTP_PORT=str(smtp_port),
               PATH=f"{cli.parent}{os.pathsep}{env.get('PATH', '')}")
    return Version(label, tree, cli, bundle, home, env)


def _cli(version: Version, *args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(version.cli), *args], cwd=version.bundle, env=version.env, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{version.label}: `healthmon {' '.join(args)}` exited {proc.returncode}:\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def deploy(version: Version) -> None:
    _cli(version, "bundle", "deploy", "-t", "dev")
    jobs = json.loads(_cli(version, "jobs", "list", "-o", "json").stdout).get("jobs", [])
    ids = [j["job_id"] for j in jobs if j["settings"]["name"].endswith("Health Monitor - ML Pipeline Orchestrator")]
    if len(ids) != 1:
        raise RuntimeError(f"{version.label}: expected one deployed orchestrator job, found {ids}")
    version.job_id = ids[0]


def run_once(version: Version) -> dict:
    """One timed `bundle run` of the orchestrator; its wall time, run duration and load average."""
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    _cli(version, "bundle", "run", "-t", "dev", JOB_KEY)
    wall = time.perf_counter() - t0
    load_after = os.getloadavg()[0]
    runs = json.loads(_cli(version, "runs", "list", "--job-id", str(version.job_id), "-o", "json").stdout)["runs"]
    last = max(runs, key=lambda r: r["run_id"])
    if last["state"].get("result_state") != "SUCCESS":
        raise RuntimeError(f"{version.label}: orchestrator run {last['run_id']} ended {last['state']}")
    return {"wall_s": round(wall, 3), "run_duration_s": (last["end_time"] - last["start_time"]) / 1000,
            "load_before": round(load_before, 2), "load_after": round(load_after, 2)}


def _commit(tree: Path) -> str:
    out = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or "?"


def _spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s, min {min(values):.2f}, max {max(values):.2f}"


def measure(old_tree: Path, rounds: int, cpu_seconds: float, keep: bool = False) -> list[Result]:
    work = Path(tempfile.mkdtemp(prefix="hm_bench_orch_"))
    try:
        port = _closed_port()
        new = _version("new", ROOT, Path(sys.executable).with_name("healthmon"), work, cpu_seconds, port)
        old = _version("old", old_tree, old_tree / ".venv" / "bin" / "healthmon", work, cpu_seconds, port)
        graph = job_graph(new.bundle / "resources")
        for version in (old, new):
            deploy(version)
            run_once(version)  # warm-up: the operating system's caches, the runtime's first-run work
        samples: dict[str, list[dict]] = {"old": [], "new": []}
        for i in range(rounds):
            for version in (old, new) if i % 2 == 0 else (new, old):
                sample = run_once(version)
                samples[version.label].append(sample)
                print(f"  round {i + 1}/{rounds} {version.label}: {sample}", file=sys.stderr, flush=True)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return _results(samples, old_tree, graph, cpu_seconds)


def _results(samples: dict[str, list[dict]], old_tree: Path, graph: tuple[int, int],
             cpu_seconds: float) -> list[Result]:
    rounds = len(samples["new"])
    wall = {k: [s["wall_s"] for s in v] for k, v in samples.items()}
    duration = {k: [s["run_duration_s"] for s in v] for k, v in samples.items()}
    loads = [s[key] for v in samples.values() for s in v for key in ("load_before", "load_after")]
    paired = sorted(n / o for n, o in zip(wall["new"], wall["old"]))
    ratio = statistics.median(wall["new"]) / statistics.median(wall["old"])
    old_name = f"old process path ({OLD_COMMIT}, {old_tree})"
    how = (f"{rounds} rounds alternating old/new after one warm-up run each; the repository's job graph "
           f"(one orchestrator run: {graph[0]} job runs with run_job_task, {graph[1]} notebook tasks) with each "
           f"notebook replaced by imports (numpy, pandas, pyarrow) + {cpu_seconds} s of CPU; "
           f"default slots ({os.cpu_count()} cores); new = {_commit(ROOT)}")
    load = (f"load average (1 min) around the runs: median {statistics.median(loads):.1f}, "
            f"min {min(loads):.1f}, max {max(loads):.1f}")
    return [
        Result(
            name="orchestrator (Health Monitor job graph, synthetic task bodies), `bundle run` wall time",
            value=statistics.median(wall["new"]), unit="s", baseline_name=old_name,
            baseline_value=statistics.median(wall["old"]), target=f"<= {TARGET_RATIO}x the old process path",
            passed=ratio <= TARGET_RATIO,
            notes=(f"{how}. new {_spread(wall['new'])}; old {_spread(wall['old'])}; difference of the medians "
                   f"{statistics.median(wall['new']) - statistics.median(wall['old']):+.2f} s; per-round ratio new/old "
                   f"median {statistics.median(paired):.3f}, min {paired[0]:.3f}, max {paired[-1]:.3f}; {load}"),
            extra={"samples": samples, "cpu_seconds": cpu_seconds},
        ),
        Result(
            name="orchestrator (Health Monitor job graph, synthetic task bodies), run duration",
            value=statistics.median(duration["new"]), unit="s", baseline_name=old_name,
            baseline_value=statistics.median(duration["old"]), target="informational", passed=None,
            notes=(f"start -> end of the orchestrator run record (without the CLI's start and the wait for the "
                   f"result); new {_spread(duration['new'])}; old {_spread(duration['old'])}"),
        ),
    ]


def _old_tree() -> Path | None:
    configured = os.environ.get("HEALTHMON_BENCH_OLD_TREE")
    tree = Path(configured) if configured else ROOT.parent / "orch-old"
    return tree if (tree / ".venv" / "bin" / "healthmon").exists() else None


def run(quick: bool) -> list[Result]:
    tree = _old_tree()
    if tree is None:
        print("  skipped: no old tree (set HEALTHMON_BENCH_OLD_TREE to a worktree of "
              f"{OLD_COMMIT} with its .venv)", file=sys.stderr)
        return []
    rounds = int(os.environ.get("HEALTHMON_BENCH_ROUNDS") or (2 if quick else 10))
    cpu = float(os.environ.get("HEALTHMON_BENCH_TASK_CPU") or 0.5)
    return measure(tree, rounds, cpu)


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(r)
