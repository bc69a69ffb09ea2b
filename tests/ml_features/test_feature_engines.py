"""Every feature query gives the same table on DuckDB (default) and on Spark."""

from __future__ import annotations

import importlib.util
import shutil

import pytest
from mlf_gold import CATALOG, GOLD, day, ts, write_gold

from healthmon.lakehouse import Lakehouse
from healthmon.ml.features import FEATURE_TABLES, compute_feature_table

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark not installed"),
]


def _gold(lh):
    users = ["ann@x.com", "svc-spn@x.com", "System-x"]
    write_gold(lh, "fact_usage", [
        {"record_id": f"u{w}{n}{k}", "workspace_id": f"w{w}", "usage_date": day(n), "usage_quantity": (n * 7 + w + k) % 11,
         "list_cost": None if (n + k) % 9 == 0 else (n % 5) * 1.5 + k,
         "sku_name": ["STANDARD_ALL_PURPOSE_COMPUTE", "JOBS_COMPUTE", "DLT_CORE", "SERVERLESS_INFERENCE"][k],
         "usage_metadata_job_id": f"j{n % 3}" if k < 2 else None, "product_features_is_serverless": k == 3}
        for w in range(2) for n in range(40) if (w, n) != (1, 17) for k in range(4)])
    write_gold(lh, "fact_audit_logs", [
        {"event_id": f"e{u}{n}{h}", "user_identity_email": users[u], "event_time": ts(day(n), h),
         "action_name": ["getTable", "deleteTable", "grantPermission"][(n + h) % 3], "service_name": f"s{h % 4}",
         "source_ip_address": f"10.0.0.{h % 3}", "is_failed_action": (n * h) % 7 == 0,
         "request_params": {"tableName": f"t{h % 5}"}}
        for u in range(3) for n in range(20) for h in range(0, 24, 3 + u)])
    write_gold(lh, "fact_query_history", [
        {"statement_id": f"q{w}{n}{i}", "compute_warehouse_id": f"wh{w}", "end_time": ts(day(n), i % 24, i % 60),
         "total_duration_ms": (i * 977 + n * 131) % 90_000, "read_bytes": i * 10**8, "written_bytes": (i % 3) * 10**6,
         "execution_status": "FAILED" if i % 13 == 0 else "FINISHED", "spilled_local_bytes": i % 4,
         "waiting_at_capacity_duration_ms": (i * 37) % 5000,
         "executed_by": users[i % 4] if i % 4 < 3 else None,
         "produced_rows": None if i % 11 == 0 else (i * 53 + n) % 900}
        for w in range(2) for n in range(15) for i in range(25)])
    write_gold(lh, "fact_job_run_timeline", [
        {"workspace_id": "w0", "run_id": f"r{j}{n}{i}", "job_id": f"j{j}", "period_start_time": ts(day(n), i),
         "period_end_time": ts(day(n), i, 10 + (n * i) % 40), "result_state": ["SUCCEEDED", "FAILED", "ERROR", "SUCCEEDED"][(n + i + j) % 4],
         "run_type": "JOB_RUN", "trigger_type": "ONETIME_RETRY" if i == 2 else "CRON",
         "run_date": day(n) if i else None, "run_duration_seconds": None, "compute_ids": [f"c{min(j, 1)}"]}
        for j in range(3) for n in range(35) for i in range(3)] + [
        # serverless (no compute), daily and then weekly: a job's input is its duration, one run alone
        {"workspace_id": "w0", "run_id": f"s{n}", "job_id": "j3", "period_start_time": ts(day(n), 4),
         "period_end_time": ts(day(n), 5 if n > 20 else 4, 5 + (n * 7) % 30), "result_state": "SUCCEEDED",
         "run_type": "JOB_RUN", "trigger_type": "CRON", "run_date": day(n), "run_duration_seconds": None,
         "compute_ids": []}
        for n in [*range(20), 26, 33]])
    write_gold(lh, "fact_node_timeline", [
        {"workspace_id": "w0", "cluster_id": f"c{c}", "instance_id": f"i{c}{n}{k}", "start_time": ts(day(n), k),
         "end_time": ts(day(n), k, 30), "driver": k == 0, "network_received_bytes": (n * 37 + k * 11 + c) % 50 * 10**6}
        for c in range(2) for n in range(35) for k in range(3)])
    write_gold(lh, "fact_table_snapshots", [
        {"snapshot_date": day(n), "table_catalog": f"c{c}", "table_schema": "s", "table_name": f"t{t}",
         "created": ts(day(t * 3 - 5)), "last_altered": ts(day(n - t)), "column_count": 3 + t,
         "has_primary_key": t % 2 == 0, "cdf_enabled": t == 1, "columns_added": 1 if (n + t) % 6 == 0 else 0,
         "columns_removed": 0, "columns_type_changed": 0, "row_count": 100 * t + n, "size_bytes": 10,
         "last_commit_time": ts(day(n - t % 3)), "commits_1d": t % 2, "rows_written_1d": n % 5}
        for c in range(2) for n in range(20) for t in range(4)])


def test_duckdb_and_spark_agree_on_every_feature_table(tmp_path):
    duck = Lakehouse(tmp_path / "duck", engine="duckdb")
    _gold(duck)
    shutil.copytree(tmp_path / "duck", tmp_path / "spark")
    spark = Lakehouse(tmp_path / "spark", engine="spark")
    for name, table in FEATURE_TABLES.items():
        keys = [(k, "ascending") for k in table.primary_keys]
        a = compute_feature_table(duck, table, CATALOG, GOLD)[0].sort_by(keys).to_pylist()
        b = compute_feature_table(spark, table, CATALOG, GOLD)[0].sort_by(keys).to_pylist()
        assert len(a) == len(b) > 0, name
        if name == "security_features":  # the windowed median over the rows users' statements returned
            assert any(r["median_produced_rows_prev28"] > 0 for r in a)
        for ra, rb in zip(a, b):
            for col in table.columns:
                if isinstance(ra[col], float):
                    assert ra[col] == pytest.approx(rb[col], rel=1e-9, abs=1e-9), (name, col, ra, rb)
                else:
                    assert ra[col] == rb[col], (name, col)
