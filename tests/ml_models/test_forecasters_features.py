"""History columns the forecasters and the migration scorer need, computed by the feature SQL
from hand-made gold rows (performance: weekly peaks; reliability: runtime, Photon, tasks)."""

from __future__ import annotations

import datetime as dt
import statistics

import pytest

from healthmon.lakehouse import Lakehouse
from healthmon.ml.features import FEATURE_TABLES, compute_feature_table
from tests.ml_features.mlf_gold import CATALOG, GOLD, day, rows_by_key, ts, write_gold


@pytest.fixture
def lh():
    return Lakehouse.from_env()


def test_weekly_peak_history_of_query_counts(lh):
    counts = [1 + (n * 7) % 5 + n // 10 for n in range(30)]  # varied, slowly growing
    rows, k = [], 0
    for n, c in enumerate(counts):
        for i in range(c):
            k += 1
            rows.append({"statement_id": f"q{k}", "compute_warehouse_id": "wh", "end_time": ts(day(n), 9, i),
                         "total_duration_ms": 1000, "read_bytes": 0, "written_bytes": 0, "execution_status": "FINISHED",
                         "spilled_local_bytes": 0, "waiting_at_capacity_duration_ms": 0})
    write_gold(lh, "fact_query_history", rows)
    by = rows_by_key(compute_feature_table(lh, FEATURE_TABLES["performance_features"], CATALOG, GOLD)[0], "warehouse_id", "query_date")
    d = 29
    r = by[("wh", day(d))]
    assert r["query_count"] == counts[d]
    assert r["max_query_count_7d"] == max(counts[d - 6:d + 1])
    assert r["max_query_count_prev_7d"] == max(counts[d - 13:d - 6])
    assert r["max_query_count_28d"] == max(counts[d - 27:d + 1])
    assert r["avg_query_count_28d"] == pytest.approx(statistics.mean(counts[d - 27:d + 1]))
    assert r["std_query_count_28d"] == pytest.approx(statistics.stdev(counts[d - 27:d + 1]))
    assert r["query_count_lag7"] == counts[d - 7]
    peaks = [max(counts[e - 6:e + 1]) for e in (d, d - 7, d - 14, d - 21)]
    assert r["avg_weekly_peak_4w"] == pytest.approx(statistics.mean(peaks))
    # the first week: only this week's peak exists
    early = by[("wh", day(3))]
    assert early["avg_weekly_peak_4w"] == pytest.approx(max(counts[:4]))
    assert early["max_query_count_prev_7d"] == 0 and early["query_count_lag7"] == 0


def _run(job, d, cluster, n=[0], state="SUCCEEDED"):
    n[0] += 1
    start = ts(d, 2)
    return {"workspace_id": "w", "run_id": f"r{n[0]}", "job_id": job, "period_start_time": start,
            "period_end_time": start + dt.timedelta(minutes=10), "result_state": state, "run_type": "JOB_RUN",
            "compute_ids": [cluster] if cluster else []}


def test_runtime_photon_and_tasks_of_a_job_day(lh):
    write_gold(lh, "fact_job_run_timeline", [
        _run("j1", day(0), "c-old"), _run("j1", day(1), "c-new"), _run("j2", day(0), None),  # j2: serverless
        _run("j3", day(0), "c-unknown"),
    ])
    write_gold(lh, "dim_cluster", [
        {"account_id": "a", "workspace_id": "w", "cluster_id": "c-old", "dbr_version": "13.3.x-scala2.12"},
        {"account_id": "a", "workspace_id": "w", "cluster_id": "c-new", "dbr_version": "15.4.x-photon-scala2.12"},
    ])
    write_gold(lh, "fact_usage", [
        {"record_id": "u1", "workspace_id": "w", "usage_date": day(1), "sku_name": "PREMIUM_JOBS_COMPUTE_(PHOTON)",
         "usage_metadata_job_id": "j1", "usage_quantity": 1, "list_cost": 1.0},
        {"record_id": "u2", "workspace_id": "w", "usage_date": day(0), "sku_name": "PREMIUM_JOBS_COMPUTE",
         "usage_metadata_job_id": "j1", "usage_quantity": 1, "list_cost": 1.0},
    ])
    write_gold(lh, "fact_job_task_run_timeline", [
        {"workspace_id": "w", "run_id": f"t{i}", "job_id": "j1", "task_key": key, "period_start_time": ts(day(1), 2, i),
         "period_end_time": ts(day(1), 3, i), "result_state": "SUCCEEDED"}
        for i, key in enumerate(["ingest", "transform", "transform", "publish"])
    ])
    data, _ = compute_feature_table(lh, FEATURE_TABLES["reliability_features"], CATALOG, GOLD)
    assert data.column_names == list(FEATURE_TABLES["reliability_features"].columns)
    by = rows_by_key(data, "job_id", "run_date")
    assert by[("j1", day(0))]["dbr_version_num"] == pytest.approx(13.03)
    assert by[("j1", day(1))]["dbr_version_num"] == pytest.approx(15.04)
    assert by[("j2", day(0))]["dbr_version_num"] == 0 and by[("j3", day(0))]["dbr_version_num"] == 0
    assert by[("j1", day(1))]["is_photon"] == 1 and by[("j1", day(0))]["is_photon"] == 0
    assert by[("j1", day(1))]["task_count"] == 3 and by[("j1", day(0))]["task_count"] == 0


def test_runtime_columns_are_zero_without_the_optional_gold_tables(lh):
    write_gold(lh, "fact_job_run_timeline", [_run("j1", day(0), "c-old"), _run("j1", day(1), "c-old")])
    data, _ = compute_feature_table(lh, FEATURE_TABLES["reliability_features"], CATALOG, GOLD)
    for r in data.to_pylist():
        assert r["dbr_version_num"] == 0 and r["is_photon"] == 0 and r["task_count"] == 0
