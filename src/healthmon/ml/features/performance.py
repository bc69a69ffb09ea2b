"""performance_features — PK (warehouse_id, query_date), from fact_query_history per warehouse and day."""

from __future__ import annotations

from healthmon.ml.features.sql import change_pct, day_of_week, flag, percentile, ratio, rows_window
from healthmon.ml.features.table import FeatureTable, Source

FEATURES = (
    "query_count", "total_duration_ms", "p50_duration_ms", "p95_duration_ms", "p99_duration_ms",
    "total_bytes_read", "total_bytes_written", "error_count", "spill_count", "sla_breach_count",
    "efficient_query_count", "high_queue_count", "large_query_count", "total_queue_time_ms",
    "active_minutes", "avg_duration_ms",
    "avg_query_count_7d", "avg_duration_7d", "avg_p99_duration_7d",
    "error_rate", "spill_rate", "sla_breach_rate", "query_efficiency_rate", "high_queue_rate",
    "large_query_rate", "avg_bytes_per_query", "read_write_ratio", "avg_queue_time_ms",
    "queries_per_minute", "p99_duration_lag7", "duration_regression_pct", "is_duration_regressing",
    "is_weekend", "day_of_week",
    # Capacity history (not in the original spec): cluster_capacity_planner forecasts next week's
    # peak daily query count, and its seasonal-naive baseline is this week's peak.
    "max_query_count_7d", "max_query_count_prev_7d", "avg_query_count_28d", "max_query_count_28d",
    "std_query_count_28d", "query_count_lag7", "avg_weekly_peak_4w",
    # Regression evidence (not in the original spec) for performance_regression_detector: one
    # query template of the warehouse reading far more than its own history, and scans that
    # lost file pruning, compared with the warehouse's own recent days (docs/models.md).
    "scan_count", "unpruned_scan_count", "unpruned_scan_rate", "avg_unpruned_scan_rate_28d",
    "max_template_bytes_ratio", "templates_over_3x_bytes",
    "avg_bytes_per_query_28d", "avg_spill_rate_28d",
)

SOURCE = Source(
    "fact_query_history",
    ("compute_warehouse_id", "end_time", "total_duration_ms", "read_bytes", "written_bytes",
     "execution_status", "spilled_local_bytes", "waiting_at_capacity_duration_ms",
     "statement_text", "read_files", "pruned_files"),
)

SLA_MS = 60_000
LARGE_QUERY_BYTES = 10 * 1024**3
# A template's history: its previous TEMPLATE_WINDOW days with scans (rows per warehouse and
# statement text). Only REGULAR templates count (>= TEMPLATE_MIN_SCANS scans today and on average,
# >= TEMPLATE_MIN_HISTORY days of history): a rarely run statement's median is one or two
# statements, and an ad-hoc burst of foreign reads (an export) lands mostly in such texts.
TEMPLATE_WINDOW = 28
TEMPLATE_MIN_HISTORY = 7
TEMPLATE_MIN_SCANS = 5


def build_sql(tables: dict[str, str], columns: dict[str, frozenset[str]], engine: str = "duckdb") -> str:
    high_queue = "queue_ms > 0.1 * duration_ms"
    return f"""
WITH queries AS (
  SELECT CAST(compute_warehouse_id AS STRING) AS warehouse_id,
         CAST(end_time AS DATE) AS query_date,
         date_trunc('MINUTE', end_time) AS end_minute,
         CAST(COALESCE(total_duration_ms, 0) AS DOUBLE) AS duration_ms,
         CAST(COALESCE(read_bytes, 0) AS DOUBLE) AS read_bytes,
         CAST(COALESCE(written_bytes, 0) AS DOUBLE) AS written_bytes,
         execution_status,
         CAST(COALESCE(spilled_local_bytes, 0) AS DOUBLE) AS spilled_bytes,
         CAST(COALESCE(waiting_at_capacity_duration_ms, 0) AS DOUBLE) AS queue_ms,
         COALESCE(statement_text, '') AS template,
         COALESCE(read_files, 0) > 0 AS is_scan,
         COALESCE(read_files, 0) > 0 AND COALESCE(pruned_files, 0) = 0 AS is_unpruned_scan
  FROM {tables['fact_query_history']}
  WHERE compute_warehouse_id IS NOT NULL AND end_time IS NOT NULL
),
template_daily AS (
  -- one row per warehouse, statement text and day with at least one scan (result-cache hits
  -- read nothing). The median is robust to a few foreign statements sharing the text.
  SELECT warehouse_id, template, query_date,
         CAST(COUNT(*) AS DOUBLE) AS scans,
         {percentile('read_bytes', 0.5, engine)} AS median_bytes
  FROM queries
  WHERE is_scan
  GROUP BY warehouse_id, template, query_date
),
template_hist AS (
  SELECT template_daily.*,
         AVG(median_bytes) OVER wt AS base_bytes,
         AVG(scans) OVER wt AS base_scans,
         COUNT(*) OVER wt AS history_days
  FROM template_daily
  WINDOW wt AS (PARTITION BY warehouse_id, template ORDER BY query_date
                ROWS BETWEEN {TEMPLATE_WINDOW} PRECEDING AND 1 PRECEDING)
),
template_ratios AS (
  SELECT warehouse_id, query_date, {ratio('median_bytes', 'base_bytes')} AS bytes_ratio
  FROM template_hist
  WHERE history_days >= {TEMPLATE_MIN_HISTORY} AND scans >= {TEMPLATE_MIN_SCANS}
        AND base_scans >= {TEMPLATE_MIN_SCANS}
),
template_summary AS (
  SELECT warehouse_id, query_date,
         MAX(bytes_ratio) AS max_template_bytes_ratio,
         SUM({flag('bytes_ratio > 3')}) AS templates_over_3x_bytes
  FROM template_ratios
  GROUP BY warehouse_id, query_date
),
daily AS (
  SELECT warehouse_id, query_date,
         CAST(COUNT(*) AS DOUBLE) AS query_count,
         SUM(duration_ms) AS total_duration_ms,
         {percentile('duration_ms', 0.5, engine)} AS p50_duration_ms,
         {percentile('duration_ms', 0.95, engine)} AS p95_duration_ms,
         {percentile('duration_ms', 0.99, engine)} AS p99_duration_ms,
         SUM(read_bytes) AS total_bytes_read,
         SUM(written_bytes) AS total_bytes_written,
         SUM({flag("execution_status = 'FAILED'")}) AS error_count,
         SUM({flag('spilled_bytes > 0')}) AS spill_count,
         SUM({flag(f'duration_ms > {SLA_MS}')}) AS sla_breach_count,
         SUM({flag(f'spilled_bytes = 0 AND NOT ({high_queue}) AND duration_ms <= {SLA_MS}')}) AS efficient_query_count,
         SUM({flag(high_queue)}) AS high_queue_count,
         SUM({flag(f'read_bytes > {LARGE_QUERY_BYTES}')}) AS large_query_count,
         SUM(queue_ms) AS total_queue_time_ms,
         CAST(COUNT(DISTINCT end_minute) AS DOUBLE) AS active_minutes,
         SUM({flag('is_scan')}) AS scan_count,
         SUM({flag('is_unpruned_scan')}) AS unpruned_scan_count
  FROM queries
  GROUP BY warehouse_id, query_date
),
derived AS (
  SELECT daily.*,
         {ratio('total_duration_ms', 'query_count')} AS avg_duration_ms,
         {ratio('unpruned_scan_count', 'scan_count')} AS unpruned_scan_rate,
         {ratio('spill_count', 'query_count')} AS spill_rate_1d,
         {ratio('total_bytes_read', 'query_count')} AS bytes_per_query_1d,
         {day_of_week('query_date')} AS dow
  FROM daily
),
win AS (
  SELECT derived.*,
         AVG(query_count) OVER w7 AS avg_query_count_7d,
         AVG(avg_duration_ms) OVER w7 AS avg_duration_7d,
         AVG(p99_duration_ms) OVER w7 AS avg_p99_duration_7d,
         COALESCE(LAG(p99_duration_ms, 7) OVER w, 0.0) AS p99_duration_lag7,
         MAX(query_count) OVER w7 AS max_query_count_7d,
         COALESCE(MAX(query_count) OVER wp7, 0.0) AS max_query_count_prev_7d,
         AVG(query_count) OVER w28 AS avg_query_count_28d,
         MAX(query_count) OVER w28 AS max_query_count_28d,
         COALESCE(STDDEV(query_count) OVER w28, 0.0) AS std_query_count_28d,
         COALESCE(LAG(query_count, 7) OVER w, 0.0) AS query_count_lag7,
         COALESCE(AVG(unpruned_scan_rate) OVER wp28, 0.0) AS avg_unpruned_scan_rate_28d,
         COALESCE(AVG(bytes_per_query_1d) OVER wp28, 0.0) AS avg_bytes_per_query_28d,
         COALESCE(AVG(spill_rate_1d) OVER wp28, 0.0) AS avg_spill_rate_28d
  FROM derived
  WINDOW {rows_window('w', 'warehouse_id', 'query_date')},
         {rows_window('w7', 'warehouse_id', 'query_date', 7)},
         wp7 AS (PARTITION BY warehouse_id ORDER BY query_date ROWS BETWEEN 13 PRECEDING AND 7 PRECEDING),
         {rows_window('w28', 'warehouse_id', 'query_date', 28)},
         wp28 AS (PARTITION BY warehouse_id ORDER BY query_date ROWS BETWEEN 28 PRECEDING AND 1 PRECEDING)
),
regress AS (
  SELECT win.*,
         {change_pct('p99_duration_ms', 'p99_duration_lag7')} AS duration_regression_pct,
         -- mean of the last 4 weekly peaks (weeks ending d, d-7, d-14, d-21; fewer at the start)
         (max_query_count_7d + COALESCE(LAG(max_query_count_7d, 7) OVER w, 0.0)
            + COALESCE(LAG(max_query_count_7d, 14) OVER w, 0.0) + COALESCE(LAG(max_query_count_7d, 21) OVER w, 0.0))
           / (1.0 + CASE WHEN LAG(max_query_count_7d, 7) OVER w IS NULL THEN 0.0 ELSE 1.0 END
                  + CASE WHEN LAG(max_query_count_7d, 14) OVER w IS NULL THEN 0.0 ELSE 1.0 END
                  + CASE WHEN LAG(max_query_count_7d, 21) OVER w IS NULL THEN 0.0 ELSE 1.0 END) AS avg_weekly_peak_4w
  FROM win
  WINDOW {rows_window('w', 'warehouse_id', 'query_date')}
)
SELECT regress.warehouse_id, regress.query_date,
       query_count, total_duration_ms, p50_duration_ms, p95_duration_ms, p99_duration_ms,
       total_bytes_read, total_bytes_written, error_count, spill_count, sla_breach_count,
       efficient_query_count, high_queue_count, large_query_count, total_queue_time_ms,
       active_minutes, avg_duration_ms,
       avg_query_count_7d, avg_duration_7d, avg_p99_duration_7d,
       {ratio('error_count', 'query_count')} AS error_rate,
       {ratio('spill_count', 'query_count')} AS spill_rate,
       {ratio('sla_breach_count', 'query_count')} AS sla_breach_rate,
       {ratio('efficient_query_count', 'query_count')} AS query_efficiency_rate,
       {ratio('high_queue_count', 'query_count')} AS high_queue_rate,
       {ratio('large_query_count', 'query_count')} AS large_query_rate,
       {ratio('total_bytes_read', 'query_count')} AS avg_bytes_per_query,
       {ratio('total_bytes_read', 'total_bytes_written')} AS read_write_ratio,
       {ratio('total_queue_time_ms', 'query_count')} AS avg_queue_time_ms,
       {ratio('query_count', 'active_minutes')} AS queries_per_minute,
       p99_duration_lag7, duration_regression_pct,
       {flag('duration_regression_pct > 20')} AS is_duration_regressing,
       {flag('dow IN (1, 7)')} AS is_weekend,
       CAST(dow AS DOUBLE) AS day_of_week,
       max_query_count_7d, max_query_count_prev_7d, avg_query_count_28d, max_query_count_28d,
       std_query_count_28d, query_count_lag7, CAST(avg_weekly_peak_4w AS DOUBLE) AS avg_weekly_peak_4w,
       scan_count, unpruned_scan_count, unpruned_scan_rate, avg_unpruned_scan_rate_28d,
       COALESCE(ts.max_template_bytes_ratio, 0.0) AS max_template_bytes_ratio,
       COALESCE(ts.templates_over_3x_bytes, 0.0) AS templates_over_3x_bytes,
       avg_bytes_per_query_28d, avg_spill_rate_28d
FROM regress
LEFT JOIN template_summary ts ON ts.warehouse_id = regress.warehouse_id AND ts.query_date = regress.query_date
"""


TABLE = FeatureTable(
    name="performance_features",
    primary_keys=("warehouse_id", "query_date"),
    sources=(SOURCE,),
    build_sql=build_sql,
    features=FEATURES,
    description=(
        "Daily SQL warehouse query features per warehouse (compute_warehouse_id), from "
        "fact_query_history; query_date is the day the statement ended. Percentiles are exact. "
        "7d windows and lag7 count rows per warehouse ordered by query_date."
    ),
    comments={
        "p99_duration_ms": "Exact interpolated 99th percentile of total_duration_ms that day.",
        "sla_breach_count": f"Statements longer than {SLA_MS} ms.",
        "large_query_count": "Statements reading more than 10 GiB.",
        "read_write_ratio": "total_bytes_read / total_bytes_written, 0 when nothing was written.",
        "max_query_count_7d": "Peak daily query_count over the warehouse's last 7 rows (this day included).",
        "max_query_count_prev_7d": "Peak daily query_count over the 7 rows before those (rows 7..13 back), 0 if none.",
        "avg_query_count_28d": "Mean daily query_count over the last 28 rows.",
        "max_query_count_28d": "Peak daily query_count over the last 28 rows.",
        "query_count_lag7": "query_count 7 rows earlier, 0 if none.",
        "avg_weekly_peak_4w": "Mean of max_query_count_7d at d, d-7, d-14 and d-21 (the weeks available).",
        "scan_count": "Statements that read at least one file (result-cache hits excluded).",
        "unpruned_scan_count": "Scans that pruned no file (pruned_files = 0).",
        "unpruned_scan_rate": "unpruned_scan_count / scan_count, 0 without scans.",
        "avg_unpruned_scan_rate_28d": (
            "Mean unpruned_scan_rate over the warehouse's previous 28 rows (today excluded), 0 if none."),
        "max_template_bytes_ratio": (
            f"Max over the warehouse's statement texts of today's median read_bytes / the mean daily median of "
            f"the text's previous {TEMPLATE_WINDOW} scan days; only texts with >= {TEMPLATE_MIN_SCANS} scans today, "
            f">= {TEMPLATE_MIN_SCANS} a day "
            f"on average and >= {TEMPLATE_MIN_HISTORY} days of history; 0 when none qualifies."),
        "templates_over_3x_bytes": "Qualifying statement texts whose bytes ratio exceeds 3 today.",
        "avg_bytes_per_query_28d": (
            "Mean daily total_bytes_read / query_count over the previous 28 rows (today excluded)."),
        "avg_spill_rate_28d": "Mean daily spill rate over the previous 28 rows (today excluded).",
    },
)
