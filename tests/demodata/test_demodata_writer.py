"""The fast write path: Parquet files committed in one Delta transaction per table, with true
statistics, readable by deltalake, DuckDB and the lakehouse; generation pieces identical when
the SQL and audit domains run on a second thread."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from healthmon.demodata import arrowgen as ag
from healthmon.demodata.generator import iter_batches
from healthmon.demodata.schemas import GOLD_TABLES
from healthmon.demodata.writer import TableSetWriter, column_compression, stats_columns

UTC = dt.timezone.utc


def _log(table: DeltaTable) -> list[list[dict]]:
    """Each commit's actions, oldest first."""
    from pathlib import Path

    log = Path(table.table_uri.removeprefix("file://")) / "_delta_log"
    return [[json.loads(line) for line in p.read_text().splitlines()] for p in sorted(log.glob("*.json"))]


def test_one_write_transaction_per_table_with_every_file(generated):
    for name in ("fact_usage", "fact_audit_logs", "dim_job"):
        dt_ = generated["delta"][name]
        commits = _log(dt_)
        assert len(commits) == 2, name  # create (schema, comment, keys), then one write with all files
        assert not any("add" in a for a in commits[0])
        adds = [a["add"] for a in commits[1] if "add" in a]
        assert len(adds) == len(dt_.file_uris()) >= 1
        assert sum(json.loads(a["stats"])["numRecords"] for a in adds) == generated["rows"][name]


def test_delta_stats_are_true_bounds_and_null_counts(generated):
    dt_ = generated["delta"]["fact_usage"]
    adds = [a["add"] for a in _log(dt_)[1] if "add" in a]
    root = dt_.table_uri.removeprefix("file://")
    cols = stats_columns(GOLD_TABLES["fact_usage"].schema)
    assert {"workspace_id", "usage_date", "usage_start_time", "sku_name"} <= set(cols)
    assert "record_id" not in cols and "usage_quantity" not in cols  # random ids / metrics: no bounds
    for add in adds:
        stats = json.loads(add["stats"])
        data = pq.read_table(f"{root}/{add['path']}")
        assert stats["numRecords"] == data.num_rows
        for c in cols:
            mm = pc.min_max(data.column(c))
            lo, hi = mm["min"].as_py(), mm["max"].as_py()
            if isinstance(lo, dt.datetime):
                smin = dt.datetime.fromisoformat(stats["minValues"][c].replace("Z", "+00:00"))
                smax = dt.datetime.fromisoformat(stats["maxValues"][c].replace("Z", "+00:00"))
                assert smin <= lo and hi <= smax and (hi - smax) < dt.timedelta(milliseconds=1), c
            else:
                assert str(stats["minValues"][c]) == str(lo) and str(stats["maxValues"][c]) == str(hi), c
        for c in data.column_names:
            if not pa.types.is_struct(data.schema.field(c).type):
                assert stats["nullCount"][c] == data.column(c).null_count, c


def test_other_readers_see_the_same_rows(generated):
    dt_ = generated["delta"]["fact_query_history"]
    expected = generated["arrow"]["fact_query_history"]
    files = [u.removeprefix("file://") for u in dt_.file_uris()]
    con = duckdb.connect()
    n, total = con.execute(f"SELECT count(*), sum(read_bytes) FROM read_parquet({files!r})").fetchone()
    assert n == expected.num_rows and total == pc.sum(expected.column("read_bytes")).as_py()
    # strings come back as plain strings (no Arrow dictionary types in the files)
    assert pq.read_schema(files[0]).field("statement_text").type == pa.string()
    # pruning on the Delta stats keeps every matching row
    day = expected.column("end_time")[expected.num_rows // 2].as_py()
    kept = dt_.to_pyarrow_dataset().to_table(filter=pc.field("end_time") >= pa.scalar(day, pa.timestamp("us", tz="UTC")))
    assert kept.num_rows == pc.sum(pc.greater_equal(expected.column("end_time"), pa.scalar(day, pa.timestamp("us", tz="UTC")))).as_py()


def test_lakehouse_sql_reads_generated_tables(generated):
    from healthmon.lakehouse.core import Lakehouse

    lh = Lakehouse(generated["root"])
    row = lh.sql("SELECT count(*) AS n, count(DISTINCT workspace_id) AS w FROM demo.gold.fact_usage").to_pylist()[0]
    assert row["n"] == generated["rows"]["fact_usage"] and row["w"] == generated["gen"]["workspaces"]


def test_file_order_follows_part_numbers_not_thread_timing(tmp_path):
    gold = GOLD_TABLES["dim_sku"]
    batches = [pa.table({"sku_name": [f"S{i}"], "cloud": ["AWS"], "usage_unit": ["DBU"]}, schema=gold.schema) for i in range(4)]
    with TableSetWriter(tmp_path, "c", "s") as w:
        for part in (3, 1, 0, 2):  # written out of order, as writer threads may
            w.append(gold, batches[part], part)
        assert w.commit() == {"dim_sku": 4}
    got = DeltaTable(str(w.final_path("dim_sku"))).to_pyarrow_table()
    assert got.column("sku_name").to_pylist() == ["S0", "S1", "S2", "S3"]


def test_dictionary_with_null_value_and_failed_batch(tmp_path):
    gold = GOLD_TABLES["dim_sku"]
    n = 5
    cloud = ag.take(["A", None, "B"], [0, 1, 2, 1, 0])  # a pool with None: NULL rows
    t = ag.table(gold, n, {"sku_name": ag.int_strings(range(n)), "cloud": cloud, "usage_unit": ag.const("DBU", n)})
    with TableSetWriter(tmp_path, "c", "s") as w:
        w.append(gold, t)
        w.commit()
    assert DeltaTable(str(w.final_path("dim_sku"))).to_pyarrow_table().column("cloud").to_pylist() == ["A", None, "B", None, "A"]
    w2 = TableSetWriter(tmp_path, "c", "s")
    with pytest.raises(ValueError, match="does not match"):
        with w2:
            w2.append(gold, pa.table({"x": [1]}))
    assert not list(tmp_path.rglob(".staging-*"))
    assert DeltaTable(str(w.final_path("dim_sku"))).to_pyarrow_table().num_rows == n  # untouched


def test_compression_only_where_it_pays():
    n = 50_000
    import numpy as np

    rng = np.random.default_rng(0)
    t = pa.table({"id": ag.hex_ids(rng, n), "status": pa.array(np.repeat(["SUCCEEDED", "FAILED"], n // 2)),
                  "code": pa.array(rng.integers(0, 3, n)), "pool": ag.take(["a", "b"], rng.integers(0, 2, n))})
    codecs = column_compression(t)
    assert codecs["id"] == "NONE"  # random hex: snappy saves nothing
    assert codecs["status"] == codecs["code"] == codecs["pool"] == "snappy"


def test_parallel_generation_yields_identical_pieces():
    kw = dict(workspaces=2, days=21, seed=9, scale="medium")
    serial = [(n, ag.decode(t)) for n, t in iter_batches(**kw)]
    parallel = [(n, ag.decode(t)) for n, t in iter_batches(**kw, parallel=True)]
    assert [n for n, _ in serial] == [n for n, _ in parallel]
    for (name, a), (_, b) in zip(serial, parallel):
        assert a.equals(b), name


def test_written_tables_equal_generator_output_row_for_row(tmp_path, monkeypatch):
    """Pieces cut into several files, written by two threads in any order, read back in
    generation order."""
    from healthmon.demodata import generator
    from healthmon.lakehouse.paths import TableName

    monkeypatch.setattr(generator, "FILE_ROWS", 2000)
    monkeypatch.setenv("HEALTHMON_HOME", str(tmp_path))
    kw = dict(workspaces=2, days=21, seed=13, scale="small")
    rows = generator.generate("exact", **kw)
    expected: dict[str, list[pa.Table]] = {}
    for name, t in iter_batches(**kw):
        expected.setdefault(name, []).append(ag.decode(t))
    split = 0
    for name, gold in GOLD_TABLES.items():
        table = DeltaTable(str(TableName.parse(f"exact.gold.{name}").path(tmp_path / "lakehouse")))
        got = table.to_pyarrow_table()
        exp = pa.concat_tables(expected[name]).cast(gold.schema)
        assert got.num_rows == rows[name] and got.equals(exp), name
        split += len(table.file_uris()) > len(expected[name])
    assert split >= 2  # the test did cut pieces into several files


def test_child_process_failure_is_raised_and_nothing_is_written(tmp_path, monkeypatch):
    from healthmon.demodata import generator

    kw = dict(workspaces=1, days=14, seed=3, scale="small", end_date=None)
    remote = generator._Remote(kw, {n: str(tmp_path / "missing" / n) for n in generator.REMOTE_TABLES}, None)
    try:
        assert "qty" in remote.usage(0)  # the batch's warehouse usage arrives before its files are written
        with pytest.raises(RuntimeError, match="SQL/audit generator process failed(.|\n)*missing"):
            remote.finish()
    finally:
        remote.close()
    # through generate(): the child writes query files, then fails on audit → nothing is left
    monkeypatch.setenv("HEALTHMON_HOME", str(tmp_path / "home"))
    real = TableSetWriter.staging_dir

    def audit_elsewhere(self, gold):
        return real(self, gold) if gold.name != "fact_audit_logs" else tmp_path / "missing" / "audit"
    monkeypatch.setattr(TableSetWriter, "staging_dir", audit_elsewhere)
    with pytest.raises(RuntimeError, match="SQL/audit generator process failed"):
        generator.generate("broken", workspaces=1, days=14, seed=3)
    assert not list((tmp_path / "home").rglob("*.parquet"))
    assert not list((tmp_path / "home").rglob("_delta_log"))
