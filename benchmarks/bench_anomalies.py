"""``healthmon anomalies score`` benchmarks.

1. NAB (``benchmarks/nab.py``): F1, window recall and flag precision per corpus of the scorer
   with default parameters, next to a causal rolling z-score and the previous method (pooled
   Isolation Forest) measured in the same run; target F1 >= 0.65 per corpus. Skipped when the
   data set is absent (``$HEALTHMON_NAB_DIR``, default ``<repo>/../shared/datasets/nab-dev``).
   Also writes ``benchmarks/results/details/nab.json``.
2. Streaming: the CLI on a generated CSV of 1 M and 10 M rows (100 interleaved entities,
   5-minute points, ~33 bytes a row) in a temporary directory: wall time and peak RSS of the
   process; target peak RSS <= 1 GB at 10 M rows. Baseline: ``pandas.read_csv`` of the same file
   (what the previous command did before scoring).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import nab
from benchmarks.run import Result

ENTITIES = 100


def bench_nab() -> list[Result]:
    results = nab.run()
    if results is None:
        return [Result(name="NAB (nab-dev)", value=0.0, unit="",
                       notes=f"skipped: data set not found at {nab.data_dir()}")]
    nab.RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    ours = results["detectors"]["healthmon anomalies score"]
    out = []
    for corpus in nab.CORPORA:
        m = ours["corpora"][corpus]
        base_name, base = max(((n, r["corpora"][corpus]) for n, r in results["detectors"].items()
                               if n != "healthmon anomalies score"), key=lambda nr: nr[1]["f1"])
        out.append(Result(
            name=f"NAB {corpus} F1", value=m["f1"], unit="", baseline_name=base_name, baseline_value=base["f1"] or None,
            target=f">= {nab.TARGET_F1}", passed=m["f1"] >= nab.TARGET_F1,
            notes=f"recall {m['recall']:.2f}, precision {m['precision']:.2f} ({m['flags']} flags); "
                  + _two_fold_note(results, corpus)
                  + "; ".join(f"{n}: F1 {r['corpora'][corpus]['f1']:.2f} (recall {r['corpora'][corpus]['recall']:.2f}, "
                              f"precision {r['corpora'][corpus]['precision']:.2f})"
                              for n, r in results["detectors"].items() if n != "healthmon anomalies score"),
        ))
    return out


def _two_fold_note(results: dict, corpus: str) -> str:
    """The held-out (2-fold) F1 of the method and of the rolling z-score: the figures to trust."""
    folds = results.get("two_fold", {}).get("detectors", {})
    parts = [f"{name} 2-fold F1 {res['cross_fold'][corpus]['f1']:.2f}"
             for name, res in folds.items() if corpus in res["cross_fold"]]
    return "; ".join(parts) + "; " if parts else ""


def write_csv(path: Path, rows: int) -> None:
    """Interleaved entities, 5-minute points, a daily cycle and noise; a few spikes."""
    import numpy as np

    rng = np.random.default_rng(0)
    start = 1_704_067_200  # 2024-01-01
    block = 1_000_000
    with path.open("w") as f:
        f.write("timestamp,entity,value\n")
        for first in range(0, rows, block):
            n = min(block, rows - first)
            i = np.arange(first, first + n)
            step, ent = i // ENTITIES, i % ENTITIES
            t = start + 300 * step
            phase = (t % 86_400) / 86_400
            v = 100 + 30 * np.sin(2 * np.pi * phase) + rng.normal(0, 5, n)
            v[rng.random(n) < 1e-5] *= 5
            f.write("".join(f"{a},e{b},{c:.2f}\n" for a, b, c in zip(t.tolist(), ent.tolist(), v.tolist())))


def _measure(cmd: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MB) of a child process (it reports its own)."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])}…: exit {proc.returncode}: {proc.stderr[-500:]}")
    peak_kib = next(int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("PEAK_KIB "))
    cpu = next(float(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("CPU_S "))
    return wall, cpu, peak_kib / 1024


def bench_stream(quick: bool) -> list[Result]:
    sizes = [100_000] if quick else [1_000_000, 10_000_000]
    out = []
    with tempfile.TemporaryDirectory(prefix="bench-anomalies-") as tmp:
        for rows in sizes:
            src = Path(tmp) / f"series_{rows}.csv"
            write_csv(src, rows)
            size_mb = src.stat().st_size / 1e6
            # each measurement in its own process so ru_maxrss is that process's peak
            base_wall, base_cpu, base_rss = _measure([sys.executable, "-c", _RSS_WRAPPER, "pandas", str(src)])
            wall, cpu, rss = _measure([sys.executable, "-c", _RSS_WRAPPER, "cli", str(src)])
            out.append(Result(
                name=f"anomalies score, {rows:,} rows ({size_mb:.0f} MB): time", value=wall, unit="s",
                baseline_name="pandas.read_csv of the file", baseline_value=base_wall,
                notes=f"{rows / wall:,.0f} rows/s; {ENTITIES} interleaved entities; machine load average "
                      f"{os.getloadavg()[0]:.0f} on {os.cpu_count()} cores at the end",
            ))
            # on a shared machine wall time mostly measures the neighbours: CPU time is the method's cost
            out.append(Result(
                name=f"anomalies score, {rows:,} rows: CPU time", value=cpu, unit="s",
                baseline_name="pandas.read_csv of the file", baseline_value=base_cpu,
                notes=f"{rows / cpu:,.0f} rows per CPU second (user + system)",
            ))
            out.append(Result(
                name=f"anomalies score, {rows:,} rows: peak RSS", value=rss, unit="MB",
                baseline_name="pandas.read_csv of the file", baseline_value=base_rss,
                target="<= 1000 MB" if rows >= 10_000_000 else None,
                passed=(rss <= 1000) if rows >= 10_000_000 else None,
            ))
            src.unlink()
            for f in Path(tmp).glob("*_scored.csv"):
                f.unlink()
    return out


# Runs in a fresh interpreter and reports its own peak RSS (VmHWM, KiB; reset by exec, unlike
# ru_maxrss which keeps the forking parent's high-water mark) on stderr.
_RSS_WRAPPER = """
import sys
what, path = sys.argv[1], sys.argv[2]
code = 0
try:
    if what == "pandas":
        import pandas as pd
        pd.read_csv(path)
    else:
        from healthmon.cli.main import main
        sys.argv = ["healthmon", "anomalies", "score", "--input", path, "--time-column", "timestamp",
                    "--value-column", "value", "--entity-column", "entity"]
        main()
except SystemExit as exc:
    code = exc.code or 0
import os
peak = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print("PEAK_KIB", peak, file=sys.stderr)
print("CPU_S", sum(os.times()[:2]), file=sys.stderr)
sys.exit(code)
"""


def run(quick: bool) -> list[Result]:
    return bench_nab() + bench_stream(quick)


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(r)
