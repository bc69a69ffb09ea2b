"""quality_features — PK (catalog_name, snapshot_date), from the daily table-metadata snapshots.

The original read ``information_schema.columns`` once, so it had a single row per catalog (today)
and 8 of its 11 features were constant 0 (ml-layer.md §2.6, open question 10). Here the source is
the gold ``fact_table_snapshots`` table (one row per table and day, built from
information_schema.tables/columns/table_constraints and the Delta log), so every day of history
has a row and every feature is computed. The data quality monitoring results
(``fact_data_quality_monitoring_table_results``), when present, add the monitor's verdicts.
"""

from __future__ import annotations

from healthmon.ml.features.sql import change_pct, day_of_week, flag, ratio, rows_window
from healthmon.ml.features.table import FeatureTable, Source

SPEC_FEATURES = (
    "table_count", "schema_count", "column_count_avg", "total_rows",
    "tables_with_pk", "pk_coverage", "tables_with_cdf", "cdf_coverage",
    "tables_created_last_7d", "tables_modified_last_7d", "schema_changes_7d",
)
EXTRA_FEATURES = (
    "schema_changes_1d", "tables_with_schema_change_1d", "total_size_bytes",
    "commits_1d", "rows_written_1d", "tables_not_written_1d",
    "avg_days_since_commit", "max_days_since_commit", "stale_tables_7d",
    "total_rows_change_pct_1d", "rows_written_change_pct_7d",
    "dq_unhealthy_tables", "dq_freshness_unhealthy", "dq_completeness_unhealthy",
    "is_weekend", "day_of_week",
)
# Table-level evidence summarised per catalog for the drift detector (docs/models.md): breaking
# schema changes (dropped or retyped columns, which additive evolution never produces) and
# tables that a daily writer normally refreshes but that were not written today.
DETECTOR_FEATURES = (
    "breaking_schema_changes_1d", "max_breaking_changes_per_table_1d",
    "daily_tables", "overdue_daily_tables_1d", "max_overdue_days_daily_tables",
    "tables_past_usual_gap_1d", "max_days_past_usual_gap", "max_staleness_surprise",
    "max_broken_table_changes_1d", "max_idle_days_daily_jobs", "stale_days_with_idle_writer",
)
FEATURES = SPEC_FEATURES + EXTRA_FEATURES + DETECTOR_FEATURES

SNAPSHOTS = Source(
    "fact_table_snapshots",
    ("snapshot_date", "table_catalog", "table_schema", "table_name", "created", "last_altered",
     "column_count", "has_primary_key", "cdf_enabled", "columns_added", "columns_removed",
     "columns_type_changed", "row_count", "size_bytes", "last_commit_time", "commits_1d",
     "rows_written_1d"),
)
DQ_RESULTS = "fact_data_quality_monitoring_table_results"
DQ_COLUMNS = ("event_time", "catalog_name", "table_name", "status", "freshness_status", "completeness_status")
# A paused writer leaves no run at all; a failing one still has (FAILED) runs. The gold tables
# carry no table -> writer-job lineage, but each catalog belongs to one workspace (catalog name =
# workspace name with '-' -> '_'), so runs are summarised per workspace and joined by that name.
RUNS = "fact_job_run_timeline"
RUN_COLUMNS = ("workspace_id", "job_id", "run_date")
WORKSPACES = "dim_workspace"
WORKSPACE_COLUMNS = ("workspace_id", "workspace_name")

STALE_DAYS = 7
# A table is "daily" when its writer committed on at least DAILY_MIN_DAYS of its previous
# DAILY_WINDOW snapshot days (so a pause of a few days does not change its class).
DAILY_WINDOW = 28
DAILY_MIN_DAYS = 20
MIN_HISTORY_DAYS = 14


def _dq_cte(tables: dict[str, str], columns: dict[str, frozenset[str]]) -> str:
    present = columns.get(DQ_RESULTS)
    if present is None or not set(DQ_COLUMNS) <= present:
        # No monitoring results: an empty relation with the same columns keeps the query shape.
        return """dq AS (
  SELECT CAST(NULL AS STRING) AS catalog_name, CAST(NULL AS DATE) AS snapshot_date,
         0.0 AS dq_unhealthy_tables, 0.0 AS dq_freshness_unhealthy, 0.0 AS dq_completeness_unhealthy
  WHERE 1 = 0
)"""
    unhealthy = "UPPER(COALESCE({0}, '')) = 'UNHEALTHY'"
    return f"""dq AS (
  SELECT CAST(catalog_name AS STRING) AS catalog_name, CAST(event_time AS DATE) AS snapshot_date,
         CAST(COUNT(DISTINCT CASE WHEN {unhealthy.format('status')}
                                  THEN schema_name || '.' || table_name END) AS DOUBLE)
           AS dq_unhealthy_tables,
         CAST(COUNT(DISTINCT CASE WHEN {unhealthy.format('freshness_status')}
                                  THEN schema_name || '.' || table_name END) AS DOUBLE)
           AS dq_freshness_unhealthy,
         CAST(COUNT(DISTINCT CASE WHEN {unhealthy.format('completeness_status')}
                                  THEN schema_name || '.' || table_name END) AS DOUBLE)
           AS dq_completeness_unhealthy
  FROM {tables[DQ_RESULTS]}
  WHERE catalog_name IS NOT NULL AND event_time IS NOT NULL
  GROUP BY CAST(catalog_name AS STRING), CAST(event_time AS DATE)
)"""


def _idle_cte(tables: dict[str, str], columns: dict[str, frozenset[str]]) -> str:
    """Per (catalog, day): over the jobs that ran on >= DAILY_MIN_DAYS of the previous
    DAILY_WINDOW days but have no run at all that day, the longest run of idle days."""
    runs, wss = columns.get(RUNS), columns.get(WORKSPACES)
    if runs is None or wss is None or not set(RUN_COLUMNS) <= runs or not set(WORKSPACE_COLUMNS) <= wss:
        return """idle AS (
  SELECT CAST(NULL AS STRING) AS catalog_name, CAST(NULL AS DATE) AS snapshot_date,
         0.0 AS max_idle_days_daily_jobs
  WHERE 1 = 0
)"""
    return f"""job_days AS (
  SELECT DISTINCT CAST(workspace_id AS STRING) AS workspace_id, CAST(job_id AS STRING) AS job_id,
         CAST(run_date AS DATE) AS run_date
  FROM {tables[RUNS]}
  WHERE workspace_id IS NOT NULL AND job_id IS NOT NULL AND run_date IS NOT NULL
),
ws_catalog AS (
  SELECT DISTINCT CAST(workspace_id AS STRING) AS workspace_id,
         LOWER(REPLACE(CAST(workspace_name AS STRING), '-', '_')) AS catalog_name
  FROM {tables[WORKSPACES]}
  WHERE workspace_id IS NOT NULL AND workspace_name IS NOT NULL
),
job_grid AS (
  SELECT j.workspace_id, j.job_id, d.snapshot_date
  FROM (SELECT workspace_id, job_id, MIN(run_date) AS first_run FROM job_days GROUP BY workspace_id, job_id) j
  CROSS JOIN (SELECT DISTINCT snapshot_date FROM snaps) d
  WHERE d.snapshot_date >= j.first_run
),
job_hist AS (
  SELECT g.workspace_id, g.job_id, g.snapshot_date,
         jd.run_date IS NOT NULL AS ran,
         SUM({flag('jd.run_date IS NOT NULL')}) OVER (
             PARTITION BY g.workspace_id, g.job_id ORDER BY g.snapshot_date
             ROWS BETWEEN {DAILY_WINDOW} PRECEDING AND 1 PRECEDING) AS run_days_prev,
         MAX(jd.run_date) OVER (PARTITION BY g.workspace_id, g.job_id ORDER BY g.snapshot_date
                                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS last_run
  FROM job_grid g
  LEFT JOIN job_days jd ON jd.workspace_id = g.workspace_id AND jd.job_id = g.job_id AND jd.run_date = g.snapshot_date
),
idle AS (
  SELECT c.catalog_name, h.snapshot_date,
         CAST(COALESCE(MAX(CASE WHEN NOT h.ran AND COALESCE(h.run_days_prev, 0) >= {DAILY_MIN_DAYS}
                                THEN CAST(datediff(h.snapshot_date, h.last_run) AS DOUBLE) END), 0.0) AS DOUBLE)
           AS max_idle_days_daily_jobs
  FROM job_hist h
  JOIN ws_catalog c ON c.workspace_id = h.workspace_id
  GROUP BY c.catalog_name, h.snapshot_date
)"""


def build_sql(tables: dict[str, str], columns: dict[str, frozenset[str]], engine: str = "duckdb") -> str:
    changes = "(COALESCE(columns_added, 0) + COALESCE(columns_removed, 0) + COALESCE(columns_type_changed, 0))"
    days_since_commit = "CAST(datediff(snapshot_date, CAST(last_commit_time AS DATE)) AS DOUBLE)"
    return f"""
WITH snaps AS (
  SELECT CAST(table_catalog AS STRING) AS catalog_name,
         CAST(snapshot_date AS DATE) AS snapshot_date,
         CAST(table_schema AS STRING) AS table_schema,
         CAST(table_schema AS STRING) || '.' || CAST(table_name AS STRING) AS qualified_name,
         CAST(COALESCE(column_count, 0) AS DOUBLE) AS column_count,
         COALESCE(has_primary_key, FALSE) AS has_pk,
         COALESCE(cdf_enabled, FALSE) AS has_cdf,
         datediff(CAST(snapshot_date AS DATE), CAST(created AS DATE)) AS days_since_created,
         datediff(CAST(snapshot_date AS DATE), CAST(last_altered AS DATE)) AS days_since_altered,
         CAST({changes} AS DOUBLE) AS schema_changes,
         CAST(COALESCE(row_count, 0) AS DOUBLE) AS row_count,
         CAST(COALESCE(size_bytes, 0) AS DOUBLE) AS size_bytes,
         CASE WHEN last_commit_time IS NULL THEN NULL ELSE {days_since_commit} END AS days_since_commit,
         CAST(COALESCE(commits_1d, 0) AS DOUBLE) AS commits,
         CAST(COALESCE(rows_written_1d, 0) AS DOUBLE) AS rows_written,
         CAST(COALESCE(columns_removed, 0) + COALESCE(columns_type_changed, 0) AS DOUBLE) AS breaking_changes
  FROM {tables['fact_table_snapshots']}
  WHERE table_catalog IS NOT NULL AND snapshot_date IS NOT NULL AND table_name IS NOT NULL
),
table_hist AS (
  SELECT snaps.*,
         SUM({flag('commits > 0')}) OVER (PARTITION BY catalog_name, qualified_name ORDER BY snapshot_date
                                         ROWS BETWEEN {DAILY_WINDOW} PRECEDING AND 1 PRECEDING) AS commit_days_prev,
         MAX(days_since_commit) OVER (PARTITION BY catalog_name, qualified_name ORDER BY snapshot_date
                                      ROWS BETWEEN {DAILY_WINDOW} PRECEDING AND 1 PRECEDING) AS usual_max_gap,
         COUNT(*) OVER (PARTITION BY catalog_name, qualified_name ORDER BY snapshot_date
                        ROWS BETWEEN {DAILY_WINDOW} PRECEDING AND 1 PRECEDING) AS prev_days
  FROM snaps
),
table_flags AS (
  SELECT table_hist.*,
         COALESCE(commit_days_prev, 0) >= {DAILY_MIN_DAYS} AS is_daily,
         CASE WHEN days_since_commit IS NULL OR usual_max_gap IS NULL OR days_since_commit <= usual_max_gap THEN 0.0
              ELSE days_since_commit - usual_max_gap END AS days_past_usual_gap,
         -- How unlikely the current run of days without a commit is for THIS table: with its
         -- smoothed share of commit-less days p (previous {DAILY_WINDOW} days), a run of k days
         -- has probability about p^k, so the surprise is -k log10 p.
         CASE WHEN commits > 0 OR days_since_commit IS NULL OR days_since_commit <= 0
                   OR COALESCE(prev_days, 0) < {MIN_HISTORY_DAYS} THEN 0.0
              ELSE days_since_commit * -log10((prev_days - COALESCE(commit_days_prev, 0) + 1.0) / (prev_days + 2.0))
              END AS staleness_surprise
  FROM table_hist
),
daily AS (
  SELECT catalog_name, snapshot_date,
         CAST(COUNT(DISTINCT qualified_name) AS DOUBLE) AS table_count,
         CAST(COUNT(DISTINCT table_schema) AS DOUBLE) AS schema_count,
         AVG(column_count) AS column_count_avg,
         SUM(row_count) AS total_rows,
         SUM({flag('has_pk')}) AS tables_with_pk,
         SUM({flag('has_cdf')}) AS tables_with_cdf,
         SUM({flag('days_since_created BETWEEN 0 AND 6')}) AS tables_created_last_7d,
         SUM({flag('days_since_altered BETWEEN 0 AND 6')}) AS tables_modified_last_7d,
         SUM(schema_changes) AS schema_changes_1d,
         SUM({flag('schema_changes > 0')}) AS tables_with_schema_change_1d,
         SUM(size_bytes) AS total_size_bytes,
         SUM(commits) AS commits_1d,
         SUM(rows_written) AS rows_written_1d,
         SUM({flag('commits = 0')}) AS tables_not_written_1d,
         AVG(days_since_commit) AS avg_days_since_commit,
         MAX(days_since_commit) AS max_days_since_commit,
         SUM({flag(f'days_since_commit >= {STALE_DAYS}')}) AS stale_tables_7d,
         SUM(breaking_changes) AS breaking_schema_changes_1d,
         MAX(breaking_changes) AS max_breaking_changes_per_table_1d,
         SUM({flag('is_daily')}) AS daily_tables,
         SUM({flag('is_daily AND commits = 0')}) AS overdue_daily_tables_1d,
         CAST(COALESCE(MAX(CASE WHEN is_daily AND commits = 0 THEN days_since_commit END), 0.0) AS DOUBLE)
           AS max_overdue_days_daily_tables,
         SUM({flag('days_past_usual_gap > 0')}) AS tables_past_usual_gap_1d,
         CAST(MAX(days_past_usual_gap) AS DOUBLE) AS max_days_past_usual_gap,
         CAST(MAX(staleness_surprise) AS DOUBLE) AS max_staleness_surprise,
         CAST(MAX(CASE WHEN breaking_changes > 0 THEN schema_changes ELSE 0.0 END) AS DOUBLE)
           AS max_broken_table_changes_1d
  FROM table_flags
  GROUP BY catalog_name, snapshot_date
),
{_dq_cte(tables, columns)},
{_idle_cte(tables, columns)},
win AS (
  SELECT daily.*,
         SUM(schema_changes_1d) OVER w7 AS schema_changes_7d,
         COALESCE(LAG(total_rows, 1) OVER w, 0.0) AS total_rows_lag1,
         AVG(rows_written_1d) OVER w7prev AS rows_written_avg_prev7,
         {day_of_week('snapshot_date')} AS dow
  FROM daily
  WINDOW {rows_window('w', 'catalog_name', 'snapshot_date')},
         {rows_window('w7', 'catalog_name', 'snapshot_date', 7)},
         w7prev AS (PARTITION BY catalog_name ORDER BY snapshot_date ROWS BETWEEN 7 PRECEDING AND 1 PRECEDING)
)
SELECT win.catalog_name, win.snapshot_date,
       table_count, schema_count, column_count_avg, total_rows,
       tables_with_pk, {ratio('tables_with_pk', 'table_count')} AS pk_coverage,
       tables_with_cdf, {ratio('tables_with_cdf', 'table_count')} AS cdf_coverage,
       tables_created_last_7d, tables_modified_last_7d, schema_changes_7d,
       schema_changes_1d, tables_with_schema_change_1d, total_size_bytes,
       commits_1d, rows_written_1d, tables_not_written_1d,
       avg_days_since_commit, max_days_since_commit, stale_tables_7d,
       {change_pct('total_rows', 'total_rows_lag1')} AS total_rows_change_pct_1d,
       {change_pct('rows_written_1d', 'COALESCE(rows_written_avg_prev7, 0.0)')} AS rows_written_change_pct_7d,
       COALESCE(dq.dq_unhealthy_tables, 0.0) AS dq_unhealthy_tables,
       COALESCE(dq.dq_freshness_unhealthy, 0.0) AS dq_freshness_unhealthy,
       COALESCE(dq.dq_completeness_unhealthy, 0.0) AS dq_completeness_unhealthy,
       {flag('dow IN (1, 7)')} AS is_weekend,
       CAST(dow AS DOUBLE) AS day_of_week,
       breaking_schema_changes_1d, max_breaking_changes_per_table_1d,
       daily_tables, overdue_daily_tables_1d, max_overdue_days_daily_tables,
       tables_past_usual_gap_1d, max_days_past_usual_gap, max_staleness_surprise,
       max_broken_table_changes_1d,
       COALESCE(idle.max_idle_days_daily_jobs, 0.0) AS max_idle_days_daily_jobs,
       LEAST(max_overdue_days_daily_tables, COALESCE(idle.max_idle_days_daily_jobs, 0.0)) AS stale_days_with_idle_writer
FROM win
LEFT JOIN dq ON dq.catalog_name = win.catalog_name AND dq.snapshot_date = win.snapshot_date
LEFT JOIN idle ON idle.catalog_name = win.catalog_name AND idle.snapshot_date = win.snapshot_date
"""


TABLE = FeatureTable(
    name="quality_features",
    primary_keys=("catalog_name", "snapshot_date"),
    sources=(SNAPSHOTS,),
    optional_sources=(DQ_RESULTS, RUNS, WORKSPACES),
    build_sql=build_sql,
    features=FEATURES,
    description=(
        "Daily data-quality features per catalog, from the table-metadata snapshots "
        "(fact_table_snapshots) and, when present, the data quality monitoring results. "
        "schema_changes_7d sums the catalog's last 7 snapshot days (rows)."
    ),
    comments={
        "table_count": "Distinct schema.table in the catalog that day.",
        "schema_changes_7d": "Columns added, removed or retyped over the last 7 snapshot days.",
        "stale_tables_7d": f"Tables whose latest data commit is {STALE_DAYS} or more days old.",
        "dq_unhealthy_tables": "Tables the data quality monitor marked Unhealthy that day.",
        "breaking_schema_changes_1d": "Columns dropped or retyped in the catalog that day (additive changes excluded).",
        "max_breaking_changes_per_table_1d": "Largest number of dropped + retyped columns on one table that day.",
        "daily_tables": f"Tables written on >= {DAILY_MIN_DAYS} of their previous {DAILY_WINDOW} snapshot days.",
        "overdue_daily_tables_1d": "Daily tables (see daily_tables) with no commit that day.",
        "max_overdue_days_daily_tables": (
            "Days since the last commit of the most overdue daily table (0 when none is overdue)."),
        "tables_past_usual_gap_1d": (
            f"Tables whose days since the last commit exceed their longest gap of the previous {DAILY_WINDOW} "
            f"snapshot days."),
        "max_days_past_usual_gap": (
            "Largest excess of days since the last commit over the table's own longest recent gap."),
        "max_broken_table_changes_1d": (
            "Columns added, dropped or retyped that day on the table with a breaking change (drop or retype) "
            "touching the most columns; 0 when no table broke."),
        "max_idle_days_daily_jobs": (
            f"Over the jobs of the catalog's workspace that ran on >= {DAILY_MIN_DAYS} of the previous "
            f"{DAILY_WINDOW} days but have no run at all that day (paused, not failing): days since the last run "
            f"of the longest-idle one (0 when none)."),
        "stale_days_with_idle_writer": (
            "min(max_overdue_days_daily_tables, max_idle_days_daily_jobs): a daily table unwritten while a daily "
            "job of the workspace has no run at all."),
        "max_staleness_surprise": (
            f"Max over tables of -k log10 p: k days without a commit, p the table's smoothed share of "
            f"commit-less days over its previous {DAILY_WINDOW} snapshot days."),
    },
)
