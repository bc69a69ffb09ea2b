"""Exports the way people really write them: each shape is generated here from the session's small
account (no binary fixtures) and imported; the expected layouts and markers are Spark's and
Databricks' documented ones (hive partition folders ``col=value`` with
``__HIVE_DEFAULT_PARTITION__`` for NULL, DBIO ``_started_<txn>``/``_committed_<txn>`` markers
whose JSON lists the ``added`` part files, ``_SUCCESS``, ``.crc`` checksum files)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from healthmon.demodata.discovery import table_name
from healthmon.demodata.exporter import export_gold, to_system_table, write_export
from healthmon.demodata.importer import IncompleteExportError, import_system_tables
from healthmon.demodata.readers import canonical_maps
from healthmon.errors import HealthmonError, InvalidParameterError
from healthmon.lakehouse.paths import TableName
from healthmon.settings import Settings

HM = [sys.executable, "-m", "healthmon.cli.main"]


def _path(catalog: str, table: str, schema: str = "gold") -> Path:
    return TableName.parse(f"{catalog}.{schema}.{table}").path(Settings.from_env().lakehouse_root)


def _read(catalog: str, table: str, schema: str = "gold") -> pa.Table:
    return DeltaTable(str(_path(catalog, table, schema))).to_pyarrow_table()


def _import_fails(root: Path, expect: str) -> None:
    """``healthmon import`` of ``root`` through the CLI exits 1 with an error matching ``expect``,
    no traceback and no internal error."""
    proc = subprocess.run(HM + ["import", "system-tables", "--from", str(root), "--catalog", "c",
                                "--allow-missing", "all"], capture_output=True, text=True, env=dict(os.environ),
                          timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    assert re.search(expect, proc.stderr), proc.stderr


def _import(root, catalog, **kw):
    kw.setdefault("allow_missing", ["all"])
    return import_system_tables(root, catalog, **kw)


def _system(generated, gold: str, source: str, rows: int | None = None) -> pa.Table:
    t = generated["arrow"][gold]
    return to_system_table(source, t if rows is None else t.slice(0, rows))


def _usage(generated, rows: int = 120) -> pa.Table:
    return _system(generated, "fact_usage", "system.billing.usage", rows)


# ---------------------------------------------------------------- discovery


@pytest.mark.parametrize("name", ["system.billing.usage", "billing.usage", "usage", "billing_usage",
                                  "System.Billing.Usage", "system_billing_usage", "billing-usage"])
def test_table_folder_names_people_write(generated, tmp_path, name):
    write_export(_usage(generated), tmp_path / "export" / name)
    result = _import(tmp_path / "export", "imp")
    assert result.rows["fact_usage"] == 120
    line = next(t for t in result.tables if t.table == "fact_usage")
    assert line.found == f"{name}/" and line.files == 1 and line.status == "CREATED"


def test_flat_files_and_wrapper_folders(generated, tmp_path):
    root = tmp_path / "export"
    wrapped = root / "healthmon_export" / "2026-06-01"
    wrapped.mkdir(parents=True)
    write_export(_usage(generated), tmp_path / "tmp", "csv").rename(wrapped / "system.billing.usage.csv")
    # a recursive copy's extra level inside the table folder
    write_export(_system(generated, "fact_audit_logs", "system.access.audit", 50), root / "audit" / "audit", "jsonl")
    (root / "notes.txt").write_text("not data")
    (root / "query-result.csv").write_text("a,b\n1,2\n")
    result = _import(root, "imp")
    assert result.rows["fact_usage"] == 120 and result.rows["fact_audit_logs"] == 50
    assert result.ignored == ["query-result.csv"]
    assert table_name("job_run_timeline") == "system.lakeflow.job_run_timeline"
    assert table_name("workflow.jobs") == "system.lakeflow.jobs"


def test_two_exports_of_one_table_are_an_error(generated, tmp_path):
    write_export(_usage(generated), tmp_path / "x" / "usage")
    write_export(_usage(generated), tmp_path / "x" / "billing_usage")
    with pytest.raises(HealthmonError, match=r"two exports of system\.billing\.usage: billing_usage/ and usage/"):
        _import(tmp_path / "x", "imp")


def test_missing_tables_fail_unless_allowed(generated, tmp_path):
    write_export(_usage(generated), tmp_path / "x" / "usage")
    with pytest.raises(IncompleteExportError) as err:
        import_system_tables(tmp_path / "x", "imp")
    assert "system.access.audit" in str(err.value) and "--allow-missing" in str(err.value)
    statuses = {t.table: t.status for t in err.value.report}
    assert statuses["fact_usage"] == "CREATED" and statuses["fact_audit_logs"] == "MISSING"
    assert not _path("imp", "fact_usage").exists()  # nothing written
    with pytest.raises(InvalidParameterError, match="not a system table"):
        import_system_tables(tmp_path / "x", "imp", allow_missing=["billing.nonsense"])
    # the CLI: summary table, non-zero exit, no traceback
    proc = subprocess.run(HM + ["import", "system-tables", "--from", str(tmp_path / "x"), "--catalog", "imp"],
                          capture_output=True, text=True, env=dict(os.environ))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "MISSING" in proc.stdout and "fact_audit_logs" in proc.stdout and "--allow-missing" in proc.stderr


def test_reimport_replaces_or_explicitly_keeps_each_table(generated, tmp_path):
    first = tmp_path / "first"
    write_export(_usage(generated), first / "usage")
    write_export(_system(generated, "fact_audit_logs", "system.access.audit", 40), first / "audit")
    _import(first, "imp")
    second = tmp_path / "second"
    write_export(_system(generated, "fact_audit_logs", "system.access.audit", 30), second / "audit")
    with pytest.raises(IncompleteExportError, match="has fact_usage, dim_sku from an earlier import") as err:
        _import(second, "imp")
    assert {t.table: t.status for t in err.value.report}["fact_usage"] == "EXISTS"
    kept = _import(second, "imp", keep_existing=True)
    status = {t.table: (t.status, t.rows) for t in kept.tables}
    assert status["fact_usage"] == ("KEPT", None) and status["fact_audit_logs"] == ("REPLACED", 30)
    assert _read("imp", "fact_usage").num_rows == 120
    dropped = _import(second, "imp", keep_existing=False)
    assert {t.table: t.status for t in dropped.tables}["fact_usage"] == "DROPPED"
    assert not _path("imp", "fact_usage").exists() and _read("imp", "fact_audit_logs").num_rows == 30


def test_dry_run_lists_and_checks_without_writing(generated, tmp_path):
    write_export(_usage(generated), tmp_path / "x" / "usage")
    result = _import(tmp_path / "x", "imp", dry_run=True)
    line = next(t for t in result.tables if t.table == "fact_usage")
    assert (line.status, line.rows, line.files) == ("WOULD CREATE", 120, 1)
    assert not (Settings.from_env().lakehouse_root / "imp").exists() or not any(
        (Settings.from_env().lakehouse_root / "imp").rglob("_delta_log"))
    proc = subprocess.run(HM + ["import", "system-tables", "--from", str(tmp_path / "x"), "--catalog", "imp",
                                "--allow-missing", "all", "--dry-run"], capture_output=True, text=True, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert "Dry run" in proc.stdout and "WOULD CREATE" in proc.stdout and "usage/" in proc.stdout


# ---------------------------------------------------------------- Spark's output


def test_hive_partitions_become_typed_columns(generated, tmp_path):
    audit = _system(generated, "fact_audit_logs", "system.access.audit", 300)
    folder = tmp_path / "x" / "system.access.audit"
    days = sorted(set(audit.column("event_date").to_pylist()))
    for day in days:
        part = audit.filter(pc.equal(audit.column("event_date"), pa.scalar(day, pa.date32())))
        d = folder / f"event_date={day.isoformat()}"
        d.mkdir(parents=True)
        pq.write_table(part.drop_columns(["event_date"]), d / "part-00000-abc.c000.snappy.parquet")
        (d / ".part-00000-abc.c000.snappy.parquet.crc").write_bytes(b"\x00crc")
    (folder / "_SUCCESS").write_text("")
    _import(tmp_path / "x", "imp")
    got = _read("imp", "fact_audit_logs").sort_by("event_id")
    exp = audit.sort_by("event_id")
    assert got.column("event_date").type == pa.date32()
    assert got.column("event_date").to_pylist() == exp.column("event_date").to_pylist()
    assert got.num_rows == 300


def test_partition_values_are_unescaped_and_null(generated, tmp_path):
    """Spark escapes ':' in folder names and writes NULL as __HIVE_DEFAULT_PARTITION__."""
    runs = _system(generated, "fact_job_run_timeline", "system.lakeflow.job_run_timeline", 2)
    folder = tmp_path / "x" / "job_run_timeline"
    first = runs.slice(0, 1)
    stamp = first.column("period_start_time")[0].as_py()
    d1 = folder / f"period_start_time={stamp.strftime('%Y-%m-%d %H%%3A%M%%3A%S')}"
    d2 = folder / "period_start_time=__HIVE_DEFAULT_PARTITION__"
    for d, t in ((d1, first), (d2, runs.slice(1, 1))):
        d.mkdir(parents=True)
        pq.write_table(t.drop_columns(["period_start_time"]), d / "part-0.parquet")
    _import(tmp_path / "x", "imp")
    got = {r["run_id"]: r for r in _read("imp", "fact_job_run_timeline").to_pylist()}
    assert got[first.column("run_id")[0].as_py()]["period_start_time"] == stamp.replace(microsecond=0)


def test_commit_markers_are_honoured(generated, tmp_path):
    usage = _usage(generated, 100)
    folder = tmp_path / "x" / "system.billing.usage"
    folder.mkdir(parents=True)
    good = "part-00000-tid-4242-aaaa-1-c000.snappy.parquet"
    leftover = "part-00001-tid-4242-bbbb-1-c000.snappy.parquet"  # a failed task's attempt
    pq.write_table(usage, folder / good)
    pq.write_table(usage.slice(0, 10), folder / leftover)
    (folder / "_started_4242").write_text("")
    (folder / "_committed_4242").write_text(json.dumps({"added": [good], "removed": []}))
    (folder / "_SUCCESS").write_text("")
    # an empty table: Spark wrote only _SUCCESS
    (tmp_path / "x" / "system.compute.warehouses").mkdir()
    (tmp_path / "x" / "system.compute.warehouses" / "_SUCCESS").write_text("")
    result = _import(tmp_path / "x", "imp")
    assert result.rows["fact_usage"] == 100 and result.rows["dim_warehouse"] == 0
    line = next(t for t in result.tables if t.table == "fact_usage")
    assert "1 uncommitted part file(s) skipped" in line.note and line.files == 1
    # a transaction that never committed contributes nothing
    (folder / "_committed_4242").unlink()
    pq.write_table(usage, folder / "part-00000-0000.parquet")
    (folder / good).unlink()
    assert _import(tmp_path / "x", "imp2").rows["fact_usage"] == 100


# ---------------------------------------------------------------- gzip-compressed text (Spark's compression=gzip)


def _gzip(plain: Path, target: Path) -> Path:
    """``plain`` compressed with the gzip format (RFC 1952) to ``target``; ``plain`` removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    return target


def _same_import(tmp_path, plain_root: Path, gz_root: Path, table: str) -> pa.Table:
    """Import both exports; the gzip one must give exactly the plain one's gold table."""
    _import(plain_root, "plain")
    _import(gz_root, "gz")
    plain, packed = _read("plain", table), _read("gz", table)
    assert packed.num_rows == plain.num_rows > 0
    assert packed.equals(plain)
    return packed


def test_gzip_csv_part_files_in_a_spark_folder(generated, tmp_path):
    """df.write.partitionBy("event_date").option("compression", "gzip").csv(...): hive folders of
    ``part-…-c000.csv.gz`` files, commit markers, _SUCCESS and .crc files."""
    audit = _system(generated, "fact_audit_logs", "system.access.audit", 300)
    plain = tmp_path / "plain" / "system.access.audit"
    packed = tmp_path / "gz" / "system.access.audit"
    days = sorted(set(audit.column("event_date").to_pylist()))
    for i, day in enumerate(days):
        part = audit.filter(pc.equal(audit.column("event_date"), pa.scalar(day, pa.date32())))
        sub = f"event_date={day.isoformat()}"
        write_export(part.drop_columns(["event_date"]), plain / sub, "csv")
        name = f"part-{i:05d}-tid-4242-0f8fad5b-d9cb-469f-a165-70867728950e-{i}-c000.csv.gz"
        csv_text = write_export(part.drop_columns(["event_date"]), tmp_path / "tmp" / sub, "csv")
        _gzip(csv_text, packed / sub / name)
        (packed / sub / f".{name}.crc").write_bytes(b"\x00crc")
        (packed / sub / "_started_4242").write_text("")
        (packed / sub / "_committed_4242").write_text(json.dumps({"added": [name], "removed": []}))
    # a failed task's attempt of the same transaction, never committed
    first = packed / f"event_date={days[0].isoformat()}"
    leftover = write_export(audit.slice(0, 5).drop_columns(["event_date"]), tmp_path / "tmp2", "csv")
    _gzip(leftover, first / "part-00099-tid-4242-aaaa-1-c000.csv.gz")
    (packed / "_SUCCESS").write_text("")
    got = _same_import(tmp_path, tmp_path / "plain", tmp_path / "gz", "fact_audit_logs")
    assert got.num_rows == 300 and got.column("event_date").type == pa.date32()
    result = _import(tmp_path / "gz", "gz2")
    line = next(t for t in result.tables if t.table == "fact_audit_logs")
    assert line.files == len(days) and "1 uncommitted part file(s) skipped" in line.note


def test_gzip_json_lines_part_file(generated, tmp_path):
    """df.write.option("compression", "gzip").json(...): JSON lines in ``part-….json.gz``."""
    usage = _usage(generated)
    write_export(usage, tmp_path / "plain" / "system.billing.usage", "jsonl")
    text = write_export(usage, tmp_path / "tmp", "jsonl")
    _gzip(text, tmp_path / "gz" / "system.billing.usage" / "part-00000-0f8fad5b-d9cb-469f-a165-70867728950e-c000.json.gz")
    (tmp_path / "gz" / "system.billing.usage" / "_SUCCESS").write_text("")
    assert _same_import(tmp_path, tmp_path / "plain", tmp_path / "gz", "fact_usage").num_rows == 120


def test_hand_gzipped_flat_files_are_named_by_their_file(generated, tmp_path):
    """``gzip usage.csv`` by hand: a flat ``*.csv.gz`` / ``*.jsonl.gz`` is a table named by its file."""
    usage = _usage(generated)
    audit = _system(generated, "fact_audit_logs", "system.access.audit", 50)
    plain, packed = tmp_path / "plain", tmp_path / "gz" / "2026-06-01"
    plain.mkdir()
    write_export(usage, tmp_path / "t1", "csv").rename(plain / "system.billing.usage.csv")
    write_export(audit, tmp_path / "t2", "jsonl").rename(plain / "audit.jsonl")
    _gzip(write_export(usage, tmp_path / "t3", "csv"), packed / "system.billing.usage.csv.gz")
    _gzip(write_export(audit, tmp_path / "t4", "jsonl"), packed / "Audit.JSONL.GZ")
    (packed / "notes.txt.gz").write_bytes(gzip.compress(b"not data"))
    _same_import(tmp_path, plain, tmp_path / "gz", "fact_usage")
    result = _import(tmp_path / "gz", "gz2")
    found = {t.table: t.found for t in result.tables}
    assert found["fact_usage"] == "2026-06-01/system.billing.usage.csv.gz"
    assert found["fact_audit_logs"] == "2026-06-01/Audit.JSONL.GZ"
    assert result.rows["fact_audit_logs"] == 50


@pytest.mark.parametrize("case", ["not_gzip", "truncated", "corrupt", "bad_value", "gzipped_parquet"])
def test_bad_gzip_files_end_in_a_located_error(tmp_path, case):
    folder = tmp_path / "x" / "system.access.workspaces_latest"
    folder.mkdir(parents=True)
    text = ("account_id,workspace_id,workspace_name,workspace_url,create_time,status\n"
            + "".join(f"a,{i},w{i},u,2024-01-01T00:00:00Z,RUNNING\n" for i in range(2000)))
    packed = gzip.compress(text.encode())
    f = folder / "part-00000-c000.csv.gz"
    if case == "not_gzip":
        f.write_bytes(text.encode())  # named .gz, never compressed
        expect = r"part-00000-c000\.csv\.gz: not a gzip file"
    elif case == "truncated":
        f.write_bytes(packed[: len(packed) // 2])  # an interrupted download
        expect = r"part-00000-c000\.csv\.gz: compressed data ends early"
    elif case == "corrupt":
        f.write_bytes(packed[:-8] + b"\x00\x00\x00\x00" + packed[-4:])  # wrong CRC-32 in the trailer
        expect = r"part-00000-c000\.csv\.gz: corrupt gzip data"
    elif case == "gzipped_parquet":  # Parquet compresses inside the file; a .parquet.gz is refused, not skipped
        f = folder / "part-00000-c000.snappy.parquet.gz"
        f.write_bytes(gzip.compress(b"PAR1"))
        expect = r"part-00000-c000\.snappy\.parquet\.gz: a gzip-compressed parquet file is not read"
    else:  # lines and columns are counted in the decompressed text
        f.write_bytes(gzip.compress(text.replace("a,7,w7,u,2024-01-01T00:00:00Z", "a,7,w7,u,yesterday")
                                    .encode()))
        expect = r"part-00000-c000\.csv\.gz:9:\d+: .*create_time.*yesterday"
    _import_fails(tmp_path / "x", expect)


def test_complex_columns_as_json_text_in_parquet_and_arrow(generated, tmp_path):
    """pandas / the SQL connector give structs and maps as JSON strings."""
    usage = _usage(generated)
    as_text = usage
    for col in ("custom_tags", "usage_metadata", "identity_metadata"):
        values = [None if v is None else json.dumps(dict(v) if isinstance(v, list) else v, default=str)
                  for v in usage.column(col).to_pylist()]
        as_text = as_text.set_column(as_text.schema.get_field_index(col), col, pa.array(values, pa.string()))
    (tmp_path / "x" / "usage").mkdir(parents=True)
    pq.write_table(as_text, tmp_path / "x" / "usage" / "part-0.parquet")
    feather.write_feather(_system(generated, "fact_audit_logs", "system.access.audit", 40), tmp_path / "x" / "audit.feather")
    with pa.ipc.new_stream(tmp_path / "x" / "system.query.history.arrow",
                           _system(generated, "fact_query_history", "system.query.history").schema) as w:
        w.write_table(_system(generated, "fact_query_history", "system.query.history", 25))
    _import(tmp_path / "x", "imp")
    got = _read("imp", "fact_usage").sort_by("record_id")
    exp = generated["arrow"]["fact_usage"].slice(0, 120).sort_by("record_id")
    for col in ("custom_tags", "usage_metadata_job_id", "identity_metadata_run_as", "is_tagged"):
        assert got.column(col).equals(canonical_maps(exp.column(col))), col
    assert _read("imp", "fact_audit_logs").num_rows == 40 and _read("imp", "fact_query_history").num_rows == 25


def test_byte_order_mark_and_utf16(generated, tmp_path):
    csv_file = write_export(_usage(generated), tmp_path / "tmp", "csv")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "usage.csv").write_bytes(b"\xef\xbb\xbf" + csv_file.read_bytes())
    assert _import(tmp_path / "x", "imp").rows["fact_usage"] == 120
    (tmp_path / "x" / "usage.csv").write_bytes(csv_file.read_text(encoding="utf-8").encode("utf-16"))
    assert _import(tmp_path / "x", "imp2").rows["fact_usage"] == 120


def test_pandas_json_array_of_records(tmp_path):
    """pandas' to_json(orient="records") without lines=True: one array of objects."""
    folder = tmp_path / "x"
    folder.mkdir()
    rows = [{"account_id": "a", "workspace_id": str(i), "workspace_name": f"w{i}", "create_time": "2024-01-01T00:00:00Z",
             "status": "RUNNING"} for i in range(3)]
    (folder / "workspaces_latest.json").write_text(json.dumps(rows, indent=1))
    assert _import(folder, "imp").rows["dim_workspace"] == 3


def test_epoch_dates_get_a_clear_error(generated, tmp_path):
    """pandas' to_json writes dates as epoch milliseconds: refused with file, line, column,
    value and what is expected."""
    usage = tmp_path / "y" / "usage"
    usage.mkdir(parents=True)
    row = {k: v for k, v in _usage(generated, 1).to_pylist()[0].items()}
    row.update(usage_date=1704067200000, usage_start_time=str(row["usage_start_time"]),
               usage_end_time=str(row["usage_end_time"]), ingestion_date=None, usage_quantity=str(row["usage_quantity"]),
               custom_tags=dict(row["custom_tags"] or []))
    (usage / "u.json").write_text(json.dumps(row, default=str) + "\n")
    with pytest.raises(HealthmonError) as err:
        _import(tmp_path / "y", "imp2")
    msg = str(err.value)
    assert "u.json:1:1" in msg and "column usage_date" in msg and "1704067200000" in msg
    assert "expected date" in msg and "epoch milliseconds" in msg


@pytest.mark.parametrize("name, text", [
    ("w.json", '{"account_id": "a", "workspace_id": "1", "workspace_name": "w", "create_time": "1704103200000"}\n'),
    ("w.csv", "account_id,workspace_id,workspace_name,workspace_url,create_time,status\na,1,w,u,1704103200000,RUNNING\n"),
])
def test_digits_in_text_are_no_timestamp_in_either_text_format(tmp_path, name, text):
    """A JSON number is pandas' epoch milliseconds (read as such); the same digits written as text
    are no writer's timestamp format, and are refused the same way in JSON and CSV, with the fix."""
    folder = tmp_path / "x" / "workspaces_latest"
    folder.mkdir(parents=True)
    (folder / name).write_text(text)
    with pytest.raises(HealthmonError) as err:
        _import(tmp_path / "x", "imp")
    msg = str(err.value)
    line = 2 if name.endswith(".csv") else 1
    assert f"{name}:{line}:" in msg and "create_time" in msg and "1704103200000" in msg, msg
    assert "not a timestamp" in msg and "ISO 8601" in msg, msg


# ---------------------------------------------------------------- bad bytes never reach a traceback


@pytest.mark.parametrize("case", ["latin1", "binary", "crlf_stray", "deep_json"])
def test_malformed_files_end_in_a_located_error(tmp_path, case):
    folder = tmp_path / "x" / "system.access.workspaces_latest"
    folder.mkdir(parents=True)
    header = "account_id,workspace_id,workspace_name,workspace_url,create_time,status\r\n"
    if case == "latin1":
        (folder / "w.csv").write_bytes((header + "a,1,Café,u,2024-01-01T00:00:00Z,RUNNING\r\n").encode("latin-1"))
        expect = r"w\.csv:2:\d+: not UTF-8 text"
    elif case == "binary":
        (folder / "w.csv").write_bytes(bytes(range(256)) * 8)
        expect = r"w\.csv:\d+:\d+: not UTF-8"
    elif case == "crlf_stray":
        (folder / "w.csv").write_text(header + "a,1,w,u,2024-01-01T00:00:00Z,RUNNING\rstray\r\n", newline="")
        expect = r"w\.csv:3:1: 1 field\(s\) where the header has 6"
    else:
        (folder / "w.json").write_text('{"account_id": "a", "workspace_id": "1", "workspace_name": '
                                       + "[" * 100_000 + "]" * 100_000 + "}\n")
        expect = r"w\.json:1:1: JSON nested too deeply"
    _import_fails(tmp_path / "x", expect)


# ---------------------------------------------------------------- determinism


def _data_files_bytes(catalog: str, table: str) -> list[str]:
    """Hashes of a table's data files in Delta log order."""
    log = sorted((_path(catalog, table) / "_delta_log").glob("*.json"))
    adds = [json.loads(line)["add"]["path"] for f in log for line in f.read_text().splitlines() if '"add"' in line]
    assert adds
    return [hashlib.sha256((_path(catalog, table) / a).read_bytes()).hexdigest() for a in adds]


def test_same_files_give_byte_identical_tables(generated, tmp_path):
    gold = {n: generated["arrow"][n].slice(0, 2000) for n in
            ("fact_usage", "fact_audit_logs", "dim_job", "fact_job_run_timeline", "fact_list_prices")}
    export_gold(gold, tmp_path / "x", "jsonl")
    _import(tmp_path / "x", "one")
    _import(tmp_path / "x", "two")
    for name in ("fact_usage", "fact_audit_logs", "dim_job", "fact_job_run_timeline", "dim_sku"):
        assert _data_files_bytes("one", name) == _data_files_bytes("two", name), name
    tags = _read("one", "fact_usage").column("custom_tags").to_pylist()
    assert all([k for k, _ in m] == sorted(k for k, _ in m) for m in tags if m)


def test_map_entries_in_key_order_whatever_the_source_order(tmp_path):
    lines = ['{"account_id":"a","workspace_id":"1","job_id":"%d","change_time":"2026-01-01T00:00:00Z","tags":%s}'
             % (i, t) for i, t in enumerate(['{"b":"1","a":"2"}', '{"a":"3","c":"4","b":"5"}', '{}'])]
    folder = tmp_path / "x" / "jobs"
    folder.mkdir(parents=True)
    (folder / "j.json").write_text("\n".join(lines) + "\n")
    _import(tmp_path / "x", "imp")
    tags = {r["job_id"]: r["tags"] for r in _read("imp", "dim_job").to_pylist()}
    assert tags == {"0": [("a", "2"), ("b", "1")], "1": [("a", "3"), ("b", "5"), ("c", "4")], "2": []}


# ---------------------------------------------------------------- killed writers


def test_staging_of_a_killed_generate_is_removed_on_the_next_write(tmp_path):
    import signal
    import time

    from healthmon.demodata.writer import TableSetWriter

    root = Settings.from_env().lakehouse_root
    proc = subprocess.Popen(HM + ["demo-data", "generate", "--catalog", "k", "--workspaces", "4", "--days", "120",
                                  "--scale", "medium"], env=dict(os.environ), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(root.glob("k/gold/.staging-*/*.parquet")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    leftovers = list(root.glob("k/gold/.staging-*"))
    assert leftovers, "the generator was killed before it staged anything"
    live = root / "k" / "gold" / f".staging-other-p{os.getpid()}s1h00000000r0"  # another host: never touched
    live.mkdir()
    TableSetWriter(root, "k", "gold")
    assert list(root.glob("k/gold/.staging-*")) == [live]


def test_only_provably_dead_writers_are_swept(tmp_path):
    from healthmon.demodata.writer import _host, _start_time, owner_token, sweep_dead_writers

    schema_dir = tmp_path / "lake" / "cat" / "gold"
    schema_dir.mkdir(parents=True)
    exited = subprocess.Popen(["true"])
    exited.wait()
    me, started = os.getpid(), _start_time(os.getpid())
    dead = schema_dir / f".staging-fact_usage-p{exited.pid}s1h{_host()}r1"
    reused = schema_dir / f".staging-fact_usage-p{me}s{started + 1}h{_host()}r2"  # my pid, another start: reused
    alive = schema_dir / f".staging-fact_usage-{owner_token()}"
    unnamed = schema_dir / ".staging-fact_usage-0123456789ab"  # older form: owner unknown
    moved_aside = schema_dir / f".replaced-dim_job-p{exited.pid}s1h{_host()}r3"  # cut between the two renames
    for d in (dead, reused, alive, unnamed, moved_aside):
        d.mkdir()
    (moved_aside / "_delta_log").mkdir()
    assert sorted(sweep_dead_writers(tmp_path / "lake")) == sorted([dead, reused])
    assert sorted(p.name for p in schema_dir.iterdir()) == sorted([alive.name, unnamed.name, "dim_job"])
    assert (schema_dir / "dim_job" / "_delta_log").is_dir()


def test_duplicate_keys_across_part_files_are_an_error(generated, tmp_path):
    """Without commit markers every part file counts: a copied part doubles rows, and the
    streamed key check (across files) refuses it."""
    folder = tmp_path / "x" / "usage"
    folder.mkdir(parents=True)
    pq.write_table(_usage(generated, 50), folder / "part-0.parquet")
    pq.write_table(_usage(generated, 50).slice(40), folder / "part-1.parquet")
    with pytest.raises(HealthmonError, match=r"system\.billing\.usage: 10 duplicate key\(s\) \(record_id\)"):
        _import(tmp_path / "x", "imp")


@pytest.mark.parametrize("case", ["dangling_link_in_folder", "pipe_in_folder", "dangling_link_as_table",
                                  "pipe_as_table"])
def test_entries_that_are_not_regular_files_are_named_not_read(tmp_path, case):
    # Reading a pipe would block and a dangling link has no rows: both are refused by name.
    root = tmp_path / "x"
    root.mkdir()
    name = "system.access.workspaces_latest"
    if case.endswith("in_folder"):
        (root / name).mkdir()
        bad = root / name / "w.csv"
    else:
        bad = root / f"{name}.csv"
    if case.startswith("dangling"):
        bad.symlink_to(tmp_path / "gone.csv")
    else:
        os.mkfifo(bad)
    _import_fails(root, rf"(w|{re.escape(name)})\.csv: not a regular file")
