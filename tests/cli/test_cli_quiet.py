"""No library logs or warnings on a user's terminal: each command prints its own output and
errors only; what MLflow, pandas, scikit-learn or SQLAlchemy say goes to the workspace's log
file ($HEALTHMON_HOME/logs/healthmon.log). Run through the real CLI, as subprocesses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# A library's log line ("INFO mlflow.tracking.fluent: ...", "WARNING mlflow.sklearn: ..."), a
# Python warning ("...: UserWarning: ..."), MLflow's prints, or a traceback.
NOISE = re.compile(r"\b(INFO|WARNING|WARN|DEBUG)\b|Warning:|Traceback|Successfully registered|Created version")


def _cli(*args: str, home: Path, ok: tuple[int, ...] = (0,), stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HEALTHMON_HOME": str(home)}
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run([sys.executable, "-m", "healthmon.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=900, input=stdin)
    assert proc.returncode in ok, f"{args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    noise = [line for line in (proc.stdout + proc.stderr).splitlines() if NOISE.search(line)]
    assert not noise, f"{args} printed library output:\n" + "\n".join(noise)
    return proc


def test_evaluate_after_training_prints_no_mlflow_lines(healthmon_home):
    from tests.ml_models.synthetic_features import feature_frame
    from tests.ml_models.test_model_training import CAT, FEAT, GOLD, train, write_features

    write_features("cost_features", feature_frame("cost_features", entities=3, days=90, seed=3))
    assert train("cost_anomaly_detector")["status"] == "SUCCESS"
    _cli("evaluate", "--catalog", CAT, "--gold-schema", GOLD, "--feature-schema", FEAT,
         "--model", "cost_anomaly_detector", home=healthmon_home)
    log = (healthmon_home / "logs" / "healthmon.log").read_text()
    assert "mlflow" in log  # MLflow did speak: into the log file


def test_anomalies_sql_and_report_print_no_library_lines(healthmon_home, tmp_path):
    import numpy as np
    import pandas as pd

    days = pd.date_range("2024-01-01", periods=90, freq="D")
    cost = 100 + 10 * np.sin(np.arange(90))
    cost[70] *= 6
    frame = pd.DataFrame({"day": days.strftime("%Y-%m-%d"), "workspace": "ws1", "cost": cost})
    frame.loc[5, "cost"] = np.nan  # an unusable row: reported, not a pandas warning
    frame.to_csv(tmp_path / "cost.csv", index=False)
    _cli("anomalies", "score", "--input", str(tmp_path / "cost.csv"), "--time-column", "day", "--value-column", "cost",
         "--entity-column", "workspace", "--output", str(tmp_path / "scored.csv"), home=healthmon_home)
    _cli("sql", "CREATE TABLE c.s.t AS SELECT 1 AS a; SELECT * FROM c.s.t", home=healthmon_home)
    _cli("report", "--catalog", "c", "--output", str(tmp_path / "r.html"), home=healthmon_home, ok=(0, 1))


def test_generate_export_and_import_print_no_library_lines(healthmon_home, tmp_path):
    _cli("demo-data", "generate", "--catalog", "src", "--workspaces", "1", "--days", "14", home=healthmon_home)
    _cli("demo-data", "export-system-tables", "--catalog", "src", "--to", str(tmp_path / "exp"), home=healthmon_home)
    _cli("import", "system-tables", "--from", str(tmp_path / "exp"), "--catalog", "imp", home=healthmon_home)


def test_evaluation_workers_route_their_library_output(tmp_path):
    """A worker pool started by a routed process (the CLI's `evaluate --seeds`) routes its
    workers' logs, warnings and MLflow prints to the same log file."""
    log = tmp_path / "healthmon.log"
    script = f"""
import concurrent.futures, multiprocessing
from healthmon.logsetup import route_library_output, worker_pool_options
from tests.cli.test_cli_quiet import noisy_worker
route_library_output({str(log)!r})
ctx = multiprocessing.get_context("spawn")
with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx, **worker_pool_options()) as pool:
    print(pool.submit(noisy_worker, {str(tmp_path / 'home')!r}).result())
"""
    repo = str(Path(__file__).parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")])}
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done" and proc.stderr == ""
    text = log.read_text()
    assert "UserWarning: from the worker" in text and "Successfully registered model" in text


def noisy_worker(home: str) -> str:
    """What an evaluation worker's libraries do: warn, log, and MLflow's registry prints."""
    import logging
    import warnings

    os.environ["HEALTHMON_HOME"] = home
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{home}/mlflow/mlflow.db"
    warnings.warn("from the worker", UserWarning, stacklevel=1)
    logging.getLogger("sklearn").warning("a library warning")
    from healthmon.lakehouse.registry import configure_mlflow

    configure_mlflow()
    import mlflow

    mlflow.MlflowClient().create_registered_model("c.s.m")
    from mlflow.utils.logging_utils import eprint

    eprint("Successfully registered model 'c.s.m'.")
    return "done"


@pytest.mark.slow
def test_bundle_deploy_and_run_print_no_library_lines(healthmon_home, tmp_path):
    root = tmp_path / "b"
    (root / "src").mkdir(parents=True)
    (root / "databricks.yml").write_text(
        "bundle:\n  name: quiet\nresources:\n  jobs:\n    j:\n      name: j\n      tasks:\n"
        "        - task_key: t\n          notebook_task:\n            notebook_path: ./src/nb.py\n"
        "targets:\n  dev:\n    default: true\n"
    )
    (root / "src" / "nb.py").write_text(
        "# Databricks notebook source\nimport warnings\nwarnings.warn('from the task', UserWarning)\nprint('ran')\n"
    )
    env_cwd = {"cwd": str(root)}
    for args in (("bundle", "deploy"), ("bundle", "run", "j")):
        proc = subprocess.run([sys.executable, "-m", "healthmon.cli.main", *args], capture_output=True, text=True,
                              env={**os.environ, "HEALTHMON_HOME": str(healthmon_home)}, timeout=900, **env_cwd)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        noise = [line for line in (proc.stdout + proc.stderr).splitlines() if NOISE.search(line)]
        assert not noise, noise
