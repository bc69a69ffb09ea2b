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
