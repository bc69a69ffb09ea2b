"""Fixtures for the jobs runtime tests."""

from __future__ import annotations

import pytest
from jobs_helpers import Workspace


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace(tmp_path)
