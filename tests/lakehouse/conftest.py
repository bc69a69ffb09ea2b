"""Fixtures for the lakehouse tests."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory):
    """An initialised MLflow store (schema migrations take seconds), copied into each test."""
    from healthmon.lakehouse import registry
    from healthmon.settings import Settings

    home = tmp_path_factory.mktemp("mlflow_template")
    mp = pytest.MonkeyPatch()
    mp.setenv("HEALTHMON_HOME", str(home))
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    registry.configure_mlflow(Settings.from_env())
    mp.undo()
    return home


@pytest.fixture
def mlflow_home(healthmon_home, mlflow_template, monkeypatch):
    """This test's workspace with an initialised MLflow store."""
    (healthmon_home / "mlflow").mkdir(exist_ok=True)
    for path in (mlflow_template / "mlflow").glob("mlflow.db*"):
        shutil.copy(path, healthmon_home / "mlflow" / path.name)
    # configure_mlflow exports the artifact root for child processes; keep it per test.
    monkeypatch.delenv("_MLFLOW_SERVER_ARTIFACT_ROOT", raising=False)
    # MLflow remembers the active experiment per process; a previous test's id means nothing here.
    import mlflow.tracking.fluent as fluent

    monkeypatch.setattr(fluent, "_active_experiment_id", None, raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    return healthmon_home
