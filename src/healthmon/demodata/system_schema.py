"""The real Databricks system tables' schemas (a subset shipped as ``system_tables.json``, taken
from ``information_schema.columns`` of the ``system`` catalog) and the mapping of gold columns
onto them: a gold column is either a system column or a flattened struct path
(``usage_metadata_job_id`` → ``usage_metadata.job_id``), or derived (listed per table).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import pyarrow as pa

from healthmon.demodata.schemas import GOLD_TABLES
from healthmon.demodata.types import parse_type

# Older workspaces expose the Lakeflow tables under their previous schema name.
ALIASES = {
    "system.workflow.jobs": "system.lakeflow.jobs",
    "system.workflow.job_run_timeline": "system.lakeflow.job_run_timeline",
    "system.workflow.job_task_run_timeline": "system.lakeflow.job_task_run_timeline",
    "system.compute.warehouses_latest": "system.compute.warehouses",
}


@dataclass(frozen=True)
class ImportSpec:
    gold: str
    source: str
    derived: frozenset[str] = frozenset()
    needs: tuple[str, ...] = ()          # extra top-level source columns the derivation reads
    latest_by: str | None = None         # keep the latest row per primary key (SCD sources)
    slices: bool = False                 # timeline slices → one row per run


SPECS = [
    ImportSpec("dim_workspace", "system.access.workspaces_latest"),
    ImportSpec("fact_list_prices", "system.billing.list_prices"),
    ImportSpec("fact_usage", "system.billing.usage", frozenset({"list_price", "list_cost", "is_tagged"}),
               needs=("custom_tags", "usage_quantity", "sku_name", "cloud", "usage_unit", "usage_start_time")),
    ImportSpec("fact_audit_logs", "system.access.audit", frozenset({"is_failed_action", "is_sensitive_action"}),
               needs=("response", "action_name")),
    ImportSpec("fact_query_history", "system.query.history"),
    ImportSpec("fact_job_run_timeline", "system.lakeflow.job_run_timeline",
               frozenset({"run_date", "run_duration_seconds"}), slices=True),
    ImportSpec("fact_job_task_run_timeline", "system.lakeflow.job_task_run_timeline",
               frozenset({"run_date", "run_duration_seconds"}), slices=True),
    ImportSpec("dim_job", "system.lakeflow.jobs", latest_by="change_time"),
    ImportSpec("dim_warehouse", "system.compute.warehouses", latest_by="change_time"),
    ImportSpec("dim_cluster", "system.compute.clusters", latest_by="change_time"),
    ImportSpec("fact_node_timeline", "system.compute.node_timeline"),
    ImportSpec("fact_data_quality_monitoring_table_results", "system.data_quality_monitoring.table_results"),
]
SPEC_BY_SOURCE = {s.source: s for s in SPECS}
# Sources of fact_table_snapshots (one snapshot per import).
SNAPSHOT_SOURCES = ("system.information_schema.tables", "system.information_schema.columns",
                    "system.information_schema.table_constraints")


@lru_cache(maxsize=1)
def system_tables() -> dict[str, pa.Schema]:
    raw = json.loads(resources.files("healthmon.demodata").joinpath("system_tables.json").read_text())
    return {name: pa.schema([pa.field(c, parse_type(t), nullable) for c, t, nullable in cols])
            for name, cols in raw["tables"].items()}


def _resolve_in_struct(dtype: pa.StructType, rest: str) -> tuple[str, ...] | None:
    for f in dtype:
        if rest == f.name:
            return (f.name,)
        if pa.types.is_struct(f.type) and rest.startswith(f.name + "_"):
            sub = _resolve_in_struct(f.type, rest[len(f.name) + 1:])
            if sub:
                return (f.name,) + sub
    return None


def resolve(column: str, schema: pa.Schema) -> tuple[str, ...] | None:
    """The source path of a gold column, or None if it is not in the system table."""
    if column in schema.names:
        return (column,)
    for f in schema:
        if pa.types.is_struct(f.type) and column.startswith(f.name + "_"):
            sub = _resolve_in_struct(f.type, column[len(f.name) + 1:])
            if sub:
                return (f.name,) + sub
    return None


def column_paths(spec: ImportSpec) -> dict[str, tuple[str, ...]]:
    """gold column → source path, for every non-derived gold column."""
    schema = system_tables()[spec.source]
    out = {}
    for col in GOLD_TABLES[spec.gold].column_names:
        if col in spec.derived:
            continue
        path = resolve(col, schema)
        if path is None:
            raise AssertionError(f"gold column {spec.gold}.{col} has no source in {spec.source}")
        out[col] = path
    return out


def required_paths(spec: ImportSpec) -> list[tuple[str, ...]]:
    """Source paths an export must provide for this gold table (deduplicated, in order)."""
    paths = list(column_paths(spec).values()) + [(c,) for c in spec.needs]
    seen, out = set(), []
    for p in paths:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def type_at(schema: pa.Schema, path: tuple[str, ...]) -> pa.DataType:
    t = schema.field(path[0]).type
    for name in path[1:]:
        t = t.field(name).type
    return t
