"""The gold tables the ML layer reads: names, columns, types, primary keys, comments.

Column names and types follow the gold layer of the Health Monitor (``ml-layer.md`` §1): the
system table's columns in their order, structs flattened to ``<struct>_<field>``, plus the
gold-derived columns (``list_cost``, ``is_tagged``, ``run_date``...). Types are written in
Databricks' syntax (what ``information_schema.columns.full_data_type`` shows) and turned into
Arrow by :mod:`healthmon.demodata.types`.

Both the synthetic generator and the system-table importer build exactly these schemas; tests
compare every written Delta table with them.

Tables designed here (the original has no gold table for them) are documented in
``docs/demodata.md``: ``fact_table_snapshots`` (a daily snapshot of every monitored table's
metadata, from ``information_schema.tables/columns/table_constraints`` and the Delta log),
``ground_truth_incidents`` (labels) and ``ground_truth_benign_events`` (the harmless oddities; not
labels), which are not system tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import pyarrow as pa

from healthmon.demodata.types import parse_type

# (name, spark type, nullable, comment)
Col = tuple[str, str, bool, str]


@dataclass(frozen=True)
class GoldTable:
    name: str
    columns: tuple[Col, ...]
    primary_keys: tuple[str, ...]
    comment: str
    source: str  # the system table(s) it is derived from
    grain: str = ""
    extra: dict = field(default_factory=dict)

    @cached_property
    def schema(self) -> pa.Schema:
        fields = []
        for name, typ, nullable, comment in self.columns:
            meta = {b"comment": comment.encode()} if comment else None
            fields.append(
                pa.field(name, parse_type(typ), nullable=nullable and name not in self.primary_keys, metadata=meta)
            )
        return pa.schema(fields)

    @property
    def column_names(self) -> list[str]:
        return [c[0] for c in self.columns]


def _c(name: str, typ: str = "string", comment: str = "", nullable: bool = True) -> Col:
    return (name, typ, nullable, comment)


TS = "timestamp"
DEC = "decimal(38,18)"

DIM_WORKSPACE = GoldTable(
    "dim_workspace",
    (
        _c("account_id", comment="ID of the parent account of this workspace."),
        _c("workspace_id", comment="The ID of the workspace."),
        _c("workspace_name", comment="The human-readable name of the workspace."),
        _c("workspace_url", comment="URL of the workspace."),
        _c("create_time", TS, "Timestamp of when the workspace was created."),
        _c("status", comment="Lifecycle status: NOT_PROVISIONED | PROVISIONING | RUNNING | FAILED | BANNED."),
    ),
    ("workspace_id",),
    "Workspaces of the account (latest state).",
    "system.access.workspaces_latest",
    "one row per workspace",
)

DIM_SKU = GoldTable(
    "dim_sku",
    (
        _c("sku_name", comment="Name of the SKU."),
        _c("cloud", comment="Cloud of the SKU: AWS, AZURE or GCP."),
        _c("usage_unit", comment="Unit the SKU is metered in, e.g. DBU."),
    ),
    ("sku_name",),
    "Distinct SKUs seen in billing usage and list prices.",
    "system.billing.list_prices, system.billing.usage",
    "one row per SKU",
)

FACT_LIST_PRICES = GoldTable(
    "fact_list_prices",
    (
        _c("account_id", comment="ID of the account this report was generated for."),
        _c("price_start_time", TS, "The time this price became effective (UTC)."),
        _c("price_end_time", TS, "The time this price stopped being effective (UTC); NULL while current."),
        _c("sku_name", comment="Name of the SKU."),
        _c("cloud", comment="Cloud this price applies to."),
        _c("currency_code", comment="Currency of the price."),
        _c("usage_unit", comment="Unit of measurement that is monetized."),
        _c("pricing_default", DEC, "pricing.default: the published list price per unit."),
        _c("pricing_promotional_default", DEC, "pricing.promotional.default: temporary promotional price, if any."),
        _c("pricing_effective_list_default", DEC, "pricing.effective_list.default: list price after promotions."),
    ),
    ("sku_name", "cloud", "currency_code", "usage_unit", "price_start_time"),
    "SKU list prices over time.",
    "system.billing.list_prices",
    "one row per SKU price window",
)

FACT_USAGE = GoldTable(
    "fact_usage",
    (
        _c("account_id", comment="ID of the account."),
        _c("workspace_id", comment="ID of the workspace this usage was associated with."),
        _c("record_id", comment="Unique ID for this usage record."),
        _c("sku_name", comment="Name of the SKU."),
        _c("cloud", comment="Cloud this usage is relevant for."),
        _c("usage_start_time", TS, "Start of the metered slice (UTC)."),
        _c("usage_end_time", TS, "End of the metered slice (UTC)."),
        _c("usage_date", "date", "Date of the usage record."),
        _c("custom_tags", "map<string,string>", "Tags applied by users to this usage (compute and job tags)."),
        _c("usage_unit", comment="Unit this usage is measured in, e.g. DBU."),
        _c("usage_quantity", DEC, "Number of units consumed for this record."),
        _c("usage_metadata_cluster_id", comment="usage_metadata.cluster_id."),
        _c("usage_metadata_job_id", comment="usage_metadata.job_id."),
        _c("usage_metadata_warehouse_id", comment="usage_metadata.warehouse_id."),
        _c("usage_metadata_instance_pool_id", comment="usage_metadata.instance_pool_id."),
        _c("usage_metadata_node_type", comment="usage_metadata.node_type."),
        _c("usage_metadata_job_run_id", comment="usage_metadata.job_run_id."),
        _c("usage_metadata_notebook_id", comment="usage_metadata.notebook_id."),
        _c("usage_metadata_dlt_pipeline_id", comment="usage_metadata.dlt_pipeline_id."),
        _c("usage_metadata_endpoint_name", comment="usage_metadata.endpoint_name."),
        _c("usage_metadata_endpoint_id", comment="usage_metadata.endpoint_id."),
        _c("usage_metadata_dlt_update_id", comment="usage_metadata.dlt_update_id."),
        _c("usage_metadata_run_name", comment="usage_metadata.run_name."),
        _c("usage_metadata_job_name", comment="usage_metadata.job_name."),
        _c("usage_metadata_notebook_path", comment="usage_metadata.notebook_path."),
        _c("identity_metadata_run_as", comment="identity_metadata.run_as."),
        _c("identity_metadata_created_by", comment="identity_metadata.created_by."),
        _c("identity_metadata_owned_by", comment="identity_metadata.owned_by."),
        _c("record_type", comment="ORIGINAL, RETRACTION or RESTATEMENT."),
        _c("ingestion_date", "date", "Date the record was ingested into the usage table."),
        _c("billing_origin_product", comment="Product that originated the usage, e.g. JOBS, SQL, DLT, MODEL_SERVING."),
        _c("product_features_jobs_tier", comment="product_features.jobs_tier."),
        _c("product_features_sql_tier", comment="product_features.sql_tier."),
        _c("product_features_dlt_tier", comment="product_features.dlt_tier."),
        _c("product_features_is_serverless", "boolean", "product_features.is_serverless."),
        _c("product_features_is_photon", "boolean", "product_features.is_photon."),
        _c("product_features_serving_type", comment="product_features.serving_type."),
        _c("usage_type", comment="Type of usage, e.g. COMPUTE_TIME, STORAGE_SPACE, TOKEN."),
        _c("list_price", DEC, "Gold: list price per unit in force at usage_start_time (pricing.default)."),
        _c("list_cost", "decimal(18,6)", "Gold: usage_quantity × list_price."),
        _c("is_tagged", "boolean", "Gold: custom_tags is not null and not empty.", nullable=False),
    ),
    ("record_id",),
    "Billable usage, one row per metered slice, priced with the list price in force.",
    "system.billing.usage ⟕ system.billing.list_prices",
    "one usage record (an hourly or shorter metered slice of one compute resource and SKU)",
)

FACT_AUDIT_LOGS = GoldTable(
    "fact_audit_logs",
    (
        _c("account_id", comment="Account of the audit event."),
        _c("workspace_id", comment="Workspace of the event ('0' for account-level events)."),
        _c("version", comment="Audit log schema version."),
        _c("event_time", TS, "Timestamp of the event."),
        _c("event_date", "date", "Date of the event."),
        _c("source_ip_address", comment="IP address the request came from."),
        _c("user_agent", comment="Client that initiated the request."),
        _c("session_id", comment="Session the request belongs to."),
        _c("user_identity_email", comment="user_identity.email: the person or service principal."),
        _c("user_identity_subject_name", comment="user_identity.subject_name."),
        _c("service_name", comment="Databricks service that generated the event."),
        _c("action_name", comment="Action performed."),
        _c("request_id", comment="Unique ID of the request."),
        _c("request_params", "map<string,string>", "Request parameters."),
        _c("response_status_code", "int", "response.status_code."),
        _c("response_error_message", comment="response.error_message."),
        _c("response_result", comment="response.result."),
        _c("audit_level", comment="ACCOUNT_LEVEL or WORKSPACE_LEVEL."),
        _c("event_id", comment="Unique ID of the audit event."),
        _c("identity_metadata_run_by", comment="identity_metadata.run_by."),
        _c("identity_metadata_run_as", comment="identity_metadata.run_as."),
        _c("identity_metadata_acting_resource", comment="identity_metadata.acting_resource."),
        _c("is_failed_action", "boolean", "Gold: response.status_code >= 400 or an error message.", nullable=False),
        _c("is_sensitive_action", "boolean",
           "Gold: action_name matches grant, revoke, delete, secret, permission, token, password or credential.",
           nullable=False),
    ),
    ("event_id",),
    "Audit events, one row per event.",
    "system.access.audit",
    "one audit event",
)

FACT_QUERY_HISTORY = GoldTable(
    "fact_query_history",
    (
        _c("account_id", comment="ID of the account."),
        _c("workspace_id", comment="Workspace where the query ran."),
        _c("statement_id", comment="Unique ID of the statement execution."),
        _c("executed_by", comment="User who ran the statement."),
        _c("session_id", comment="Spark session ID."),
        _c("execution_status", comment="FINISHED, FAILED or CANCELED."),
        _c("compute_type", comment="compute.type: WAREHOUSE or SERVERLESS_COMPUTE."),
        _c("compute_cluster_id", comment="compute.cluster_id."),
        _c("compute_warehouse_id", comment="compute.warehouse_id."),
        _c("executed_by_user_id", comment="ID of the user who ran the statement."),
        _c("statement_text", comment="Text of the SQL statement."),
        _c("statement_type", comment="Statement type, e.g. SELECT, INSERT, MERGE."),
        _c("error_message", comment="Error, if the statement failed."),
        _c("client_application", comment="Client application, e.g. Databricks SQL, Tableau."),
        _c("client_driver", comment="Connector used."),
        _c("total_duration_ms", "bigint", "Total execution time excluding result fetch."),
        _c("waiting_for_compute_duration_ms", "bigint", "Time waiting for compute to be provisioned."),
        _c("waiting_at_capacity_duration_ms", "bigint", "Time queued for available capacity."),
        _c("execution_duration_ms", "bigint", "Time executing."),
        _c("compilation_duration_ms", "bigint", "Time loading metadata and optimizing."),
        _c("total_task_duration_ms", "bigint", "Sum of all task durations."),
        _c("result_fetch_duration_ms", "bigint", "Time fetching results."),
        _c("start_time", TS, "When the request was received."),
        _c("end_time", TS, "When execution ended (excluding result fetch)."),
        _c("update_time", TS, "Last progress update."),
        _c("read_partitions", "bigint", "Partitions read after pruning."),
        _c("pruned_files", "bigint", "Pruned files."),
        _c("read_files", "bigint", "Files read after pruning."),
        _c("read_rows", "bigint", "Rows read."),
        _c("produced_rows", "bigint", "Rows returned."),
        _c("read_bytes", "bigint", "Bytes read."),
        _c("read_io_cache_percent", "tinyint", "Percentage of persistent data read from the IO cache."),
        _c("from_result_cache", "boolean", "Result fetched from the result cache."),
        _c("spilled_local_bytes", "bigint", "Bytes spilled to local disk."),
        _c("written_bytes", "bigint", "Bytes written to cloud storage."),
        _c("shuffle_read_bytes", "bigint", "Bytes shuffled over the network."),
        _c("query_source_job_info_job_id", comment="query_source.job_info.job_id."),
        _c("query_source_job_info_job_run_id", comment="query_source.job_info.job_run_id."),
        _c("query_source_dashboard_id", comment="query_source.dashboard_id."),
        _c("query_source_alert_id", comment="query_source.alert_id."),
        _c("query_source_notebook_id", comment="query_source.notebook_id."),
        _c("query_source_sql_query_id", comment="query_source.sql_query_id."),
        _c("executed_as_user_id", comment="ID of the principal whose privileges were used."),
        _c("executed_as", comment="Name of the principal whose privileges were used."),
        _c("written_rows", "bigint", "Rows written."),
        _c("written_files", "bigint", "Files written."),
        _c("cache_origin_statement_id", comment="Statement whose cached result was reused."),
        _c("query_tags", "map<string,string>", "User-supplied query tags."),
    ),
    ("statement_id",),
    "SQL statements run on warehouses and serverless compute.",
    "system.query.history",
    "one SQL statement",
)

_RUN_COLUMNS = (
    _c("account_id", comment="Account the job belongs to."),
    _c("workspace_id", comment="Workspace the job belongs to."),
    _c("job_id", comment="ID of the job (unique within a workspace)."),
    _c("run_id", comment="ID of the run."),
    _c("period_start_time", TS, "Start of the run."),
    _c("period_end_time", TS, "End of the run."),
)

FACT_JOB_RUN_TIMELINE = GoldTable(
    "fact_job_run_timeline",
    _RUN_COLUMNS
    + (
        _c("trigger_type", comment="CRON, ONETIME, ONETIME_RETRY, FILE_ARRIVAL, CONTINUOUS, PERIODIC, TABLE."),
        _c("result_state", comment="SUCCEEDED, FAILED, SKIPPED, CANCELLED, TIMED_OUT, ERROR, BLOCKED."),
        _c("run_type", comment="JOB_RUN, SUBMIT_RUN or WORKFLOW_RUN."),
        _c("run_name", comment="User-supplied run name."),
        _c("compute_ids", "array<string>", "Compute used by the run."),
        _c("termination_code", comment="Termination code, e.g. SUCCESS, RUN_EXECUTION_ERROR, DRIVER_ERROR."),
        _c("run_date", "date", "Gold: DATE(period_start_time)."),
        _c("run_duration_seconds", "bigint", "Gold: period_end_time − period_start_time in seconds."),
    ),
    ("workspace_id", "run_id"),
    "Job runs, one row per run (the final slice).",
    "system.lakeflow.job_run_timeline",
    "one job run",
)

FACT_JOB_TASK_RUN_TIMELINE = GoldTable(
    "fact_job_task_run_timeline",
    _RUN_COLUMNS
    + (
        _c("task_key", comment="Key of the task within the job."),
        _c("compute_ids", "array<string>", "Compute used by the task run."),
        _c("result_state", comment="Outcome of the task run."),
        _c("job_run_id", comment="ID of the job run this task run belongs to."),
        _c("parent_run_id", comment="ID of the parent run."),
        _c("termination_code", comment="Termination code of the task run."),
        _c("run_date", "date", "Gold: DATE(period_start_time)."),
        _c("run_duration_seconds", "bigint", "Gold: period_end_time − period_start_time in seconds."),
    ),
    ("workspace_id", "run_id"),
    "Job task runs (attempts), one row per task run.",
    "system.lakeflow.job_task_run_timeline",
    "one task run (each retry attempt is its own task run)",
)

DIM_JOB = GoldTable(
    "dim_job",
    (
        _c("account_id", comment="Account the job belongs to."),
        _c("workspace_id", comment="Workspace the job belongs to."),
        _c("job_id", comment="ID of the job."),
        _c("name", comment="User-supplied job name."),
        _c("creator_id", comment="Principal who created the job."),
        _c("tags", "map<string,string>", "User-supplied job tags."),
        _c("run_as", comment="Principal whose permissions the job runs with."),
        _c("change_time", TS, "When the job was last modified."),
        _c("delete_time", TS, "When the job was deleted, if it was."),
        _c("description", comment="User-supplied description."),
    ),
    ("workspace_id", "job_id"),
    "Jobs (latest definition).",
    "system.lakeflow.jobs",
    "one job",
)

DIM_WAREHOUSE = GoldTable(
    "dim_warehouse",
    (
        _c("warehouse_id", comment="ID of the SQL warehouse."),
        _c("workspace_id", comment="Workspace of the warehouse."),
        _c("account_id", comment="ID of the account."),
        _c("warehouse_name", comment="Name of the warehouse."),
        _c("warehouse_type", comment="CLASSIC, PRO or SERVERLESS."),
        _c("warehouse_channel", comment="CURRENT or PREVIEW."),
        _c("warehouse_size", comment="2X_SMALL … 4X_LARGE."),
        _c("min_clusters", "int", "Minimum number of clusters."),
        _c("max_clusters", "int", "Maximum number of clusters."),
        _c("auto_stop_minutes", "int", "Minutes of inactivity before auto-stop."),
        _c("tags", "map<string,string>", "Warehouse tags."),
        _c("change_time", TS, "Time of the latest change of the definition."),
        _c("delete_time", TS, "When the warehouse was deleted, if it was."),
        _c("created_by", comment="Principal that created the warehouse."),
    ),
    ("workspace_id", "warehouse_id"),
    "SQL warehouses (latest definition).",
    "system.compute.warehouses",
    "one warehouse",
)

DIM_CLUSTER = GoldTable(
    "dim_cluster",
    (
        _c("account_id", comment="Account of the cluster."),
        _c("workspace_id", comment="Workspace of the cluster."),
        _c("cluster_id", comment="ID of the cluster."),
        _c("cluster_name", comment="User-defined name."),
        _c("owned_by", comment="Owner of the cluster."),
        _c("create_time", TS, "Timestamp of the change to this compute definition."),
        _c("delete_time", TS, "When the cluster was deleted, if it was."),
        _c("driver_node_type", comment="Driver node type."),
        _c("worker_node_type", comment="Worker node type."),
        _c("worker_count", "bigint", "Number of workers (fixed-size clusters)."),
        _c("min_autoscale_workers", "bigint", "Autoscale minimum."),
        _c("max_autoscale_workers", "bigint", "Autoscale maximum."),
        _c("auto_termination_minutes", "bigint", "Auto-termination."),
        _c("enable_elastic_disk", "boolean", "Autoscaling disk."),
        _c("tags", "map<string,string>", "User-defined tags."),
        _c("cluster_source", comment="UI, API, JOB, PIPELINE, PIPELINE_MAINTENANCE, SQL."),
        _c("init_scripts", "array<string>", "Init script paths."),
        _c("driver_instance_pool_id", comment="Driver instance pool."),
        _c("worker_instance_pool_id", comment="Worker instance pool."),
        _c("dbr_version", comment="Databricks Runtime of the cluster."),
        _c("change_time", TS, "Timestamp of the latest change."),
        _c("change_date", "date", "Date of the latest change."),
        _c("data_security_mode", comment="USER_ISOLATION, SINGLE_USER, NONE..."),
        _c("policy_id", comment="Cluster policy, if any."),
    ),
    ("workspace_id", "cluster_id"),
    "Clusters (latest definition).",
    "system.compute.clusters",
    "one cluster",
)

FACT_NODE_TIMELINE = GoldTable(
    "fact_node_timeline",
    (
        _c("account_id", comment="Account of the compute."),
        _c("workspace_id", comment="Workspace of the compute."),
        _c("cluster_id", comment="ID of the compute resource."),
        _c("instance_id", comment="ID of the instance."),
        _c("start_time", TS, "Start of the record (UTC)."),
        _c("end_time", TS, "End of the record (UTC)."),
        _c("driver", "boolean", "Driver (true) or worker node."),
        _c("cpu_user_percent", "double", "CPU time in userland, %."),
        _c("cpu_system_percent", "double", "CPU time in the kernel, %."),
        _c("cpu_wait_percent", "double", "CPU time waiting for I/O, %."),
        _c("mem_used_percent", "double", "Memory used, %."),
        _c("mem_swap_percent", "double", "Memory swap, %."),
        _c("network_sent_bytes", "bigint", "Bytes sent."),
        _c("network_received_bytes", "bigint", "Bytes received."),
        _c("node_type", comment="Instance type."),
        _c("private_ip", comment="Private IP."),
    ),
    ("workspace_id", "instance_id", "start_time"),
    "Node utilisation of classic compute.",
    "system.compute.node_timeline",
    "one node × one time slice (the demo uses 1-hour slices; the real table is per minute)",
)

FACT_TABLE_SNAPSHOTS = GoldTable(
    "fact_table_snapshots",
    (
        _c("snapshot_date", "date", "Day of the snapshot (taken at the end of the day, UTC)."),
        _c("table_catalog", comment="Catalog of the table."),
        _c("table_schema", comment="Schema of the table."),
        _c("table_name", comment="Name of the table."),
        _c("table_type", comment="MANAGED, EXTERNAL or VIEW (information_schema.tables.table_type)."),
        _c("data_source_format", comment="DELTA, PARQUET... (information_schema.tables)."),
        _c("table_owner", comment="Owner of the table."),
        _c("created", TS, "When the table was created."),
        _c("created_by", comment="Principal that created the table."),
        _c("last_altered", TS, "Last change of the table definition or data (information_schema.tables)."),
        _c("last_altered_by", comment="Principal of the last change."),
        _c("column_count", "int", "Columns in information_schema.columns at snapshot time."),
        _c("has_primary_key", "boolean", "A PRIMARY KEY row exists in information_schema.table_constraints."),
        _c("cdf_enabled", "boolean", "Table property delta.enableChangeDataFeed = true."),
        _c("schema_hash", comment="SHA-256 (hex, 16 chars) of the ordered (column_name, full_data_type) list."),
        _c("columns_added", "int", "Columns present now but not in the previous snapshot."),
        _c("columns_removed", "int", "Columns in the previous snapshot but not now."),
        _c("columns_type_changed", "int", "Columns whose full_data_type changed since the previous snapshot."),
        _c("row_count", "bigint", "Rows at snapshot time (Delta numRecords)."),
        _c("size_bytes", "bigint", "Size at snapshot time (Delta sizeInBytes)."),
        _c("last_commit_time", TS, "Time of the latest data commit (Delta history)."),
        _c("commits_1d", "int", "Data commits during the snapshot day."),
        _c("rows_written_1d", "bigint", "Rows written during the snapshot day (Delta operationMetrics)."),
    ),
    ("table_catalog", "table_schema", "table_name", "snapshot_date"),
    "Daily metadata snapshot of every monitored table: size, freshness, schema and its changes.",
    "system.information_schema.tables, .columns, .table_constraints + Delta history",
    "one table × one day",
)

FACT_DQ_TABLE_RESULTS = GoldTable(
    "fact_data_quality_monitoring_table_results",
    (
        _c("event_time", TS, "When the monitor evaluated the table."),
        _c("catalog_name", comment="Catalog of the table."),
        _c("schema_name", comment="Schema of the table."),
        _c("table_name", comment="Table evaluated."),
        _c("catalog_id", comment="Catalog ID."),
        _c("schema_id", comment="Schema ID."),
        _c("table_id", comment="Table ID."),
        _c("status", comment="Overall status: Healthy, Unhealthy, Unknown."),
        _c("freshness_status", comment="freshness.status."),
        _c("freshness_commit_freshness_status", comment="freshness.commit_freshness.status."),
        _c("freshness_commit_freshness_error_code", comment="freshness.commit_freshness.error_code."),
        _c("freshness_commit_freshness_last_value", TS, "freshness.commit_freshness.last_value: last commit."),
        _c(
            "freshness_commit_freshness_predicted_value",
            TS,
            "freshness.commit_freshness.predicted_value: expected next commit.",
        ),
        _c("completeness_status", comment="completeness.status."),
        _c("completeness_total_row_count_last_value", "bigint", "completeness.total_row_count.last_value."),
        _c(
            "completeness_total_row_count_min_predicted_value",
            "bigint",
            "completeness.total_row_count.min_predicted_value.",
        ),
        _c(
            "completeness_total_row_count_max_predicted_value",
            "bigint",
            "completeness.total_row_count.max_predicted_value.",
        ),
        _c("completeness_daily_row_count_status", comment="completeness.daily_row_count.status."),
        _c("completeness_daily_row_count_last_value", "bigint", "completeness.daily_row_count.last_value."),
        _c(
            "completeness_daily_row_count_min_predicted_value",
            "bigint",
            "completeness.daily_row_count.min_predicted_value.",
        ),
        _c(
            "completeness_daily_row_count_max_predicted_value",
            "bigint",
            "completeness.daily_row_count.max_predicted_value.",
        ),
        _c("downstream_impact_impact_level", "int", "downstream_impact.impact_level (0 none … 3 high)."),
        _c("downstream_impact_num_downstream_tables", "bigint", "downstream_impact.num_downstream_tables."),
        _c(
            "downstream_impact_num_queries_on_affected_tables",
            "bigint",
            "downstream_impact.num_queries_on_affected_tables.",
        ),
    ),
    ("catalog_name", "schema_name", "table_name", "event_time"),
    "Data quality monitoring (anomaly detection) results per table and evaluation.",
    "system.data_quality_monitoring.table_results",
    "one table × one evaluation (daily)",
)

def _event_columns(what: str, end_note: str = "") -> tuple[Col, ...]:
    """The columns the two generator-only tables share: what happened, where, when, how big."""
    return (
        _c("domain", comment=f"The domain of the {what}: cost, security, performance, reliability or quality."),
        _c("workspace_id", comment="Workspace affected."),
        _c("job_id", comment="Job affected, if any."),
        _c("user_name", comment="User (email) involved, if any."),
        _c("warehouse_id", comment="Warehouse affected, if any."),
        _c("cluster_id", comment="Cluster affected, if any."),
        _c("table_name", comment="catalog.schema.table affected, if any."),
        _c("sku_name", comment="SKU affected, if any."),
        _c("start_time", TS, f"Start of the {what} (UTC)."),
        _c("end_time", TS, f"End of the {what} (UTC, exclusive){end_note}."),
        _c("magnitude", "double", "Size of the effect (kind-specific; docs/demodata.md)."),
        _c("description", comment="What was injected."),
        _c("evidence_tables", "array<string>", f"Gold tables where the {what} is visible."),
    )


GROUND_TRUTH_INCIDENTS = GoldTable(
    "ground_truth_incidents",
    (
        _c("incident_id", comment="Unique ID of the incident."),
        _c("kind", comment="Incident kind, e.g. cost_spike, credential_stuffing (docs/demodata.md lists them)."),
        *_event_columns("incident"),
        _c("magnitude_class", comment="subtle, moderate or blatant (docs/demodata.md gives each kind's ranges)."),
        _c("group_id", comment="Incidents that are one event share it (a password spray: one row per targeted user); "
                               "else the incident_id."),
    ),
    ("incident_id",),
    "Labelled incidents injected into the synthetic account, anywhere after a warm-up (training, validation and "
    "test periods alike). Not a system table.",
    "healthmon demo-data generator",
    "one incident",
)

GROUND_TRUTH_BENIGN_EVENTS = GoldTable(
    "ground_truth_benign_events",
    (
        _c("event_id", comment="Unique ID of the event."),
        _c("kind", comment="Kind of harmless oddity, e.g. planned_backfill, travel (docs/demodata.md lists them)."),
        *_event_columns("event", "; for a lasting change (data growth, a new hire), the end of its first days"),
    ),
    ("event_id",),
    "Harmless oddities of the synthetic account (planned backfills, month-end peaks, travel, onboarding grants...): "
    "not incidents, recorded for analysis only. Not a system table.",
    "healthmon demo-data generator",
    "one event",
)

# Tables of labels, written by the generator only (empty for imported data).
LABEL_TABLES = ("ground_truth_incidents", "ground_truth_benign_events")

GOLD_TABLES: dict[str, GoldTable] = {
    t.name: t
    for t in (
        DIM_WORKSPACE,
        DIM_SKU,
        FACT_LIST_PRICES,
        FACT_USAGE,
        FACT_AUDIT_LOGS,
        FACT_QUERY_HISTORY,
        FACT_JOB_RUN_TIMELINE,
        FACT_JOB_TASK_RUN_TIMELINE,
        DIM_JOB,
        DIM_WAREHOUSE,
        DIM_CLUSTER,
        FACT_NODE_TIMELINE,
        FACT_TABLE_SNAPSHOTS,
        FACT_DQ_TABLE_RESULTS,
        GROUND_TRUTH_INCIDENTS,
        GROUND_TRUTH_BENIGN_EVENTS,
    )
}

FACT_TABLES = [n for n in GOLD_TABLES if n.startswith("fact_")]


def gold_schema(table: str) -> pa.Schema:
    return GOLD_TABLES[table].schema


def empty_table(table: str) -> pa.Table:
    return GOLD_TABLES[table].schema.empty_table()
