"""healthmon sql / tables / mlflow commands."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from healthmon.cli.main import app
from healthmon.lakehouse import Lakehouse


@pytest.fixture
def lh() -> Lakehouse:
    lh = Lakehouse.from_env()
    lh.write_table("main.gold.usage", pa.table({"ws": ["a", "b", "a"], "dbus": [1.0, 2.0, 3.5]}),
                   primary_keys=None, comment="usage per record", column_comments={"dbus": "DBUs"})
    lh.write_table("main.gold.usage", pa.table({"ws": ["c"], "dbus": [0.5]}))
    return lh


def _run(*args: str):
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_sql_table_prints_brackets_as_data(healthmon_home, monkeypatch):
    # A value is data, not Rich markup: "[dev root] x" and "[bold]b" print as stored.
    monkeypatch.setenv("COLUMNS", "200")
    out = _run("sql", "SELECT '[dev root] x' AS a, '[bold]b' AS b, [1, 2] AS c")
    assert "[dev root] x" in out and "[bold]b" in out and "[1, 2]" in out


def test_sql_formats(lh):
    q = "SELECT ws, sum(dbus) AS total FROM main.gold.usage GROUP BY ws ORDER BY ws"
    assert json.loads(_run("sql", q, "--format", "json")) == [
        {"ws": "a", "total": 4.5}, {"ws": "b", "total": 2.0}, {"ws": "c", "total": 0.5}]
    rows = list(csv.DictReader(io.StringIO(_run("sql", q, "--format", "csv"))))
    assert [(r["ws"], float(r["total"])) for r in rows] == [("a", 4.5), ("b", 2.0), ("c", 0.5)]
    table = _run("sql", q)
    assert "total" in table and "4.5" in table and "(3 rows)" in table


def test_tables_list_describe_history(lh):
    listed = json.loads(_run("tables", "list", "main.gold", "--format", "json"))
    assert listed == [{"name": "main.gold.usage", "comment": "usage per record"}]
    assert json.loads(_run("tables", "list", "--format", "json")) == listed
    d = json.loads(_run("tables", "describe", "main.gold.usage", "--format", "json"))
    assert d["comment"] == "usage per record" and d["columns"][1] == {"name": "dbus", "type": "double", "nullable": True, "comment": "DBUs"}
    text = _run("tables", "describe", "main.gold.usage")
    assert "DBUs" in text and "usage per record" in text
    hist = json.loads(_run("tables", "history", "main.gold.usage", "--format", "json"))
    assert [h["version"] for h in hist] == sorted((h["version"] for h in hist), reverse=True)
    assert hist[0]["operation"] == "WRITE" and hist[-1]["operation"] == "CREATE TABLE"


def test_mlflow_uri_and_ui_command(healthmon_home):
    from healthmon.cli.mlflow_cmd import ui_command

    assert _run("mlflow", "uri").strip() == f"sqlite:///{healthmon_home / 'mlflow' / 'mlflow.db'}"
    cmd = ui_command(5055, "127.0.0.1")
    assert cmd[cmd.index("--backend-store-uri") + 1] == f"sqlite:///{healthmon_home / 'mlflow' / 'mlflow.db'}"
    assert cmd[cmd.index("--port") + 1] == "5055" and "ui" in cmd
    assert str(healthmon_home / "mlartifacts") in cmd[cmd.index("--default-artifact-root") + 1]


@pytest.mark.slow
def test_errors_exit_1_without_traceback(lh):
    exe = [sys.executable, "-m", "healthmon.cli.main"]
    p = subprocess.run(exe + ["sql", "SELECT * FROM main.gold.usag"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert "main.gold.usag does not exist" in p.stderr and "main.gold.usage" in p.stderr
    assert "Traceback" not in p.stderr
    p = subprocess.run(exe + ["tables", "describe", "main.gold.x;drop"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "Invalid table name" in p.stderr and "Traceback" not in p.stderr


def test_cli_modules_import_lazily():
    code = ("import sys, healthmon.cli.sql, healthmon.cli.tables, healthmon.cli.mlflow_cmd; "
            "print(sorted(m for m in ('pyarrow', 'duckdb', 'deltalake', 'mlflow', 'pandas', 'sqlglot') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def _descendants(pid: int) -> set[int]:
    from pathlib import Path

    found: set[int] = set()
    todo = [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                children = {int(c) for c in (task / "children").read_text().split()}
            except OSError:
                continue
            todo.extend(children - found)
            found |= children
    return found


@pytest.mark.slow
def test_mlflow_ui_stops_its_whole_server_on_sigterm(healthmon_home):
    # `healthmon mlflow ui` runs until interrupted; interrupted, it leaves no MLflow server behind.
    import os
    import signal
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "healthmon.cli.main", "mlflow", "ui", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    served = set()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                    assert resp.status == 200
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()[1]
                time.sleep(0.5)
        else:
            pytest.fail("the MLflow UI did not answer")
        served = _descendants(proc.pid)
        assert served  # mlflow and the server it started
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=60)[1]
        assert proc.returncode == 128 + signal.SIGTERM, err
        left = []
        for pid in served:
            try:
                os.kill(pid, 0)
                left.append(pid)
            except ProcessLookupError:
                pass
        assert not left, f"still running after the CLI exited: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in served:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
