"""Scale promises: large stays in bounded memory and is sized for >= 50M fact rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from healthmon.demodata.world import SCALES


@pytest.mark.slow
def test_large_slice_memory_and_projected_rows(tmp_path):
    days = 18  # three 6-day batches
    code = ("import json, resource\n"
            "from healthmon.demodata import generate\n"
            f"rows = generate('big', workspaces=20, days={days}, scale='large')\n"
            # parent + the SQL/audit child process (sum of peaks: an upper bound)
            "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
            "print(json.dumps({'rows': rows, 'rss_kb': rss}))\n")
    env = dict(os.environ, HEALTHMON_HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=600)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    fact = sum(v for k, v in result["rows"].items() if k.startswith("fact_"))
    assert fact / days * 180 >= 50_000_000  # the period's later days are larger (growth), so this is conservative
    assert result["rss_kb"] < 4 * 2**20


def test_scales_are_ordered():
    small, medium, large = SCALES["small"], SCALES["medium"], SCALES["large"]
    for field in ("users", "jobs", "warehouses", "queries_per_wh_day", "audit_per_user_day"):
        assert getattr(small, field) < getattr(medium, field) < getattr(large, field), field
    assert large.batch_days < medium.batch_days <= small.batch_days
