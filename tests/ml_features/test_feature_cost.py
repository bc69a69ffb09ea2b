"""cost_features on hand-made fact_usage rows: aggregation, row-based windows, lags, calendar."""

from __future__ import annotations

import datetime as dt
import math
import statistics

import pytest
from mlf_gold import CATALOG, GOLD, day, rows_by_key, write_gold

from healthmon.lakehouse import Lakehouse
from healthmon.ml.features import FEATURE_TABLES, compute_feature_table

TABLE = FEATURE_TABLES["cost_features"]


def _usage(ws, d, qty, cost, sku="JOBS_COMPUTE", job=None, serverless=False, rec=None):
    return {
        "record_id": rec or f"{ws}-{d}-{sku}-{job}-{qty}",
        "workspace_id": ws, "usage_date": d, "usage_quantity": qty, "list_cost": cost,
        "sku_name": sku, "usage_metadata_job_id": job, "product_features_is_serverless": serverless,
    }


@pytest.fixture
def lh():
    return Lakehouse.from_env()


def test_daily_aggregates_and_sku_breakdown(lh):
    d = day(0)
    write_gold(lh, "fact_usage", [
        _usage("w1", d, 10, 5.0, sku="STANDARD_ALL_PURPOSE_COMPUTE", job="j1"),
        _usage("w1", d, 4, 2.0, sku="STANDARD_ALL_PURPOSE_COMPUTE", job="j2"),
        _usage("w1", d, 3, 1.5, sku="STANDARD_ALL_PURPOSE_COMPUTE", job=None),  # interactive: not a job
        _usage("w1", d, 2, None, sku="JOBS_COMPUTE"),                            # NULL cost counts as 0
        _usage("w1", d, 1, 4.0, sku="JOBS_SERVERLESS_COMPUTE", serverless=True),
        _usage("w1", d, 1, 3.0, sku="DLT_CORE_JOBS_COMPUTE"),
        _usage("w1", d, 1, 6.0, sku="SERVERLESS_REAL_TIME_INFERENCE"),
        _usage(None, d, 99, 99.0),                                               # no workspace: dropped
    ])
    data, counts = compute_feature_table(lh, TABLE, CATALOG, GOLD)
    assert data.column_names == list(TABLE.columns)
    assert data.num_rows == 1
    r = data.to_pylist()[0]
    assert r["workspace_id"] == "w1" and r["usage_date"] == d
    assert r["daily_dbu"] == pytest.approx(22)
    assert r["daily_cost"] == pytest.approx(21.5)
    assert r["jobs_on_all_purpose_cost"] == pytest.approx(7.0)
    assert r["jobs_on_all_purpose_count"] == 2
    assert r["serverless_cost"] == pytest.approx(4.0)
    assert r["dlt_cost"] == pytest.approx(3.0)
    assert r["model_serving_cost"] == pytest.approx(6.0)
    assert r["potential_job_cluster_savings"] == pytest.approx(0.4 * 7.0)
    assert r["all_purpose_inefficiency_ratio"] == pytest.approx(7.0 / 21.5)
    assert r["serverless_adoption_ratio"] == pytest.approx(4.0 / 21.5)
    # One row: sample stddev is NULL -> 0, so z-scores are 0 and lags are 0.
    assert r["std_dbu_7d"] == 0 and r["z_score_7d"] == 0 and r["daily_dbu_lag1"] == 0


def test_windows_and_lags_count_rows_per_workspace(lh):
    # w1 has 12 usage days with day 5 missing; w2 one day with a huge value that must not leak.
    present = [n for n in range(13) if n != 5]
    qty = {n: float(10 + n * n % 7) for n in present}
    rows = [_usage("w1", day(n), qty[n], qty[n] / 2) for n in present]
    rows.append(_usage("w2", day(11), 10_000.0, 1.0))
    write_gold(lh, "fact_usage", rows)
    data, _ = compute_feature_table(lh, TABLE, CATALOG, GOLD)
    by = rows_by_key(data, "workspace_id", "usage_date")

    last = by[("w1", day(12))]
    window = [qty[n] for n in present[-7:]]  # the last 7 rows: days 6..12 (row-based)
    assert last["avg_dbu_7d"] == pytest.approx(statistics.mean(window))
    assert last["std_dbu_7d"] == pytest.approx(statistics.stdev(window))
    assert last["z_score_7d"] == pytest.approx((qty[12] - statistics.mean(window)) / statistics.stdev(window))
    assert last["avg_dbu_30d"] == pytest.approx(statistics.mean(qty.values()))

    # Row-based lag across the gap: the row after the missing day 5 lags to day 4.
    after_gap = by[("w1", day(6))]
    assert after_gap["daily_dbu_lag1"] == qty[4]
    assert after_gap["dbu_change_pct_1d"] == pytest.approx((qty[6] - qty[4]) / qty[4] * 100)
    assert after_gap["daily_dbu_lag7"] == 0  # only 5 earlier rows
    assert last["daily_dbu_lag7"] == qty[present[-8]]
    assert by[("w1", day(0))]["daily_dbu_lag1"] == 0 and by[("w1", day(0))]["dbu_change_pct_1d"] == 0

    w2 = by[("w2", day(11))]
    assert w2["avg_dbu_7d"] == 10_000.0 and w2["daily_dbu_lag1"] == 0


def test_calendar_features_follow_spark_dayofweek(lh):
    saturday, monday, feb29 = dt.date(2024, 6, 1), dt.date(2024, 6, 3), dt.date(2024, 2, 29)
    write_gold(lh, "fact_usage", [_usage("w", d, 1, 1) for d in (saturday, monday, feb29, dt.date(1969, 12, 28))])
    by = rows_by_key(compute_feature_table(lh, TABLE, CATALOG, GOLD)[0], "usage_date")
    assert by[(saturday,)]["day_of_week"] == 7 and by[(saturday,)]["is_weekend"] == 1
    assert by[(monday,)]["day_of_week"] == 2 and by[(monday,)]["is_weekend"] == 0
    assert by[(dt.date(1969, 12, 28),)]["day_of_week"] == 1  # a Sunday before the epoch
    assert by[(feb29,)]["day_of_month"] == 29 and by[(feb29,)]["is_month_end"] == 1
    assert by[(monday,)]["is_month_end"] == 0
    assert by[(saturday,)]["dow_sin"] == pytest.approx(math.sin(2 * 3.14159 * 7 / 7))
    assert by[(monday,)]["dow_cos"] == pytest.approx(math.cos(2 * 3.14159 * 2 / 7))


def test_zero_cost_day_has_zero_ratios_not_nan(lh):
    write_gold(lh, "fact_usage", [_usage("w", day(0), 5, 0.0, sku="STANDARD_ALL_PURPOSE_COMPUTE", job="j")])
    r = compute_feature_table(lh, TABLE, CATALOG, GOLD)[0].to_pylist()[0]
    assert r["all_purpose_inefficiency_ratio"] == 0 and r["serverless_adoption_ratio"] == 0
    assert all(math.isfinite(r[f]) for f in TABLE.features)


def test_forecasting_history_sums_previous_week_and_next_weekday_mean(lh):
    # 35 days of one workspace: cost on day n = 10 + n, jobs on all-purpose = 1 + n % 3.
    rows = []
    for n in range(35):
        rows.append(_usage("w1", day(n), 1, 10.0 + n, sku="JOBS_COMPUTE"))
        rows.append(_usage("w1", day(n), 1, 1.0 + n % 3, sku="STANDARD_ALL_PURPOSE_COMPUTE", job="j1"))
    write_gold(lh, "fact_usage", rows)
    data, _ = compute_feature_table(lh, TABLE, CATALOG, GOLD)
    by = rows_by_key(data, "workspace_id", "usage_date")
    cost = [10.0 + n + 1.0 + n % 3 for n in range(35)]
    ap = [1.0 + n % 3 for n in range(35)]
    d = 30
    r = by[("w1", day(d))]
    assert r["cost_7d"] == pytest.approx(sum(cost[d - 6:d + 1]))
    assert r["cost_prev_7d"] == pytest.approx(sum(cost[d - 13:d - 6]))
    assert r["avg_cost_28d"] == pytest.approx(statistics.mean(cost[d - 27:d + 1]))
    # the weekday of d+1: days d-6, d-13, d-20, d-27
    assert r["cost_next_dow_avg_4w"] == pytest.approx(statistics.mean([cost[d - 6], cost[d - 13], cost[d - 20], cost[d - 27]]))
    assert r["cost_week_over_week"] == pytest.approx(r["cost_7d"] / r["cost_prev_7d"])
    assert r["cost_7d_vs_28d"] == pytest.approx(r["cost_7d"] / (7 * r["avg_cost_28d"]))
    assert r["jobs_on_all_purpose_cost_7d"] == pytest.approx(sum(ap[d - 6:d + 1]))
    assert r["jobs_on_all_purpose_cost_prev_7d"] == pytest.approx(sum(ap[d - 13:d - 6]))
    assert r["avg_jobs_on_all_purpose_cost_28d"] == pytest.approx(statistics.mean(ap[d - 27:d + 1]))
    # no future: day 3's history uses days 0..3 only; no previous week yet
    first = by[("w1", day(3))]
    assert first["cost_7d"] == pytest.approx(sum(cost[:4])) and first["cost_prev_7d"] == 0
    assert first["cost_next_dow_avg_4w"] == pytest.approx(first["avg_cost_28d"])


def _wl(ws, d, qty, job=None, cluster=None, tagged=True):
    row = _usage(ws, d, qty, qty, job=job, rec=f"{ws}-{d}-{job}-{cluster}-{qty}-{tagged}")
    row.update(usage_metadata_cluster_id=cluster, is_tagged=tagged)
    return row


def test_workload_surges_against_their_own_baseline_and_lost_tags(lh):
    rows = []
    for n in range(9):
        d = day(n)
        last = n == 8
        rows.append(_wl("w1", d, 100.0, job="big"))                                   # steady large job
        rows.append(_wl("w1", d, 40.0 if last else 2.0, job="small"))                  # surges 20x on the last day
        rows.append(_wl("w1", d, 10.0, cluster="c1", tagged=not last))                 # loses its tags on the last day
        if last:
            rows.append(_wl("w1", d, 0.1, job="new"))                                  # no history: not scored
    write_gold(lh, "fact_usage", rows)
    by = rows_by_key(compute_feature_table(lh, TABLE, CATALOG, GOLD)[0], "usage_date")
    r = by[(day(8),)]
    assert r["daily_dbu"] == pytest.approx(150.1)
    assert r["max_workload_dbu_ratio"] == pytest.approx(20.0)
    assert r["workloads_over_3x"] == 1
    assert r["top_workload_surge_dbu"] == pytest.approx(38.0)
    assert r["top_workload_surge_share"] == pytest.approx(38.0 / 150.1)
    assert r["lost_tags_dbu"] == pytest.approx(10.0)
    assert r["lost_tags_dbu_share"] == pytest.approx(10.0 / 150.1)
    assert r["untagged_dbu_share"] == pytest.approx(10.0 / 150.1)
    steady = by[(day(7),)]
    assert steady["max_workload_dbu_ratio"] == pytest.approx(1.0)
    assert steady["top_workload_surge_dbu"] == 0 and steady["lost_tags_dbu"] == 0
    # 6 days of history are not enough for a baseline
    assert by[(day(6),)]["max_workload_dbu_ratio"] == 0


def test_workload_ratio_floor_keeps_tiny_workloads_from_dominating(lh):
    rows = []
    for n in range(9):
        d = day(n)
        rows.append(_wl("w1", d, 1000.0, job="big"))
        rows.append(_wl("w1", d, 0.5 if n == 8 else 0.01, job="tiny"))  # 50x of almost nothing
    write_gold(lh, "fact_usage", rows)
    r = rows_by_key(compute_feature_table(lh, TABLE, CATALOG, GOLD)[0], "usage_date")[(day(8),)]
    floor = 0.002 * 1000.01  # share of the workspace's mean daily DBUs
    assert r["max_workload_dbu_ratio"] == pytest.approx(max(1.0, 0.5 / floor))
    assert r["workloads_over_3x"] == 0



def _job_run(job, run, start, end):
    return {"workspace_id": "w1", "job_id": job, "run_id": run, "period_start_time": start, "period_end_time": end,
            "result_state": "SUCCEEDED", "run_type": "JOB_RUN", "trigger_type": "CRON"}


def test_job_duration_ratio_is_against_the_median_of_the_jobs_own_runs_on_the_day_the_run_ends(lh):
    from mlf_gold import ts

    write_gold(lh, "fact_usage", [_wl("w1", day(n), 100.0, job="a") for n in range(12)])
    # 10 minutes a day, but one long run of 55 minutes on day 3: the median stays at 10 minutes
    runs = [_job_run("a", f"a{n}", ts(day(n), 1), ts(day(n), 1, 55 if n == 3 else 10)) for n in range(10)]
    runs += [_job_run("b", f"b{n}", ts(day(n), 2), ts(day(n), 2, 5 + n)) for n in range(5)]  # too few runs
    # a run of 2 hours from 23:30 on day 10, in two slices as system tables record long runs
    runs += [_job_run("a", "a10", ts(day(10), 23, 30), ts(day(11), 0)),
             _job_run("a", "a10", ts(day(11), 0), ts(day(11), 1, 30))]
    # a 30-second job: its median is floored at 60 s, so a 90-second run is a ratio of 1.5, not 3
    runs += [_job_run("c", f"c{n}", ts(day(n), 3), ts(day(n), 3) + dt.timedelta(seconds=30)) for n in range(10)]
    runs += [_job_run("c", "c10", ts(day(10), 3), ts(day(10), 3) + dt.timedelta(seconds=90))]
    write_gold(lh, "fact_job_run_timeline", runs)
    by = rows_by_key(compute_feature_table(lh, TABLE, CATALOG, GOLD)[0], "usage_date")
    # 7200 s against the median of days 0..9 (600 s; the mean, 870 s, would give 8.3)
    assert by[(day(11),)]["max_job_duration_ratio"] == pytest.approx(7200 / 600)
    assert by[(day(10),)]["max_job_duration_ratio"] == pytest.approx(1.5)  # only c's run ended, a's had not
    assert by[(day(8),)]["max_job_duration_ratio"] == pytest.approx(1.0)
    assert by[(day(6),)]["max_job_duration_ratio"] == 0  # 6 earlier run days: no baseline yet


def test_job_duration_ratio_is_zero_without_a_run_timeline(lh):
    write_gold(lh, "fact_usage", [_wl("w1", day(n), 100.0, job="a") for n in range(3)])
    data, _ = compute_feature_table(lh, TABLE, CATALOG, GOLD)
    assert set(data.column("max_job_duration_ratio").to_pylist()) == {0.0}


def _node(cluster, end, received):
    return {"workspace_id": "w1", "cluster_id": cluster, "instance_id": f"i-{cluster}-{end}-{received}",
            "start_time": end - dt.timedelta(minutes=30), "end_time": end, "driver": False,
            "network_received_bytes": received}


def test_job_input_ratio_is_bytes_per_run_against_the_jobs_own_median_on_two_days_in_a_row(lh):
    from mlf_gold import ts

    write_gold(lh, "fact_usage", [_wl("w1", day(n), 100.0, job="a") for n in range(13)])
    runs, nodes = [], []
    for n in range(12):
        # job a on its own cluster: one run a day reading 100 bytes over two nodes, 500 on day 3,
        # and on day 10 a second (manual) run: 800 bytes over two runs
        for k in range(2 if n == 10 else 1):
            runs.append({**_job_run("a", f"a{n}-{k}", ts(day(n), 1 + 2 * k), ts(day(n), 2 + 2 * k)),
                         "compute_ids": ["ca"]})
        total = {3: 500, 10: 800, 11: 300}.get(n, 100)
        nodes += [_node("ca", ts(day(n), 2), 0.6 * total), _node("ca", ts(day(n), 3), 0.4 * total)]
        # jobs b and c share an all-purpose cluster: its bytes are no one job's input
        runs += [{**_job_run(j, f"{j}{n}", ts(day(n), 5), ts(day(n), 6)), "compute_ids": ["shared"]} for j in "bc"]
        nodes.append(_node("shared", ts(day(n), 6), 10_000 if n == 11 else 10))
    write_gold(lh, "fact_job_run_timeline", runs)
    write_gold(lh, "fact_node_timeline", nodes)
    by = rows_by_key(compute_feature_table(lh, TABLE, CATALOG, GOLD)[0], "usage_date")
    # day 11: 300 / median of days 0..10 (100 x 9, 500, 400) = 3; day 10: 400 / 100 = 4
    assert by[(day(11),)]["max_job_input_ratio"] == pytest.approx(min(3.0, 4.0))
    assert by[(day(10),)]["max_job_input_ratio"] == pytest.approx(1.0)  # day 9 was usual: not two days
    assert by[(day(8),)]["max_job_input_ratio"] == pytest.approx(1.0)
    # day 7 has its 7 earlier days but day 6 had only 6: no pair yet
    assert by[(day(7),)]["max_job_input_ratio"] == 0
    assert by[(day(12),)]["max_job_input_ratio"] == 0  # no bytes that day


def test_job_input_ratio_is_the_run_duration_for_jobs_without_a_cluster_of_their_own(lh):
    from mlf_gold import ts

    write_gold(lh, "fact_usage", [_wl("w1", day(n), 100.0, job="s") for n in range(13)])
    runs, nodes = [], []
    minutes = {9: 40, 10: 30, 11: 20}
    for n in range(12):
        # job s on serverless compute (no cluster, no node rows): 10 minutes a day, then 40, 30, 20
        runs.append({**_job_run("s", f"s{n}", ts(day(n), 1), ts(day(n), 1, minutes.get(n, 10))), "compute_ids": []})
        # job a on its own cluster reads 100 bytes a day: its bytes count, not its 5-hour run on day 10
        runs.append({**_job_run("a", f"a{n}", ts(day(n), 2), ts(day(n), 7 if n == 10 else 3)), "compute_ids": ["ca"]})
        nodes.append(_node("ca", ts(day(n), 3), 100))
        # jobs b and c share a cluster: an hour each, their durations count (the cluster's bytes do not)
        runs += [{**_job_run(j, f"{j}{n}", ts(day(n), 8), ts(day(n), 9)), "compute_ids": ["shared"]} for j in "bc"]
        nodes.append(_node("shared", ts(day(n), 9), 10_000 if n == 10 else 10))
        # a 30-second job: its median is floored at 60 s, so 90-second runs are a ratio of 1.5
        end = ts(day(n), 10) + dt.timedelta(seconds=90 if n >= 10 else 30)
        runs.append({**_job_run("t", f"t{n}", ts(day(n), 10), end), "compute_ids": []})
    write_gold(lh, "fact_job_run_timeline", runs)
    write_gold(lh, "fact_node_timeline", nodes)
    by = rows_by_key(compute_feature_table(lh, TABLE, CATALOG, GOLD)[0], "usage_date")
    # s: day 9 is 40 / 10 but day 8 was 1; day 10: 30 / median(10 x 9, 40) = 3 after 4;
    # day 11: 20 / median(10 x 9, 40, 30) = 2 after 3; t: 90 / 60 on days 10 and 11
    assert by[(day(9),)]["max_job_input_ratio"] == pytest.approx(1.0)
    assert by[(day(10),)]["max_job_input_ratio"] == pytest.approx(3.0)
    assert by[(day(11),)]["max_job_input_ratio"] == pytest.approx(2.0)
    assert by[(day(12),)]["max_job_input_ratio"] == 0  # no run that day


def test_job_input_ratio_of_a_weekly_job_is_its_one_run(lh):
    from mlf_gold import ts

    write_gold(lh, "fact_usage", [_wl("w1", day(n), 100.0, job="d") for n in range(57)])
    # a weekly job runs once in a week-long runaway: its run alone counts, with no second run day;
    # a daily job's one long day is not two in a row
    runs = [{**_job_run("w", f"w{n}", ts(day(n), 1), ts(day(n), 1, 30 if n == 56 else 10)), "compute_ids": []}
            for n in range(0, 57, 7)]
    runs += [{**_job_run("d", f"d{n}", ts(day(n), 2), ts(day(n), 2, 40 if n == 55 else 10)), "compute_ids": []}
             for n in range(57)]
    write_gold(lh, "fact_job_run_timeline", runs)
    by = rows_by_key(compute_feature_table(lh, TABLE, CATALOG, GOLD)[0], "usage_date")
    assert by[(day(55),)]["max_job_input_ratio"] == pytest.approx(1.0)  # d: 4, but day 54 was 1
    # w: 30 min against the median of its 8 earlier weekly runs (10 min); d: min(1, 4)
    assert by[(day(56),)]["max_job_input_ratio"] == pytest.approx(3.0)
    assert by[(day(49),)]["max_job_input_ratio"] == pytest.approx(1.0)  # d; w's previous run had no baseline yet


def test_job_input_ratio_is_the_run_duration_without_a_node_timeline(lh):
    from mlf_gold import ts

    write_gold(lh, "fact_usage", [_wl("w1", day(n), 100.0, job="a") for n in range(10)])
    write_gold(lh, "fact_job_run_timeline", [
        {**_job_run("a", f"a{n}", ts(day(n), 1), ts(day(n), 4 if n >= 8 else 2)), "compute_ids": ["ca"]}
        for n in range(10)])
    by = rows_by_key(compute_feature_table(lh, TABLE, CATALOG, GOLD)[0], "usage_date")
    assert by[(day(9),)]["max_job_input_ratio"] == pytest.approx(3.0)  # 3 h against 1 h, two days in a row


def test_job_input_ratio_is_zero_without_a_run_timeline(lh):
    write_gold(lh, "fact_usage", [_wl("w1", day(n), 100.0, job="a") for n in range(10)])
    data, _ = compute_feature_table(lh, TABLE, CATALOG, GOLD)
    assert set(data.column("max_job_input_ratio").to_pylist()) == {0.0}


def test_job_input_ratio_at_month_end_is_also_against_the_jobs_previous_close(lh):
    from mlf_gold import ts

    days = [day(n) for n in range(60)]  # 2024-01-01 .. 2024-02-29
    close = {dt.date(2024, 1, 30): 250, dt.date(2024, 1, 31): 250, dt.date(2024, 2, 28): 300,
             dt.date(2024, 2, 29): 300}
    write_gold(lh, "fact_usage", [_wl("w1", d, 100.0, job="a") for d in days])
    write_gold(lh, "fact_job_run_timeline", [
        {**_job_run("a", f"a{d}", ts(d, 1), ts(d, 2)), "compute_ids": ["ca"]} for d in days])
    write_gold(lh, "fact_node_timeline", [_node("ca", ts(d, 2), close.get(d, 100)) for d in days])
    by = rows_by_key(compute_feature_table(lh, TABLE, CATALOG, GOLD)[0], "usage_date")
    # January's close has no earlier close: 250 against the median of 100
    assert by[(dt.date(2024, 1, 31),)]["max_job_input_ratio"] == pytest.approx(2.5)
    # February's close against January's (250), not against the median alone (300 / 100 = 3)
    assert by[(dt.date(2024, 2, 29),)]["max_job_input_ratio"] == pytest.approx(300 / 250)
    assert by[(dt.date(2024, 2, 15),)]["max_job_input_ratio"] == pytest.approx(1.0)
