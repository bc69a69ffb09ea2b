"""security_features — PK (user_id, event_date), from fact_audit_logs grouped by user and day
(and the rows the user's SQL statements returned, from fact_query_history when present)."""

from __future__ import annotations

from healthmon.ml.features.sql import day_of_week, flag, ratio, rows_window, window_median, z_score
from healthmon.ml.features.table import FeatureTable, Source

FEATURES = (
    "event_count", "tables_accessed", "off_hours_events", "unique_source_ips", "failed_auth_count",
    "unique_action_types", "unique_services_accessed", "sensitive_data_access",
    "avg_event_count_7d", "std_event_count_7d", "avg_tables_accessed_7d", "event_count_z_score",
    "off_hours_rate", "sensitive_access_rate",
    "is_human_user", "is_service_principal", "is_system_user",
    "is_activity_burst", "lateral_movement_risk", "failed_auth_ratio",
    "is_weekend", "day_of_week",
    # Added for the detectors (docs/models.md): what exfiltration and privilege escalation change,
    # and each user's own trailing baseline (the previous 28 active days, today excluded).
    "data_export_events", "grant_change_events", "failed_login_count",
    "avg_event_count_prev28", "avg_tables_accessed_prev28", "avg_data_export_prev28",
    "avg_grant_changes_prev28", "avg_failed_auth_prev28", "avg_source_ips_prev28",
    # The spread of the same trailing windows (standard deviation; the detectors' negative-binomial
    # dispersion), and the two counts that had no baseline yet.
    "avg_failed_login_prev28", "avg_off_hours_prev28",
    *(f"std_{name}_prev28" for name in (
        "event_count", "tables_accessed", "data_export", "grant_changes", "failed_auth", "source_ips",
        "failed_login", "off_hours")),
    # The user's recent peak (the largest day of the previous 35 active days, so last month's
    # month end is in it): a recurring peak is the user's own behaviour, not news.
    *(f"max_{name}_prev35" for name in (
        "event_count", "tables_accessed", "data_export", "grant_changes", "failed_auth", "source_ips",
        "failed_login", "off_hours")),
    # A failure the user shares with other users today: the failed events of all users today from
    # one of this user's failing source IPs, and that IP's usual number (a password spray is small
    # per user but shared; an office's NAT address has failures every day).
    "failed_events_same_ip", "usual_failed_events_same_ip",
    # Rows the user's SQL statements returned today, against the MEDIAN of its previous 28 active
    # days: data pulled out through query results comes back as whole tables where dashboards and
    # everyday analyses return aggregates, and a median stays at the user's usual while an attack
    # that lasts days or weeks fills the window (a mean or a peak takes the attack in within days).
    "produced_rows", "median_produced_rows_prev28",
)
# Daily count -> name of its trailing baseline columns (avg_<name>_prev28, std_<name>_prev28).
BASELINED_COUNTS = {
    "event_count": "event_count", "tables_accessed": "tables_accessed", "data_export_events": "data_export",
    "grant_change_events": "grant_changes", "failed_auth_count": "failed_auth", "unique_source_ips": "source_ips",
    "failed_login_count": "failed_login", "off_hours_events": "off_hours",
}

QUERIES = "fact_query_history"
QUERY_COLUMNS = frozenset({"executed_by", "end_time", "produced_rows"})
SOURCE = Source(
    "fact_audit_logs",
    ("user_identity_email", "event_time", "request_params", "source_ip_address",
     "is_failed_action", "action_name", "service_name"),
)

# Gold's is_sensitive_action rule (ml-layer.md §1.1). The original left sensitive_data_access a
# constant 0; here it counts the events this rule marks.
SENSITIVE_PATTERN = "grant|revoke|delete|secret|permission|token|password|credential"
# Audit actions that move data out of the platform (query result downloads, notebook/workspace
# exports) and actions that change who may do what (grants, ACLs, group membership).
EXPORT_PATTERN = "download|export"
GRANT_PATTERN = "permission|acl|principaltogroup|grant|revoke"
BASELINE_ROWS = 28
PEAK_ROWS = 35
# A source IP's usual number of failed events a day: the mean over the previous IP_BASELINE_DAYS
# calendar days (days without failures from it count as 0).
IP_BASELINE_DAYS = 28


def _produced_rows_sql(tables: dict[str, str], columns: dict[str, frozenset[str]]) -> str:
    """Per user and day: rows returned by the statements the user ran that ended that day (no rows
    without a query history that names who ran each statement)."""
    if QUERIES not in tables or not QUERY_COLUMNS <= columns.get(QUERIES, frozenset()):
        return ("SELECT CAST(NULL AS STRING) AS user_id, CAST(NULL AS DATE) AS event_date, "
                "0.0 AS produced_rows WHERE 1 = 0")
    return f"""
  SELECT CAST(executed_by AS STRING) AS user_id, CAST(end_time AS DATE) AS event_date,
         CAST(SUM(COALESCE(produced_rows, 0)) AS DOUBLE) AS produced_rows
  FROM {tables[QUERIES]}
  WHERE executed_by IS NOT NULL AND end_time IS NOT NULL
  GROUP BY CAST(executed_by AS STRING), CAST(end_time AS DATE)"""


def build_sql(tables: dict[str, str], columns: dict[str, frozenset[str]], engine: str = "duckdb") -> str:
    uid = "user_id"
    stds = ",\n         ".join(f"COALESCE(STDDEV(CAST({col} AS DOUBLE)) OVER wp, 0.0) AS std_{name}_prev28"
                                for col, name in BASELINED_COUNTS.items())
    stds += ",\n         " + ",\n         ".join(f"COALESCE(MAX({col}) OVER wpk, 0.0) AS max_{name}_prev{PEAK_ROWS}"
                                                 for col, name in BASELINED_COUNTS.items())
    service_principal = (f"({uid} LIKE '%spn@%' OR {uid} LIKE '%iam.gserviceaccount.com' "
                         f"OR substr({uid}, 1, 4) = 'DBX_')")
    return f"""
WITH events AS (
  SELECT CAST(user_identity_email AS STRING) AS user_id,
         CAST(event_time AS DATE) AS event_date,
         hour(event_time) AS event_hour,
         request_params['tableName'] AS table_name,
         source_ip_address,
         COALESCE(is_failed_action, FALSE) AS is_failed,
         action_name,
         service_name
  FROM {tables['fact_audit_logs']}
  WHERE user_identity_email IS NOT NULL AND event_time IS NOT NULL
),
daily AS (
  SELECT user_id, event_date,
         CAST(COUNT(*) AS DOUBLE) AS event_count,
         CAST(COUNT(DISTINCT table_name) AS DOUBLE) AS tables_accessed,
         SUM({flag('event_hour BETWEEN 0 AND 6')}) AS off_hours_events,
         CAST(COUNT(DISTINCT source_ip_address) AS DOUBLE) AS unique_source_ips,
         SUM({flag('is_failed')}) AS failed_auth_count,
         CAST(COUNT(DISTINCT action_name) AS DOUBLE) AS unique_action_types,
         CAST(COUNT(DISTINCT service_name) AS DOUBLE) AS unique_services_accessed,
         SUM({flag(f"lower(COALESCE(action_name, '')) RLIKE '{SENSITIVE_PATTERN}'")}) AS sensitive_data_access,
         SUM({flag(f"lower(COALESCE(action_name, '')) RLIKE '{EXPORT_PATTERN}'")}) AS data_export_events,
         SUM({flag(f"lower(COALESCE(action_name, '')) RLIKE '{GRANT_PATTERN}'")}) AS grant_change_events,
         SUM({flag("is_failed AND lower(COALESCE(action_name, '')) RLIKE 'login'")}) AS failed_login_count
  FROM events
  GROUP BY user_id, event_date
),
-- failed events (of all users) from one source IP today, against that IP's usual number (failures
-- shared with other users beyond the usual are a population event; an office's IP has its own normal)
ip_failures AS (
  SELECT event_date, source_ip_address, CAST(COUNT(*) AS DOUBLE) AS failures
  FROM events WHERE is_failed AND source_ip_address IS NOT NULL
  GROUP BY event_date, source_ip_address
),
ip_usual AS (
  SELECT t.event_date, t.source_ip_address, t.failures,
         COALESCE(SUM(h.failures), 0.0) / {IP_BASELINE_DAYS} AS usual_failures
  FROM ip_failures t
  LEFT JOIN ip_failures h
    ON h.source_ip_address = t.source_ip_address AND h.event_date < t.event_date
   AND h.event_date >= date_sub(t.event_date, {IP_BASELINE_DAYS})
  GROUP BY t.event_date, t.source_ip_address, t.failures
),
-- per user-day, the failing IP whose failures exceed its usual number the most
shared_failures AS (
  SELECT user_id, event_date, failures AS failed_events_same_ip, usual_failures AS usual_failed_events_same_ip
  FROM (
    SELECT f.user_id, f.event_date, ip.failures, ip.usual_failures,
           ROW_NUMBER() OVER (PARTITION BY f.user_id, f.event_date
                              ORDER BY ip.failures - ip.usual_failures DESC, ip.failures DESC) AS pick
    FROM (SELECT DISTINCT user_id, event_date, source_ip_address FROM events
          WHERE is_failed AND source_ip_address IS NOT NULL) f
    JOIN ip_usual ip ON f.event_date = ip.event_date AND f.source_ip_address = ip.source_ip_address
  ) ranked
  WHERE pick = 1
),
-- rows returned by the user's statements, per day (only days the user is in the audit log count)
user_queries AS ({_produced_rows_sql(tables, columns)}
),
enriched AS (
  SELECT daily.*,
         COALESCE(shared_failures.failed_events_same_ip, 0.0) AS failed_events_same_ip,
         COALESCE(shared_failures.usual_failed_events_same_ip, 0.0) AS usual_failed_events_same_ip,
         COALESCE(user_queries.produced_rows, 0.0) AS produced_rows
  FROM daily
  LEFT JOIN shared_failures
    ON daily.user_id = shared_failures.user_id AND daily.event_date = shared_failures.event_date
  LEFT JOIN user_queries
    ON daily.user_id = user_queries.user_id AND daily.event_date = user_queries.event_date
),
typed AS (
  SELECT enriched.*,
         CASE WHEN user_id LIKE 'System-%' THEN 'SYSTEM'
              WHEN {service_principal} THEN 'SERVICE_PRINCIPAL'
              WHEN user_id LIKE '%@%' THEN 'HUMAN_USER'
              ELSE 'UNKNOWN' END AS user_type,
         AVG(event_count) OVER w7 AS avg_event_count_7d,
         STDDEV(event_count) OVER w7 AS std_event_count_7d,
         AVG(tables_accessed) OVER w7 AS avg_tables_accessed_7d,
         COALESCE(AVG(event_count) OVER wp, 0.0) AS avg_event_count_prev28,
         COALESCE(AVG(tables_accessed) OVER wp, 0.0) AS avg_tables_accessed_prev28,
         COALESCE(AVG(data_export_events) OVER wp, 0.0) AS avg_data_export_prev28,
         COALESCE(AVG(grant_change_events) OVER wp, 0.0) AS avg_grant_changes_prev28,
         COALESCE(AVG(failed_auth_count) OVER wp, 0.0) AS avg_failed_auth_prev28,
         COALESCE(AVG(unique_source_ips) OVER wp, 0.0) AS avg_source_ips_prev28,
         COALESCE(AVG(failed_login_count) OVER wp, 0.0) AS avg_failed_login_prev28,
         COALESCE(AVG(off_hours_events) OVER wp, 0.0) AS avg_off_hours_prev28,
         COALESCE({window_median('produced_rows', 'wp', engine)}, 0.0) AS median_produced_rows_prev28,
         {stds},
         {day_of_week('event_date')} AS dow
  FROM enriched
  WINDOW {rows_window('w7', 'user_id', 'event_date', 7)},
         wp AS (PARTITION BY user_id ORDER BY event_date ROWS BETWEEN {BASELINE_ROWS} PRECEDING AND 1 PRECEDING),
         wpk AS (PARTITION BY user_id ORDER BY event_date ROWS BETWEEN {PEAK_ROWS} PRECEDING AND 1 PRECEDING)
),
scored AS (
  SELECT typed.*,
         {z_score('event_count', 'avg_event_count_7d', 'std_event_count_7d')} AS event_count_z_score
  FROM typed
)
SELECT user_id, event_date, user_type,
       event_count, tables_accessed, off_hours_events, unique_source_ips, failed_auth_count,
       unique_action_types, unique_services_accessed, sensitive_data_access,
       avg_event_count_7d, std_event_count_7d, avg_tables_accessed_7d, event_count_z_score,
       {ratio('off_hours_events', 'event_count')} AS off_hours_rate,
       {ratio('sensitive_data_access', 'event_count')} AS sensitive_access_rate,
       {flag("user_type = 'HUMAN_USER'")} AS is_human_user,
       {flag("user_type = 'SERVICE_PRINCIPAL'")} AS is_service_principal,
       {flag("user_type = 'SYSTEM'")} AS is_system_user,
       {flag('event_count_z_score > 2 AND event_count > 100')} AS is_activity_burst,
       {flag('unique_services_accessed > 5')} AS lateral_movement_risk,
       {ratio('failed_auth_count', 'event_count')} AS failed_auth_ratio,
       {flag('dow IN (1, 7)')} AS is_weekend,
       CAST(dow AS DOUBLE) AS day_of_week,
       data_export_events, grant_change_events, failed_login_count,
       avg_event_count_prev28, avg_tables_accessed_prev28, avg_data_export_prev28,
       avg_grant_changes_prev28, avg_failed_auth_prev28, avg_source_ips_prev28,
       avg_failed_login_prev28, avg_off_hours_prev28,
       {', '.join(f"std_{n}_prev28" for n in BASELINED_COUNTS.values())},
       {', '.join(f"max_{n}_prev{PEAK_ROWS}" for n in BASELINED_COUNTS.values())},
       failed_events_same_ip, usual_failed_events_same_ip,
       produced_rows, median_produced_rows_prev28
FROM scored
"""


TABLE = FeatureTable(
    name="security_features",
    primary_keys=("user_id", "event_date"),
    sources=(SOURCE,),
    build_sql=build_sql,
    features=FEATURES,
    optional_sources=(QUERIES,),
    extra_columns=("user_type",),
    description=(
        "Daily audit-log activity features per user (user_identity_email), from fact_audit_logs. "
        "7d windows count rows per user ordered by event_date. user_type is not a feature."
    ),
    comments={
        "user_type": "HUMAN_USER, SERVICE_PRINCIPAL, SYSTEM or UNKNOWN, from the identity's form.",
        "off_hours_events": "Events with hour(event_time) between 0 and 6 (UTC).",
        "failed_auth_count": "Events with is_failed_action (any failed action).",
        "sensitive_data_access": f"Events whose action_name matches {SENSITIVE_PATTERN}.",
        "sensitive_access_rate": "sensitive_data_access / event_count.",
        "data_export_events": f"Events whose action_name matches {EXPORT_PATTERN} (result downloads, exports).",
        "grant_change_events": f"Events whose action_name matches {GRANT_PATTERN} (grants, ACLs, group membership).",
        "failed_login_count": "Failed events whose action_name contains 'login'.",
        **{f"std_{n}_prev28": f"Sample standard deviation of {c} over the user's previous {BASELINE_ROWS} active days "
                              f"(today excluded; 0 with fewer than 2)."
           for c, n in BASELINED_COUNTS.items()},
        **{f"max_{n}_prev{PEAK_ROWS}": f"Largest {c} of the user's previous {PEAK_ROWS} active days "
                                       f"(today excluded; 0 on the first)."
           for c, n in BASELINED_COUNTS.items()},
        "avg_failed_login_prev28": f"Mean failed_login_count over the user's previous {BASELINE_ROWS} active days "
                                   f"(today excluded).",
        "avg_off_hours_prev28": f"Mean off_hours_events over the user's previous {BASELINE_ROWS} active days "
                                f"(today excluded).",
        "avg_event_count_prev28": f"Mean event_count over the user's previous {BASELINE_ROWS} active days "
                                  f"(today excluded; 0 on the first).",
        "failed_events_same_ip": "Failed actions of all users today from the source IP (one from which this user "
                                 "also failed today) whose count most exceeds its usual; the user's own included, "
                                 "0 without failures.",
        "produced_rows": "Sum of fact_query_history.produced_rows of the statements executed_by the user that ended "
                         "that day (0 without them or without that table).",
        "median_produced_rows_prev28": f"Median produced_rows over the user's previous {BASELINE_ROWS} active days "
                                       f"(today excluded; 0 on the first).",
        "usual_failed_events_same_ip": f"That IP's mean number of failed actions a day over the previous "
                                       f"{IP_BASELINE_DAYS} calendar days (today excluded).",
    },
)
