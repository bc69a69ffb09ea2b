"""The detached process that executes one job run: ``python -m healthmon.jobs.runner <run_id> [--repair ID]``.

Kept import-light on purpose: when a warm runner server is up (``runner_server.py``) this process
only hands the run over (the server forks a runner that already has SQLAlchemy and the runtime
imported) and exits; otherwise it executes the run itself (``run_exec.py``, a cold start) and
starts a runner server in the background for the runs that follow.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from healthmon.jobs import runner_server

    if runner_server.enabled():
        if runner_server.handoff(argv):
            return 0
        runner_server.spawn()
    from healthmon.jobs import procs

    procs.prestart()  # the fork server boots while the heavy modules import
    from healthmon.jobs.run_exec import main as execute_main

    return execute_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
