"""cost_features — PK (workspace_id, usage_date), from fact_usage grouped by workspace and day (job
run durations from fact_job_run_timeline, and the bytes a job reads from fact_node_timeline, when
present)."""

from __future__ import annotations

from healthmon.ml.features.sql import change_pct, day_of_week, flag, ratio, rows_window, window_median, z_score
from healthmon.ml.features.table import FeatureTable, Source

# A workload = a job (usage_metadata_job_id), else a cluster, else a SQL warehouse. Its baseline is
# the mean DBUs of its previous WORKLOAD_WINDOW usage days; a ratio needs WORKLOAD_MIN_HISTORY such
# days, and the baseline is floored at WORKLOAD_FLOOR_SHARE of the workspace's mean daily DBUs so
# that a tiny or brand-new workload cannot produce a huge ratio from a few DBUs.
WORKLOAD_WINDOW = 28
WORKLOAD_MIN_HISTORY = 7
WORKLOAD_FLOOR_SHARE = 0.002
# A job's run duration against its own runs (fact_job_run_timeline, when present): the mean
# duration of the runs that ended on a day against the MEDIAN of the job's previous
# WORKLOAD_WINDOW run days (>= WORKLOAD_MIN_HISTORY of them), the median floored at
# DURATION_FLOOR_SECONDS. A runaway job costs a few DBUs more, lost in the workspace's total and
# within the everyday noise of its DBU ratio, but runs far longer than it usually does; the
# median, unlike a mean and standard deviation, is not dragged up by the job's own earlier
# long runs (a backfill, last month's end), so the ratio keeps its scale from job to job.
RUNS = "fact_job_run_timeline"
DURATION_FLOOR_SECONDS = 60.0
# A job's input per run against its own runs: where its own clusters report in fact_node_timeline,
# the bytes their nodes received over the runs that ended that day, else (serverless compute, a
# shared cluster, no node timeline) the mean duration of those runs; against the MEDIAN of its
# previous WORKLOAD_WINDOW such days (>= WORKLOAD_MIN_HISTORY); the smaller of that ratio and the
# job's previous run day's. A job that reprocesses its input reads several times its usual bytes,
# while its duration and DBUs move by far less when a cluster's start-up and per-task overhead make
# up most of its run; a serverless job starts in seconds, so its duration follows its input and
# is the only trace it leaves. One day alone is noisy (a job's bytes ratio reaches 2.7 on 1 % of
# its ordinary days); two in a row on the same job, 1.8. A job whose previous run day is
# WEEKLY_GAP_DAYS or more back (a weekly job) has one run in a runaway of up to a week: that run
# alone counts.
NODES = "fact_node_timeline"
WEEKLY_GAP_DAYS = 7
# Month-end closing is a job's own recurring peak: on the last MONTH_CLOSE_DAYS days of a month the
# job's input is compared with its previous month's close as well (the largest of those days, 14
# to 35 days back), not with its mid-month median alone.
MONTH_CLOSE_DAYS = 2

FEATURES = (
    "daily_dbu", "daily_cost", "jobs_on_all_purpose_cost", "jobs_on_all_purpose_count",
    "serverless_cost", "dlt_cost", "model_serving_cost",
    "avg_dbu_7d", "std_dbu_7d", "avg_dbu_30d", "std_dbu_30d", "z_score_7d", "z_score_30d",
    "day_of_week", "is_weekend", "day_of_month", "is_month_end", "dow_sin", "dow_cos",
    "daily_dbu_lag1", "daily_dbu_lag7", "dbu_change_pct_1d", "dbu_change_pct_7d",
    "potential_job_cluster_savings", "all_purpose_inefficiency_ratio", "serverless_adoption_ratio",
    # Forecasting history (not in the original spec): the cost forecasters predict next-day cost
    # and next-7-day sums, and their seasonal-naive baselines are exactly such trailing sums.
    "cost_7d", "cost_prev_7d", "avg_cost_28d", "cost_next_dow_avg_4w",
    "cost_week_over_week", "cost_7d_vs_28d",
    "jobs_on_all_purpose_cost_7d", "jobs_on_all_purpose_cost_prev_7d", "avg_jobs_on_all_purpose_cost_28d",
    # Per-workload evidence (not in the original spec) for cost_anomaly_detector: one job or
    # cluster surging against its OWN history is lost in the workspace's total (docs/models.md).
    "max_workload_dbu_ratio", "top_workload_surge_dbu", "top_workload_surge_share", "workloads_over_3x",
    "max_job_duration_ratio", "max_job_input_ratio",
    "untagged_dbu_share", "lost_tags_dbu", "lost_tags_dbu_share",
    # The workspace's own expected DBUs at d for the detector (today excluded): the mean of the
    # last 4 same weekdays (weekly seasonality) and the spread of the previous 28 days.
    "expected_dbu_same_weekday", "std_dbu_prev28",
)

SOURCE = Source(
    "fact_usage",
    ("workspace_id", "usage_date", "usage_quantity", "list_cost", "sku_name",
     "usage_metadata_job_id", "product_features_is_serverless"),
)
OPTIONAL_USAGE_COLUMNS = ("usage_metadata_cluster_id", "usage_metadata_warehouse_id", "is_tagged")


def _opt(columns: dict[str, frozenset[str]], name: str, default: str) -> str:
    return name if name in columns.get("fact_usage", frozenset()) else default


def _job_runs_sql(table: str, *measures: str) -> str:
    """One row per job run: its workspace, job, end (``ended``) and ``measures`` over its slices
    (system tables slice long runs into periods, so a run is the sum of its slices)."""
    extra = "".join(f", {m}" for m in measures)
    return f"""
        SELECT CAST(workspace_id AS STRING) AS workspace_id, CAST(job_id AS STRING) AS job_id,
               MAX(period_end_time) AS ended{extra}
        FROM {table}
        WHERE workspace_id IS NOT NULL AND job_id IS NOT NULL AND period_end_time IS NOT NULL
        GROUP BY CAST(workspace_id AS STRING), CAST(job_id AS STRING), run_id"""


def _job_duration_sql(tables: dict[str, str], columns: dict[str, frozenset[str]], engine: str) -> str:
    """Per workspace and day: the largest ratio of a job's run duration to its own usual
    (0 rows without a usable job run timeline)."""
    need = {"workspace_id", "job_id", "run_id", "period_start_time", "period_end_time"}
    if RUNS not in tables or not need <= columns.get(RUNS, frozenset()):
        return ("SELECT CAST(NULL AS STRING) AS workspace_id, CAST(NULL AS DATE) AS usage_date, "
                "0.0 AS max_job_duration_ratio WHERE 1 = 0")
    return f"""
  SELECT workspace_id, usage_date, MAX(duration_ratio) AS max_job_duration_ratio
  FROM (
    SELECT workspace_id, usage_date,
           CASE WHEN COUNT(*) OVER prev >= {WORKLOAD_MIN_HISTORY}
                THEN duration / GREATEST({window_median('duration', 'prev', engine)}, {DURATION_FLOOR_SECONDS})
           END AS duration_ratio
    FROM (
      SELECT workspace_id, job_id, CAST(ended AS DATE) AS usage_date, AVG(seconds) AS duration
      FROM ({_job_runs_sql(tables[RUNS], f"SUM({_elapsed(columns)}) AS seconds")}) job_run
      GROUP BY workspace_id, job_id, CAST(ended AS DATE)
    ) job_day
    WINDOW prev AS (PARTITION BY workspace_id, job_id ORDER BY usage_date
                    ROWS BETWEEN {WORKLOAD_WINDOW} PRECEDING AND 1 PRECEDING)
  ) job_day_scored
  GROUP BY workspace_id, usage_date"""


def _elapsed(columns: dict[str, frozenset[str]]) -> str:
    """A run slice's seconds: the stored whole-second duration where there is one (engines count
    the seconds between two fractional timestamps differently)."""
    elapsed = "CAST(timestampdiff(SECOND, period_start_time, period_end_time) AS DOUBLE)"
    if "run_duration_seconds" in columns[RUNS]:
        elapsed = f"COALESCE(CAST(run_duration_seconds AS DOUBLE), {elapsed})"
    return elapsed


def _job_node_bytes_sql(tables: dict[str, str]) -> str:
    """Per workspace, job and day: the bytes received by the nodes of the clusters only that job
    ran on (a job cluster). Shared all-purpose clusters serve several jobs and people and are
    left out."""
    return f"""
            SELECT n.workspace_id, m.job_id, CAST(n.end_time AS DATE) AS usage_date,
                   SUM(CAST(n.network_received_bytes AS DOUBLE)) AS received
            FROM (
              SELECT CAST(workspace_id AS STRING) AS workspace_id, CAST(cluster_id AS STRING) AS cluster_id,
                     end_time, network_received_bytes
              FROM {tables[NODES]}
              WHERE workspace_id IS NOT NULL AND cluster_id IS NOT NULL AND end_time IS NOT NULL
            ) n
            JOIN (
              SELECT workspace_id, cluster_id, MIN(job_id) AS job_id
              FROM (
                SELECT CAST(workspace_id AS STRING) AS workspace_id, CAST(job_id AS STRING) AS job_id,
                       explode(compute_ids) AS cluster_id
                FROM {tables[RUNS]}
                WHERE workspace_id IS NOT NULL AND job_id IS NOT NULL AND compute_ids IS NOT NULL
              ) run_compute
              WHERE cluster_id IS NOT NULL
              GROUP BY workspace_id, cluster_id
              HAVING COUNT(DISTINCT job_id) = 1
            ) m ON m.workspace_id = n.workspace_id AND m.cluster_id = n.cluster_id
            GROUP BY n.workspace_id, m.job_id, CAST(n.end_time AS DATE)"""


def _job_input_sql(tables: dict[str, str], columns: dict[str, frozenset[str]], engine: str) -> str:
    """Per workspace and day: the largest ratio of a job's input per run to its own usual,
    sustained over two of its run days (one for a weekly job) — the bytes its own cluster's nodes received where the
    node timeline reports them, else (serverless, a shared cluster) the run's duration (0 rows
    without a usable run timeline)."""
    need_runs = {"workspace_id", "job_id", "run_id", "period_start_time", "period_end_time"}
    if RUNS not in tables or not need_runs <= columns.get(RUNS, frozenset()):
        return ("SELECT CAST(NULL AS STRING) AS workspace_id, CAST(NULL AS DATE) AS usage_date, "
                "0.0 AS max_job_input_ratio WHERE 1 = 0")
    need_nodes = {"workspace_id", "cluster_id", "end_time", "network_received_bytes"}
    if NODES in tables and "compute_ids" in columns[RUNS] and need_nodes <= columns.get(NODES, frozenset()):
        node_bytes = _job_node_bytes_sql(tables)
    else:
        node_bytes = ("SELECT CAST(NULL AS STRING) AS workspace_id, CAST(NULL AS STRING) AS job_id, "
                      "CAST(NULL AS DATE) AS usage_date, 0.0 AS received WHERE 1 = 0")
    run_days = f"""
              SELECT workspace_id, job_id, CAST(ended AS DATE) AS usage_date, COUNT(*) AS runs,
                     AVG(seconds) AS seconds
              FROM ({_job_runs_sql(tables[RUNS], f"SUM({_elapsed(columns)}) AS seconds")}) job_run
              GROUP BY workspace_id, job_id, CAST(ended AS DATE)"""
    return f"""
  SELECT workspace_id, usage_date, MAX(sustained_ratio) AS max_job_input_ratio
  FROM (
    SELECT workspace_id, usage_date,
           CASE WHEN input_ratio IS NOT NULL AND previous_ratio IS NOT NULL
                THEN CASE WHEN day_number - previous_day >= {WEEKLY_GAP_DAYS} THEN input_ratio
                          ELSE LEAST(input_ratio, previous_ratio) END
           END AS sustained_ratio
    FROM (
      SELECT workspace_id, usage_date, input_ratio,
             LAG(input_ratio) OVER (PARTITION BY workspace_id, job_id ORDER BY usage_date) AS previous_ratio,
             day_number,
             LAG(day_number) OVER (PARTITION BY workspace_id, job_id ORDER BY usage_date) AS previous_day
      FROM (
        SELECT workspace_id, job_id, usage_date, day_number,
               CASE WHEN COUNT(*) OVER prev >= {WORKLOAD_MIN_HISTORY}
                    THEN per_run / GREATEST({window_median('per_run', 'prev', engine)},
                                            CASE WHEN month_close THEN COALESCE(MAX(
                                              CASE WHEN month_close THEN per_run END
                                            ) OVER last_close, 0.0) ELSE 0.0 END, unit_floor)
               END AS input_ratio
        FROM (
          SELECT workspace_id, job_id, usage_date, per_run, unit_floor,
                 datediff(usage_date, DATE'1970-01-01') AS day_number,
                 dayofmonth(usage_date) >= dayofmonth(last_day(usage_date)) - {MONTH_CLOSE_DAYS - 1} AS month_close
          FROM (
            SELECT b.workspace_id, b.job_id, b.usage_date,
                   b.received / GREATEST(COALESCE(r.runs, 0), 1) AS per_run, 1.0 AS unit_floor
            FROM ({node_bytes}) b
            LEFT JOIN ({run_days}) r
              ON r.workspace_id = b.workspace_id AND r.job_id = b.job_id AND r.usage_date = b.usage_date
            UNION ALL
            SELECT r.workspace_id, r.job_id, r.usage_date, r.seconds AS per_run,
                   {DURATION_FLOOR_SECONDS} AS unit_floor
            FROM ({run_days}) r
            LEFT JOIN (SELECT DISTINCT workspace_id, job_id FROM ({node_bytes}) nb) bj
              ON bj.workspace_id = r.workspace_id AND bj.job_id = r.job_id
            WHERE bj.job_id IS NULL
          ) job_day_measured
        ) job_day
        WINDOW prev AS (PARTITION BY workspace_id, job_id ORDER BY usage_date
                        ROWS BETWEEN {WORKLOAD_WINDOW} PRECEDING AND 1 PRECEDING),
               last_close AS (PARTITION BY workspace_id, job_id ORDER BY day_number
                              RANGE BETWEEN 35 PRECEDING AND 14 PRECEDING)
      ) job_day_scored
    ) job_day_pair
  ) job_day_sustained
  GROUP BY workspace_id, usage_date"""


def build_sql(tables: dict[str, str], columns: dict[str, frozenset[str]], engine: str = "duckdb") -> str:
    ap_job = "sku LIKE '%ALL_PURPOSE%' AND job_id IS NOT NULL"
    cluster = _opt(columns, "usage_metadata_cluster_id", "CAST(NULL AS STRING)")
    warehouse = _opt(columns, "usage_metadata_warehouse_id", "CAST(NULL AS STRING)")
    tagged = _opt(columns, "is_tagged", "TRUE")
    return f"""
WITH usage AS (
  SELECT CAST(workspace_id AS STRING) AS workspace_id,
         CAST(usage_date AS DATE) AS usage_date,
         COALESCE(CAST(usage_quantity AS DOUBLE), 0.0) AS qty,
         COALESCE(CAST(list_cost AS DOUBLE), 0.0) AS cost,
         UPPER(COALESCE(sku_name, '')) AS sku,
         CAST(usage_metadata_job_id AS STRING) AS job_id,
         COALESCE(product_features_is_serverless, FALSE) AS is_serverless,
         CASE WHEN usage_metadata_job_id IS NOT NULL THEN 'job:' || CAST(usage_metadata_job_id AS STRING)
              WHEN {cluster} IS NOT NULL THEN 'cluster:' || CAST({cluster} AS STRING)
              WHEN {warehouse} IS NOT NULL THEN 'warehouse:' || CAST({warehouse} AS STRING)
         END AS workload,
         COALESCE({tagged}, FALSE) AS is_tagged
  FROM {tables['fact_usage']}
  WHERE workspace_id IS NOT NULL AND usage_date IS NOT NULL
),
workload_daily AS (
  SELECT workspace_id, workload, usage_date, SUM(qty) AS dbu,
         MAX({flag('is_tagged')}) AS tagged
  FROM usage
  WHERE workload IS NOT NULL
  GROUP BY workspace_id, workload, usage_date
),
workload_hist AS (
  SELECT workload_daily.*,
         AVG(dbu) OVER wl AS base_dbu,
         MAX(tagged) OVER wl AS was_tagged,
         COUNT(*) OVER wl AS history_days
  FROM workload_daily
  WINDOW wl AS (PARTITION BY workspace_id, workload ORDER BY usage_date
                ROWS BETWEEN {WORKLOAD_WINDOW} PRECEDING AND 1 PRECEDING)
),
workspace_level AS (
  SELECT workspace_id, usage_date, SUM(qty) AS total_dbu,
         SUM(CASE WHEN is_tagged THEN 0.0 ELSE qty END) AS untagged_dbu
  FROM usage
  GROUP BY workspace_id, usage_date
),
workspace_base AS (
  SELECT workspace_level.*,
         COALESCE(AVG(total_dbu) OVER (PARTITION BY workspace_id ORDER BY usage_date
                                       ROWS BETWEEN {WORKLOAD_WINDOW} PRECEDING AND 1 PRECEDING), 0.0) AS ws_base_dbu
  FROM workspace_level
),
workload_scored AS (
  SELECT h.workspace_id, h.usage_date, h.dbu, h.tagged, h.was_tagged,
         CASE WHEN h.history_days >= {WORKLOAD_MIN_HISTORY}
              THEN h.dbu / GREATEST(h.base_dbu, {WORKLOAD_FLOOR_SHARE} * b.ws_base_dbu, 1e-9) END AS dbu_ratio,
         CASE WHEN h.history_days >= {WORKLOAD_MIN_HISTORY}
              THEN GREATEST(h.dbu - h.base_dbu, 0.0) ELSE 0.0 END AS surge_dbu
  FROM workload_hist h
  JOIN workspace_base b ON b.workspace_id = h.workspace_id AND b.usage_date = h.usage_date
),
workload_summary AS (
  SELECT workspace_id, usage_date,
         COALESCE(MAX(dbu_ratio), 0.0) AS max_workload_dbu_ratio,
         MAX(surge_dbu) AS top_workload_surge_dbu,
         SUM({flag('dbu_ratio > 3')}) AS workloads_over_3x,
         -- workloads tagged on some day of their history but untagged today: spend that just
         -- lost its attribution
         SUM(CASE WHEN tagged = 0 AND was_tagged = 1 THEN dbu ELSE 0.0 END) AS lost_tags_dbu
  FROM workload_scored
  GROUP BY workspace_id, usage_date
),
job_duration AS ({_job_duration_sql(tables, columns, engine)}
),
job_input AS ({_job_input_sql(tables, columns, engine)}
),
daily AS (
  SELECT workspace_id, usage_date,
         SUM(qty) AS daily_dbu,
         SUM(cost) AS daily_cost,
         SUM(CASE WHEN {ap_job} THEN cost ELSE 0.0 END) AS jobs_on_all_purpose_cost,
         CAST(COUNT(DISTINCT CASE WHEN {ap_job} THEN job_id END) AS DOUBLE) AS jobs_on_all_purpose_count,
         SUM(CASE WHEN is_serverless THEN cost ELSE 0.0 END) AS serverless_cost,
         SUM(CASE WHEN sku LIKE '%DLT%' THEN cost ELSE 0.0 END) AS dlt_cost,
         SUM(CASE WHEN sku LIKE '%MODEL_SERVING%' OR sku LIKE '%INFERENCE%' THEN cost ELSE 0.0 END)
           AS model_serving_cost
  FROM usage
  GROUP BY workspace_id, usage_date
),
dow_hist AS (
  -- mean cost of the last 4 same weekdays (this row's weekday), per workspace
  SELECT daily.*,
         AVG(daily_cost) OVER (PARTITION BY workspace_id, {day_of_week('usage_date')} ORDER BY usage_date
                               ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS cost_dow_avg_4w,
         AVG(daily_dbu) OVER (PARTITION BY workspace_id, {day_of_week('usage_date')} ORDER BY usage_date
                              ROWS BETWEEN 4 PRECEDING AND 1 PRECEDING) AS dbu_dow_avg_4w_prev
  FROM daily
),
win AS (
  SELECT dow_hist.*,
         AVG(daily_dbu) OVER w7 AS avg_dbu_7d,
         STDDEV(daily_dbu) OVER w7 AS std_dbu_7d,
         AVG(daily_dbu) OVER w30 AS avg_dbu_30d,
         STDDEV(daily_dbu) OVER w30 AS std_dbu_30d,
         COALESCE(LAG(daily_dbu, 1) OVER w, 0.0) AS daily_dbu_lag1,
         COALESCE(LAG(daily_dbu, 7) OVER w, 0.0) AS daily_dbu_lag7,
         {day_of_week('usage_date')} AS dow,
         dayofmonth(usage_date) AS dom,
         SUM(daily_cost) OVER w7 AS cost_7d,
         SUM(daily_cost) OVER wp7 AS cost_prev_7d,
         AVG(daily_cost) OVER w28 AS avg_cost_28d,
         -- the weekday of d+1 is the weekday of d-6: its 4-week mean, known at d
         LAG(cost_dow_avg_4w, 6) OVER w AS cost_next_dow_avg_4w_raw,
         SUM(jobs_on_all_purpose_cost) OVER w7 AS jobs_on_all_purpose_cost_7d,
         COALESCE(SUM(jobs_on_all_purpose_cost) OVER wp7, 0.0) AS jobs_on_all_purpose_cost_prev_7d,
         AVG(jobs_on_all_purpose_cost) OVER w28 AS avg_jobs_on_all_purpose_cost_28d,
         AVG(daily_dbu) OVER wp28 AS avg_dbu_prev28,
         STDDEV(daily_dbu) OVER wp28 AS std_dbu_prev28_raw
  FROM dow_hist
  WINDOW {rows_window('w', 'workspace_id', 'usage_date')},
         wp7 AS (PARTITION BY workspace_id ORDER BY usage_date ROWS BETWEEN 13 PRECEDING AND 7 PRECEDING),
         wp28 AS (PARTITION BY workspace_id ORDER BY usage_date ROWS BETWEEN 28 PRECEDING AND 1 PRECEDING),
         {rows_window('w28', 'workspace_id', 'usage_date', 28)},
         {rows_window('w7', 'workspace_id', 'usage_date', 7)},
         {rows_window('w30', 'workspace_id', 'usage_date', 30)}
)
SELECT win.workspace_id, win.usage_date,
       daily_dbu, daily_cost, jobs_on_all_purpose_cost, jobs_on_all_purpose_count,
       serverless_cost, dlt_cost, model_serving_cost,
       avg_dbu_7d, std_dbu_7d, avg_dbu_30d, std_dbu_30d,
       {z_score('daily_dbu', 'avg_dbu_7d', 'std_dbu_7d')} AS z_score_7d,
       {z_score('daily_dbu', 'avg_dbu_30d', 'std_dbu_30d')} AS z_score_30d,
       CAST(dow AS DOUBLE) AS day_of_week,
       {flag('dow IN (1, 7)')} AS is_weekend,
       CAST(dom AS DOUBLE) AS day_of_month,
       {flag('dom >= 28')} AS is_month_end,
       sin(2 * CAST(3.14159 AS DOUBLE) * dow / 7) AS dow_sin,
       cos(2 * CAST(3.14159 AS DOUBLE) * dow / 7) AS dow_cos,
       daily_dbu_lag1, daily_dbu_lag7,
       {change_pct('daily_dbu', 'daily_dbu_lag1')} AS dbu_change_pct_1d,
       {change_pct('daily_dbu', 'daily_dbu_lag7')} AS dbu_change_pct_7d,
       0.4 * jobs_on_all_purpose_cost AS potential_job_cluster_savings,
       {ratio('jobs_on_all_purpose_cost', 'daily_cost')} AS all_purpose_inefficiency_ratio,
       {ratio('serverless_cost', 'daily_cost')} AS serverless_adoption_ratio,
       cost_7d, COALESCE(cost_prev_7d, 0.0) AS cost_prev_7d, avg_cost_28d,
       COALESCE(cost_next_dow_avg_4w_raw, avg_cost_28d) AS cost_next_dow_avg_4w,
       {ratio('cost_7d', 'cost_prev_7d')} AS cost_week_over_week,
       {ratio('cost_7d', '(7.0 * avg_cost_28d)')} AS cost_7d_vs_28d,
       jobs_on_all_purpose_cost_7d, jobs_on_all_purpose_cost_prev_7d, avg_jobs_on_all_purpose_cost_28d,
       COALESCE(ws.max_workload_dbu_ratio, 0.0) AS max_workload_dbu_ratio,
       COALESCE(ws.top_workload_surge_dbu, 0.0) AS top_workload_surge_dbu,
       {ratio('COALESCE(ws.top_workload_surge_dbu, 0.0)', 'win.daily_dbu')} AS top_workload_surge_share,
       COALESCE(ws.workloads_over_3x, 0.0) AS workloads_over_3x,
       COALESCE(jd.max_job_duration_ratio, 0.0) AS max_job_duration_ratio,
       COALESCE(ji.max_job_input_ratio, 0.0) AS max_job_input_ratio,
       {ratio('COALESCE(wl.untagged_dbu, 0.0)', 'win.daily_dbu')} AS untagged_dbu_share,
       COALESCE(ws.lost_tags_dbu, 0.0) AS lost_tags_dbu,
       {ratio('COALESCE(ws.lost_tags_dbu, 0.0)', 'win.daily_dbu')} AS lost_tags_dbu_share,
       COALESCE(dbu_dow_avg_4w_prev, avg_dbu_prev28, 0.0) AS expected_dbu_same_weekday,
       COALESCE(std_dbu_prev28_raw, 0.0) AS std_dbu_prev28
FROM win
LEFT JOIN workload_summary ws ON ws.workspace_id = win.workspace_id AND ws.usage_date = win.usage_date
LEFT JOIN workspace_level wl ON wl.workspace_id = win.workspace_id AND wl.usage_date = win.usage_date
LEFT JOIN job_duration jd ON jd.workspace_id = win.workspace_id AND jd.usage_date = win.usage_date
LEFT JOIN job_input ji ON ji.workspace_id = win.workspace_id AND ji.usage_date = win.usage_date
"""


TABLE = FeatureTable(
    name="cost_features",
    primary_keys=("workspace_id", "usage_date"),
    sources=(SOURCE,),
    build_sql=build_sql,
    features=FEATURES,
    optional_sources=(RUNS, NODES),
    description=(
        "Daily cost and usage features per workspace, from fact_usage (and fact_job_run_timeline for job "
        "durations, with fact_node_timeline for the bytes a job reads, when present). Windows (7d, 30d) and lags "
        "count rows per workspace ordered by usage_date. Key: (workspace_id, usage_date)."
    ),
    comments={
        "daily_dbu": "Sum of usage_quantity that day (all units).",
        "daily_cost": "Sum of list_cost that day (NULL counts as 0).",
        "jobs_on_all_purpose_cost": "Cost of job workloads on all-purpose compute.",
        "z_score_7d": "(daily_dbu - avg_dbu_7d) / std_dbu_7d, 0 when the deviation is 0.",
        "potential_job_cluster_savings": "0.4 x jobs_on_all_purpose_cost.",
        "cost_7d": "Sum of daily_cost over the workspace's last 7 rows (this day included).",
        "cost_prev_7d": "Sum of daily_cost over the 7 rows before those (rows 7..13 back), 0 if none.",
        "avg_cost_28d": "Mean daily_cost over the last 28 rows.",
        "cost_next_dow_avg_4w": (
            "Mean daily_cost of the last 4 days with the weekday of d+1 (rows d-6, d-13, d-20, d-27)."),
        "cost_week_over_week": "cost_7d / cost_prev_7d, 0 without a previous week.",
        "cost_7d_vs_28d": "cost_7d / (7 x avg_cost_28d).",
        "jobs_on_all_purpose_cost_7d": "Sum of jobs_on_all_purpose_cost over the last 7 rows.",
        "max_workload_dbu_ratio": (
            f"Max over the workspace's workloads (job, else cluster, else warehouse) with >= {WORKLOAD_MIN_HISTORY} "
            f"usage days of history of: today's DBUs / max(mean DBUs of its previous {WORKLOAD_WINDOW} usage days, "
            f"{WORKLOAD_FLOOR_SHARE} x the workspace's mean daily DBUs over its previous {WORKLOAD_WINDOW} days); "
            f"0 if none."),
        "top_workload_surge_dbu": (
            "Largest excess of one workload's DBUs today over its own baseline (see max_workload_dbu_ratio)."),
        "top_workload_surge_share": "top_workload_surge_dbu / daily_dbu.",
        "workloads_over_3x": "Workloads whose DBU ratio (see max_workload_dbu_ratio) exceeds 3 today.",
        "max_job_duration_ratio": (
            f"Max over the workspace's jobs with >= {WORKLOAD_MIN_HISTORY} earlier run days of: mean duration of the "
            f"job's runs that ended today / max(median of its previous {WORKLOAD_WINDOW} run days' mean durations, "
            f"{DURATION_FLOOR_SECONDS:.0f} s), from {RUNS} (a run = the sum of its slices' run_duration_seconds, else "
            f"end - start); 0 without that table."),
        "max_job_input_ratio": (
            f"Max over the workspace's jobs of the smaller of today's and the job's previous run day's ratio (today's "
            f"alone when that run day is >= {WEEKLY_GAP_DAYS} days back): "
            f"for a job with clusters only it ran on ({RUNS}.compute_ids) that report in {NODES}, the "
            f"network_received_bytes of their rows that ended that day per run of the job that ended that day (at "
            f"least 1); for any other job the mean duration of its runs that ended that day; / max(median of that "
            f"figure over its previous {WORKLOAD_WINDOW} such days, on the last {MONTH_CLOSE_DAYS} days of a month "
            f"also the largest figure of the last {MONTH_CLOSE_DAYS} days of a month 14-35 days earlier, 1 byte or "
            f"{DURATION_FLOOR_SECONDS:.0f} s), with >= {WORKLOAD_MIN_HISTORY} of them; 0 without {RUNS}."),
        "untagged_dbu_share": "Share of today's DBUs in usage records without tags (is_tagged false).",
        "lost_tags_dbu": (f"DBUs today of workloads untagged today but tagged on some day of their previous "
                          f"{WORKLOAD_WINDOW} usage days."),
        "lost_tags_dbu_share": "lost_tags_dbu / daily_dbu.",
        "expected_dbu_same_weekday": ("Mean daily_dbu of the workspace's last 4 rows with this row's weekday "
                                      "(today excluded); the mean of its previous 28 rows before it has any; "
                                      "0 on its first day."),
        "std_dbu_prev28": ("Sample standard deviation of daily_dbu over the workspace's previous 28 rows "
                           "(today excluded; 0 with fewer than 2)."),
    },
)
