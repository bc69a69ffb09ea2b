"""Build the five feature tables: gold tables -> Spark SQL (Lakehouse.sql) -> clean -> feature store.

Each table is built independently: a missing or empty source, missing columns or an engine error
affect that table only and are reported in the result. ``create_feature_tables`` raises only
when no table at all could be built (the original's rule, ml-layer.md §2.1).

Idempotency: every run recomputes each table from all gold rows and merges it by primary key
(``FeatureEngineeringClient.write_table(mode="merge")``), so a re-run over the same gold data
yields the same table. There is deliberately no wall-clock column (the original's
``feature_timestamp = current_timestamp()``), which would make every re-run differ.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from healthmon.errors import HealthmonError
from healthmon.ml.features.cleaning import clean_features
from healthmon.ml.features.databricks_backend import SparkFeatureStore, SparkLakehouse, on_databricks
from healthmon.ml.features.label_history import append_label_history
from healthmon.ml.features.registry import FEATURE_TABLES
from healthmon.ml.features.table import FeatureTable

log = logging.getLogger(__name__)


class FeatureBuildError(HealthmonError):
    """No feature table could be built; the message lists each table's cause."""


class SourceUnavailable(Exception):
    """A required gold table is missing, empty or lacks columns (the table is SKIPPED)."""


def _source_columns(lh, fqn: str) -> tuple[frozenset[str], int]:
    """Columns and row count of a gold table, without reading it whole."""
    schema = lh.sql(f"SELECT * FROM {fqn} LIMIT 0").schema
    rows = lh.sql(f"SELECT COUNT(*) AS n FROM {fqn}").column(0)[0].as_py()
    return frozenset(schema.names), int(rows or 0)


def _inspect_sources(lh, table: FeatureTable, catalog: str, gold_schema: str):
    tables: dict[str, str] = {}
    columns: dict[str, frozenset[str]] = {}
    for source in table.sources:
        fqn = f"{catalog}.{gold_schema}.{source.table}"
        if not lh.table_exists(fqn):
            raise SourceUnavailable(f"source table {fqn} does not exist")
        present, rows = _source_columns(lh, fqn)
        missing = [c for c in source.required_columns if c not in present]
        if missing:
            raise SourceUnavailable(f"source table {fqn} lacks columns {', '.join(missing)}")
        if rows == 0:
            raise SourceUnavailable(f"source table {fqn} is empty")
        tables[source.table] = fqn
        columns[source.table] = present
    for optional in table.optional_sources:
        fqn = f"{catalog}.{gold_schema}.{optional}"
        if lh.table_exists(fqn):
            tables[optional] = fqn
            columns[optional] = _source_columns(lh, fqn)[0]
    return tables, columns


def engine_name(lh) -> str:
    """"spark" for the local Spark engine and for a Databricks SparkSession, else "duckdb"."""
    if isinstance(lh, SparkLakehouse):
        return "spark"
    return getattr(getattr(lh, "engine", None), "name", "duckdb")


def compute_feature_table(lh, table: FeatureTable, catalog: str, gold_schema: str):
    """Run one table's SQL and clean the result. Returns (pyarrow.Table, cleaning counts).
    Raises SourceUnavailable when a source cannot be used."""
    tables, columns = _inspect_sources(lh, table, catalog, gold_schema)
    raw = lh.sql(table.build_sql(tables, columns, engine_name(lh)))
    cleaned, counts = clean_features(raw, table.primary_keys, table.features, table.extra_columns)
    if cleaned.num_rows == 0:
        raise SourceUnavailable(f"no rows with a non-NULL key {list(table.primary_keys)} in the sources")
    return cleaned, counts


def why_not_built(lh, name: str, catalog: str, gold_schema: str) -> str | None:
    """Why feature table ``name`` cannot be built from ``catalog.gold_schema`` (a missing,
    empty or incomplete gold table, or no usable rows), or None when it can — or when the gold
    schema holds no source of any feature table (a wrong catalog or nothing imported: not a
    gap in one domain). Lets a consumer of a feature table that does not exist tell "no data
    for this domain" from "not built yet"."""
    sources = {s.table for t in FEATURE_TABLES.values() for s in t.sources}
    if not any(lh.table_exists(f"{catalog}.{gold_schema}.{s}") for s in sorted(sources)):
        return None
    try:
        compute_feature_table(lh, FEATURE_TABLES[name], catalog, gold_schema)
    except SourceUnavailable as exc:
        return str(exc)
    return None


def _with_comments(data, table: FeatureTable):
    """Column comments travel as Arrow field metadata (the lakehouse's convention)."""
    import pyarrow as pa

    fields = []
    for field in data.schema:
        comment = table.comments.get(field.name)
        fields.append(field.with_metadata({b"comment": comment.encode()}) if comment else field)
    return data.cast(pa.schema(fields))


def write_feature_table(fe, lh, table: FeatureTable, fqn: str, data) -> str:
    """Create the feature table on first use, otherwise merge by key. A table whose columns no
    longer match the definition (an older healthmon) is recreated. Returns the action taken."""
    data = _with_comments(data, table)
    action = "merged"
    if lh.table_exists(fqn):
        if _existing_schema(lh, fqn) != list(data.schema.names):
            lh.drop_table(fqn)
            action = "recreated"
    if not lh.table_exists(fqn):
        fe.create_table(
            name=fqn,
            primary_keys=list(table.primary_keys),
            schema=data.schema,
            description=table.description,
        )
        action = "created" if action == "merged" else action
    fe.write_table(name=fqn, df=data, mode="merge")
    return action


def _existing_schema(lh, fqn: str) -> list[str]:
    return list(lh.sql(f"SELECT * FROM {fqn} LIMIT 0").schema.names)


def _feature_client(lh):
    from healthmon.lakehouse.feature_store import FeatureEngineeringClient

    return FeatureEngineeringClient(lakehouse=lh)


def create_feature_tables(
    catalog: str,
    gold_schema: str,
    feature_schema: str,
    *,
    tables: list[str] | None = None,
    lakehouse=None,
) -> dict[str, Any]:
    """Build the feature tables into ``<catalog>.<feature_schema>``.

    Returns ``{"status": "SUCCESS" | "PARTIAL", "tables_built": n, "tables_total": m,
    "total_rows": r, "skipped": {name: reason}, "failed": {name: error},
    "tables": {name: {"status": "SUCCESS" | "SKIPPED" | "FAILED", "table": fqn,
    "rows": n, "action": created|merged|recreated, "seconds": s, "reason"/"error": ...}}}``.
    Raises FeatureBuildError when no table was built."""
    from healthmon.lakehouse import Lakehouse
    from healthmon.lakehouse.paths import check_identifier

    for value, what in ((catalog, "catalog"), (gold_schema, "gold_schema"), (feature_schema, "feature_schema")):
        check_identifier(value, what)
    selected = list(FEATURE_TABLES) if tables is None else tables
    unknown = [t for t in selected if t not in FEATURE_TABLES]
    if unknown:
        raise HealthmonError(f"unknown feature table(s) {unknown}; expected some of {list(FEATURE_TABLES)}")

    lh: Lakehouse | SparkLakehouse
    if lakehouse is None and on_databricks():
        # A real workspace: Unity Catalog tables through the notebook's Spark session.
        lh, fe = SparkLakehouse(), SparkFeatureStore()
    else:
        lh = lakehouse or Lakehouse.from_env()
        fe = _feature_client(lh)
    lh.create_schema(f"{catalog}.{feature_schema}")

    results: dict[str, dict[str, Any]] = {}
    for name in selected:
        table = FEATURE_TABLES[name]
        fqn = table.fqn(catalog, feature_schema)
        started = time.perf_counter()
        try:
            data, counts = compute_feature_table(lh, table, catalog, gold_schema)
            # The supervised models' own label history known at d (docs/models.md, "Label history").
            data = append_label_history(data, name)
            action = write_feature_table(fe, lh, table, fqn, data)
            results[name] = {
                "status": "SUCCESS", "table": fqn, "rows": data.num_rows, "action": action,
                "features": len(table.features), **counts,
            }
        except SourceUnavailable as exc:
            results[name] = {"status": "SKIPPED", "table": fqn, "rows": 0, "reason": str(exc)}
        except Exception as exc:  # one table's failure must not stop the others
            log.exception("feature table %s failed", fqn)
            results[name] = {"status": "FAILED", "table": fqn, "rows": 0, "error": f"{type(exc).__name__}: {exc}"}
        results[name]["seconds"] = round(time.perf_counter() - started, 3)
        log.info("%s: %s", fqn, results[name])

    built = [n for n, r in results.items() if r["status"] == "SUCCESS"]
    summary = {
        "status": "SUCCESS" if len(built) == len(selected) else "PARTIAL",
        "tables_built": len(built),
        "tables_total": len(selected),
        "total_rows": sum(r["rows"] for r in results.values()),
        "skipped": {n: r["reason"] for n, r in results.items() if r["status"] == "SKIPPED"},
        "failed": {n: r["error"] for n, r in results.items() if r["status"] == "FAILED"},
        "tables": results,
    }
    if not built:
        causes = "; ".join(f"{n}: {r.get('reason') or r.get('error')}" for n, r in results.items())
        raise FeatureBuildError(
            f"No feature table could be built in {catalog}.{feature_schema} from {catalog}.{gold_schema}: {causes}"
        )
    return summary
