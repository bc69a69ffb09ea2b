"""Writes are Delta transactions: checked with real, concurrent and killed processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pyarrow as pa
import pytest

from healthmon.lakehouse import Lakehouse

WRITER = textwrap.dedent(
    """
    import sys, pyarrow as pa
    from healthmon.lakehouse import Lakehouse
    lh = Lakehouse.from_env()
    table, worker, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    for i in range(n):
        lh.write_table(table, pa.table({"worker": [worker] * 10, "batch": [i] * 10, "seq": list(range(10))}))
    """
)


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, *args], env=os.environ.copy(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_all(procs):
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()[-2000:]


@pytest.mark.slow
def test_parallel_appends_to_one_table_lose_nothing():
    lh = Lakehouse.from_env()
    lh.create_schema("tx.s")
    workers, batches = 4, 5
    _wait_all([_spawn("tx.s.shared", str(w), str(batches)) for w in range(workers)])
    t = lh.read_table("tx.s.shared")
    assert t.num_rows == workers * batches * 10
    pairs = set(zip(t.column("worker").to_pylist(), t.column("batch").to_pylist()))
    assert pairs == {(w, b) for w in range(workers) for b in range(batches)}
    # The first writer created the table; every batch is one more commit.
    assert lh.delta_table("tx.s.shared").version() == workers * batches


@pytest.mark.slow
def test_parallel_writes_to_different_tables():
    lh = Lakehouse.from_env()
    _wait_all([_spawn(f"tx.s.t{w}", str(w), "3") for w in range(4)])
    assert lh.list_tables("tx.s") == [f"tx.s.t{w}" for w in range(4)]
    for w in range(4):
        t = lh.read_table(f"tx.s.t{w}")
        assert t.num_rows == 30 and set(t.column("worker").to_pylist()) == {w}


KILLED = textwrap.dedent(
    """
    import sys, pyarrow as pa, numpy as np
    from healthmon.lakehouse import Lakehouse
    lh = Lakehouse.from_env()
    n = 3_000_000
    print("ready", flush=True)
    i = 1
    while True:
        lh.write_table(sys.argv[1], pa.table({"gen": np.full(n, i), "x": np.arange(n)}), mode="overwrite")
        i += 1
    """
)


@pytest.mark.slow
def test_killed_overwrite_leaves_a_complete_version():
    lh = Lakehouse.from_env()
    lh.write_table("tx.s.k", pa.table({"gen": [0] * 5, "x": list(range(5))}))
    for delay in (0.4, 0.9, 1.5):
        p = subprocess.Popen([sys.executable, "-c", KILLED, "tx.s.k"], stdout=subprocess.PIPE, env=os.environ.copy())
        assert p.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        t = lh.read_table("tx.s.k")
        gens = set(t.column("gen").to_pylist())
        assert len(gens) == 1, "a reader saw rows of two writes"
        (gen,) = gens
        assert t.num_rows == (5 if gen == 0 else 3_000_000)


@pytest.mark.slow
def test_killed_create_leaves_no_table():
    lh = Lakehouse.from_env()
    lh.create_schema("tx.s")
    script = KILLED.replace('mode="overwrite"', 'mode="append"').replace(
        "lh.write_table(sys.argv[1]", "lh.write_table(f'{sys.argv[1]}{i}'")
    p = subprocess.Popen([sys.executable, "-c", script, "tx.s.c"], stdout=subprocess.PIPE, env=os.environ.copy())
    assert p.stdout.readline().strip() == b"ready"
    time.sleep(1.2)
    p.send_signal(signal.SIGKILL)
    p.wait()
    # Every table that is visible is complete: creation is staged then renamed into place.
    for name in lh.list_tables("tx.s"):
        assert lh.read_table(name).num_rows == 3_000_000
