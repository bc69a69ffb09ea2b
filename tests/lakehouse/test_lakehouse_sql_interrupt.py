"""A running DuckDB statement gives way to Ctrl-C and SIGTERM at once, not at its end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from healthmon.lakehouse.engines.duckdb_engine import confined_connection, run_interruptibly

# Runs for minutes on any machine: 9 * 10^10 joined rows.
# Spark SQL (healthmon sql); DuckDB's own range() names its column `range`, not `id`.
LONG_QUERY = "SELECT count(*) FROM range(300000) a CROSS JOIN range(300000) b WHERE (a.id + b.id) % 13 = 0"
LONG_DUCKDB_QUERY = LONG_QUERY.replace("a.id + b.id", "a.range + b.range")


class _Stop(Exception):
    pass


def test_a_signal_interrupts_a_running_statement_and_frees_the_connection():
    def raise_stop(_signum, _frame):
        raise _Stop

    previous = signal.signal(signal.SIGUSR1, raise_stop)
    con = confined_connection()
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGUSR1))
    try:
        timer.start()
        started = time.monotonic()
        with pytest.raises(_Stop):
            run_interruptibly(con, lambda: con.sql(LONG_DUCKDB_QUERY).to_arrow_table())
        assert time.monotonic() - started < 10
        # The statement was interrupted, so the connection takes the next one.
        assert con.sql("SELECT 41 + 1 AS x").fetchall() == [(42,)]
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)
        con.close()


def _catches(pid: int, signum: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def _wait_for_handler(proc: subprocess.Popen, signum: int) -> None:
    """Until the CLI's handler for ``signum`` is in place (a signal before it would kill the
    process instead of interrupting it)."""
    deadline = time.monotonic() + 60
    while not _catches(proc.pid, signum):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)


@pytest.mark.slow
def test_healthmon_sql_exits_143_soon_after_sigterm(healthmon_home):
    proc = subprocess.Popen([sys.executable, "-m", "healthmon.cli.main", "sql", LONG_QUERY],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "HEALTHMON_SQL_TIMEOUT": "600"})
    try:
        _wait_for_handler(proc, signal.SIGTERM)
        time.sleep(3)  # the statement is running
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        err = proc.communicate(timeout=60)[1]
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert "Interrupted (SIGTERM)." in err
        assert time.monotonic() - sent < 10, "the statement ran on after the signal"
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_healthmon_sql_on_spark_exits_128_plus_signal_soon_after_it(healthmon_home, signum):
    """pyspark puts a SIGINT handler of its own in place of the CLI's (its KeyboardInterrupt then
    surfaced as a Py4J "SQL error", exit 1), and a Spark statement blocks the main thread."""
    proc = subprocess.Popen([sys.executable, "-m", "healthmon.cli.main", "sql", "--engine", "spark", LONG_QUERY],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "HEALTHMON_SQL_TIMEOUT": "600"})
    try:
        _wait_for_handler(proc, signum)
        time.sleep(12)  # the JVM has started and the statement is running
        proc.send_signal(signum)
        sent = time.monotonic()
        err = proc.communicate(timeout=60)[1]
        assert proc.returncode == 128 + signum, err
        assert err.strip().splitlines()[-1] == f"Interrupted ({signal.Signals(signum).name}).", err
        assert "bug in healthmon" not in err and "Traceback" not in err
        assert time.monotonic() - sent < 10, "the statement ran on after the signal"
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_the_spark_jvm_starts_ends_it_at_once(healthmon_home, signum):
    """The JVM takes seconds to start; interrupted meanwhile, `healthmon sql --engine spark` ends
    it and exits 128 + signal at once (it waited for the start to finish), leaving no Java
    process behind."""
    import psutil

    proc = subprocess.Popen([sys.executable, "-m", "healthmon.cli.main", "sql", "--engine", "spark", "SELECT 1 AS x"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        jvm: list[psutil.Process] = []
        while not jvm:  # pyspark has launched the JVM (spark-submit, exec'd into java)
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            jvm = [c for c in psutil.Process(proc.pid).children() if c.status() != psutil.STATUS_ZOMBIE
                   and "org.apache.spark.deploy.SparkSubmit" in c.cmdline()]
            time.sleep(0.05)
        assert _catches(proc.pid, signum)
        time.sleep(1.5)  # the JVM is starting
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signum)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signum, err
    assert err.strip().splitlines()[-1] == f"Interrupted ({signal.Signals(signum).name}).", err
    assert "bug in healthmon" not in err and "Traceback" not in err and out == ""
    assert took < 6, f"exited {took:.1f} s after the signal"
    gone, alive = psutil.wait_procs(jvm, timeout=5)
    assert not alive, [p.cmdline()[:3] for p in alive]
