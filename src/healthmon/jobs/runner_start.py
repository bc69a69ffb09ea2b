"""Starting a run's runner (the client side of ``runner.py``): a detached
``python -m healthmon.jobs.runner <run_id>`` in its own session, its output in the run's
``runner.log``. The caller returns at once; the run's row tells the rest."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from healthmon.settings import Settings


def start_runner(run_id: int, repair_id: int | None = None) -> None:
    settings = Settings.from_env()
    log_dir = settings.runs_root / str(run_id)
    log_dir.mkdir(parents=True, exist_ok=True)
    argv = [str(run_id)] + (["--repair", str(repair_id)] if repair_id is not None else [])
    env = {**os.environ, "HEALTHMON_HOME": str(settings.home)}
    with open(log_dir / "runner.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "healthmon.jobs.runner", *argv],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True, env=env,
        )
    # Reap it when it ends so it does not linger as a zombie of a long-lived caller.
    threading.Thread(target=proc.wait, daemon=True).start()
