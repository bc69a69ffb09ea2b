"""Vectorised CSV / JSON-lines reading equals the row reader, and falls back to it for the
forms only the row reader takes."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from healthmon.demodata import text_fast
from healthmon.demodata.exporter import export_gold
from healthmon.demodata.readers import data_files, read_text, read_text_rows
from healthmon.demodata.schemas import GOLD_TABLES
from healthmon.demodata.system_schema import SPEC_BY_SOURCE, column_paths, required_paths, system_tables
from healthmon.demodata.text_fast import Unsupported, read_text_fast

UTC = dt.timezone.utc
BIG = ("fact_usage", "fact_audit_logs", "fact_query_history", "fact_job_run_timeline", "fact_node_timeline",
       "dim_job", "dim_cluster", "dim_warehouse", "fact_list_prices", "fact_data_quality_monitoring_table_results")


def _args(source: str):
    spec = SPEC_BY_SOURCE[source]
    paths = required_paths(spec) + ([("pricing",)] if source == "system.billing.list_prices" else [])
    cols = column_paths(spec)
    keys = frozenset(cols[k][0] for k in GOLD_TABLES[spec.gold].primary_keys if k in cols)
    return system_tables()[source], paths, keys


@pytest.mark.parametrize("block", [None, 4096], ids=["one-block", "many-blocks"])
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_fast_reader_equals_row_reader_on_exports(generated, tmp_path, fmt, block, monkeypatch):
    if block:  # files of several blocks, read block by block (maps inferred per block)
        monkeypatch.setattr(text_fast, "BLOCK", block)
    gold = {n: generated["arrow"][n].slice(0, 400) for n in BIG}
    written = export_gold(gold, tmp_path, fmt)
    assert len(written) >= 9
    for source in written:
        schema, paths, keys = _args(source)
        f = data_files(tmp_path / source).files[0].path
        kind = "json" if fmt == "jsonl" else "csv"
        fast = read_text_fast(f, schema, paths, kind, keys)  # no fallback: raises if it cannot
        rows = read_text_rows(f, schema, paths, kind, keys)
        assert fast.num_rows == rows.num_rows > 0, source
        assert fast.equals(rows), source


def _workspaces(tmp_path, name: str, text: str):
    f = tmp_path / name
    f.write_text(text)
    schema, paths, keys = _args("system.access.workspaces_latest")
    kind = "csv" if name.endswith(".csv") else "json"
    return f, schema, paths, kind, keys


def test_loose_forms_fall_back_to_the_row_reader(tmp_path):
    # a naive timestamp in one row and a zoned one in another: only the row reader takes both
    args = _workspaces(tmp_path, "w.csv", "account_id,workspace_id,workspace_name,workspace_url,create_time,status\n"
                                          "a,1,n,u,2024-01-01 10:00:00,RUNNING\n"
                                          "a,2,n,u,2024-01-02T10:00:00Z,RUNNING\n")
    with pytest.raises((Unsupported, pa.ArrowException, ValueError)):
        read_text_fast(*args)
    got = read_text(*args)
    assert got.column("create_time").to_pylist() == [dt.datetime(2024, 1, 1, 10, tzinfo=UTC),
                                                     dt.datetime(2024, 1, 2, 10, tzinfo=UTC)]
    # epoch milliseconds in JSON (pandas' default to_json)
    args = _workspaces(tmp_path, "w.jsonl", '{"account_id": "a", "workspace_id": "1", "create_time": 1704103200000}\n')
    assert read_text(*args).column("create_time").to_pylist() == [dt.datetime(2024, 1, 1, 10, tzinfo=UTC)]


def test_fast_reader_handles_nulls_quotes_and_empty_maps(tmp_path):
    f = tmp_path / "jobs.csv"
    f.write_text('account_id,workspace_id,job_id,name,creator_id,run_as,change_time,delete_time,tags,description\n'
                 'a,1,7,"name, with comma",,,2026-01-01T00:00:00Z,,"{""team"": ""x""}","two\nlines"\n'
                 'a,1,8,plain,,,2026-01-02T00:00:00Z,,[],\n')
    schema = system_tables()["system.lakeflow.jobs"]
    paths = [(c,) for c in ("workspace_id", "job_id", "name", "creator_id", "change_time", "tags", "description")]
    fast = read_text_fast(f, schema, paths, "csv")
    assert fast.equals(read_text_rows(f, schema, paths, "csv"))
    assert fast.column("name").to_pylist() == ["name, with comma", "plain"]
    assert fast.column("creator_id").to_pylist() == [None, None]
    assert fast.column("tags").to_pylist() == [[("team", "x")], []]
    assert fast.column("description").to_pylist() == ["two\nlines", None]
