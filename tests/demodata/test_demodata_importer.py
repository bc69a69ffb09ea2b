"""Importer: round trip through the system-table layout, SCD/timeline reduction, malformed input."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from healthmon.demodata.exporter import export_gold, to_system_table, write_export
from healthmon.demodata.importer import import_system_tables
from healthmon.demodata.readers import canonical_maps
from healthmon.demodata.schemas import GOLD_TABLES, LABEL_TABLES
from healthmon.errors import HealthmonError
from healthmon.lakehouse.paths import TableName
from healthmon.settings import Settings

UTC = dt.timezone.utc


def _read(catalog: str, schema: str, table: str) -> pa.Table:
    path = TableName.parse(f"{catalog}.{schema}.{table}").path(Settings.from_env().lakehouse_root)
    return DeltaTable(str(path)).to_pyarrow_table()


def _exists(catalog: str, schema: str, table: str) -> bool:
    return (TableName.parse(f"{catalog}.{schema}.{table}").path(Settings.from_env().lakehouse_root) / "_delta_log").is_dir()


def _sorted(t: pa.Table, name: str) -> pa.Table:
    """By primary key, map entries in key order (the importer's canonical form)."""
    t = pa.table([canonical_maps(c) for c in t.columns], schema=t.schema)
    return t.sort_by([(k, "ascending") for k in GOLD_TABLES[name].primary_keys])


def _import(root, catalog, *args, **kw):
    """A partial export on purpose: every other table may be missing, earlier ones stay."""
    kw.setdefault("allow_missing", ["all"])
    kw.setdefault("keep_existing", True)
    return import_system_tables(root, catalog, *args, **kw)


def test_parquet_round_trip_rebuilds_the_same_gold_tables(generated, tmp_path):
    gold = generated["arrow"]
    written = export_gold(gold, tmp_path / "export", "parquet")
    assert "system.billing.usage" in written and (tmp_path / "export/system.billing.usage/part-00000.parquet").exists()
    result = _import(tmp_path / "export", "imp")
    compared = 0
    for name in GOLD_TABLES:
        if name in LABEL_TABLES or name == "fact_table_snapshots":
            continue
        got = _sorted(_read("imp", "gold", name), name)
        exp = _sorted(gold[name], name)
        assert got.schema == exp.schema, name
        differing = [c for c in exp.column_names if not got.column(c).equals(exp.column(c))]
        assert differing == [], name
        compared += 1
    assert compared == 13
    assert all(result.rows[name] == 0 for name in LABEL_TABLES)  # real data has no labels
    assert result.not_built == []
    assert result.rows["fact_table_snapshots"] == gold["fact_table_snapshots"].filter(
        pc.equal(gold["fact_table_snapshots"].column("snapshot_date"), pc.max(gold["fact_table_snapshots"].column("snapshot_date")))).num_rows


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_text_formats_round_trip(generated, tmp_path, fmt):
    gold = {n: generated["arrow"][n].slice(0, 150) for n in
            ("fact_usage", "fact_audit_logs", "fact_query_history", "fact_job_run_timeline", "dim_job",
             "dim_cluster", "fact_list_prices", "fact_data_quality_monitoring_table_results")}
    export_gold(gold, tmp_path / "export", fmt)
    _import(tmp_path / "export", "imp", fmt)
    for name, exp in gold.items():
        got = _read("imp", fmt, name)
        assert _sorted(got, name).equals(_sorted(exp, name)), name


def _usage_export(generated, tmp_path: Path) -> Path:
    src = to_system_table("system.billing.usage", generated["arrow"]["fact_usage"].slice(0, 200))
    root = tmp_path / "export"
    write_export(src, root / "system.billing.usage")
    return root


@pytest.fixture(params=["whole", "row by row"])
def batches(request, monkeypatch):
    """Default batches, or one row per batch and a reduction after each (the streamed path)."""
    if request.param == "row by row":
        monkeypatch.setattr("healthmon.demodata.readers.BATCH_ROWS", 1)
        monkeypatch.setattr("healthmon.demodata.importer.REDUCE_ROWS", 1)


def test_reduced_tables_streamed_in_small_batches_equal_the_originals(generated, tmp_path, monkeypatch):
    monkeypatch.setattr("healthmon.demodata.readers.BATCH_ROWS", 7)
    monkeypatch.setattr("healthmon.demodata.importer.REDUCE_ROWS", 5)
    names = ("fact_job_run_timeline", "fact_job_task_run_timeline", "dim_job", "dim_cluster", "dim_warehouse")
    gold = {n: generated["arrow"][n] for n in names}
    export_gold(gold, tmp_path / "export", "parquet")
    _import(tmp_path / "export", "imp")
    for name, exp in gold.items():
        assert exp.num_rows > 7 or not name.endswith("timeline"), name  # several batches
        assert _sorted(_read("imp", "gold", name), name).equals(_sorted(exp, name)), name


def test_timeline_slices_become_one_run_and_scd_keeps_latest(tmp_path, batches):
    t0 = dt.datetime(2026, 5, 1, 10, tzinfo=UTC)
    slice_row = dict(account_id="a", workspace_id="1", job_id="7", run_id="99", trigger_type="CRON", run_type="JOB_RUN",
                     run_name="r", compute_ids=["c"], job_parameters=None)
    rows = [dict(slice_row, period_start_time=t0, period_end_time=t0 + dt.timedelta(hours=1), result_state=None, termination_code=None),
            dict(slice_row, period_start_time=t0 + dt.timedelta(hours=1), period_end_time=t0 + dt.timedelta(hours=1, minutes=30),
                 result_state="FAILED", termination_code="RUN_EXECUTION_ERROR")]
    from healthmon.demodata.system_schema import system_tables

    runs = pa.Table.from_pylist(rows, schema=system_tables()["system.lakeflow.job_run_timeline"])
    write_export(runs, tmp_path / "x" / "system.lakeflow.job_run_timeline")
    jobs = pa.Table.from_pylist([
        dict(account_id="a", workspace_id="1", job_id="7", name="old_name", change_time=t0),
        dict(account_id="a", workspace_id="1", job_id="7", name="new_name", change_time=t0 + dt.timedelta(days=1)),
    ], schema=system_tables()["system.lakeflow.jobs"])
    write_export(jobs, tmp_path / "x" / "system.workflow.jobs")  # the old schema name is accepted too
    _import(tmp_path / "x", "imp")
    got = _read("imp", "gold", "fact_job_run_timeline").to_pylist()
    assert len(got) == 1
    assert got[0]["period_start_time"] == t0 and got[0]["result_state"] == "FAILED"
    assert got[0]["run_duration_seconds"] == 5400 and got[0]["run_date"] == dt.date(2026, 5, 1)
    assert _read("imp", "gold", "dim_job").column("name").to_pylist() == ["new_name"]


def test_list_price_joined_by_price_window(tmp_path):
    from healthmon.demodata.system_schema import system_tables

    t0 = dt.datetime(2026, 1, 1, tzinfo=UTC)
    change = dt.datetime(2026, 3, 1, tzinfo=UTC)
    prices = pa.Table.from_pylist([
        dict(sku_name="S", cloud="AWS", currency_code="USD", usage_unit="DBU", price_start_time=t0, price_end_time=change,
             pricing={"default": Decimal("0.5")}),
        dict(sku_name="S", cloud="AWS", currency_code="USD", usage_unit="DBU", price_start_time=change, price_end_time=None,
             pricing={"default": Decimal("0.75")}),
    ], schema=system_tables()["system.billing.list_prices"])
    usage = pa.Table.from_pylist([
        dict(record_id="r1", workspace_id="1", sku_name="S", cloud="AWS", usage_unit="DBU", usage_quantity=Decimal("2"),
             usage_start_time=dt.datetime(2026, 2, 1, tzinfo=UTC), custom_tags={"team": "x"}),
        dict(record_id="r2", workspace_id="1", sku_name="S", cloud="AWS", usage_unit="DBU", usage_quantity=Decimal("2"),
             usage_start_time=dt.datetime(2026, 4, 1, tzinfo=UTC), custom_tags={}),
        dict(record_id="r3", workspace_id="1", sku_name="OTHER", cloud="AWS", usage_unit="DBU", usage_quantity=Decimal("2"),
             usage_start_time=dt.datetime(2026, 4, 1, tzinfo=UTC), custom_tags=None),
    ], schema=system_tables()["system.billing.usage"])
    write_export(prices, tmp_path / "x" / "system.billing.list_prices")
    write_export(usage, tmp_path / "x" / "system.billing.usage", "jsonl")
    _import(tmp_path / "x", "imp")
    got = {r["record_id"]: r for r in _read("imp", "gold", "fact_usage").to_pylist()}
    assert float(got["r1"]["list_cost"]) == 1.0 and float(got["r2"]["list_cost"]) == 1.5
    assert got["r3"]["list_cost"] is None
    assert [got[k]["is_tagged"] for k in ("r1", "r2", "r3")] == [True, False, False]
    assert _read("imp", "gold", "dim_sku").column("sku_name").to_pylist() == ["S"]


def test_missing_column_names_file_and_column(generated, tmp_path):
    root = _usage_export(generated, tmp_path)
    f = root / "system.billing.usage" / "part-00000.parquet"
    pq.write_table(pq.read_table(f).drop_columns(["usage_quantity"]), f)
    with pytest.raises(HealthmonError) as err:
        _import(root, "imp")
    assert str(f) in str(err.value) and "usage_quantity" in str(err.value)


def test_mistyped_column_and_missing_struct_field(generated, tmp_path):
    root = _usage_export(generated, tmp_path)
    f = root / "system.billing.usage" / "part-00000.parquet"
    t = pq.read_table(f)
    t2 = t.set_column(t.schema.get_field_index("usage_start_time"), "usage_start_time",
                      pc.cast(t.column("usage_start_time"), pa.string()))
    pq.write_table(t2, f)
    with pytest.raises(HealthmonError, match=r"usage_start_time: expected timestamp, found string"):
        _import(root, "imp")
    meta = t.column("usage_metadata").combine_chunks()
    keep = [fl.name for fl in meta.type if fl.name != "job_id"]
    slim = pa.StructArray.from_arrays([meta.field(n) for n in keep], names=keep)
    pq.write_table(t.set_column(t.schema.get_field_index("usage_metadata"), "usage_metadata", slim), f)
    with pytest.raises(HealthmonError, match=r"usage_metadata\.job_id"):
        _import(root, "imp")


def test_text_errors_name_the_line(tmp_path):
    folder = tmp_path / "x" / "system.access.workspaces_latest"
    folder.mkdir(parents=True)
    (folder / "w.csv").write_text("account_id,workspace_id,workspace_name,workspace_url,create_time,status,extra\n"
                                  "a,1,ws,https://x,2024-01-01T00:00:00Z,RUNNING,ignored\n"
                                  "a,2,ws2,https://y,not-a-time,RUNNING,ignored\n")
    with pytest.raises(HealthmonError) as err:
        _import(tmp_path / "x", "imp")
    assert f"{folder / 'w.csv'}:3:1" in str(err.value) and "create_time" in str(err.value)
    (folder / "w.csv").unlink()
    (folder / "w.jsonl").write_text('{"account_id": "a", "workspace_id": "1"}\n{broken\n')
    with pytest.raises(HealthmonError, match=r"w\.jsonl:2:2: invalid JSON"):
        _import(tmp_path / "x", "imp")
    # JSON omits nulls (Spark does): absent keys are NULL, but the key column must be there
    (folder / "w.jsonl").write_text('{"account_id": "a", "workspace_id": "1", "status": "RUNNING"}\n')
    _import(tmp_path / "x", "imp")
    assert _read("imp", "gold", "dim_workspace").to_pylist()[0]["workspace_name"] is None
    (folder / "w.jsonl").write_text('{"account_id": "a", "status": "RUNNING"}\n')
    with pytest.raises(HealthmonError, match=r"w\.jsonl: missing column workspace_id"):
        _import(tmp_path / "x", "imp")


def test_extra_columns_and_unknown_folders_are_ignored(generated, tmp_path):
    root = _usage_export(generated, tmp_path)
    f = root / "system.billing.usage" / "part-00000.parquet"
    t = pq.read_table(f)
    pq.write_table(t.append_column("some_future_column", pa.array(["x"] * t.num_rows)), f)
    (root / "system.marketplace.listing_access_events").mkdir()
    result = _import(root, "imp")
    assert result.rows["fact_usage"] == 200
    assert result.ignored == ["system.marketplace.listing_access_events/"]


def test_nothing_partial_is_written(generated, tmp_path):
    root = _usage_export(generated, tmp_path)
    write_export(to_system_table("system.access.audit", generated["arrow"]["fact_audit_logs"].slice(0, 50)),
                 root / "system.access.audit")
    _import(root, "imp")
    before = {n: _read("imp", "gold", n).num_rows for n in ("fact_usage", "fact_audit_logs")}
    # a second export: audit is fine and bigger, usage is broken → nothing changes
    write_export(to_system_table("system.access.audit", generated["arrow"]["fact_audit_logs"].slice(0, 80)),
                 root / "system.access.audit")
    f = root / "system.billing.usage" / "part-00000.parquet"
    pq.write_table(pq.read_table(f).drop_columns(["record_id"]), f)
    with pytest.raises(HealthmonError, match="record_id"):
        _import(root, "imp")
    assert {n: _read("imp", "gold", n).num_rows for n in before} == before
    with pytest.raises(HealthmonError):
        _import(root, "fresh")
    assert not any(_exists("fresh", "gold", n) for n in GOLD_TABLES)
    staging = list(Path(Settings.from_env().lakehouse_root).rglob(".staging-*"))
    assert staging == []


def test_empty_or_missing_folder_is_an_error(tmp_path):
    with pytest.raises(HealthmonError, match="not a directory"):
        _import(tmp_path / "nope", "imp")
    (tmp_path / "empty").mkdir()
    with pytest.raises(HealthmonError, match="no system-table exports found"):
        _import(tmp_path / "empty", "imp")


def test_information_schema_snapshot(tmp_path):
    from healthmon.demodata.system_schema import system_tables

    # partial rows (only what the snapshot reads), so relax the catalog's NOT NULL flags
    st = {k: pa.schema([f.with_nullable(True) for f in v]) for k, v in system_tables().items()}
    now = dt.datetime(2026, 6, 1, tzinfo=UTC)
    base = dict(table_catalog="main", table_schema="sales", table_type="MANAGED", is_insertable_into="YES",
                commit_action="PRESERVE", table_owner="o@x.com", created=now, created_by="o@x.com", last_altered=now,
                last_altered_by="o@x.com", data_source_format="DELTA")
    tables = pa.Table.from_pylist([dict(base, table_name="orders"), dict(base, table_name="customers"),
                                   dict(base, table_schema="information_schema", table_name="columns")], schema=st["system.information_schema.tables"])
    cols = pa.Table.from_pylist([dict(table_catalog="main", table_schema="sales", table_name="orders", column_name=c,
                                      ordinal_position=i, full_data_type="string") for i, c in enumerate(["id", "amount", "ts"])],
                                schema=st["system.information_schema.columns"])
    cons = pa.Table.from_pylist([dict(table_catalog="main", table_schema="sales", table_name="orders",
                                      constraint_type="PRIMARY KEY")], schema=st["system.information_schema.table_constraints"])
    for name, t in [("tables", tables), ("columns", cols), ("table_constraints", cons)]:
        write_export(t, tmp_path / "x" / f"system.information_schema.{name}")
    _import(tmp_path / "x", "imp", snapshot_date=dt.date(2026, 6, 1))
    rows = {r["table_name"]: r for r in _read("imp", "gold", "fact_table_snapshots").to_pylist()}
    assert set(rows) == {"orders", "customers"}
    assert rows["orders"]["column_count"] == 3 and rows["orders"]["has_primary_key"] is True
    assert rows["customers"]["has_primary_key"] is False and rows["customers"]["column_count"] is None
    # the next day's snapshot keeps history and diffs the column count
    cols2 = pa.concat_tables([cols, pa.Table.from_pylist([dict(table_catalog="main", table_schema="sales", table_name="orders",
                                                               column_name="note", ordinal_position=3, full_data_type="string")],
                                                         schema=st["system.information_schema.columns"])])
    write_export(cols2, tmp_path / "x" / "system.information_schema.columns")
    _import(tmp_path / "x", "imp", snapshot_date=dt.date(2026, 6, 2))
    snap = _read("imp", "gold", "fact_table_snapshots").to_pylist()
    assert len(snap) == 4
    day2 = [r for r in snap if r["table_name"] == "orders" and r["snapshot_date"] == dt.date(2026, 6, 2)][0]
    assert day2["columns_added"] == 1 and day2["columns_removed"] == 0


def test_cli_reports_errors_without_traceback(tmp_path, healthmon_home):
    exe = Path(sys.executable).parent / "healthmon"
    proc = subprocess.run([str(exe), "import", "system-tables", "--from", str(tmp_path / "missing"), "--catalog", "c"],
                          capture_output=True, text=True, env=dict(os.environ))
    assert proc.returncode == 1
    assert "Error:" in proc.stderr and "not a directory" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_generate_json_output(tmp_path):
    exe = Path(sys.executable).parent / "healthmon"
    proc = subprocess.run([str(exe), "demo-data", "generate", "--catalog", "cli", "--workspaces", "1", "--days", "14",
                           "--seed", "3", "-o", "json"], capture_output=True, text=True, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["rows"]["fact_usage"] > 0 and set(out["rows"]) == set(GOLD_TABLES)
    assert _read("cli", "gold", "fact_usage").num_rows == out["rows"]["fact_usage"]


def test_cli_export_then_import(tmp_path):
    from healthmon.demodata import generate

    generate("src", workspaces=1, days=14, seed=2)
    exe = Path(sys.executable).parent / "healthmon"
    proc = subprocess.run([str(exe), "demo-data", "export-system-tables", "--catalog", "src", "--to", str(tmp_path / "exp"),
                           "--format", "jsonl"], capture_output=True, text=True, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "exp" / "system.lakeflow.job_run_timeline" / "part-00000.jsonl").exists()
    result = _import(tmp_path / "exp", "dst")
    assert result.rows["fact_job_run_timeline"] == _read("src", "gold", "fact_job_run_timeline").num_rows


def test_spark_style_parquet_types_are_accepted(tmp_path):
    """Spark writes naive or nanosecond timestamps, int32 where the catalog says bigint and
    ``list<item>``; compatible types are cast to the real ones."""
    folder = tmp_path / "x" / "system.lakeflow.job_run_timeline"
    folder.mkdir(parents=True)
    t = pa.table({
        "account_id": ["a"], "workspace_id": ["1"], "job_id": ["7"], "run_id": ["5"],
        "period_start_time": pa.array([dt.datetime(2026, 1, 1, 12)], pa.timestamp("ns")),
        "period_end_time": pa.array([dt.datetime(2026, 1, 1, 12, 10)], pa.timestamp("ns")),
        "trigger_type": ["CRON"], "result_state": ["SUCCEEDED"], "run_type": ["JOB_RUN"], "run_name": ["r"],
        "compute_ids": pa.array([["c1"]], pa.list_(pa.field("item", pa.string()))),
        "termination_code": ["SUCCESS"],
    })
    pq.write_table(t, folder / "part-0.parquet")
    _import(tmp_path / "x", "imp")
    row = _read("imp", "gold", "fact_job_run_timeline").to_pylist()[0]
    assert row["period_start_time"] == dt.datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert row["run_duration_seconds"] == 600 and row["compute_ids"] == ["c1"]
