"""reliability_features — PK (job_id, run_date), from fact_job_run_timeline per job and day."""

from __future__ import annotations

from healthmon.ml.features.sql import change_pct, day_of_week, flag, percentile, ratio, rows_window
from healthmon.ml.features.table import FeatureTable, Source

FEATURES = (
    "total_runs", "successful_runs", "failed_runs",
    "avg_duration_sec", "std_duration_sec", "max_duration_sec", "min_duration_sec",
    "p99_duration_sec", "p95_duration_sec", "p50_duration_sec",
    "repair_runs", "timeout_runs", "cancelled_runs", "success_rate", "failure_rate", "duration_cv",
    "rolling_failure_rate_30d", "rolling_avg_duration_30d", "total_failures_30d",
    "rolling_p99_duration_7d", "rolling_p99_duration_30d", "rolling_repair_rate_30d",
    "prev_day_success_rate", "prev_day_failed", "success_rate_trend",
    "p99_duration_lag7", "duration_regression_pct", "is_duration_regressing",
    "duration_range_sec", "is_weekend", "day_of_week",
    # What a runtime upgrade's risk depends on (not in the original spec; dbr_migration_risk_scorer):
    # the runtime the job ran on, Photon, and how many tasks it has.
    "dbr_version_num", "is_photon", "task_count",
)

SOURCE = Source(
    "fact_job_run_timeline",
    ("job_id", "period_start_time", "period_end_time", "result_state", "run_type"),
)

# The system table's result_state values are SUCCEEDED / FAILED / ERROR / TIMED_OUT / CANCELLED /
# SKIPPED...; the original matched SUCCESS / FAILED / TIMED_OUT / CANCELLED only (ml-layer.md open
# question 9). Both spellings count, so real exports and the Jobs API's own values both work.
SUCCESS_STATES = ("SUCCEEDED", "SUCCESS")
FAILED_STATES = ("FAILED", "ERROR")
TIMEOUT_STATES = ("TIMED_OUT", "TIMEDOUT")
CANCELLED_STATES = ("CANCELLED", "CANCELED")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def build_sql(tables: dict[str, str], columns: dict[str, frozenset[str]], engine: str = "duckdb") -> str:
    present = columns.get("fact_job_run_timeline", frozenset())
    run_date = (
        "COALESCE(CAST(run_date AS DATE), CAST(period_start_time AS DATE))"
        if "run_date" in present else "CAST(period_start_time AS DATE)"
    )
    elapsed = "CAST(timestampdiff(SECOND, period_start_time, period_end_time) AS DOUBLE)"
    duration = (
        f"COALESCE(CAST(run_duration_seconds AS DOUBLE), {elapsed})"
        if "run_duration_seconds" in present else elapsed
    )
    # A repair/retry run: run_type mentioning REPAIR (the original's test) or, on real system
    # tables, a RETRY trigger.
    repair = "UPPER(COALESCE(run_type, '')) LIKE '%REPAIR%'"
    if "trigger_type" in present:
        repair += " OR UPPER(COALESCE(trigger_type, '')) LIKE '%RETRY%'"
    runtime_join, runtime = _runtime(tables, columns, present)
    extra_ctes, extra_joins, extra_cols = _job_context(tables, columns)
    return f"""
WITH runs AS (
  SELECT CAST(t.job_id AS STRING) AS job_id,
         {run_date} AS run_date,
         {duration} AS duration,
         UPPER(COALESCE(result_state, '')) AS state,
         {flag(repair)} AS is_repair,
         {runtime} AS runtime
  FROM {tables['fact_job_run_timeline']} t{runtime_join}
  WHERE t.job_id IS NOT NULL AND period_start_time IS NOT NULL
),{extra_ctes}
daily AS (
  SELECT job_id, run_date,
         CAST(COUNT(*) AS DOUBLE) AS total_runs,
         SUM({flag(_in('state', SUCCESS_STATES))}) AS successful_runs,
         SUM({flag(_in('state', FAILED_STATES))}) AS failed_runs,
         AVG(duration) AS avg_duration_sec,
         STDDEV(duration) AS std_duration_sec,
         MAX(duration) AS max_duration_sec,
         MIN(duration) AS min_duration_sec,
         {percentile('duration', 0.99, engine)} AS p99_duration_sec,
         {percentile('duration', 0.95, engine)} AS p95_duration_sec,
         {percentile('duration', 0.5, engine)} AS p50_duration_sec,
         SUM(is_repair) AS repair_runs,
         SUM({flag(_in('state', TIMEOUT_STATES))}) AS timeout_runs,
         SUM({flag(_in('state', CANCELLED_STATES))}) AS cancelled_runs,
         MAX(runtime) AS dbr_version_num
  FROM runs
  GROUP BY job_id, run_date
),
rates AS (
  SELECT daily.*,
         {ratio('successful_runs', 'total_runs')} AS success_rate,
         {ratio('failed_runs', 'total_runs')} AS failure_rate,
         {ratio('COALESCE(std_duration_sec, 0.0)', 'avg_duration_sec')} AS duration_cv,
         {day_of_week('run_date')} AS dow
  FROM daily
),
win AS (
  SELECT rates.*,
         AVG(failure_rate) OVER w30 AS rolling_failure_rate_30d,
         AVG(avg_duration_sec) OVER w30 AS rolling_avg_duration_30d,
         SUM(failed_runs) OVER w30 AS total_failures_30d,
         AVG(p99_duration_sec) OVER w7 AS rolling_p99_duration_7d,
         AVG(p99_duration_sec) OVER w30 AS rolling_p99_duration_30d,
         SUM(repair_runs) OVER w30 AS repairs_30d,
         SUM(total_runs) OVER w30 AS runs_30d,
         COALESCE(LAG(success_rate, 1) OVER w, 0.0) AS prev_day_success_rate,
         COALESCE(LAG(failed_runs, 1) OVER w, 0.0) AS prev_failed_runs,
         LAG(success_rate, 7) OVER w AS success_rate_lag7,
         COALESCE(LAG(p99_duration_sec, 7) OVER w, 0.0) AS p99_duration_lag7
  FROM rates
  WINDOW {rows_window('w', 'job_id', 'run_date')},
         {rows_window('w7', 'job_id', 'run_date', 7)},
         {rows_window('w30', 'job_id', 'run_date', 30)}
),
regress AS (
  SELECT win.*,
         {change_pct('p99_duration_sec', 'p99_duration_lag7')} AS duration_regression_pct
  FROM win
)
SELECT job_id, run_date,
       total_runs, successful_runs, failed_runs,
       avg_duration_sec, std_duration_sec, max_duration_sec, min_duration_sec,
       p99_duration_sec, p95_duration_sec, p50_duration_sec,
       repair_runs, timeout_runs, cancelled_runs, success_rate, failure_rate, duration_cv,
       rolling_failure_rate_30d, rolling_avg_duration_30d, total_failures_30d,
       rolling_p99_duration_7d, rolling_p99_duration_30d,
       {ratio('repairs_30d', 'runs_30d')} AS rolling_repair_rate_30d,
       prev_day_success_rate,
       {flag('prev_failed_runs > 0')} AS prev_day_failed,
       CASE WHEN success_rate_lag7 IS NULL THEN 0.0 ELSE success_rate - success_rate_lag7 END
         AS success_rate_trend,
       p99_duration_lag7, duration_regression_pct,
       {flag('duration_regression_pct > 20')} AS is_duration_regressing,
       COALESCE(max_duration_sec - min_duration_sec, 0.0) AS duration_range_sec,
       {flag('dow IN (1, 7)')} AS is_weekend,
       CAST(dow AS DOUBLE) AS day_of_week,
       COALESCE(dbr_version_num, 0.0) AS dbr_version_num,
       {extra_cols}
FROM regress{extra_joins}
"""


def _runtime(tables: dict[str, str], columns: dict[str, frozenset[str]], present: frozenset[str]) -> tuple[str, str]:
    """(join, expression): the Databricks Runtime of the run's cluster as a number (15.4 ->
    15.04), from compute_ids[0] -> dim_cluster.dbr_version; NULL for serverless or unknown."""
    if ("dim_cluster" not in tables or "compute_ids" not in present
            or not {"cluster_id", "dbr_version"} <= columns.get("dim_cluster", frozenset())):
        return "", "CAST(NULL AS DOUBLE)"
    version = "regexp_extract(dbr_version, '^([0-9]+)[.]([0-9]+)', {})"
    number = (f"CAST(NULLIF({version.format(1)}, '') AS DOUBLE) "
              f"+ CAST(NULLIF({version.format(2)}, '') AS DOUBLE) / 100.0")
    join = (f"\n  LEFT JOIN (SELECT CAST(cluster_id AS STRING) AS rt_cluster_id, {number} AS rt_version "
            f"FROM {tables['dim_cluster']}) rt\n"
            f"    ON rt.rt_cluster_id = CASE WHEN size(t.compute_ids) > 0 THEN t.compute_ids[0] END")
    return join, "rt.rt_version"


def _job_context(tables: dict[str, str], columns: dict[str, frozenset[str]]) -> tuple[str, str, str]:
    """Photon (a PHOTON SKU in the job's usage that day) and task count (distinct task keys run
    that day), each 0 when its gold table is absent."""
    ctes, joins, cols = "", "", []
    is_photon = flag("UPPER(COALESCE(sku_name, '')) LIKE '%PHOTON%'")
    for name, output, table, needs, job_col, date_col, value in (
        ("photon", "is_photon", "fact_usage", {"usage_metadata_job_id", "usage_date", "sku_name"},
         "usage_metadata_job_id", "usage_date", f"MAX({is_photon})"),
        ("tasks", "task_count", "fact_job_task_run_timeline", {"job_id", "task_key", "period_start_time"},
         "job_id", "period_start_time", "CAST(COUNT(DISTINCT task_key) AS DOUBLE)"),
    ):
        if table not in tables or not needs <= columns.get(table, frozenset()):
            cols.append(f"CAST(0.0 AS DOUBLE) AS {output}")
            continue
        ctes += f"""
{name}_daily AS (
  SELECT CAST({job_col} AS STRING) AS c_job_id, CAST({date_col} AS DATE) AS c_date, {value} AS c_value
  FROM {tables[table]}
  WHERE {job_col} IS NOT NULL AND {date_col} IS NOT NULL
  GROUP BY CAST({job_col} AS STRING), CAST({date_col} AS DATE)
),"""
        joins += (f"\nLEFT JOIN {name}_daily ON {name}_daily.c_job_id = regress.job_id "
                  f"AND {name}_daily.c_date = regress.run_date")
        cols.append(f"COALESCE({name}_daily.c_value, 0.0) AS {output}")
    return ctes, joins, ",\n       ".join(cols)


TABLE = FeatureTable(
    name="reliability_features",
    primary_keys=("job_id", "run_date"),
    sources=(SOURCE,),
    optional_sources=("dim_cluster", "fact_usage", "fact_job_task_run_timeline"),
    build_sql=build_sql,
    features=FEATURES,
    description=(
        "Daily job-run reliability features per job, from fact_job_run_timeline. Duration is "
        "run_duration_seconds, else end - start. Success counts SUCCEEDED/SUCCESS, failure "
        "FAILED/ERROR. Windows (7d, 30d) and lags count rows per job ordered by run_date."
    ),
    comments={
        "failed_runs": "Runs whose result_state is FAILED or ERROR.",
        "total_failures_30d": "Failed runs over the job's last 30 run days (rows).",
        "rolling_repair_rate_30d": "Repair runs / runs over the job's last 30 run days (rows).",
        "prev_day_failed": "1 if the job's previous run day had a failed run.",
        "dbr_version_num": ("Databricks Runtime of the day's runs (compute_ids[0] -> dim_cluster.dbr_version; "
                            "15.4 -> 15.04), 0 if unknown or serverless."),
        "is_photon": "1 if the job's usage that day was billed on a PHOTON SKU (fact_usage).",
        "task_count": "Distinct task keys the job ran that day (fact_job_task_run_timeline).",
    },
)
