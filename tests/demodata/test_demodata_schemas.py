"""Every generated gold table has exactly the schema the ML layer expects."""

from __future__ import annotations

import pyarrow as pa

from healthmon.demodata.schemas import GOLD_TABLES

TS = pa.timestamp("us", tz="UTC")
# Columns the ML code reads (ml-layer.md §1.1), with their Databricks types, written out here
# independently of schemas.py.
ML_READS = {
    "fact_usage": {"workspace_id": pa.string(), "usage_date": pa.date32(), "usage_quantity": pa.decimal128(38, 18),
                   "list_cost": pa.decimal128(18, 6), "sku_name": pa.string(), "usage_metadata_job_id": pa.string(),
                   "product_features_is_serverless": pa.bool_(), "custom_tags": pa.map_(pa.string(), pa.string()),
                   "is_tagged": pa.bool_(), "record_id": pa.string()},
    "fact_audit_logs": {"user_identity_email": pa.string(), "event_time": TS,
                        "request_params": pa.map_(pa.string(), pa.string()), "source_ip_address": pa.string(),
                        "is_failed_action": pa.bool_(), "action_name": pa.string(), "service_name": pa.string(),
                        "event_id": pa.string()},
    "fact_query_history": {"compute_warehouse_id": pa.string(), "end_time": TS, "total_duration_ms": pa.int64(),
                           "read_bytes": pa.int64(), "written_bytes": pa.int64(), "execution_status": pa.string(),
                           "spilled_local_bytes": pa.int64(), "waiting_at_capacity_duration_ms": pa.int64(),
                           "statement_id": pa.string()},
    "fact_job_run_timeline": {"job_id": pa.string(), "run_date": pa.date32(), "period_start_time": TS,
                              "period_end_time": TS, "run_duration_seconds": pa.int64(), "result_state": pa.string(),
                              "run_type": pa.string(), "workspace_id": pa.string(), "run_id": pa.string()},
    "dim_job": {"job_id": pa.string(), "name": pa.string(), "workspace_id": pa.string()},
}


def test_every_table_written_with_its_gold_schema(generated):
    assert set(generated["delta"]) == set(GOLD_TABLES)
    for name, gold in GOLD_TABLES.items():
        dt = generated["delta"][name]
        written = pa.schema(dt.schema().to_arrow())
        assert written.names == gold.schema.names, name
        for f in gold.schema:
            w = written.field(f.name)
            assert w.type == f.type, (name, f.name, w.type, f.type)
            assert w.nullable == f.nullable, (name, f.name)
            assert (w.metadata or {}).get(b"comment") == f.metadata[b"comment"], (name, f.name)
        meta = dt.metadata()
        assert meta.description == gold.comment
        assert meta.configuration["healthmon.primaryKeys"] == ",".join(gold.primary_keys)


def test_ml_layer_columns_present_with_databricks_types(generated):
    for table, cols in ML_READS.items():
        schema = generated["arrow"][table].schema
        for col, typ in cols.items():
            assert schema.field(col).type == typ, (table, col)
    assert not generated["arrow"]["fact_usage"].schema.field("is_tagged").nullable


def test_primary_keys_unique_and_not_null(generated):
    for name, gold in GOLD_TABLES.items():
        t = generated["arrow"][name]
        keys = list(gold.primary_keys)
        for k in keys:
            assert t.column(k).null_count == 0, (name, k)
        groups = t.select(keys).group_by(keys).aggregate([([], "count_all")])
        assert groups.num_rows == t.num_rows, name


def test_every_table_has_rows(generated):
    for name, n in generated["rows"].items():
        assert n > 0, name
        assert generated["arrow"][name].num_rows == n


def test_enum_values_are_databricks_values(generated):
    runs = generated["arrow"]["fact_job_run_timeline"]
    assert set(runs.column("result_state").to_pylist()) <= {"SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED", "TIMED_OUT", "ERROR", "BLOCKED"}
    assert set(runs.column("run_type").to_pylist()) <= {"JOB_RUN", "SUBMIT_RUN", "WORKFLOW_RUN"}
    assert set(generated["arrow"]["fact_query_history"].column("execution_status").to_pylist()) <= {"FINISHED", "FAILED", "CANCELED"}
    skus = set(generated["arrow"]["fact_usage"].column("sku_name").to_pylist())
    assert any("ALL_PURPOSE" in s for s in skus) and any("DLT" in s for s in skus) or any("INFERENCE" in s for s in skus)
    assert any("SERVERLESS" in s for s in skus) and any("SQL" in s for s in skus) and any("JOBS" in s for s in skus)


def test_tables_visible_through_the_lakehouse(generated, monkeypatch):
    lakehouse = __import__("pytest").importorskip("healthmon.lakehouse.core")
    monkeypatch.setenv("HEALTHMON_HOME", str(generated["home"]))
    lh = lakehouse.Lakehouse.from_env()
    assert {t.split(".")[-1] for t in lh.list_tables("demo.gold")} >= set(GOLD_TABLES)
    usage = lh.read_table("demo.gold.fact_usage")
    assert usage.num_rows == generated["rows"]["fact_usage"]
    n = lh.sql("SELECT count(*) AS n FROM demo.gold.fact_job_run_timeline WHERE result_state = 'SUCCEEDED'")
    assert 0 < n.column("n")[0].as_py() < generated["rows"]["fact_job_run_timeline"]


def test_shipped_system_schemas_match_the_catalog_export(repo_root):
    """system_tables.json is the system catalog's information_schema.columns for the tables the
    importer reads; check it against the reference export when it is beside the checkout."""
    import csv
    import json
    from importlib import resources

    import pytest

    ref = repo_root.parent / "shared" / "spec" / "system_table_columns.csv"
    if not ref.exists():
        pytest.skip("reference system_table_columns.csv not available")
    shipped = json.loads(resources.files("healthmon.demodata").joinpath("system_tables.json").read_text())["tables"]
    real: dict[str, list] = {}
    with ref.open(newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            real.setdefault(f"system.{r['table_schema']}.{r['table_name']}", []).append(
                [r["column_name"], r["full_data_type"], r["is_nullable"] == "YES"])
    for table, cols in shipped.items():
        assert cols == real[table], table
