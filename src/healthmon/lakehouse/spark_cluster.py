"""A Spark standalone cluster on this machine, started with pyspark's own daemon script.

The pyspark wheel ships ``sbin/spark-daemon.sh`` (the script behind Spark's ``start-master.sh``
and ``start-worker.sh``, which the wheel leaves out) and ``bin/spark-class``. ``LocalCluster``
starts one master and N workers through it exactly as those scripts do — ``spark-daemon.sh start
org.apache.spark.deploy.master.Master 1 …`` and ``… deploy.worker.Worker <i> spark://…`` — with
their pid files and logs in a directory of its own, waits until every worker has registered, and
stops each daemon by its own pid file (``spark-daemon.sh stop``), never by name.

Everything binds to 127.0.0.1. The engine uses the cluster through ``HEALTHMON_SPARK_MASTER``
(``LocalCluster.engine_env()`` gives the variables: master URL, driver host, executor memory)::

    with LocalCluster(Path("/tmp/hm-cluster"), workers=2) as cluster:
        os.environ.update(cluster.engine_env())
        lh = Lakehouse.from_env(engine="spark")

Or from a shell: ``python -m healthmon.lakehouse.spark_cluster start|stop|status DIR``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from healthmon.errors import HealthmonError

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


class ClusterError(HealthmonError):
    """The standalone cluster could not be started (the message says which daemon and its log)."""


def spark_home() -> Path:
    try:
        import pyspark
    except ImportError:
        raise ClusterError("A Spark cluster needs pyspark: pip install 'healthmon[spark]' (and Java 17).") from None
    return Path(pyspark.__file__).resolve().parent


def _alive(pid: int) -> bool:
    """Running and not a zombie (a stopped daemon stays a zombie until its parent reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalCluster:
    """One master and ``workers`` workers (``cores`` cores and ``memory`` each) under ``work_dir``."""

    work_dir: Path
    workers: int = 2
    cores: int = 1
    memory: str = "3g"
    executor_memory: str = "2g"
    start_timeout: float = 180.0

    def __post_init__(self) -> None:
        self.work_dir = Path(self.work_dir).resolve()
        self._state = self.work_dir / "cluster.json"

    # -- the daemon script -------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        home = spark_home()
        env = dict(os.environ)
        env.update({
            "SPARK_HOME": str(home),
            "SPARK_PID_DIR": str(self.work_dir / "pids"),
            "SPARK_LOG_DIR": str(self.work_dir / "logs"),
            "SPARK_WORKER_DIR": str(self.work_dir / "work"),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOCAL_DIRS": str(self.work_dir / "tmp"),
        })
        return env

    def _daemon(self, action: str, cls: str, instance: int, *args: str) -> subprocess.CompletedProcess:
        script = spark_home() / "sbin" / "spark-daemon.sh"
        return subprocess.run(
            ["bash", str(script), action, cls, str(instance), *args],
            env=self._env(), capture_output=True, text=True, timeout=120,
        )

    def _log_tail(self, cls: str, instance: int) -> str:
        logs = sorted((self.work_dir / "logs").glob(f"*{cls}-{instance}-*.out"))
        if not logs:
            return "(no log)"
        return f"{logs[-1]}:\n" + "\n".join(logs[-1].read_text(errors="replace").splitlines()[-15:])

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def master_url(self) -> str:
        return self.state()["master_url"]

    def state(self) -> dict:
        if not self._state.exists():
            raise ClusterError(f"No cluster is running from {self.work_dir} (no {self._state.name}).")
        return json.loads(self._state.read_text())

    def start(self) -> str:
        """Start master and workers; return the master URL once every worker is ALIVE."""
        if self._state.exists():
            raise ClusterError(f"A cluster from {self.work_dir} is already running; stop it first.")
        for sub in ("pids", "logs", "work", "tmp"):
            (self.work_dir / sub).mkdir(parents=True, exist_ok=True)
        port, ui = _free_port(), _free_port()
        url = f"spark://127.0.0.1:{port}"
        self._state.write_text(json.dumps({"master_url": url, "webui": ui, "workers": self.workers}))
        try:
            self._check(self._daemon("start", MASTER_CLASS, 1, "--host", "127.0.0.1", "--port", str(port),
                                     "--webui-port", str(ui)), MASTER_CLASS, 1)
            for i in range(1, self.workers + 1):
                self._check(self._daemon("start", WORKER_CLASS, i, url, "--host", "127.0.0.1",
                                         "--cores", str(self.cores), "--memory", self.memory,
                                         "--webui-port", str(_free_port())), WORKER_CLASS, i)
            self._wait_for_workers(ui)
        except BaseException:
            self.stop()
            raise
        return url

    def _check(self, proc: subprocess.CompletedProcess, cls: str, instance: int) -> None:
        if proc.returncode != 0:
            raise ClusterError(
                f"spark-daemon.sh start {cls} {instance} failed (exit {proc.returncode}): "
                f"{(proc.stdout + proc.stderr).strip()}\n{self._log_tail(cls, instance)}"
            )

    def _wait_for_workers(self, ui: int) -> None:
        deadline = time.monotonic() + self.start_timeout
        alive = 0
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=5) as resp:
                    status = json.load(resp)
                alive = sum(1 for w in status.get("workers", []) if w.get("state") == "ALIVE")
                if alive >= self.workers:
                    return
            except OSError:
                pass
            time.sleep(1.0)
        raise ClusterError(
            f"Only {alive} of {self.workers} Spark workers registered with the master within "
            f"{self.start_timeout:.0f} s.\n{self._log_tail(MASTER_CLASS, 1)}"
        )

    def pids(self) -> list[int]:
        """Pids of this cluster's running daemons (from their pid files)."""
        out = []
        for f in sorted((self.work_dir / "pids").glob("*.pid")):
            try:
                pid = int(f.read_text().strip())
            except ValueError:
                continue
            if _alive(pid):
                out.append(pid)
        return out

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the workers, then the master, each through its own pid file, and wait until they
        have exited (``spark-daemon.sh stop`` only sends SIGTERM). A daemon still there after
        ``timeout`` seconds gets SIGKILL — by its pid, which this cluster started."""
        pids = self.pids()
        workers = self.workers
        if self._state.exists():
            workers = json.loads(self._state.read_text()).get("workers", workers)
        for i in range(workers, 0, -1):
            self._daemon("stop", WORKER_CLASS, i)
        self._daemon("stop", MASTER_CLASS, 1)
        deadline = time.monotonic() + timeout
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if _alive(p)]
            time.sleep(0.2)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._state.unlink(missing_ok=True)

    def engine_env(self) -> dict[str, str]:
        """Environment for ``HEALTHMON_ENGINE=spark`` processes that should use this cluster."""
        conf = {
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.executor.memory": self.executor_memory,
            "spark.executor.cores": str(self.cores),
            "spark.cores.max": str(self.cores * self.state()["workers"]),
        }
        extra = os.environ.get("HEALTHMON_SPARK_CONF", "")
        return {
            "HEALTHMON_SPARK_MASTER": self.master_url,
            "HEALTHMON_SPARK_CONF": ";".join([f"{k}={v}" for k, v in conf.items()] + ([extra] if extra else [])),
            "SPARK_LOCAL_IP": "127.0.0.1",
        }

    def __enter__(self) -> "LocalCluster":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m healthmon.lakehouse.spark_cluster",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument("dir", type=Path, help="directory for the cluster's pid files, logs and work")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cores", type=int, default=1)
    parser.add_argument("--memory", default="3g", help="memory each worker offers its executors")
    args = parser.parse_args(argv)
    cluster = LocalCluster(args.dir, workers=args.workers, cores=args.cores, memory=args.memory)
    try:
        if args.action == "start":
            print(cluster.start())
            for k, v in cluster.engine_env().items():
                print(f"export {k}='{v}'")
        elif args.action == "stop":
            cluster.stop()
        else:
            print(json.dumps({**cluster.state(), "pids": cluster.pids()}))
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
