"""reliability_features and quality_features on hand-made gold rows."""

from __future__ import annotations

import datetime as dt
import statistics

import numpy as np
import pytest
from mlf_gold import CATALOG, GOLD, day, rows_by_key, ts, write_gold

from healthmon.lakehouse import Lakehouse
from healthmon.ml.features import FEATURE_TABLES, compute_feature_table


@pytest.fixture
def lh():
    return Lakehouse.from_env()


def _run(job, start, seconds, state="SUCCEEDED", run_type="JOB_RUN", trigger="CRON", stored=True, n=[0]):
    n[0] += 1
    end = start + dt.timedelta(seconds=seconds)
    return {
        "workspace_id": "w", "run_id": f"r{n[0]}", "job_id": job,
        "period_start_time": start, "period_end_time": end, "result_state": state,
        "run_type": run_type, "trigger_type": trigger,
        "run_date": start.date() if stored else None,
        "run_duration_seconds": seconds if stored else None,
    }


def test_reliability_states_durations_and_fallbacks(lh):
    d = day(0)
    rows = [
        _run("j1", ts(d, 1), 100),
        _run("j1", ts(d, 2), 200, state="SUCCESS"),           # the Jobs API spelling counts too
        _run("j1", ts(d, 3), 300, state="FAILED"),
        _run("j1", ts(d, 4), 400, state="ERROR", trigger="ONETIME_RETRY"),
        _run("j1", ts(d, 5), 500, state="TIMED_OUT", stored=False),  # duration from end - start
        _run("j1", ts(d, 6), 600, state="CANCELLED"),
        _run(None, ts(d, 7), 5),                                # no job: dropped
    ]
    write_gold(lh, "fact_job_run_timeline", rows)
    table = FEATURE_TABLES["reliability_features"]
    data, _ = compute_feature_table(lh, table, CATALOG, GOLD)
    assert data.column_names == list(table.columns) and data.num_rows == 1
    r = data.to_pylist()[0]
    durations = [100, 200, 300, 400, 500, 600]
    assert r["total_runs"] == 6
    assert (r["successful_runs"], r["failed_runs"], r["timeout_runs"], r["cancelled_runs"]) == (2, 2, 1, 1)
    assert r["repair_runs"] == 1
    assert r["success_rate"] == pytest.approx(2 / 6) and r["failure_rate"] == pytest.approx(2 / 6)
    assert r["avg_duration_sec"] == pytest.approx(350)
    assert r["std_duration_sec"] == pytest.approx(statistics.stdev(durations))
    assert (r["min_duration_sec"], r["max_duration_sec"], r["duration_range_sec"]) == (100, 600, 500)
    assert r["p95_duration_sec"] == pytest.approx(np.percentile(durations, 95))
    assert r["duration_cv"] == pytest.approx(statistics.stdev(durations) / 350)
    assert r["rolling_repair_rate_30d"] == pytest.approx(1 / 6)


def test_reliability_history_features(lh):
    # Job j runs on 10 days; it fails on day 3 and on days 8-9.
    failing = {3, 8, 9}
    rows = [_run("j", ts(day(n)), 60, state="FAILED" if n in failing else "SUCCEEDED") for n in range(10)]
    rows.append(_run("j", ts(day(9), 18), 60))  # a second, successful run on day 9
    write_gold(lh, "fact_job_run_timeline", rows)
    by = rows_by_key(compute_feature_table(lh, FEATURE_TABLES["reliability_features"], CATALOG, GOLD)[0], "run_date")
    assert by[(day(4),)]["prev_day_failed"] == 1 and by[(day(4),)]["prev_day_success_rate"] == 0
    assert by[(day(5),)]["prev_day_failed"] == 0 and by[(day(5),)]["prev_day_success_rate"] == 1
    assert by[(day(0),)]["prev_day_failed"] == 0
    last = by[(day(9),)]
    assert last["failure_rate"] == pytest.approx(0.5)
    assert last["total_failures_30d"] == 3
    rates = [1.0 if n in failing else 0.0 for n in range(9)] + [0.5]
    assert last["rolling_failure_rate_30d"] == pytest.approx(statistics.mean(rates))
    # success_rate_trend: today's success rate minus 7 rows earlier (day 2: 1.0)
    assert last["success_rate_trend"] == pytest.approx(0.5 - 1.0)
    assert by[(day(6),)]["success_rate_trend"] == 0  # no row 7 earlier


def _snap(d, table, schema="s1", catalog="main", created=None, altered=None, cols=5, pk=False, cdf=False,
          added=0, removed=0, retyped=0, rows=100, commit=None, commits=1, written=10):
    return {
        "snapshot_date": d, "table_catalog": catalog, "table_schema": schema, "table_name": table,
        "created": ts(created or day(-100)), "last_altered": ts(altered or day(-50)),
        "column_count": cols, "has_primary_key": pk, "cdf_enabled": cdf,
        "columns_added": added, "columns_removed": removed, "columns_type_changed": retyped,
        "row_count": rows, "size_bytes": rows * 10, "last_commit_time": ts(commit or d, 1),
        "commits_1d": commits, "rows_written_1d": written,
    }


def test_quality_features_have_history_and_real_values(lh):
    rows = []
    for n in range(9):
        d = day(n)
        rows.append(_snap(d, "orders", pk=True, cdf=True, rows=1000 + n, added=2 if n == 2 else 0))
        rows.append(_snap(d, "orders", schema="s2", cols=7, rows=50, removed=1 if n == 8 else 0,
                          commit=day(0), commits=0, written=0))
        if n >= 4:
            rows.append(_snap(d, "events", created=day(4), altered=day(4), cols=3, rows=10))
        rows.append(_snap(d, "other_catalog_table", catalog="dev", rows=1))
    write_gold(lh, "fact_table_snapshots", rows)
    table = FEATURE_TABLES["quality_features"]
    data, _ = compute_feature_table(lh, table, CATALOG, GOLD)
    assert data.column_names == list(table.columns)
    by = rows_by_key(data, "catalog_name", "snapshot_date")
    assert len(by) == 18  # 9 days x 2 catalogs: a row per day, not one snapshot
    d8 = by[("main", day(8))]
    assert d8["table_count"] == 3 and d8["schema_count"] == 2  # s1.orders and s2.orders are two tables
    assert d8["column_count_avg"] == pytest.approx((5 + 7 + 3) / 3)
    assert d8["total_rows"] == 1008 + 50 + 10
    assert d8["tables_with_pk"] == 1 and d8["pk_coverage"] == pytest.approx(1 / 3)
    assert d8["tables_with_cdf"] == 1 and d8["cdf_coverage"] == pytest.approx(1 / 3)
    assert d8["tables_created_last_7d"] == 1 and d8["tables_modified_last_7d"] == 1
    assert by[("main", day(10 - 10))]["tables_created_last_7d"] == 0
    # schema changes: 2 columns added on day 2, 1 removed on day 8; 7-row window
    assert by[("main", day(2))]["schema_changes_7d"] == 2
    assert by[("main", day(8))]["schema_changes_7d"] == 3   # days 2..8
    assert by[("main", day(8))]["schema_changes_1d"] == 1
    assert by[("main", day(7))]["schema_changes_7d"] == 2   # days 1..7
    assert d8["stale_tables_7d"] == 1 and d8["max_days_since_commit"] == 8
    assert d8["tables_not_written_1d"] == 1
    assert d8["total_rows_change_pct_1d"] == pytest.approx(1 / 1067 * 100)
    assert d8["dq_unhealthy_tables"] == 0  # no monitoring table: zeros, same columns
    variable = [f for f in table.features if len({r[f] for r in data.to_pylist()}) > 1]
    assert len(variable) >= 15, f"too many constant features: only {variable} vary"


def test_quality_features_use_monitoring_results_when_present(lh):
    write_gold(lh, "fact_table_snapshots", [_snap(day(0), "t1"), _snap(day(0), "t2")])
    write_gold(lh, "fact_data_quality_monitoring_table_results", [
        {"event_time": ts(day(0), 3), "catalog_name": "main", "schema_name": "s1", "table_name": "t1",
         "status": "Unhealthy", "freshness_status": "Unhealthy", "completeness_status": "Healthy"},
        {"event_time": ts(day(0), 4), "catalog_name": "main", "schema_name": "s1", "table_name": "t2",
         "status": "Healthy", "freshness_status": "Healthy", "completeness_status": "Healthy"},
    ])
    r = compute_feature_table(lh, FEATURE_TABLES["quality_features"], CATALOG, GOLD)[0].to_pylist()[0]
    assert (r["dq_unhealthy_tables"], r["dq_freshness_unhealthy"], r["dq_completeness_unhealthy"]) == (1, 1, 0)


def test_quality_detector_columns_breaking_changes_and_overdue_daily_tables(lh):
    """Breaking schema changes (dropped/retyped columns) are told apart from additive ones, per
    table; a table written every day that stops being written is overdue, a weekly one is not."""
    rows = []
    for n in range(30):
        d = day(n)
        paused = n >= 26  # the daily writer stops after day 25
        rows.append(_snap(d, "daily_t", commit=day(25) if paused else d, commits=0 if paused else 1))
        weekly_commit = day(n - n % 7)
        rows.append(_snap(d, "weekly_t", commit=weekly_commit, commits=1 if n % 7 == 0 else 0))
        rows.append(_snap(d, "evolving", added=3 if n == 27 else 0,
                          removed=2 if n == 28 else 0, retyped=1 if n == 28 else 0))
        rows.append(_snap(d, "other", removed=1 if n == 28 else 0))
    write_gold(lh, "fact_table_snapshots", rows)
    by = rows_by_key(compute_feature_table(lh, FEATURE_TABLES["quality_features"], CATALOG, GOLD)[0],
                     "catalog_name", "snapshot_date")
    d27, d28, d29 = by[("main", day(27))], by[("main", day(28))], by[("main", day(29))]
    assert d27["breaking_schema_changes_1d"] == 0 and d27["schema_changes_1d"] == 3  # additive only
    assert d28["breaking_schema_changes_1d"] == 4
    assert d28["max_breaking_changes_per_table_1d"] == 3  # 2 dropped + 1 retyped on one table
    # daily_t, evolving and other were written on >= 20 of their previous 28 days; weekly_t not
    assert d29["daily_tables"] == 3
    assert d29["overdue_daily_tables_1d"] == 1
    assert d29["max_overdue_days_daily_tables"] == 4  # last commit day 25, snapshot day 29
    assert by[("main", day(24))]["overdue_daily_tables_1d"] == 0
    assert by[("main", day(24))]["max_overdue_days_daily_tables"] == 0
    # a growing streak is one day past the longest gap seen before (which includes the streak so
    # far); weekly_t's 6-day gaps are its routine once seen, so only daily_t counts
    assert d29["tables_past_usual_gap_1d"] == 1 and d29["max_days_past_usual_gap"] == 1
    assert by[("main", day(26))]["max_days_past_usual_gap"] == 1
    # 4 commit-less days for a table that missed 3 of its previous 28 days: -4 log10((3+1)/(28+2))
    assert d29["max_staleness_surprise"] == pytest.approx(-4 * np.log10(4 / 30))
    assert by[("main", day(24))]["max_staleness_surprise"] < 1.0  # weekly_t's routine gap: p is high


def test_quality_idle_writer_tells_paused_from_failing_and_sizes_breaking_changes(lh):
    """Two catalogs (one per workspace, joined by name) each lose their daily table's commits
    after day 25. In "main" the writer job is paused (no run at all); in "dev" it keeps running
    and failing. Only the paused one counts as an idle writer."""
    rows, runs = [], []
    for n in range(30):
        d = day(n)
        stopped = n >= 26
        for catalog in ("main", "dev"):
            rows.append(_snap(d, "daily_t", catalog=catalog, commit=day(25) if stopped else d, commits=0 if stopped else 1))
            rows.append(_snap(d, "evolving", catalog=catalog, added=(3 if n == 27 else 1 if n == 28 else 0),
                              removed=2 if n == 28 else 0, retyped=1 if n == 28 else 0))
        if not stopped:
            runs.append({**_run("paused_job", ts(d, 1), 60), "workspace_id": "w1"})
        runs.append({**_run("failing_job", ts(d, 2), 60, state="FAILED" if stopped else "SUCCEEDED"), "workspace_id": "w2"})
        if n % 7 == 0:  # a weekly job never counts as a daily one, whatever its gaps
            runs.append({**_run("weekly_job", ts(d, 3), 60), "workspace_id": "w1"})
    write_gold(lh, "fact_table_snapshots", rows)
    write_gold(lh, "fact_job_run_timeline", runs)
    write_gold(lh, "dim_workspace", [{"workspace_id": "w1", "workspace_name": "main"},
                                     {"workspace_id": "w2", "workspace_name": "dev"}])
    by = rows_by_key(compute_feature_table(lh, FEATURE_TABLES["quality_features"], CATALOG, GOLD)[0],
                     "catalog_name", "snapshot_date")
    paused, failing = by[("main", day(29))], by[("dev", day(29))]
    assert paused["max_overdue_days_daily_tables"] == failing["max_overdue_days_daily_tables"] == 4
    assert paused["max_idle_days_daily_jobs"] == 4  # last run day 25
    assert paused["stale_days_with_idle_writer"] == 4
    assert failing["max_idle_days_daily_jobs"] == 0 and failing["stale_days_with_idle_writer"] == 0
    assert by[("main", day(25))]["stale_days_with_idle_writer"] == 0
    assert by[("main", day(26))]["stale_days_with_idle_writer"] == 1
    # additive-only day: no broken table; day 28: 2 dropped + 1 retyped + 1 added on one table
    assert by[("main", day(27))]["max_broken_table_changes_1d"] == 0
    assert by[("main", day(28))]["max_broken_table_changes_1d"] == 4


def test_quality_idle_writer_features_are_zero_without_job_runs(lh):
    write_gold(lh, "fact_table_snapshots", [_snap(day(n), "t1") for n in range(3)])
    data = compute_feature_table(lh, FEATURE_TABLES["quality_features"], CATALOG, GOLD)[0].to_pylist()
    assert len(data) == 3
    assert all(r["max_idle_days_daily_jobs"] == 0 and r["stale_days_with_idle_writer"] == 0 for r in data)
