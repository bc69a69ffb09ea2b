"""Shared fixtures: every test gets its own workspace (HEALTHMON_HOME) and user."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def healthmon_home(tmp_path_factory, monkeypatch) -> Path:
    home = tmp_path_factory.mktemp("hm_home")
    monkeypatch.setenv("HEALTHMON_HOME", str(home))
    monkeypatch.setenv("HEALTHMON_USER", "tester@example.com")
    monkeypatch.delenv("HEALTHMON_DATABASE_URL", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    # configure_mlflow() run in this process records the workspace's artifact root in the
    # environment (as an `mlflow server` would); without this, CLI subprocesses of a later test
    # would inherit an earlier test's artifact root, outside their own workspace.
    monkeypatch.delenv("_MLFLOW_SERVER_ARTIFACT_ROOT", raising=False)
    for key in [k for k in os.environ if k.startswith("BUNDLE_VAR_")]:
        monkeypatch.delenv(key, raising=False)
    return home


@pytest.fixture
def workspace_files(healthmon_home) -> Path:
    """A folder of the workspace's files (``/Workspace/Shared``): where task code must come from."""
    path = healthmon_home / "workspace" / "Shared"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT
