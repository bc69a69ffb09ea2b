"""Jobs runtime benchmarks, each measured against a baseline in the same run.

1. Per-task overhead: median duration of a no-op notebook task (1 slot, N tasks), confinement
   included, minus the median of a bare ``python -c pass`` subprocess (target ≤ 50 ms).
2. What confinement costs per attempt: the launcher alone, N no-op attempts with and without the
   Landlock rule set and privilege drop (informational).
3. 25 parallel tasks sleeping 1 s with the default slots: wall time vs ceil(25/slots) s (+10%).
4. A 1,000-task no-op fan-out/fan-in DAG: wall time (target ≤ 60 s).
5. The same fan-out/fan-in DAG on Prefect 3 and Dagster (their own venv, same run): the goal,
   ≥ 2× faster than the faster of the two, is checked on the 1,000-task DAG; a 200-task DAG is
   reported too (informational: fixed per-run costs weigh more there).

Every benchmark runs in a throwaway HEALTHMON_HOME.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.run import Result


def _fresh_home() -> Path:
    home = Path(tempfile.mkdtemp(prefix="hm_bench_jobs_"))
    os.environ["HEALTHMON_HOME"] = str(home)
    os.environ.pop("HEALTHMON_DATABASE_URL", None)
    return home


def _notebook(home: Path, name: str, body: str) -> str:
    """A notebook in the workspace's files (where task code must come from); its workspace path."""
    folder = home / "workspace" / "Shared"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text("# Databricks notebook source\n" + body + "\n")
    return f"/Workspace/Shared/{name}"


def _run(settings: dict, slots: int | None) -> tuple[dict, float]:
    from healthmon.jobs import service

    if slots:
        os.environ["HEALTHMON_TASK_SLOTS"] = str(slots)
    else:
        os.environ.pop("HEALTHMON_TASK_SLOTS", None)
    job = service.create_job(settings)
    t0 = time.perf_counter()
    run_id = service.run_now(job)
    run = service.wait_for_run(run_id, timeout=900, poll=0.02)
    return run, time.perf_counter() - t0


def bench_overhead(n: int) -> Result:
    home = _fresh_home()
    baseline = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        baseline.append((time.perf_counter() - t0) * 1000)
    nb = _notebook(home, "noop", "pass")
    settings = {"name": "overhead", "tasks": [{"task_key": f"t{i}", "notebook_task": {"notebook_path": nb}} for i in range(n)]}
    run, wall = _run(settings, slots=1)
    assert run["state"]["result_state"] == "SUCCESS", run["state"]
    # With one slot tasks run back to back: the interval between consecutive task ends is the full
    # per-task cost (scheduling, storage, process start, notebook) — not just the task's own span.
    ends = sorted(t["end_time"] for t in run["tasks"])
    cycles = [b - a for a, b in zip(ends, ends[1:])]
    spans = [t["end_time"] - t["start_time"] for t in run["tasks"]]
    base, cycle = statistics.median(baseline), statistics.median(cycles)
    overhead = cycle - base
    return Result(
        name=f"no-op notebook task overhead (median of {n})", value=overhead, unit="ms",
        baseline_name="python -c pass", baseline_value=base, target="<= 50 ms above baseline", passed=overhead <= 50,
        notes=(f"median task-to-task interval {cycle:.1f} ms with 1 slot (median task span {statistics.median(spans):.1f} ms); "
               f"whole run wall time / tasks = {wall * 1000 / n:.1f} ms including runner start"),
    )


def bench_confinement(n: int) -> Result:
    """Per-attempt time of the launcher alone (start, run a no-op notebook, exit report), with the
    run's confinement (Landlock rule set, no capabilities, memory limit) and without."""
    from healthmon.jobs import confine
    from healthmon.jobs.launcher_client import LaunchConfig, Launcher
    from healthmon.jobs.task_main import drain

    home = _fresh_home()
    scratch = home / "scratch"
    scratch.mkdir()
    spec = {"task_key": "t", "run_id": 1, "job_run_id": 1, "job_id": 1, "home": str(home), "kind": "notebook",
            "result_file": str(scratch / "r.bin"), "redact": [], "task_values": {}, "path": str(home / "nb.py"),
            "cwd": str(home), "code": [compile("pass", str(home / "nb.py"), "exec")], "widgets": {}}

    def per_attempt(confined: bool) -> float:
        config = LaunchConfig(home=str(home), scratch=str(scratch), writable=(), confine=confined,
                              memory_limit=confine.memory_limit(1) if confined else 0)
        launcher = Launcher(sys.executable, dict(os.environ), config)
        times = []
        try:
            for _ in range(n):
                t0 = time.perf_counter()
                attempt = launcher.start(spec)
                while os.read(attempt.read_fd, 65536):
                    pass
                os.close(attempt.read_fd)
                attempt.wait()
                drain(attempt.result_fd)
                os.close(attempt.result_fd)
                attempt.secrets.close()
                times.append((time.perf_counter() - t0) * 1000)
        finally:
            launcher.close()
        return statistics.median(times)

    plain = per_attempt(False)
    confined = per_attempt(True)
    return Result(
        name=f"attempt start with confinement, launcher alone (median of {n})", value=confined, unit="ms",
        baseline_name="the same without confinement", baseline_value=plain, target="informational", passed=None,
        notes=(f"confinement costs {confined - plain:+.2f} ms per attempt (Landlock ABI {confine.landlock_abi()}: "
               f"restrict_self with the run's rule set, capability drop, RLIMIT_DATA)"),
    )


def bench_parallel_sleeps(n: int) -> Result:
    home = _fresh_home()
    nb = _notebook(home, "sleep", "import time\ntime.sleep(1)")
    slots = max(1, os.cpu_count() or 1)
    settings = {"name": "sleeps", "tasks": [{"task_key": f"s{i}", "notebook_task": {"notebook_path": nb}} for i in range(n)]}
    run, wall = _run(settings, slots=None)
    assert run["state"]["result_state"] == "SUCCESS", run["state"]
    ideal = math.ceil(n / slots)
    # The run's own duration (start_time → end_time, Databricks' run_duration); the runner
    # process launch before it (interpreter + SQLAlchemy import) is reported in the notes.
    duration = (run["end_time"] - run["start_time"]) / 1000
    return Result(
        name=f"{n} parallel 1 s sleeps, {slots} slots (run duration)", value=duration, unit="s",
        baseline_name=f"ceil({n}/{slots}) s", baseline_value=float(ideal), target=f"<= {ideal * 1.1:.1f} s (+10%)",
        passed=duration <= ideal * 1.1,
        notes=f"wall time from run_now to the run's end, including the runner's launch: {wall:.2f} s",
    )


def bench_fan_out_in(n: int) -> Result:
    home = _fresh_home()
    nb = _notebook(home, "noop", "pass")
    tasks = [{"task_key": "root", "notebook_task": {"notebook_path": nb}}]
    tasks += [{"task_key": f"m{i}", "depends_on": [{"task_key": "root"}], "notebook_task": {"notebook_path": nb}}
              for i in range(n - 2)]
    tasks.append({"task_key": "sink", "depends_on": [{"task_key": f"m{i}"} for i in range(n - 2)],
                  "notebook_task": {"notebook_path": nb}})
    run, wall = _run({"name": "fan", "tasks": tasks}, slots=None)
    assert run["state"]["result_state"] == "SUCCESS", run["state"]
    duration = (run["end_time"] - run["start_time"]) / 1000
    return Result(
        name=f"{n}-task no-op fan-out/fan-in DAG (wall time)", value=wall, unit="s", target="<= 60 s",
        passed=wall <= 60,
        notes=f"{os.cpu_count()} cores, default slots; run duration {duration:.1f} s; {wall * 1000 / n:.1f} ms per task",
    )


def run(quick: bool) -> list[Result]:
    saved = dict(os.environ)
    try:
        results = [
            bench_overhead(30 if quick else 200),
            bench_confinement(30 if quick else 200),
            bench_parallel_sleeps(5 if quick else 25),
            bench_fan_out_in(100 if quick else 1000),
        ]
        results += compare_frameworks(100 if quick else 1000, target=True)
        results += compare_frameworks(50 if quick else 200, target=False)
        return results
    finally:
        os.environ.clear()
        os.environ.update(saved)


# -- Prefect 3 / Dagster comparison ----------------------------------------------------------
# Installed only for the benchmark, in their own venv (benchmarks/.work/cmp-venv):
#   python -m venv benchmarks/.work/cmp-venv && benchmarks/.work/cmp-venv/bin/pip install "prefect>=3,<4" dagster
# Skipped (no result) when that venv is missing.

WORK = Path(__file__).resolve().parent / ".work"
CMP_PYTHON = WORK / "cmp-venv" / "bin" / "python"

PREFECT_SCRIPT = """
import os, sys, tempfile, time
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="prefect_home_"))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner
N, SLOTS, REPEAT = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

@task
def noop():
    return None

@flow(task_runner=ThreadPoolTaskRunner(max_workers=SLOTS))
def fan(n):
    root = noop.submit()
    mids = [noop.submit(wait_for=[root]) for _ in range(n - 2)]
    noop.submit(wait_for=mids).result()

fan(3)  # warm-up: the ephemeral API server starts here, not in the measurement
best = float("inf")
for _ in range(REPEAT):
    t0 = time.perf_counter()
    fan(N)
    best = min(best, time.perf_counter() - t0)
print(best)
"""

DAGSTER_SCRIPT = """
import os, sys, tempfile, time
os.environ.setdefault("DAGSTER_HOME", tempfile.mkdtemp(prefix="dagster_home_"))
from dagster import In, Nothing, job, op, in_process_executor
N = int(sys.argv[1])

@op
def root():
    return None

@op(ins={"start": In(Nothing)})
def mid():
    return None

@op(ins={"deps": In(Nothing)})
def sink():
    return None

def make(n):
    @job(name=f"fan_{n}", executor_def=in_process_executor)
    def fan():
        r = root()
        sink(deps=[mid.alias(f"m{i}")(start=r) for i in range(n - 2)])
    return fan

assert make(3).execute_in_process().success  # warm-up
REPEAT = int(sys.argv[3])
best = float("inf")
for _ in range(REPEAT):
    built = make(N)
    t0 = time.perf_counter()
    assert built.execute_in_process().success
    best = min(best, time.perf_counter() - t0)
print(best)
"""


REPEAT = 5  # best of 5 interleaved rounds for every system: the 2-core VM's speed drifts by ±20 %


def _external(script: str, n: int, slots: int, repeat: int = REPEAT) -> float | None:
    path = WORK / f"cmp_{abs(hash(script))}.py"
    path.write_text(script)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHMON_")}
    try:
        proc = subprocess.run([str(CMP_PYTHON), str(path), str(n), str(slots), str(repeat)], capture_output=True, text=True,
                              timeout=1200, env=env)
    except subprocess.TimeoutExpired:
        return None
    # The measurement is the last stdout line; Prefect sometimes exits non-zero while shutting its
    # ephemeral server down after printing it, which does not invalidate the figure.
    try:
        return float(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        print(proc.stderr[-2000:], file=sys.stderr)
        return None


def compare_frameworks(n: int, target: bool) -> list[Result]:
    if not CMP_PYTHON.exists():
        return []
    slots = max(1, os.cpu_count() or 1)
    home = _fresh_home()
    nb = _notebook(home, "noop", "pass")
    tasks = [{"task_key": "root", "notebook_task": {"notebook_path": nb}}]
    tasks += [{"task_key": f"m{i}", "depends_on": [{"task_key": "root"}], "notebook_task": {"notebook_path": nb}}
              for i in range(n - 2)]
    tasks.append({"task_key": "sink", "depends_on": [{"task_key": f"m{i}"} for i in range(n - 2)],
                  "notebook_task": {"notebook_path": nb}})
    # Warm-up, as for Prefect and Dagster below (the operating system's caches).
    _run({"name": "warm-up", "tasks": tasks[:3]}, slots=None)
    # Rounds interleave the three systems (each external round: a fresh process, its own warm-up
    # run, then one measured run), so that a slow spell of this shared machine hits all three
    # rather than whichever happened to run then; each system's best round counts.
    ours = float("inf")
    best: dict[str, float | None] = {"Prefect 3": None, "Dagster": None}
    for _ in range(REPEAT):
        run, wall = _run({"name": "fan-cmp", "tasks": tasks}, slots=None)
        assert run["state"]["result_state"] == "SUCCESS", run["state"]
        ours = min(ours, wall)
        for name, script in (("Prefect 3", PREFECT_SCRIPT), ("Dagster", DAGSTER_SCRIPT)):
            value = _external(script, n, slots, repeat=1)
            if value is not None:
                best[name] = value if best[name] is None else min(best[name], value)
    prefect, dagster = best["Prefect 3"], best["Dagster"]
    out = []
    for name, value, how in (("Prefect 3", prefect, f"ThreadPoolTaskRunner({slots} workers), tasks as threads in one process"),
                             ("Dagster", dagster, "execute_in_process, in-process executor (ops run sequentially in one process)")):
        if value is None:
            continue
        out.append(Result(
            name=f"{n}-task fan-out/fan-in: {name} / healthmon", value=value, unit="s",
            baseline_name="healthmon (process per task)", baseline_value=ours,
            target=">= 2x (vs the faster of the two)" if target else "informational", passed=None,
            notes=(f"best of {REPEAT} interleaved rounds for each system; {name}: {how}, measured after a warm-up run (server/instance start excluded); healthmon: wall time "
                   f"from run_now to wait_for_run returning, including the runner's start (an interpreter), every task "
                   f"attempt in its own confined process forked by the run's launcher; same machine, same run"),
        ))
    if out and target:
        fastest = min(out, key=lambda r: r.value)
        for r in out:
            r.passed = (r.value / ours >= 2) if r is fastest else None
    return out
