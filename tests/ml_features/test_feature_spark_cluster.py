"""The generated small demo account gives the same five feature tables on DuckDB and on a Spark
standalone cluster (one master, two workers, started with pyspark's daemon script); stopping the
cluster leaves none of its daemons running."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys

import psutil
import pytest
from deltalake import DeltaTable

from healthmon.lakehouse import Lakehouse
from healthmon.ml.features import FEATURE_TABLES, create_feature_tables

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark not installed"),
]

BUILD = (
    "import json, sys; from healthmon.ml.features import create_feature_tables; "
    "r = create_feature_tables('acct', 'gold', 'features_spark'); "
    "from healthmon.lakehouse.engines.spark_engine import get_session; "
    "print(json.dumps({'status': r['status'], 'master': get_session().sparkContext.master}))"
)


def _rows(home, schema, name):
    keys = [(k, "ascending") for k in FEATURE_TABLES[name].primary_keys]
    return DeltaTable(str(home / "lakehouse" / "acct" / schema / name)).to_pyarrow_table().sort_by(keys).to_pylist()


def test_small_account_features_equal_on_duckdb_and_a_standalone_cluster(tmp_path, monkeypatch):
    from healthmon.demodata import generate
    from healthmon.lakehouse.spark_cluster import LocalCluster

    home = tmp_path / "ws"
    monkeypatch.setenv("HEALTHMON_HOME", str(home))
    generate("acct", "gold", workspaces=2, days=30, scale="small")
    duck = create_feature_tables("acct", "gold", "features_duckdb", lakehouse=Lakehouse(home / "lakehouse", engine="duckdb"))
    assert duck["status"] == "SUCCESS", duck

    cluster = LocalCluster(tmp_path / "cluster", workers=2, cores=1, memory="1g", executor_memory="1g")
    with cluster:
        assert len(cluster.pids()) == 3  # master + 2 workers, from their own pid files
        env = {**os.environ, **cluster.engine_env(), "HEALTHMON_ENGINE": "spark"}
        out = subprocess.run([sys.executable, "-c", BUILD], env=env, capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, out.stderr[-3000:]
        report = json.loads(out.stdout.strip().splitlines()[-1])
        pids, url = cluster.pids(), cluster.master_url
    assert report == {"status": "SUCCESS", "master": url}
    for pid in pids:  # every daemon has exited once stop() returns
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, pid

    for name, table in FEATURE_TABLES.items():
        a, b = _rows(home, "features_duckdb", name), _rows(home, "features_spark", name)
        assert len(a) == len(b) > 0, name
        for ra, rb in zip(a, b):
            for col in table.columns:
                if isinstance(ra[col], float):
                    assert math.isclose(ra[col], rb[col], rel_tol=1e-9, abs_tol=1e-9), (name, col, ra, rb)
                else:
                    assert ra[col] == rb[col], (name, col)

