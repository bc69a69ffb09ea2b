"""The feature pipeline on the large demo account: DuckDB, Spark ``local[*]`` and a Spark
standalone cluster (one master, two workers, started with pyspark's own daemon script), on the
same gold data in one run.

Each engine builds the five feature tables in a child process of its own (into its own feature
schema), while this process samples the resident memory of that child and everything under it
(the driver JVM; for the cluster also the master, the workers and their executors). Then the
three results are compared row for row (floats to 1e-9 relative).

The gold data (``--scale large``, 20 workspaces × ``HEALTHMON_BENCH_SPARK_DAYS`` days, default
155: ≥ 50 M fact rows) is generated once into ``benchmarks/.work/spark`` (or
``HEALTHMON_BENCH_SPARK_HOME``) and reused while its marker file is there. ``--quick``: small
scale, 3 workspaces × 30 days. Each engine's measurement is saved as ``run-<engine>.json``
there; ``HEALTHMON_BENCH_SPARK_ENGINES=duckdb,spark_local`` measures only those and reports the
others from their saved runs (``python -m benchmarks.bench_spark _measure ENGINE`` measures one).
Wall time moves with the load of a shared machine, so the CPU time of every process of a run
(driver, JVMs, executors) is reported too.

    python -m benchmarks.run spark
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.run import Result

ROOT = Path(__file__).resolve().parent
CATALOG = "bench"
GOLD = "gold"
ENGINES = ("duckdb", "spark_local", "spark_cluster")


def _gold(home: Path, quick: bool) -> tuple[int, float | None]:
    """Generate the account once; return (fact rows, generation seconds or None if reused)."""
    marker = home / ("gold-quick.json" if quick else "gold-large.json")
    if marker.exists():
        return json.loads(marker.read_text())["fact_rows"], None
    days = 30 if quick else int(os.environ.get("HEALTHMON_BENCH_SPARK_DAYS", "155"))
    args = ["--scale", "small", "--workspaces", "3", "--days", str(days)] if quick else \
        ["--scale", "large", "--workspaces", "20", "--days", str(days)]
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "healthmon.cli.main", "demo-data", "generate", "--catalog", CATALOG,
         "--schema", GOLD, "-o", "json", *args],
        env={**os.environ, "HEALTHMON_HOME": str(home)}, check=True, capture_output=True, text=True,
    )
    seconds = time.perf_counter() - started
    rows = json.loads(out.stdout.strip().splitlines()[-1])["rows"]
    fact_rows = sum(n for t, n in rows.items() if t.startswith("fact_"))
    marker.write_text(json.dumps({"fact_rows": fact_rows, "rows": rows, "seconds": seconds}))
    return fact_rows, seconds


def _sample_tree(pids: list[int], cpu: dict[int, float]) -> int:
    """Sum of RSS over the process trees of ``pids``; records each process's CPU seconds in ``cpu``
    (the last value seen per pid, so processes that exit still count)."""
    import psutil

    total = 0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for p in procs:
            try:
                with p.oneshot():
                    total += p.memory_info().rss
                    t = p.cpu_times()
                    cpu[p.pid] = t.user + t.system
            except psutil.NoSuchProcess:
                pass
    return total


def _build(home: Path, engine: str, env: dict[str, str], extra_pids: list[int]) -> dict:
    """Build the feature tables in a child process; return its report with wall seconds, CPU
    seconds and peak RSS of the sampled process trees, also saved as ``run-<engine>.json``."""
    # No statement timeout unless one is set: the interactive default (600 s) would cut a large
    # query on a busy machine, and the benchmark measures the build, however long it takes.
    child_env = {"HEALTHMON_SQL_TIMEOUT": "0", **os.environ, **env, "HEALTHMON_HOME": str(home),
                 "HEALTHMON_ENGINE": "duckdb" if engine == "duckdb" else "spark"}
    cpu: dict[int, float] = {}
    cpu_before = dict.fromkeys(extra_pids, 0.0)
    _sample_tree(extra_pids, cpu_before)  # daemons' CPU before the build is not the build's
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_spark", "_build", engine],
        env=child_env, stdout=subprocess.PIPE, text=True, cwd=ROOT.parent,
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _sample_tree([proc.pid, *extra_pids], cpu))
            done.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{engine} feature build failed (exit {proc.returncode})")
    run = json.loads(out.strip().splitlines()[-1])
    run.update({
        "wall_s": round(seconds, 1), "peak_rss": peak,
        "cpu_s": round(sum(cpu.values()) - sum(cpu_before.values()), 1),
        "load_avg": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    })
    (home / f"run-{engine}.json").write_text(json.dumps(run, indent=1))
    return run


def _measure(home: Path, engine: str) -> dict:
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {list(ENGINES)}")
    if engine == "duckdb":
        return _build(home, engine, {}, [])
    if engine == "spark_local":
        return _build(home, engine, {"HEALTHMON_SPARK_MASTER": "local[*]"}, [])
    from healthmon.lakehouse.spark_cluster import LocalCluster

    memory = os.environ.get("HEALTHMON_BENCH_SPARK_WORKER_MEMORY", "3g")
    with LocalCluster(home / "cluster", workers=2, cores=1, memory=memory, executor_memory=memory) as cluster:
        return _build(home, engine, cluster.engine_env(), cluster.pids())


def _child_build(engine: str) -> None:
    """In the child: build every feature table into schema ``features_<engine>`` and report."""
    import resource

    from healthmon.lakehouse import Lakehouse
    from healthmon.lakehouse.feature_store import FeatureEngineeringClient
    from healthmon.ml.features import FEATURE_TABLES, compute_feature_table
    from healthmon.ml.features.pipeline import write_feature_table

    lh = Lakehouse.from_env()
    fe = FeatureEngineeringClient(lakehouse=lh)
    schema = f"features_{engine}"
    lh.create_schema(f"{CATALOG}.{schema}")
    tables = {}
    for name, table in FEATURE_TABLES.items():
        fqn = table.fqn(CATALOG, schema)
        if lh.table_exists(fqn):
            lh.drop_table(fqn)
        t0 = time.perf_counter()
        data, _ = compute_feature_table(lh, table, CATALOG, GOLD)
        t1 = time.perf_counter()
        write_feature_table(fe, lh, table, fqn, data)
        t2 = time.perf_counter()
        tables[name] = {"rows": data.num_rows, "arrow_bytes": data.nbytes,
                        "query_s": round(t1 - t0, 2), "write_s": round(t2 - t1, 2)}
    # ru_maxrss of this Python process alone (KiB on Linux): the driver side that holds results.
    print(json.dumps({"tables": tables, "python_peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def _compare(home: Path, engines: list[str]) -> tuple[int, int, list[str]]:
    """Compare every feature table of each engine with DuckDB's; (rows compared, mismatches, notes)."""
    import math

    from deltalake import DeltaTable

    from healthmon.ml.features import FEATURE_TABLES

    compared = mismatches = 0
    notes: list[str] = []
    for name, table in FEATURE_TABLES.items():
        keys = [(k, "ascending") for k in table.primary_keys]

        def load(engine: str):
            path = home / "lakehouse" / CATALOG / f"features_{engine}" / name
            return DeltaTable(str(path)).to_pyarrow_table().sort_by(keys).to_pylist()

        base = load("duckdb")
        for engine in engines:
            other = load(engine)
            if len(other) != len(base):
                mismatches += abs(len(other) - len(base))
                notes.append(f"{name}: {engine} has {len(other)} rows, duckdb {len(base)}")
            for ra, rb in zip(base, other):
                compared += 1
                for col, va in ra.items():
                    vb = rb.get(col)
                    same = (math.isclose(va, vb, rel_tol=1e-9, abs_tol=1e-9)
                            if isinstance(va, float) and isinstance(vb, float) else va == vb)
                    if not same:
                        mismatches += 1
                        if len(notes) < 5:
                            notes.append(f"{name}.{col} {engine}: {vb!r} vs duckdb {va!r}")
                        break
    return compared, mismatches, notes


def run(quick: bool) -> list[Result]:
    """Measure the engines named in ``HEALTHMON_BENCH_SPARK_ENGINES`` (default: all three, one
    after the other); an engine left out is reported from its last saved run
    (``run-<engine>.json``, with the time it was measured)."""
    import importlib.util

    if importlib.util.find_spec("pyspark") is None:
        return [Result(name="Spark feature pipeline", value=float("nan"), unit="s", notes="pyspark not installed")]

    home = Path(os.environ.get("HEALTHMON_BENCH_SPARK_HOME") or ROOT / ".work" / "spark").resolve()
    home.mkdir(parents=True, exist_ok=True)
    fact_rows, gen_s = _gold(home, quick)
    size = f"{fact_rows / 1e6:.1f}M fact rows"
    chosen = [e.strip() for e in os.environ.get("HEALTHMON_BENCH_SPARK_ENGINES", ",".join(ENGINES)).split(",") if e.strip()]
    unknown = [e for e in chosen if e not in ENGINES]
    if unknown:
        raise ValueError(f"HEALTHMON_BENCH_SPARK_ENGINES: unknown {unknown}; expected some of {list(ENGINES)}")
    runs = {e: _measure(home, e) for e in chosen}
    for engine in ENGINES:
        saved = home / f"run-{engine}.json"
        if engine not in runs and saved.exists():
            runs[engine] = json.loads(saved.read_text())
    compared, mismatches, notes = _compare(home, [e for e in runs if e != "duckdb"])

    duck = runs.get("duckdb")
    gib = 1024 ** 3
    results = []
    labels = {"duckdb": "DuckDB", "spark_local": "Spark local[*]",
              "spark_cluster": "Spark standalone (1 master, 2 workers × 1 core)"}
    for engine, label in labels.items():
        if engine not in runs:
            continue
        r = runs[engine]
        per_table = ", ".join(f"{n} {t['query_s']}+{t['write_s']} s" for n, t in r["tables"].items())
        when = f"measured {r['when']}, load average {r['load_avg'][0]} -> {r['load_avg'][1]} on 2 cores"
        base = duck is not None and engine != "duckdb"
        results.append(Result(
            name=f"feature pipeline, {label}, {size}: wall time", value=r["wall_s"], unit="s",
            baseline_name="DuckDB" if base else None, baseline_value=duck["wall_s"] if base else None,
            notes=f"{when}; query+write per table: {per_table}; process start included",
        ))
        results.append(Result(
            name=f"feature pipeline, {label}: CPU time", value=r["cpu_s"], unit="s",
            baseline_name="DuckDB" if base else None, baseline_value=duck["cpu_s"] if base else None,
            notes="user+system seconds of every process of the run (driver, JVM"
                  f"{', executors' if engine == 'spark_cluster' else ''}): comparable on a shared machine, unlike wall time",
        ))
        results.append(Result(
            name=f"peak memory, {label}", value=round(r["peak_rss"] / gib, 2), unit="GiB",
            notes=(f"sum of RSS over the process tree{' and the cluster daemons with their executors' if engine == 'spark_cluster' else ''}, "
                   f"sampled every 0.25 s; the Python driver alone peaked at {r['python_peak_rss'] / gib:.2f} GiB"),
        ))
    any_run = next(iter(runs.values()))
    biggest = max(any_run["tables"].items(), key=lambda kv: kv[1]["arrow_bytes"])
    results.append(Result(
        name="largest result collected into the driver", value=round(biggest[1]["arrow_bytes"] / 2**20, 1), unit="MiB",
        notes=(f"{biggest[0]}: {biggest[1]['rows']:,} rows (one row per key and day, bounded by keys × days, not by "
               "fact rows); the Spark engine collects each feature query's result to Arrow, cleans it and merges "
               "it with deltalake in the driver"),
    ))
    spark_runs = [labels[e] for e in runs if e != "duckdb"]
    results.append(Result(
        name=f"feature rows equal to DuckDB ({', '.join(spark_runs)})", value=mismatches, unit="mismatches",
        target="0", passed=mismatches == 0,
        notes=f"{compared:,} rows compared, floats to 1e-9 relative" + (f"; {'; '.join(notes)}" if notes else ""),
    ))
    if gen_s is not None:
        results.append(Result(name=f"generate the account ({size})", value=round(gen_s, 1), unit="s",
                              notes="informational: demo-data generate, reused by later runs"))
    return results


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "_build":
        _child_build(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "_measure":
        # One engine on its own (e.g. two engines at once in two processes); run() then reports it.
        home = Path(os.environ.get("HEALTHMON_BENCH_SPARK_HOME") or ROOT / ".work" / "spark").resolve()
        print(json.dumps(_measure(home, sys.argv[2])))
