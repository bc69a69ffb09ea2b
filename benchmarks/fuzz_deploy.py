"""Fault injection on deploy and run: the three-job bundle below, deployed, then mutated.

Each mutation (``benchmarks.fuzz_bundle.mutate``) starts from a fresh workspace where the good
bundle is deployed. The mutated bundle must either be refused by ``bundle deploy`` (exit 1, the
jobs deployed before and their workspace files exactly as they were) or deploy, and then every
job it deployed runs (``jobs run-now -o json``) without a traceback: a run may fail, with a
state message that says why, never with an internal error.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from benchmarks.fuzz_bundle import USER, Case, Finding, Outcome, mutate_files, problems, run_cli

# An atomic job, a composite that runs it through run_job_task and fans out with for_each_task,
# and an orchestrator whose tasks depend on each other and run the composite.
DEPLOY_BUNDLE = {
    "databricks.yml": """\
bundle:
  name: fuzz_three_jobs
variables:
  greeting:
    default: hello
  day:
    default: "2024-01-01"
include:
  - resources/*.yml
targets:
  dev:
    default: true
""",
    "resources/atomic.yml": """\
resources:
  jobs:
    atomic:
      name: atomic
      environments:
        - environment_key: default
          spec:
            environment_version: "4"
      parameters:
        - name: who
          default: ${var.greeting}
      tasks:
        - task_key: hello
          environment_key: default
          spark_python_task:
            python_file: ../src/hello.py
            parameters: ["{{job.parameters.who}}"]
""",
    "resources/composite.yml": """\
resources:
  jobs:
    composite:
      name: composite
      environments:
        - environment_key: default
          spec:
            environment_version: "4"
      tasks:
        - task_key: call_atomic
          run_job_task:
            job_id: ${resources.jobs.atomic.id}
            job_parameters:
              who: composite
        - task_key: fan_out
          depends_on:
            - task_key: call_atomic
          for_each_task:
            inputs: '["a", "b"]'
            concurrency: 2
            task:
              task_key: fan_out_item
              environment_key: default
              spark_python_task:
                python_file: ../src/hello.py
                parameters: ["{{input}}"]
""",
    "resources/orchestrator.yml": """\
resources:
  jobs:
    orchestrator:
      name: orchestrator
      environments:
        - environment_key: default
          spec:
            environment_version: "4"
      parameters:
        - name: day
          default: ${var.day}
      tasks:
        - task_key: first
          environment_key: default
          spark_python_task:
            python_file: ../src/hello.py
        - task_key: composite
          depends_on:
            - task_key: first
          run_job_task:
            job_id: ${resources.jobs.composite.id}
        - task_key: check
          depends_on:
            - task_key: composite
          condition_task:
            op: EQUAL_TO
            left: "{{job.parameters.day}}"
            right: "2024-01-01"
""",
    "src/hello.py": "import sys\n\nprint('hello', *sys.argv[1:])\n",
}

# What a run must never end with: the runtime's wrapping of a Python exception it did not expect.
INTERNAL = re.compile(r"Internal error|Traceback|\b[A-Z][A-Za-z]+(Error|Exception): ")


def write_bundle(root: Path) -> None:
    for rel, text in DEPLOY_BUNDLE.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def deploy_cases() -> list[Case]:
    return [Case("three-jobs", Path("."))]


def jobs_snapshot(env: dict[str, str], root: Path) -> list:
    outcome = run_cli(["jobs", "list", "-o", "json"], env, root)
    jobs = json.loads(outcome.out).get("jobs", [])
    return sorted((j["job_id"], json.dumps(j["settings"], sort_keys=True)) for j in jobs)


def files_snapshot(workspace: Path) -> dict[str, bytes]:
    """The deployed workspace files (a refused deploy must leave them as they were)."""
    return {p.relative_to(workspace).as_posix(): p.read_bytes() for p in sorted(workspace.rglob("*")) if p.is_file()}


def deploy_one(index: int, case: Case, rng: random.Random, tmp: Path) -> tuple[str, list[Finding]]:
    root = tmp / "bundle"
    write_bundle(root)
    env = {"HEALTHMON_HOME": str(tmp / "home"), "HEALTHMON_USER": USER}
    first = run_cli(["bundle", "deploy", "-p", str(root)], env, root)
    if first.code != 0:
        return "good deploy failed", [Finding(index, case.name, "-", "deploy", "setup", first.err[-300:])]
    before = jobs_snapshot(env, root)
    mutation = mutate_files(root, [root / rel for rel in DEPLOY_BUNDLE if rel.endswith(".yml")], rng)
    findings = []

    def report(command: str, outcome: Outcome, json_output: bool = False) -> None:
        for kind, detail in problems(outcome, json_output):
            findings.append(Finding(index, case.name, mutation, command, kind, detail))

    files_before = files_snapshot(tmp / "home" / "workspace")
    deployed = run_cli(["bundle", "deploy", "-p", str(root)], env, root)
    report("deploy", deployed)
    if deployed.code != 0:
        if jobs_snapshot(env, root) != before or files_snapshot(tmp / "home" / "workspace") != files_before:
            findings.append(Finding(index, case.name, mutation, "deploy", "refused-but-changed", deployed.err[-200:]))
        return mutation, findings
    for job_id, _ in jobs_snapshot(env, root):
        ran = run_cli(["jobs", "run-now", "--job-id", str(job_id), "-o", "json"], env, root)
        report(f"run-now {job_id}", ran, json_output=True)
        if ran.code is None or not ran.out.strip():
            continue
        try:
            run = json.loads(ran.out)
        except ValueError:
            continue
        for message in _state_messages(run):
            if INTERNAL.search(message):
                findings.append(Finding(index, case.name, mutation, f"run-now {job_id}", "run-internal-error",
                                        message[:300]))
    return mutation, findings


def _state_messages(run: dict) -> list[str]:
    messages = [run.get("state", {}).get("state_message") or ""]
    messages += [(t.get("state") or {}).get("state_message") or "" for t in run.get("tasks", [])]
    return [m for m in messages if m]
