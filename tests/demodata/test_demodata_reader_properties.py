"""Property-based: whatever bytes, encodings, nesting or numbers an export holds, each reader
(CSV, JSON lines, Parquet) returns a table or raises an ImportFormatError naming the file —
never another exception, never a crash."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthmon.demodata.readers import DataFile, ImportFormatError, read_file
from healthmon.demodata.system_schema import system_tables

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# a flat table and one with a map and an array (nesting reaches the JSON parsers)
TABLES = {
    "system.access.workspaces_latest": ["account_id", "workspace_id", "workspace_name", "create_time", "status"],
    "system.lakeflow.jobs": ["workspace_id", "job_id", "change_time", "tags", "name"],
}
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252", "utf-32"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(1 << 80), max_value=1 << 80)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20)
numbers_as_text = st.one_of(st.integers().map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                            st.sampled_from(["1e400", "-0", "0E-18", "3.0", "١٢", "0x10", "1_000", "", " 7 "]))


def _read(path: Path, fmt: str, source: str) -> None:
    schema = system_tables()[source]
    paths = [(c,) for c in TABLES[source]]
    keys = frozenset(TABLES[source][:2])
    try:
        for table in read_file(DataFile(path, fmt), schema, paths, keys):
            assert isinstance(table, pa.Table)
    except ImportFormatError as exc:
        assert str(path) in str(exc)


@SETTINGS
@given(data=st.binary(max_size=600), source=st.sampled_from(sorted(TABLES)), fmt=st.sampled_from(["csv", "json", "parquet"]))
def test_random_bytes(tmp_path, data, source, fmt):
    f = tmp_path / f"x.{fmt}"
    f.write_bytes(data)
    _read(f, fmt, source)


@SETTINGS
@given(source=st.sampled_from(sorted(TABLES)), encoding=st.sampled_from(ENCODINGS),
       rows=st.lists(st.lists(st.one_of(st.text(max_size=10), numbers_as_text,
                                        json_values.map(lambda v: json.dumps(v))), min_size=0, max_size=7),
                     max_size=6),
       newline=st.sampled_from(["\n", "\r\n", "\r"]))
def test_csv_text_in_any_encoding(tmp_path, source, encoding, rows, newline):
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=newline)
    w.writerow(TABLES[source])
    w.writerows(rows)
    f = tmp_path / "x.csv"
    f.write_bytes(buf.getvalue().encode(encoding, errors="replace"))
    _read(f, "csv", source)


@SETTINGS
@given(source=st.sampled_from(sorted(TABLES)),
       rows=st.lists(st.dictionaries(st.sampled_from(["account_id", "workspace_id", "job_id", "workspace_name", "name",
                                                      "create_time", "change_time", "tags", "status", "other"]),
                                     json_values, max_size=8), max_size=6),
       depth=st.integers(min_value=0, max_value=3000))
def test_json_lines_values_nesting_and_numbers(tmp_path, source, rows, depth):
    lines = [json.dumps(r) for r in rows]  # NaN / Infinity as Python writes them
    if depth:
        lines.append('{"workspace_id": "1", "tags": ' + "[" * depth + "]" * depth + "}")
    f = tmp_path / "x.json"
    f.write_text("\n".join(lines) + "\n")
    _read(f, "json", source)


arrow_columns = st.sampled_from([
    pa.array(["a", None, "b"]), pa.array([1, 2, None], pa.int64()), pa.array([1.5, math.inf, math.nan]),
    pa.array(['{"a": "1"}', "[1, 2]", "not json"]), pa.array([[1], None, [2, 3]]),
    pa.array([{"x": 1}, None, {"x": 2}]), pa.array([True, False, None]),
    pa.array([1, 2, 3], pa.timestamp("ns")), pa.array([None, None, None], pa.null()),
    pa.array([[("k", "v")], [], None], pa.map_(pa.string(), pa.string())),
    pa.array([1 << 40, -(1 << 40), 0], pa.int64()), pa.array([b"\xff", b"", None], pa.binary()),
])


@SETTINGS
@given(source=st.sampled_from(sorted(TABLES)), picks=st.lists(arrow_columns, min_size=1, max_size=5))
def test_parquet_with_arbitrary_column_types(tmp_path, source, picks):
    names = TABLES[source]
    table = pa.table({names[i % len(names)] + ("" if i < len(names) else f"_{i}"): col for i, col in enumerate(picks)})
    f = tmp_path / "x.parquet"
    pq.write_table(table, f)
    _read(f, "parquet", source)


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_truncated_files(tmp_path, fmt):
    """A download cut short: every prefix of a valid file reads or fails cleanly."""
    src = "system.access.workspaces_latest"
    table = pa.table({"account_id": ["a"] * 50, "workspace_id": [str(i) for i in range(50)],
                      "workspace_name": ["w"] * 50, "create_time": ["2024-01-01T00:00:00Z"] * 50, "status": ["RUNNING"] * 50})
    f = tmp_path / f"full.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, f)
    elif fmt == "csv":
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, f)
    else:
        f.write_text("\n".join(json.dumps(r) for r in table.to_pylist()) + "\n")
    data = f.read_bytes()
    for cut in range(0, len(data), max(1, len(data) // 40)):
        part = tmp_path / f"cut.{fmt}"
        part.write_bytes(data[:cut])
        _read(part, fmt, src)
