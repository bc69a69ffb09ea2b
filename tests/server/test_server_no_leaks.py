"""Tokens and secret values never appear in responses or in the server's logs."""

from __future__ import annotations

import logging

import httpx
import pytest

from healthmon.jobs import service
from healthmon.store import secrets
from tests.server.conftest import LiveServer, bearer, workspace_file

SECRET = "s3cr3t-Value-9b1e"


@pytest.mark.timeout(120)
def test_secrets_and_tokens_stay_out_of_responses_and_logs(app, tokens, db, settings, caplog):
    with db.session() as s:
        secrets.create_scope(s, "ops")
        secrets.put_secret(s, "ops", "api_key", SECRET)
    script = workspace_file(settings, "alice@example.com", "leaky.py",
                            f"print('the key is {SECRET}')\nraise RuntimeError('failed with {SECRET}')\n")
    job_id = service.create_job({"name": "leaky", "tasks": [{"task_key": "t", "spark_python_task": {"python_file": script}}]},
                                user_name="alice@example.com")
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []
    with LiveServer(app) as srv:
        with httpx.Client(base_url=srv.url, headers=bearer(tokens.alice), timeout=30) as http:
            run_id = http.post("/api/2.2/jobs/run-now", json={"job_id": job_id}).json()["run_id"]
            service.wait_for_run(run_id, timeout=60)
            run = http.get("/api/2.2/jobs/runs/get", params={"run_id": run_id})
            bodies.append(run.text)
            task_run = run.json()["tasks"][0]["run_id"]
            out = http.get("/api/2.2/jobs/runs/get-output", params={"run_id": task_run})
            bodies.append(out.text)
            assert "[REDACTED]" in out.json()["logs"]
            bodies.append(http.get("/api/2.0/token/list").text)
            bodies.append(http.get("/api/2.2/jobs/list", params={"page_token": tokens.bob}).text)  # misuse: token as input
            bodies.append(http.get("/api/2.2/jobs/get", params={"job_id": tokens.bob}).text)
            bodies.append(http.post("/api/2.2/jobs/run-now", json={"job_id": tokens.bob}).text)
            bodies.append(httpx.get(f"{srv.url}/api/2.2/jobs/list", headers=bearer(tokens.carol + "x")).text)
    server_records = [r for r in caplog.records if r.name.startswith(("healthmon", "uvicorn"))]
    logs = "\n".join(r.getMessage() for r in server_records)
    assert '"GET /api/2.2/jobs/list" 400 alice@example.com' in logs  # the access log names caller, not token
    for text in bodies + [logs]:
        assert SECRET not in text
        for token in (tokens.alice, tokens.bob, tokens.carol):
            assert token not in text
