"""Task processes: spawning (warm or cold), and killing whole process groups.

Every attempt is a fresh process in its own session (so its process group holds it and
everything it forks). To take interpreter start-up off the critical path, the runner keeps up
to ``slots`` *warm* processes for the default interpreter: started ahead of need, blocked reading
their spec on stdin. A warm process still runs exactly one attempt, so isolation is unchanged;
interpreters of other environments are started cold.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass

BOOT = "from healthmon.jobs.task_main import main; main()"


@dataclass
class TaskProcess:
    proc: subprocess.Popen
    read_fd: int  # merged stdout/stderr

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self, spec: bytes) -> None:
        try:
            self.proc.stdin.write(spec)
            self.proc.stdin.close()
        except BrokenPipeError:
            pass  # died before starting: reported by its exit code


def spawn(python: str, env: dict[str, str]) -> TaskProcess:
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(
            [python, "-c", BOOT], stdin=subprocess.PIPE, stdout=write_fd, stderr=write_fd,
            start_new_session=True, env=env, close_fds=True,
        )
    finally:
        os.close(write_fd)
    return TaskProcess(proc, read_fd)


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class WarmPool:
    def __init__(self, size: int, env: dict[str, str]):
        self.size = size
        self.env = env
        self.ready: list[TaskProcess] = []
        self.lock = threading.Lock()
        self.closed = False

    def take(self, python: str) -> TaskProcess:
        if python != sys.executable or self.size == 0:
            return spawn(python, self.env)
        with self.lock:
            tp = self.ready.pop() if self.ready else None
        if tp is None or tp.proc.poll() is not None:
            tp = spawn(python, self.env)
        # Start the replacement off the critical path.
        threading.Thread(target=self._refill, daemon=True).start()
        return tp

    def _refill(self) -> None:
        with self.lock:
            if self.closed or len(self.ready) >= self.size:
                return
        tp = spawn(sys.executable, self.env)
        with self.lock:
            if self.closed:
                self._discard(tp)
            else:
                self.ready.append(tp)

    @staticmethod
    def _discard(tp: TaskProcess) -> None:
        try:
            tp.proc.stdin.close()  # EOF: the warm process exits without running anything
        except OSError:
            pass
        tp.proc.wait()
        os.close(tp.read_fd)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            ready, self.ready = self.ready, []
        for tp in ready:
            self._discard(tp)
