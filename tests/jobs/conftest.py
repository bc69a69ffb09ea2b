"""Fixtures for the jobs runtime tests."""

from __future__ import annotations

import pytest
from jobs_helpers import Workspace


@pytest.fixture
def ws(healthmon_home) -> Workspace:
    return Workspace(healthmon_home)
