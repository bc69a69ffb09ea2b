"""The orchestrator benchmark's synthetic bundle: the repository's job graph unchanged, every
notebook it names present, and a bundle the CLI accepts (the benchmark's timing itself is not
tested: it lives in benchmarks/bench_orchestrator.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks import bench_orchestrator as bench

REPO = Path(__file__).resolve().parents[2]


def test_synthetic_bundle_keeps_the_job_definitions_and_replaces_every_notebook(tmp_path):
    dest = tmp_path / "bundle"
    bench.write_bundle(dest, cpu_seconds=0.1)
    assert (dest / "databricks.yml").read_bytes() == (REPO / "databricks.yml").read_bytes()
    for original in (REPO / "resources").rglob("*.yml"):
        assert (dest / original.relative_to(REPO)).read_bytes() == original.read_bytes()
    notebooks = bench._notebook_paths(dest / "resources")
    assert notebooks
    for path in notebooks:
        text = path.read_text()
        assert text.startswith("# Databricks notebook source\n")
        assert "import pandas" in text and "< 0.1:" in text


def test_job_graph_follows_run_job_tasks(tmp_path):
    (tmp_path / "jobs.yml").write_text("""
resources:
  jobs:
    top:
      tasks:
        - task_key: a
          run_job_task: {job_id: "${resources.jobs.leaf.id}"}
        - task_key: b
          depends_on: [{task_key: a}]
          run_job_task: {job_id: "${resources.jobs.leaf.id}"}
        - task_key: c
          notebook_task: {notebook_path: ./nb.py}
    leaf:
      tasks:
        - task_key: x
          notebook_task: {notebook_path: ./nb.py}
        - task_key: y
          notebook_task: {notebook_path: ./nb.py}
""")
    assert bench.job_graph(tmp_path, "top") == (3, 5)


def test_synthetic_bundle_validates_with_the_cli(tmp_path):
    dest = tmp_path / "bundle"
    bench.write_bundle(dest, cpu_seconds=0.1)
    proc = subprocess.run([sys.executable, "-m", "healthmon.cli.main", "bundle", "validate", "-t", "dev"], cwd=dest,
                          env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from healthmon.bundle import load_bundle
    from healthmon.bundle.loader import deploy_checks

    assert not deploy_checks(load_bundle(dest, "dev")).items  # healthmon's own checks, run by deploy
