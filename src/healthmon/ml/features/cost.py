"""cost_features — PK (workspace_id, usage_date), from fact_usage grouped by workspace and day."""

from __future__ import annotations

from healthmon.ml.features.sql import change_pct, day_of_week, flag, ratio, rows_window, z_score
from healthmon.ml.features.table import FeatureTable, Source

FEATURES = (
    "daily_dbu", "daily_cost", "jobs_on_all_purpose_cost", "jobs_on_all_purpose_count",
    "serverless_cost", "dlt_cost", "model_serving_cost",
    "avg_dbu_7d", "std_dbu_7d", "avg_dbu_30d", "std_dbu_30d", "z_score_7d", "z_score_30d",
    "day_of_week", "is_weekend", "day_of_month", "is_month_end", "dow_sin", "dow_cos",
    "daily_dbu_lag1", "daily_dbu_lag7", "dbu_change_pct_1d", "dbu_change_pct_7d",
    "potential_job_cluster_savings", "all_purpose_inefficiency_ratio", "serverless_adoption_ratio",
)

SOURCE = Source(
    "fact_usage",
    ("workspace_id", "usage_date", "usage_quantity", "list_cost", "sku_name",
     "usage_metadata_job_id", "product_features_is_serverless"),
)


def build_sql(tables: dict[str, str], columns: dict[str, frozenset[str]], engine: str = "duckdb") -> str:
    ap_job = "sku LIKE '%ALL_PURPOSE%' AND job_id IS NOT NULL"
    return f"""
WITH usage AS (
  SELECT CAST(workspace_id AS STRING) AS workspace_id,
         CAST(usage_date AS DATE) AS usage_date,
         COALESCE(CAST(usage_quantity AS DOUBLE), 0.0) AS qty,
         COALESCE(CAST(list_cost AS DOUBLE), 0.0) AS cost,
         UPPER(COALESCE(sku_name, '')) AS sku,
         CAST(usage_metadata_job_id AS STRING) AS job_id,
         COALESCE(product_features_is_serverless, FALSE) AS is_serverless
  FROM {tables['fact_usage']}
  WHERE workspace_id IS NOT NULL AND usage_date IS NOT NULL
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
win AS (
  SELECT daily.*,
         AVG(daily_dbu) OVER w7 AS avg_dbu_7d,
         STDDEV(daily_dbu) OVER w7 AS std_dbu_7d,
         AVG(daily_dbu) OVER w30 AS avg_dbu_30d,
         STDDEV(daily_dbu) OVER w30 AS std_dbu_30d,
         COALESCE(LAG(daily_dbu, 1) OVER w, 0.0) AS daily_dbu_lag1,
         COALESCE(LAG(daily_dbu, 7) OVER w, 0.0) AS daily_dbu_lag7,
         {day_of_week('usage_date')} AS dow,
         dayofmonth(usage_date) AS dom
  FROM daily
  WINDOW {rows_window('w', 'workspace_id', 'usage_date')},
         {rows_window('w7', 'workspace_id', 'usage_date', 7)},
         {rows_window('w30', 'workspace_id', 'usage_date', 30)}
)
SELECT workspace_id, usage_date,
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
       {ratio('serverless_cost', 'daily_cost')} AS serverless_adoption_ratio
FROM win
"""


TABLE = FeatureTable(
    name="cost_features",
    primary_keys=("workspace_id", "usage_date"),
    sources=(SOURCE,),
    build_sql=build_sql,
    features=FEATURES,
    description=(
        "Daily cost and usage features per workspace, from fact_usage. Windows (7d, 30d) and lags "
        "count rows per workspace ordered by usage_date. Key: (workspace_id, usage_date)."
    ),
    comments={
        "daily_dbu": "Sum of usage_quantity that day (all units).",
        "daily_cost": "Sum of list_cost that day (NULL counts as 0).",
        "jobs_on_all_purpose_cost": "Cost of job workloads on all-purpose compute.",
        "z_score_7d": "(daily_dbu - avg_dbu_7d) / std_dbu_7d, 0 when the deviation is 0.",
        "potential_job_cluster_savings": "0.4 x jobs_on_all_purpose_cost.",
    },
)
