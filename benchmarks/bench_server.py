"""Workspace server benchmark: runs/list page latency and authenticated runs/get throughput with
100,000 stored runs, next to a bare FastAPI/uvicorn endpoint returning a constant (same server
settings, same load generator, same run). The Health page has its own benchmark (bench_health.py).

The server runs in its own process (one uvicorn worker, as ``healthmon server`` runs it); the load
generator is a few threads with keep-alive connections on loopback, bounded in count and time.

``HEALTHMON_BENCH_BASELINE_SRC=<a checkout's src directory>`` adds that code's server to the same
run (its runs/list pages, and runs/get slices alternating with the others): a before/after
comparison on the same machine state.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.run import Result

ROOT = Path(__file__).resolve().parent
WORK = ROOT / ".work" / "server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seed(home: Path, runs: int) -> tuple[str, int, list[int]]:
    """A workspace with one single-task job and ``runs`` finished runs of it, each with its task
    run (as the runtime stores them); returns (token, job_id, job run ids)."""
    os.environ["HEALTHMON_HOME"] = str(home)
    os.environ.pop("HEALTHMON_DATABASE_URL", None)
    from sqlalchemy import insert, select

    from healthmon.jobs import service
    from healthmon.settings import Settings
    from healthmon.store import auth
    from healthmon.store.db import Database
    from healthmon.store.runs import RunRecord

    db = Database.from_settings(Settings.from_env())
    task = {"task_key": "t", "spark_python_task": {"python_file": "/bench.py"}}
    settings = {"name": "bench", "tasks": [task]}
    job_id = service.create_job(settings, user_name="bench@example.com")
    settings_json = json.dumps(settings)
    task_json = json.dumps(task)
    t0 = 1_700_000_000_000

    def row(i: int, **extra) -> dict:
        result = "SUCCESS" if i % 7 else "FAILED"
        return {
            "job_id": job_id, "run_name": "bench", "run_type": "JOB_RUN", "trigger": "PERIODIC",
            "creator_user_name": "bench@example.com", "life_cycle_state": "TERMINATED", "result_state": result,
            "state_message": "", "created_time": t0 + i * 60_000, "start_time": t0 + i * 60_000,
            "end_time": t0 + i * 60_000 + 30_000, "settings_json": settings_json, **extra,
        }

    with db.engine.begin() as conn:
        for first in range(0, runs, 5000):
            count = min(5000, runs - first)
            conn.execute(insert(RunRecord), [row(first + k) for k in range(count)])
            ids = list(conn.scalars(select(RunRecord.run_id).where(RunRecord.task_key.is_(None))
                                    .order_by(RunRecord.run_id.desc()).limit(count)))[::-1]
            conn.execute(insert(RunRecord), [
                row(first + k, job_run_id=rid, task_key="t", run_name="t", settings_json=task_json,
                    output_json='{"logs": "done"}', attempt_number=0)
                for k, rid in enumerate(ids)
            ])
    with db.session() as s:
        token = auth.create_token(s, "bench@example.com").token_value
        ids = list(s.scalars(select(RunRecord.run_id).where(RunRecord.job_id == job_id, RunRecord.task_key.is_(None))))
    return token, job_id, ids


def _serve(kind: str, port: int) -> None:
    """Entry point of the server subprocess. The healthmon servers run as `healthmon server`
    runs them: its logging configuration (healthmon's access log at INFO, to stderr) and
    uvicorn's automatic choice of loop and HTTP parser (uvloop, httptools when installed)."""
    import logging.config

    import uvicorn

    if kind == "bare":
        from fastapi import FastAPI

        app = FastAPI()

        @app.get("/constant")
        def constant() -> dict:
            return {"status": "ok"}

        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        return
    from healthmon.cli.server import _log_config

    log_config = _log_config()
    logging.config.dictConfig(log_config)
    options = dict(host="127.0.0.1", port=port, log_level="info", access_log=False, server_header=False,
                   log_config=log_config)
    if kind == "healthmon-2-workers":
        uvicorn.run("healthmon.server.app:create_app", factory=True, workers=2, **options)
        return
    # "healthmon" and "baseline" (the same code path from another checkout, via PYTHONPATH)
    from healthmon.server.app import create_app

    uvicorn.run(create_app(), **options)


def _baseline_src() -> str | None:
    return os.environ.get("HEALTHMON_BENCH_BASELINE_SRC") or None


def _start(kind: str, home: Path) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    # As `healthmon server` does: HEALTHMON_USER pinned for the process. The baseline is the same
    # server from another checkout, found first on the path.
    path = str(ROOT.parent) if kind != "baseline" else f"{_baseline_src()}{os.pathsep}{ROOT.parent}"
    env = {**os.environ, "HEALTHMON_HOME": str(home), "PYTHONPATH": path,
           "HEALTHMON_USER": os.environ.get("HEALTHMON_USER", "bench@example.com")}
    log_path = WORK / f"{kind}.log"  # the access log goes here (a pipe nobody reads would fill)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.bench_server", "--serve", kind, str(port)],
                                env=env, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {log_path.read_text()[-2000:]}")
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start in 60 s")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _get(conn: http.client.HTTPConnection, path: str, headers: dict) -> tuple[int, bytes]:
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read()


def _cpu(pid: int) -> float:
    import psutil

    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:  # worker processes too
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def _throughput(port: int, paths: list[str], headers: dict, seconds: float, max_requests: int, threads: int = 4,
                pid: int | None = None) -> tuple[float, float]:
    """(requests/s, server CPU ms per request) over keep-alive connections; stops at
    ``seconds`` or ``max_requests``. CPU per request is the load-independent figure: on a shared
    machine wall-clock throughput also measures the neighbours."""
    count = 0
    errors = 0
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def worker(seed: int) -> None:
        nonlocal count, errors
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        local = bad = 0
        while time.perf_counter() < stop_at:
            with lock:
                if count + local >= max_requests:
                    break
            status, _ = _get(conn, rng.choice(paths), headers)
            local += 1
            bad += status != 200
            if local % 50 == 0:
                with lock:
                    count += local
                    errors += bad
                local = bad = 0
        with lock:
            count += local
            errors += bad
        conn.close()

    for _ in range(2):  # warm-up: imports, first connections
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        _get(c, paths[0], headers)
        c.close()
    cpu0 = _cpu(pid) if pid else 0.0
    start = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    cpu_ms = (_cpu(pid) - cpu0) * 1000 / max(count, 1) if pid else 0.0
    if errors:
        raise RuntimeError(f"{errors} of {count} requests failed")
    return count / elapsed, cpu_ms


def _page_latencies(port: int, headers: dict, job_id: int, total_runs: int, deep: int) -> tuple[list[float], list[float]]:
    """Seconds per runs/list page: (every page from the newest run to the oldest via
    next_page_token, as the SDK iterates; ``deep`` pages at random offsets across all runs, the
    legacy 2.0/2.1 way)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    out = []
    deep_out = []
    path = f"/api/2.2/jobs/runs/list?job_id={job_id}&limit=25"
    _get(conn, path, headers)
    token = None
    seen = 0
    while True:
        t = time.perf_counter()
        status, body = _get(conn, path + (f"&page_token={token}" if token else ""), headers)
        out.append(time.perf_counter() - t)
        assert status == 200, body
        page = json.loads(body)
        seen += len(page.get("runs", []))
        token = page.get("next_page_token")
        if not token:
            break
    assert seen == total_runs, f"paged through {seen} of {total_runs} runs"
    rng = random.Random(7)
    for _ in range(deep):
        offset = rng.randrange(0, max(total_runs - 25, 1))
        t = time.perf_counter()
        status, body = _get(conn, f"/api/2.1/jobs/runs/list?job_id={job_id}&limit=25&offset={offset}", headers)
        deep_out.append(time.perf_counter() - t)
        assert status == 200 and len(json.loads(body)["runs"]) == 25, body
    conn.close()
    return out, deep_out


def _paired_page_latencies(ports: list[int], headers: dict, job_id: int, total_runs: int) -> tuple[list[float], list[float]]:
    """Seconds per runs/list page on two servers, walking every page with next_page_token and
    asking both servers for each page back to back (which one first alternates): both see the
    same moments of a shared machine."""
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for port in ports]
    times: tuple[list[float], list[float]] = ([], [])
    path = f"/api/2.2/jobs/runs/list?job_id={job_id}&limit=25"
    for conn in conns:
        _get(conn, path, headers)
    token, seen, step = None, 0, 0
    while True:
        url = path + (f"&page_token={token}" if token else "")
        bodies = {}
        for i in ((0, 1) if step % 2 == 0 else (1, 0)):
            t = time.perf_counter()
            status, bodies[i] = _get(conns[i], url, headers)
            times[i].append(time.perf_counter() - t)
            assert status == 200, bodies[i]
        page = json.loads(bodies[0])
        assert page == json.loads(bodies[1]), "the two servers disagree on a page"
        seen += len(page.get("runs", []))
        token, step = page.get("next_page_token"), step + 1
        if not token:
            break
    assert seen == total_runs, f"paged through {seen} of {total_runs} runs"
    for conn in conns:
        conn.close()
    return times


def _token_ttl() -> float:
    from healthmon.server.auth import TOKEN_TTL

    return TOKEN_TTL


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def run(quick: bool = False) -> list[Result]:
    total = 10_000 if quick else 100_000
    slice_s = 1.5 if quick else 3.0  # one measuring slice of one server
    max_requests = 5_000 if quick else 10_000
    shutil.rmtree(WORK, ignore_errors=True)
    home = WORK / "home"
    home.mkdir(parents=True)
    t = time.perf_counter()
    token, job_id, ids = _seed(home, total)
    seed_s = time.perf_counter() - t
    headers = {"Authorization": f"Bearer {token}"}

    proc, port = _start("healthmon", home)
    try:
        latencies, deep = _page_latencies(port, headers, job_id, total, deep=50 if quick else 100)
    finally:
        _stop(proc)
    paired: tuple[list[float], list[float]] = ([], [])
    if _baseline_src():
        both = [_start("healthmon", home), _start("baseline", home)]
        try:
            paired = _paired_page_latencies([port for _, port in both], headers, job_id, total)
        finally:
            for proc, _ in both:
                _stop(proc)

    # Throughput: the three servers run side by side and are measured in alternating slices,
    # so that each sees the same neighbours on a shared machine; the median slice counts.
    sample = random.Random(1).sample(ids, 500)
    get_paths = [f"/api/2.2/jobs/runs/get?run_id={i}" for i in sample]
    targets = {"healthmon": (get_paths, headers), "healthmon-2-workers": (get_paths, headers), "bare": (["/constant"], {})}
    if _baseline_src():
        targets["baseline"] = (get_paths, headers)
    servers = {kind: _start(kind, home) for kind in targets}
    rounds = 2 if quick else (6 if _baseline_src() else 4)
    rps: dict[str, list[float]] = {kind: [] for kind in targets}
    cpu: dict[str, list[float]] = {kind: [] for kind in targets}
    try:
        time.sleep(3)  # every worker up
        for _ in range(rounds):
            for kind, (paths, hdrs) in targets.items():
                proc, port = servers[kind]
                r, c = _throughput(port, paths, hdrs, slice_s, max_requests, pid=proc.pid)
                rps[kind].append(r)
                cpu[kind].append(c)
    finally:
        for proc, _ in servers.values():
            _stop(proc)
    logged = (WORK / "healthmon.log").read_text().count("/api/2.2/jobs/runs/get")
    assert logged > 0, "no runs/get line in the access log: not configured as `healthmon server`?"
    shutil.rmtree(WORK, ignore_errors=True)
    get_rps, multi_rps, bare_rps = (statistics.median(rps[k]) for k in ("healthmon", "healthmon-2-workers", "bare"))
    get_cpu, bare_cpu = (statistics.median(cpu[k]) for k in ("healthmon", "bare"))
    spread = ", ".join(f"{k} {min(v):.0f}-{max(v):.0f}" for k, v in rps.items())

    load = os.getloadavg()[0]
    p95_ms = _p95(latencies) * 1000
    deep_p95_ms = _p95(deep) * 1000
    median_ms = sorted(latencies)[len(latencies) // 2] * 1000
    results = [
        Result(
            name=f"runs/list p95 per page, paging with next_page_token ({total:,} runs, 25/page)", value=p95_ms,
            unit="ms", target="<= 50 ms", passed=p95_ms <= 50,
            notes=f"all {len(latencies)} pages from the newest run to the oldest (deep pages included), as the SDK "
                  f"iterates; keyset page tokens; median {median_ms:.1f} ms, max {max(latencies) * 1000:.1f} ms; "
                  f"each job run has its task run stored too; seeding took {seed_s:.1f} s",
        ),
        Result(
            name=f"runs/list p95 per page at random offsets ({total:,} runs, 25/page)", value=deep_p95_ms,
            unit="ms", target="<= 50 ms", passed=deep_p95_ms <= 50,
            notes=f"{len(deep)} pages at random offsets across all runs (API 2.1 `offset`, as the legacy CLI pages): "
                  "the offset is resolved by an index-only scan of the job-runs index (job_id, task_key, run_id), then the page is read "
                  "by keyset",
        ),
        Result(
            name=f"runs/get authenticated throughput ({total:,} runs)", value=get_rps, unit="req/s",
            baseline_name="bare FastAPI/uvicorn constant endpoint", baseline_value=bare_rps,
            target=">= 500 req/s", passed=get_rps >= 500,
            notes="one uvicorn worker (as `healthmon server`: uvloop + httptools, access log at INFO), 4 keep-alive client threads on "
                  "loopback (random runs among all stored, each with its task), "
                  f"median of {rounds} slices of {slice_s:.1f} s / at most {max_requests:,} requests, alternating with "
                  f"the other servers (req/s ranges: {spread}); each request checks the token "
                  f"(sha256, grant cached {_token_ttl()} s) and job permissions; 1-min load average during the run {load:.1f} on "
                  f"{os.cpu_count()} cores (shared machine)",
        ),
        Result(
            name=f"runs/get authenticated throughput, `healthmon server --workers 2` ({total:,} runs)", value=multi_rps,
            unit="req/s", baseline_name="bare FastAPI/uvicorn constant endpoint", baseline_value=bare_rps,
            target=">= 500 req/s", passed=multi_rps >= 500,
            notes="two uvicorn worker processes sharing the workspace database; same load generator",
        ),
        Result(
            name="runs/get server CPU per request", value=get_cpu, unit="ms",
            baseline_name="bare FastAPI/uvicorn constant endpoint", baseline_value=bare_cpu,
            target="<= 2 ms (= 500 req/s on one core)", passed=get_cpu <= 2.0,
            notes="CPU seconds the server process spent / requests served (median slice): much less sensitive to other "
                  "load on the machine than req/s",
        ),
    ]
    if _baseline_src():
        pair_p95, base_p95 = (_p95(t) * 1000 for t in paired)
        base_rps, base_cpu = statistics.median(rps["baseline"]), statistics.median(cpu["baseline"])
        results += [
            Result(name="runs/list p95 per page vs the baseline code (same run)", value=pair_p95, unit="ms",
                   baseline_name="baseline code", baseline_value=base_p95, target="<= 1.10x baseline",
                   passed=pair_p95 <= 1.10 * base_p95,
                   notes=f"baseline: {_baseline_src()}; all pages with next_page_token, each page asked of both servers "
                         "back to back (alternating which first)"),
            Result(name="runs/get throughput vs the baseline code (same run)", value=get_rps, unit="req/s",
                   baseline_name="baseline code", baseline_value=base_rps, target=">= 0.90x baseline",
                   passed=get_rps >= 0.90 * base_rps,
                   notes=f"median of {rounds} slices alternating with the baseline server (ranges: healthmon "
                         f"{min(rps['healthmon']):.0f}-{max(rps['healthmon']):.0f}, baseline "
                         f"{min(rps['baseline']):.0f}-{max(rps['baseline']):.0f})"),
            Result(name="runs/get server CPU per request vs the baseline code (same run)", value=get_cpu, unit="ms",
                   baseline_name="baseline code", baseline_value=base_cpu, target="<= 1.10x baseline",
                   passed=get_cpu <= 1.10 * base_cpu,
                   notes="the same slices; CPU per request is the figure least moved by other load on the machine"),
        ]
    return results


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        _serve(sys.argv[2], int(sys.argv[3]))
    else:
        for r in run(quick="--quick" in sys.argv):
            print(r)
