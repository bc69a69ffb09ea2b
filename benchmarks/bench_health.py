"""Health page benchmark: seconds per load of ``/health`` on a medium account, served as
``healthmon server`` serves it (its own process, one uvicorn worker), next to the Jobs page of
the same server in the same run.

Four figures, each a p95 over 20 loads:

* the first load after the server's start (one per start: the server is started 20 times);
* reloads of one view (the report kept until a table gets a new Delta version);
* 20 other views — date ranges, one workspace, user, job, table or catalog, one section: the
  links people follow from the page — each built once from the tables' derived frames;
* a view after new predictions land: before each load one prediction table is written again
  (same rows, a new Delta version), so the load re-reads that table and rebuilds everything
  derived from the account's tables.

``HEALTHMON_BENCH_BASELINE_SRC=<a checkout's src directory>`` runs the same loads on that code's
server too (the previous implementation) and reports it as the baseline.

The account: ``$HEALTHMON_BENCH_ACCOUNT``, else `make demo`'s workspace, else one made by
scripts/demo.sh (``_account_home``). Writing prediction tables again adds Delta
versions to that account (with the same rows).
"""

from __future__ import annotations

import html
import http.client
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from benchmarks.bench_server import ROOT, WORK, _baseline_src, _cpu, _get, _p95, _start, _stop
from benchmarks.run import Result

LOADS = 20
FIRST_LOADS = 20


def _account_home(quick: bool) -> tuple[Path, str]:
    """A workspace holding a scored account: ``$HEALTHMON_BENCH_ACCOUNT``, else `make demo`'s
    workspace (``.healthmon`` of the checkout) when it has predictions, else one made by
    scripts/demo.sh (medium scale; small with --quick), kept in benchmarks/.work/ for later runs."""
    given = os.environ.get("HEALTHMON_BENCH_ACCOUNT")
    demo_home = ROOT.parent / ".healthmon"
    for home, how in ((Path(given) if given else None, "$HEALTHMON_BENCH_ACCOUNT"), (demo_home, "make demo's workspace")):
        if home and any(home.glob("lakehouse/*/*/*_predictions/_delta_log")):
            return home, how
    scale = "small" if quick else "medium"
    home = ROOT / ".work" / f"health-account-{scale}"
    if any(home.glob("lakehouse/*/*/*_predictions/_delta_log")):
        return home, f"a {scale} account made by scripts/demo.sh"
    shutil.rmtree(home, ignore_errors=True)
    env = {**os.environ, "HEALTHMON_HOME": str(home), "DEMO_SCALE": scale, "DEMO_RESULTS_DIR": str(home / "demo-results"),
           "DEMO_EVALUATION": str(home / "evaluation.md"), "DEMO_REPORT": str(home / "report.html"),
           "PY": sys.executable, "HM": str(Path(sys.executable).with_name("healthmon"))}
    subprocess.run(["bash", str(ROOT.parent / "scripts" / "demo.sh")], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return home, f"a {scale} account made by scripts/demo.sh"


def _views(page: str, schema: str) -> list[str]:
    """20 views a person reaches from the default page: its row links (one workspace, user, job,
    table, catalog), date ranges and single sections."""
    links = sorted({html.unescape(h) for h in re.findall(r"href='(/health\?[^']+)'", page)})
    entity = {}
    for link in links:
        params = dict(parse_qsl(link.split("?", 1)[1]))
        for name in ("workspace_id", "user_id", "job_id", "table", "catalog"):
            if name in params:
                entity.setdefault(name, []).append(params[name])
    views = []
    ranges = [("2020-01-01", f"2030-12-{d:02d}") for d in (1, 2, 3)] + [("2026-01-01", None), (None, "2026-06-30")]
    for start, end in ranges:
        views.append({k: v for k, v in (("start", start), ("end", end)) if v})
    for section in ("cost_anomalies", "forecast", "jobs", "security", "quality"):
        views.append({"section": section})
    for name, values in sorted(entity.items()):
        for value in values[:2]:
            views.append({name: value})
            views.append({name: value, "start": "2020-01-01"})
    views = views[:LOADS]
    assert len(views) == LOADS, f"only {len(views)} views from the page's links"
    return [f"/health?{urlencode({'schema': schema, **v})}" for v in views]


def _prediction_tables(home: Path, schema: str) -> list[str]:
    catalog, name = schema.split(".", 1)
    root = home / "lakehouse" / catalog / name
    return sorted(f"{schema}.{p.name}" for p in root.glob("*_predictions") if (p / "_delta_log").is_dir())


def _measure(kind: str, home: Path, session_id: str) -> dict:
    cookie = {"Cookie": f"healthmon_session={session_id}"}
    first, same, other, fresh, jobs = [], [], [], [], []

    def load(conn, path: str, out: list[float]) -> str:
        t = time.perf_counter()
        status, body = _get(conn, path, cookie)
        out.append(time.perf_counter() - t)
        assert status == 200, (path, status, body[:500])
        return body.decode()

    for i in range(FIRST_LOADS):
        proc, port = _start(kind, home)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            page = load(conn, "/health", first)
            if i < FIRST_LOADS - 1:
                conn.close()
                continue
            assert page.count("<section id=") == 5 and "<svg" in page, page[:2000]
            schema = re.search(r"href='/health\?schema=([^&']+)", page).group(1)
            views = _views(page, schema)
            for _ in range(LOADS):
                load(conn, "/health", same)
                load(conn, "/jobs", jobs)
            cpu0 = _cpu(proc.pid)
            for path in views:
                load(conn, path, other)
            other_cpu = (_cpu(proc.pid) - cpu0) / LOADS
            from healthmon.lakehouse import Lakehouse

            lh = Lakehouse(home / "lakehouse")
            tables = _prediction_tables(home, schema)
            cpu_fresh = 0.0
            for n, path in enumerate(views):
                fqn = tables[n % len(tables)]
                lh.write_table(fqn, lh.read_table(fqn), mode="overwrite")  # same rows, a new version
                cpu0 = _cpu(proc.pid)
                load(conn, path, fresh)
                cpu_fresh += _cpu(proc.pid) - cpu0
            conn.close()
        finally:
            _stop(proc)
    return {"first": first, "same": same, "other": other, "fresh": fresh, "jobs": jobs,
            "other_cpu": other_cpu, "fresh_cpu": cpu_fresh / LOADS}


def run(quick: bool = False) -> list[Result]:
    WORK.mkdir(parents=True, exist_ok=True)
    home, how = _account_home(quick)
    os.environ["HEALTHMON_HOME"] = str(home)
    from healthmon.settings import Settings
    from healthmon.store import auth
    from healthmon.store.db import Database

    with Database.from_settings(Settings.from_env()).session() as s:
        token = auth.create_token(s, "bench@example.com").token_value
    with Database.from_settings(Settings.from_env()).session() as s:
        session_id = auth.create_session(s, token)  # the UI's cookie, as the login form opens it
    now = _measure("healthmon", home, session_id)
    base = _measure("baseline", home, session_id) if _baseline_src() else None
    load_avg = os.getloadavg()
    machine = f"load average {load_avg[0]:.1f} / {load_avg[1]:.1f} (1 / 5 min) on {os.cpu_count()} cores, shared machine"
    p95_jobs = _p95(now["jobs"])

    def result(key: str, name: str, notes: str) -> Result:
        value = _p95(now[key])
        baseline = ("previous implementation (same loads, same run)", _p95(base[key])) if base else \
            ("Jobs page of the same server (p95)", p95_jobs)
        return Result(name=f"Health page p95 over {LOADS} loads: {name} ({how})", value=value, unit="s",
                      baseline_name=baseline[0], baseline_value=baseline[1], target="<= 1 s", passed=value <= 1.0,
                      notes=f"{notes}; median {statistics.median(now[key]):.3f} s, max {max(now[key]):.3f} s"
                            + (f" (previous implementation: median {statistics.median(base[key]):.3f} s)" if base else "")
                            + f"; Jobs page p95 {p95_jobs:.3f} s; {machine}",
                      extra={"seconds": now[key], **({"baseline_seconds": base[key]} if base else {})})

    return [
        result("first", "first load after the server's start",
               f"{FIRST_LOADS} server starts, the first /health of each as soon as the port accepts (the server "
               "builds the default page in a background thread from its start; the load waits for that build)"),
        result("same", "reload of one view", "the report kept per (filters, Delta versions, evaluation)"),
        result("other", "20 other views (filters, entities, sections)",
               "each view built once from the account's derived frames (kept per Delta versions) and rendered; "
               f"server CPU {now['other_cpu']:.3f} s per load"),
        result("fresh", "after new predictions land",
               "before each load one prediction table is written again (a new Delta version): that table is "
               "re-read and every derived frame recomputed; server CPU "
               f"{now['fresh_cpu']:.3f} s per load"),
    ]


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(r)
