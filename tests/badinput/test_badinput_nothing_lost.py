"""Nothing is lost: a failing write or an interrupted command leaves no half-written table, says
so, and a rerun works."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest


def _versions(cli) -> list[str]:
    return re.findall(r"^(\d+),", cli("tables", "history", "c.s.t", "--format", "csv")[1], re.MULTILINE)


def test_failing_sql_write_leaves_the_table_as_it_was(cli):
    assert cli("sql", "CREATE TABLE c.s.t AS SELECT 1 AS x")[0] == 0
    versions = _versions(cli)
    code, text = cli("sql", "INSERT INTO c.s.t VALUES ('abc')")
    assert code == 1
    assert "Schema mismatch writing c.s.t: incompatible types: x (table: int32, data: string). Nothing was written." \
        in text
    assert _versions(cli) == versions  # no new commit
    code, text = cli("sql", "SELECT x FROM c.s.t", "--format", "csv")
    assert text.split() == ['"x"', "1"]


@pytest.mark.slow
def test_sigterm_during_demo_data_generate(healthmon_home):
    argv = [sys.executable, "-m", "healthmon.cli.main", "demo-data", "generate", "--catalog", "dd",
            "--scale", "small"]
    env = {**os.environ, "HEALTHMON_HOME": str(healthmon_home)}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # the first batch is staged: the writer is mid-way
        assert "rows" in first, first
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, rest
    assert "Traceback" not in rest
    assert "no table of dd.gold is half-written" in rest and rest.rstrip().endswith("Interrupted (SIGTERM).")
    gold = healthmon_home / "lakehouse" / "dd" / "gold"
    assert not [p.name for p in gold.iterdir()] if gold.exists() else True  # no table, no staged leftovers

    started = time.monotonic()
    rerun = subprocess.run(argv + ["--output", "json"], env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert '"fact_usage"' in rerun.stdout, time.monotonic() - started
