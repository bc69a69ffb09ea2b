"""``healthmon bundle validate`` as a whole process.

- the repository's Health Monitor bundle (``databricks.yml`` at the repo root; the basic test
  fixture if absent), target <= 0.5 s median;
- a generated 500-job bundle (1,500 tasks, 1,000 notebooks with widgets, run_job_task chains,
  schedules, environments, variables), target <= 3 s median;
both next to ``python -c pass`` measured in the same run (interpreter start-up is the floor). The
value is the child's CPU time: the machine is shared, and wall time then mostly measures the wait
for a core; wall times are in the notes.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.run import Result

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work"


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("healthmon")
    return [str(script)] if script.exists() else [sys.executable, "-m", "healthmon.cli.main"]


def _time(cmd: list[str], runs: int, env: dict[str, str]) -> tuple[float, float]:
    """(median wall seconds, median CPU seconds of the child). CPU time is reported too because
    wall time on a shared machine includes waiting for a core."""
    import resource

    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        walls.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.decode()[-2000:]}")
    return statistics.median(walls), statistics.median(cpus)


def generate(root: Path, jobs: int = 500) -> Path:
    """A large, valid bundle: ``jobs`` jobs in 10 resource files, 3 tasks each."""
    if root.exists():
        shutil.rmtree(root)
    (root / "resources").mkdir(parents=True)
    (root / "src").mkdir()
    (root / "databricks.yml").write_text(
        "bundle:\n  name: big_bundle\n"
        "variables:\n  catalog: {default: main}\n  schema: {default: gold}\n"
        "include:\n  - resources/*.yml\n"
        "targets:\n  dev: {mode: development, default: true, variables: {catalog: dev}}\n  prod: {mode: production}\n")
    per_file = jobs // 10
    for f in range(10):
        out = ["resources:", "  jobs:"]
        for j in range(f * per_file, (f + 1) * per_file):
            for n in ("a", "b"):
                (root / "src" / f"nb_{j}_{n}.py").write_text(
                    "# Databricks notebook source\n"
                    'catalog = dbutils.widgets.get("catalog")\n'
                    'schema = dbutils.widgets.get("schema")\n'
                    'dbutils.widgets.text("limit", "10")\n'
                    'limit = dbutils.widgets.get("limit")\n'
                    "dbutils.notebook.exit('ok')\n")
            out += [
                f"    job_{j}:",
                f'      name: "Job {j} for ${{var.catalog}}"',
                "      environments:",
                "        - environment_key: default",
                "          spec: {environment_version: \"4\", dependencies: [\"pandas>=2.0\", \"scikit-learn>=1.3\"]}",
                "      tags: {team: data, index: \"%d\"}" % j,
                "      tasks:",
            ]
            for n in ("a", "b"):
                out += [
                    f"        - task_key: task_{n}",
                    "          environment_key: default",
                    *(["          depends_on: [{task_key: task_a}]"] if n == "b" else []),
                    "          notebook_task:",
                    f"            notebook_path: ../src/nb_{j}_{n}.py",
                    "            base_parameters: {catalog: \"${var.catalog}\", schema: \"${var.schema}\"}",
                ]
            if j > 0:
                out += ["        - task_key: upstream", f"          run_job_task: {{job_id: \"${{resources.jobs.job_{j - 1}.id}}\"}}"]
            else:
                out += ["        - task_key: upstream", "          condition_task: {op: EQUAL_TO, left: \"1\", right: \"1\"}"]
            if j % 5 == 0:
                out += ["      schedule: {quartz_cron_expression: \"0 0 3 ? * SUN\", timezone_id: America/Los_Angeles}"]
        (root / "resources" / f"jobs_{f}.yml").write_text("\n".join(out) + "\n")
    return root


def run(quick: bool) -> list[Result]:
    runs = 3 if quick else 11
    home = Path(tempfile.mkdtemp(prefix="hm_bench_"))
    env = {**os.environ, "HEALTHMON_HOME": str(home), "HEALTHMON_USER": "bench@example.com"}
    try:
        hm_root = ROOT if (ROOT / "databricks.yml").is_file() else ROOT / "tests" / "bundle" / "fixtures" / "basic"
        big = generate(WORK / "bundle500", 100 if quick else 500)
        cli = _cli()
        baseline_wall, baseline = _time([sys.executable, "-c", "pass"], runs, env)
        subprocess.run([*cli, "bundle", "validate", "-p", str(hm_root)], env=env, capture_output=True)  # warm caches
        help_t, help_cpu = _time([*cli, "--help"], runs, env)
        hm, hm_cpu = _time([*cli, "bundle", "validate", "-p", str(hm_root)], runs, env)
        big_t, big_cpu = _time([*cli, "bundle", "validate", "-p", str(big)], max(3, runs // 2), env)
        load = os.getloadavg()[0]
    finally:
        shutil.rmtree(home, ignore_errors=True)
    n_jobs = 100 if quick else 500
    return [
        Result("validate Health Monitor bundle (process CPU)", hm_cpu, "s", "python -c pass (CPU)", baseline,
               "<= 0.5 s", hm_cpu <= 0.5,
               notes=f"median CPU time of {runs} runs of `healthmon bundle validate` on "
                     f"{hm_root.relative_to(ROOT) or '.'}; wall {hm:.3f} s; `healthmon --help` alone {help_cpu:.3f} s "
                     f"CPU / {help_t:.3f} s wall; load average {load:.1f} on {os.cpu_count()} cores",
               extra={"wall_s": hm, "help_s": help_t, "help_cpu_s": help_cpu, "baseline_wall_s": baseline_wall,
                      "loadavg": load}),
        Result(f"validate generated {n_jobs}-job bundle (process CPU)", big_cpu, "s", "python -c pass (CPU)", baseline,
               "<= 3 s", big_cpu <= 3.0,
               notes=f"{n_jobs} jobs, {3 * n_jobs} tasks, {2 * n_jobs} notebooks scanned for widgets; wall {big_t:.3f} s",
               extra={"wall_s": big_t}),
    ]
