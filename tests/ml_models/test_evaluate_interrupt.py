"""``healthmon evaluate --seeds N`` killed with SIGTERM: the workers and everything they started
stop, their temporary workspaces go, the log of finished accounts stays readable, and the
command exits 143 (128 + SIGTERM, the shell's convention) with one line and no traceback."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil


def _worker_workspaces(tmp: Path) -> list[Path]:
    """The temporary workspaces of accounts being evaluated (``healthmon_eval_<seed>_...``)."""
    return [p for p in tmp.rglob("healthmon_eval_*") if re.fullmatch(r"healthmon_eval_\d+_.*", p.name)]


def test_sigterm_stops_workers_removes_workspaces_and_keeps_the_log(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "HEALTHMON_HOME": str(tmp_path / "home"), "TMPDIR": str(tmp)}
    output = tmp_path / "EVALUATION.md"
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with open(out, "w") as out_fh, open(err, "w") as err_fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "healthmon.cli.main", "evaluate", "--seeds", "2", "--scale", "small",
             "--output", str(output)],
            env=env, stdout=out_fh, stderr=err_fh,
        )
    try:
        deadline = time.monotonic() + 180
        while not _worker_workspaces(tmp):
            assert proc.poll() is None, f"evaluate exited early ({proc.returncode}): {err.read_text()}"
            assert time.monotonic() < deadline, "no worker started an account within 180 s"
            time.sleep(0.2)
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        assert len(tree) >= 2  # the command and at least one worker

        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()

    assert rc == 128 + signal.SIGTERM == 143
    _, alive = psutil.wait_procs(tree, timeout=10)
    alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"left running: {[(p.pid, p.cmdline()) for p in alive]}"

    stdout, stderr = out.read_text(), err.read_text()
    assert "Traceback" not in stdout + stderr
    assert "of 2 accounts finished" in stderr and "--from-log" in stderr
    assert not list(tmp.rglob("healthmon_eval_*")), "temporary workspaces left behind"

    # The log of finished accounts is whole JSON lines, the first naming the drawn seeds.
    lines = [json.loads(line) for line in output.with_suffix(".seeds.jsonl").read_text().splitlines()]
    assert len(lines[0]["drawn"]) == 2 and all("seed" in line for line in lines[1:])
