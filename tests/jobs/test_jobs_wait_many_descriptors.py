"""Waiting for a run works in a process that holds many open files (a long-lived server or a
test session): the wait watches the runner's pidfd, whose number is then above select()'s 1024."""

from __future__ import annotations

import os
import resource

import pytest

from jobs_helpers import nb_task
from healthmon.jobs import service


def test_wait_for_run_with_descriptors_above_1024(ws):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip(f"the hard limit on open files is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        job = service.create_job({"name": "quick", "tasks": [nb_task("t", ws.notebook("t", "x = 1"))]})
        run = service.wait_for_run(service.run_now(job), timeout=120)
        assert run["state"]["result_state"] == "SUCCESS"
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
