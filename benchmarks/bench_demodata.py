"""Demo-data generation throughput (rows/s, generation + Delta write), against a baseline of
raw numpy random generation + Parquet write of the same row count, measured in the same run.

Also checks the ``large`` scale's promises on a slice of it: projected fact rows for the
default 20 workspaces × 180 days (≥ 50M) and peak memory (< 4 GiB), in a subprocess so the
peak RSS is the generator's own; and the importer's throughput (informational) on round-trip
exports of the generated data: Parquet of the medium account, JSON lines of a small one
(against the row-by-row text reader on the same files).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.run import Result

TARGET = 1_000_000


def _baseline(rows: int, tmp: Path) -> float:
    """numpy random columns (ids, times, numbers, a low-cardinality string) → one Parquet file."""
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    done = 0
    while done < rows:
        n = min(2_000_000, rows - done)
        t = pa.table({
            "id": rng.integers(0, 2**62, n),
            "ts": pa.array(rng.integers(1.7e15, 1.8e15, n)).cast(pa.timestamp("us", tz="UTC")),
            "a": rng.random(n), "b": rng.lognormal(0, 1, n), "c": rng.integers(0, 10**6, n),
            "d": rng.random(n) < 0.1,
            "s": pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 50, n).astype(np.int32)),
                                                pa.array([f"value-{i}" for i in range(50)])),
        })
        pq.write_table(t, tmp / f"baseline-{done}.parquet")
        done += n
    return rows / (time.perf_counter() - started)


def _generate(home: Path, **kw) -> tuple[int, float]:
    env = dict(os.environ, HEALTHMON_HOME=str(home))
    code = ("import json, time, resource\n"
            "from healthmon.demodata import generate\n"
            f"kw = {kw!r}\n"
            "t = time.perf_counter(); rows = generate('bench', **kw); el = time.perf_counter() - t\n"
            # the SQL/audit domains run in a child process: its peak counts too (sum = upper bound)
            "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
            "print(json.dumps({'rows': rows, 'seconds': el, 'rss_kb': rss}))\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


IMPORT_CODE = """\
import json, sys, time
from healthmon.demodata import readers
from healthmon.demodata.importer import import_system_tables
src, fmt, rows_reader = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
if rows_reader:
    readers.read_text = readers.read_text_rows
t = time.perf_counter()
result = import_system_tables(src, "imported", fmt)
print(json.dumps({"rows": sum(result.rows.values()), "seconds": time.perf_counter() - t}))
"""


def _export(home: Path, catalog: str, out: Path, fmt: str) -> None:
    """The generated gold tables → system-table exports (the importer's input layout)."""
    from deltalake import DeltaTable

    from healthmon.demodata.exporter import export_gold
    from healthmon.demodata.schemas import GOLD_TABLES
    from healthmon.lakehouse.paths import TableName

    root = home / "lakehouse"
    gold = {n: DeltaTable(str(TableName.parse(f"{catalog}.gold.{n}").path(root))).to_pyarrow_table() for n in GOLD_TABLES}
    export_gold(gold, out, fmt)


def _import(home: Path, src: Path, fmt: str, rows_reader: bool = False) -> dict:
    env = dict(os.environ, HEALTHMON_HOME=str(home))
    out = subprocess.run([sys.executable, "-c", IMPORT_CODE, str(src), fmt, "1" if rows_reader else "0"],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _importer_results(tmp: Path, medium_home: Path, quick: bool) -> list[Result]:
    results = []
    _export(medium_home, "bench", tmp / "export-parquet", "parquet")
    imp = _import(tmp / "imp-parquet", tmp / "export-parquet", "parquet")
    results.append(Result(
        name="importer: Parquet round trip of the medium account", value=imp["rows"] / imp["seconds"], unit="rows/s",
        notes=f"{imp['rows']:,} gold rows built and written in {imp['seconds']:.1f} s (informational)."))
    kw = dict(workspaces=1, days=30, scale="small") if quick else dict(workspaces=3, days=60, scale="small")
    _generate(tmp / "small", **kw)
    _export(tmp / "small", "bench", tmp / "export-jsonl", "jsonl")
    fast = _import(tmp / "imp-jsonl", tmp / "export-jsonl", "jsonl")
    rows = _import(tmp / "imp-jsonl-rows", tmp / "export-jsonl", "jsonl", rows_reader=True)
    results.append(Result(
        name=f"importer: JSON-lines round trip, small {kw['workspaces']} ws × {kw['days']} d", value=fast["rows"] / fast["seconds"],
        unit="rows/s", baseline_name="row-by-row text reader, same files", baseline_value=rows["rows"] / rows["seconds"],
        notes=f"{fast['rows']:,} gold rows in {fast['seconds']:.1f} s (row reader: {rows['seconds']:.1f} s); informational."))
    return results


def run(quick: bool) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_demodata_") as tmp:
        tmp = Path(tmp)
        kw = dict(workspaces=5, days=30, scale="medium") if quick else dict(workspaces=20, days=90, scale="medium")
        gen = _generate(tmp / "medium", **kw)
        rows = sum(gen["rows"].values())
        rate = rows / gen["seconds"]
        base = _baseline(rows, tmp)
        results.append(Result(
            name=f"generate + Delta write, medium {kw['workspaces']} ws × {kw['days']} d ({rows:,} rows)",
            value=rate, unit="rows/s", baseline_name="numpy random + Parquet write, same rows",
            baseline_value=base, target=">= 1,000,000 rows/s", passed=rate >= TARGET,
            notes=f"{gen['seconds']:.1f} s; {len(gen['rows'])} tables, 24–48 columns per fact table (baseline: 7 columns)."))
        # large: a 14–24-day slice (3–4 batches) → projected rows and peak memory
        days = 14 if quick else 24
        large = _generate(tmp / "large", workspaces=20, days=days, scale="large")
        fact = sum(v for k, v in large["rows"].items() if k.startswith("fact_"))
        projected = fact / days * 180
        results.append(Result(
            name="large: projected fact rows, 20 ws × 180 d", value=projected / 1e6, unit="M rows",
            target=">= 50 M", passed=projected >= 50e6,
            notes=f"measured {fact:,} fact rows for {days} days at {sum(large['rows'].values()) / large['seconds']:,.0f} rows/s."))
        rss_gib = large["rss_kb"] / 2**20
        results.append(Result(
            name="large: peak memory (batches of 6 days)", value=rss_gib, unit="GiB", target="< 4 GiB",
            passed=rss_gib < 4.0, notes="peak RSS of the generating process + peak RSS of its SQL/audit child process "
                                         "(it does not grow with the number of days)."))
        shutil.rmtree(tmp / "large", ignore_errors=True)
        results.extend(_importer_results(tmp, tmp / "medium", quick))
    return results
