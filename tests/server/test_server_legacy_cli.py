"""The legacy ``databricks-cli`` 0.18, unchanged, against the server. It builds URLs from the
host name without a port, so the server binds 127.0.0.1:80 (CI runs as root)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from healthmon.jobs import service
from tests.server.conftest import LiveServer, bearer, workspace_file

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CLI = Path(sys.executable).with_name("databricks")


def _port_80_free() -> bool:
    try:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 80))
        return True
    except OSError:
        return False


@pytest.fixture
def legacy_cli(app, tokens, tmp_path):
    if not CLI.exists():
        pytest.fail(f"databricks-cli 0.18 is not installed at {CLI} (it is in the dev extra)")
    if not _port_80_free():
        pytest.skip("127.0.0.1:80 is not bindable here (needs root and a free port 80)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABRICKS_")}
    env.update(HOME=str(tmp_path), DATABRICKS_HOST="http://127.0.0.1", DATABRICKS_TOKEN=tokens.alice)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(CLI), *args], capture_output=True, text=True, env=env, timeout=60)

    with LiveServer(app, port=80):
        yield run


def test_jobs_and_runs_commands(legacy_cli, settings):
    script = workspace_file(settings, "alice@example.com", "t.py", "print('legacy says hi')\n")
    settings = {"name": "legacy job", "tasks": [{"task_key": "only", "spark_python_task": {"python_file": script}}]}
    job_id = service.create_job(settings, user_name="alice@example.com")
    run_id = service.run_now(job_id, user_name="alice@example.com")
    service.wait_for_run(run_id, timeout=60)
    task_run_id = service.get_run(run_id)["tasks"][0]["run_id"]

    listed = legacy_cli("jobs", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == [str(job_id), "legacy", "job"]

    listed21 = legacy_cli("jobs", "list", "--version", "2.1", "--output", "JSON")
    assert [j["job_id"] for j in json.loads(listed21.stdout)["jobs"]] == [job_id]

    runs = legacy_cli("runs", "list", "--job-id", str(job_id))
    assert runs.returncode == 0, runs.stderr
    row = runs.stdout.split()
    assert row[:5] == [str(run_id), "legacy", "job", "TERMINATED", "SUCCESS"]

    got = legacy_cli("runs", "get", "--run-id", str(run_id))
    assert got.returncode == 0, got.stderr
    doc = json.loads(got.stdout)
    assert doc["run_id"] == run_id and doc["state"]["result_state"] == "SUCCESS"
    assert doc["creator_user_name"] == "alice@example.com"

    output = legacy_cli("runs", "get-output", "--run-id", str(task_run_id))
    assert output.returncode == 0, output.stderr
    assert "legacy says hi" in json.loads(output.stdout)["logs"]
    # API 2.0 answers get-output for a one-task job run with its task's output.
    output = legacy_cli("runs", "get-output", "--run-id", str(run_id))
    assert output.returncode == 0, output.stderr
    doc = json.loads(output.stdout)
    assert "legacy says hi" in doc["logs"] and doc["metadata"]["run_id"] == task_run_id

    missing = legacy_cli("runs", "get", "--run-id", "987654")
    assert missing.returncode != 0
    assert "RESOURCE_DOES_NOT_EXIST" in missing.stdout + missing.stderr


def test_wrong_token_is_refused(app, tokens, tmp_path):
    if not CLI.exists() or not _port_80_free():
        pytest.skip("legacy CLI or port 80 unavailable")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABRICKS_")}
    env.update(HOME=str(tmp_path), DATABRICKS_HOST="http://127.0.0.1", DATABRICKS_TOKEN="dapi" + "f" * 32)
    with LiveServer(app, port=80):
        out = subprocess.run([str(CLI), "jobs", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode != 0
    # The CLI's own wording for an HTTP 401 from the server.
    assert "authentication information may be incorrect" in out.stdout + out.stderr


def test_secrets_commands(legacy_cli, client, tokens):
    assert legacy_cli("secrets", "create-scope", "--scope", "legacy").returncode == 0
    put = legacy_cli("secrets", "put", "--scope", "legacy", "--key", "pw", "--string-value", "hunter2-legacy")
    assert put.returncode == 0, put.stdout + put.stderr
    listed = legacy_cli("secrets", "list", "--scope", "legacy")
    assert listed.returncode == 0 and "pw" in listed.stdout and "hunter2" not in listed.stdout
    assert "legacy" in legacy_cli("secrets", "list-scopes").stdout
    acl = legacy_cli("secrets", "put-acl", "--scope", "legacy", "--principal", "bob@example.com", "--permission", "READ")
    assert acl.returncode == 0, acl.stdout + acl.stderr
    acls = legacy_cli("secrets", "list-acls", "--scope", "legacy")
    assert "bob@example.com" in acls.stdout and "READ" in acls.stdout
    got = client.get("/api/2.0/secrets/get", headers=bearer(tokens.bob), params={"scope": "legacy", "key": "pw"})
    assert got.status_code == 200
    bad = legacy_cli("secrets", "put-acl", "--scope", "legacy", "--principal", "bob@example.com", "--permission", "OWN")
    assert bad.returncode != 0
    assert legacy_cli("secrets", "delete", "--scope", "legacy", "--key", "pw").returncode == 0
    assert legacy_cli("secrets", "delete-scope", "--scope", "legacy").returncode == 0
    assert "legacy" not in legacy_cli("secrets", "list-scopes").stdout


def test_workspace_commands(legacy_cli, tmp_path):
    home = "/Users/alice@example.com"
    source = tmp_path / "nb.py"
    source.write_text("# Databricks notebook source\nprint('imported')\n")
    assert legacy_cli("workspace", "mkdirs", f"{home}/proj").returncode == 0
    imported = legacy_cli("workspace", "import", "-l", "PYTHON", str(source), f"{home}/proj/nb")
    assert imported.returncode == 0, imported.stdout + imported.stderr
    listed = legacy_cli("workspace", "ls", "-l", f"{home}/proj")
    assert listed.returncode == 0, listed.stderr
    assert "NOTEBOOK" in listed.stdout and "nb" in listed.stdout
    out = tmp_path / "back.py"
    exported = legacy_cli("workspace", "export", f"{home}/proj/nb", str(out))
    assert exported.returncode == 0, exported.stdout + exported.stderr
    assert "print('imported')" in out.read_text()
    refused = legacy_cli("workspace", "ls", "/Users/bob@example.com")
    # The CLI's own wording for an HTTP 403.
    assert refused.returncode != 0 and "Authorization failed" in refused.stdout + refused.stderr
    assert legacy_cli("workspace", "rm", "-r", f"{home}/proj").returncode == 0
    assert legacy_cli("workspace", "ls", f"{home}/proj").returncode != 0


def test_fs_commands(legacy_cli, tmp_path, settings):
    """``databricks fs`` (the DBFS API): mkdirs, cp both ways (a file over 1 MB goes in blocks), ls,
    mv, rm -r."""
    local = tmp_path / "data.bin"
    local.write_bytes(os.urandom(1024 * 1024 + 777))
    for args in (("fs", "mkdirs", "dbfs:/legacy/in"), ("fs", "cp", str(local), "dbfs:/legacy/in/data.bin"),
                 ("fs", "mv", "dbfs:/legacy/in/data.bin", "dbfs:/legacy/out.bin")):
        done = legacy_cli(*args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    assert (settings.home / "dbfs" / "legacy" / "out.bin").read_bytes() == local.read_bytes()
    listed = legacy_cli("fs", "ls", "dbfs:/legacy")
    assert listed.returncode == 0 and sorted(listed.stdout.split()) == ["in", "out.bin"], listed.stdout
    back = tmp_path / "back.bin"
    copied = legacy_cli("fs", "cp", "dbfs:/legacy/out.bin", str(back))
    assert copied.returncode == 0, copied.stderr
    assert back.read_bytes() == local.read_bytes()
    again = legacy_cli("fs", "cp", str(local), "dbfs:/legacy/out.bin")  # no --overwrite
    assert again.returncode != 0 and "RESOURCE_ALREADY_EXISTS" in again.stdout + again.stderr
    assert legacy_cli("fs", "rm", "-r", "dbfs:/legacy").returncode == 0
    assert not (settings.home / "dbfs" / "legacy").exists()
