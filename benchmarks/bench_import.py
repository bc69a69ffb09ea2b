"""``healthmon import system-tables``: time of the medium account's CSV export and peak memory of a
large Parquet export.

1. Medium account (20 ws × 90 d, every system table the importer reads) exported as CSV, the
   way the SQL editor downloads it; the import (discovery, parsing, gold derivations, Delta
   write of every table) in a fresh process. Target ≤ 30 s on 2 cores. Baseline in the same
   run: ``pyarrow.csv.read_csv`` of the same files with every column as text — the parse
   alone, no conversion, no write.
   The machine's load average is reported beside the wall time (it is shared).
2. Two large-scale slices (20 ws × 14 and 28 days) exported as Parquet; the import's peak RSS
   at 28 days against the peak at 14 days, both in the same run: twice the data should need
   (nearly) the same memory, since the import streams batch by batch and reduces the SCD and
   timeline tables as it goes. The data's Arrow size (what reading it whole would hold) is in
   the notes.
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

from benchmarks.run import Result

TARGET_S = 30.0
BOUNDED = 1.25  # peak at twice the data / peak at the data: "does not grow with the rows"

# Peak RSS from /proc's VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork + exec, so a
# child would report the benchmark process's own peak (it reads the data whole for the baseline).
IMPORT_CODE = """\
import json, resource, sys, time
from healthmon.demodata.importer import import_system_tables
t = time.perf_counter()
result = import_system_tables(sys.argv[1], "imported")
use = resource.getrusage(resource.RUSAGE_SELF)
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"rows": sum(result.rows.values()), "seconds": time.perf_counter() - t,
                  "cpu_s": use.ru_utime + use.ru_stime, "rss_kb": hwm}))
"""


def _python(code: str, home: Path, *args: str) -> dict:
    env = dict(os.environ, HEALTHMON_HOME=str(home))
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"benchmark step failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _generate_and_export(home: Path, out: Path, fmt: str, **kw) -> int:
    code = ("import json, sys\n"
            "from healthmon.demodata import generate\n"
            "from healthmon.demodata.exporter import export_catalog\n"
            f"rows = generate('bench', **{kw!r})\n"
            f"export_catalog('bench', 'gold', sys.argv[1], {fmt!r})\n"
            "print(json.dumps({'rows': sum(rows.values())}))\n")
    return _python(code, home, str(out))["rows"]


def _csv_parse_baseline(export: Path) -> float:
    import pyarrow.csv as pcsv

    started = time.perf_counter()
    for f in sorted(export.rglob("*.csv")):
        with f.open("rb") as fh:
            names = fh.readline().decode("utf-8").strip().split(",")
        pcsv.read_csv(f, parse_options=pcsv.ParseOptions(newlines_in_values=True),
                      convert_options=pcsv.ConvertOptions(column_types={n: "string" for n in names}))
    return time.perf_counter() - started


def _arrow_bytes(export: Path) -> int:
    """In-memory Arrow size of the export's data: what reading every table whole would hold
    (measured file by file, so this process never holds it all)."""
    import pyarrow.parquet as pq

    return sum(pq.read_table(f).nbytes for f in export.rglob("*.parquet"))


def run(quick: bool) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_import_") as tmp:
        tmp = Path(tmp)
        kw = dict(workspaces=5, days=30, scale="medium") if quick else dict(workspaces=20, days=90, scale="medium")
        export = tmp / "csv"
        _generate_and_export(tmp / "gen-medium", export, "csv", **kw)
        size_mb = sum(f.stat().st_size for f in export.rglob("*.csv")) / 1e6
        load_before = os.getloadavg()[0]
        imp = _python(IMPORT_CODE, tmp / "imp-csv", str(export))
        load = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (1 min)"
        base = _csv_parse_baseline(export)
        results.append(Result(
            name=f"import CSV export, medium {kw['workspaces']} ws × {kw['days']} d", value=imp["seconds"], unit="s",
            baseline_name="pyarrow.csv.read_csv of the same files, all text", baseline_value=base,
            target=f"<= {TARGET_S:.0f} s", passed=imp["seconds"] <= TARGET_S,
            notes=f"{size_mb:,.0f} MB of CSV → {imp['rows']:,} gold rows in 15 tables, Delta write included; "
                  f"CPU {imp['cpu_s']:.1f} s (user + system, imports included); "
                  f"peak RSS {imp['rss_kb'] / 2**20:.2f} GiB; {load}."))
        for done in (tmp / "gen-medium", tmp / "imp-csv", export):  # disk: the large slices come next
            shutil.rmtree(done, ignore_errors=True)

        # large: two slices, the second twice as long; streaming keeps the peak (nearly) flat
        peaks = {}
        for days in ((14, 20) if quick else (14, 28)):  # the generator's minimum period is 14 days
            export = tmp / f"parquet-{days}"
            _generate_and_export(tmp / "gen-large", export, "parquet", workspaces=20, days=days, scale="large")
            shutil.rmtree(tmp / "gen-large", ignore_errors=True)
            data_gib = _arrow_bytes(export) / 2**30
            imp = _python(IMPORT_CODE, tmp / f"imp-large-{days}", str(export))
            shutil.rmtree(tmp / f"imp-large-{days}", ignore_errors=True)
            shutil.rmtree(export, ignore_errors=True)
            peaks[days] = (imp["rss_kb"] / 2**20, data_gib, imp)
        (short, (rss_s, data_s, imp_s)), (long, (rss_l, data_l, imp)) = sorted(peaks.items())
        results.append(Result(
            name=f"import Parquet export, large 20 ws × {long} d: peak memory", value=rss_l, unit="GiB",
            baseline_name=f"peak importing the {short} d slice", baseline_value=rss_s,
            target=f"<= {BOUNDED}× the {short} d peak", passed=rss_l <= BOUNDED * rss_s,
            notes=f"{long} d: {imp['rows']:,} gold rows in {imp['seconds']:.1f} s, CPU {imp['cpu_s']:.1f} s, "
                  f"{data_l:.2f} GiB of data in Arrow; {short} d: {imp_s['rows']:,} rows, {data_s:.2f} GiB "
                  f"(data ×{data_l / data_s:.2f}, peak ×{rss_l / rss_s:.2f}). Peak RSS of the importing process."))
    return results
