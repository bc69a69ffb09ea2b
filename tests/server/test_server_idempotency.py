"""`idempotency_token` on run-now and runs/submit: a retried request gets the first run, never a
second one — also when the retries race each other."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from healthmon.jobs import service
from tests.server.conftest import bearer, workspace_file


def _script(settings) -> str:
    return workspace_file(settings, "alice@example.com", "noop.py", "print('noop')\n")


def _submit(client, token, settings, idem: str | None):
    body = {"run_name": "adhoc", "tasks": [{"task_key": "a", "spark_python_task": {"python_file": _script(settings)}}]}
    if idem:
        body["idempotency_token"] = idem
    return client.post("/api/2.2/jobs/runs/submit", json=body, headers=bearer(token))


def test_submit_with_the_same_token_returns_the_same_run(client, tokens, settings):
    first = _submit(client, tokens.alice, settings, "retry-1")
    again = _submit(client, tokens.alice, settings, "retry-1")
    other = _submit(client, tokens.alice, settings, "retry-2")
    untokened = [_submit(client, tokens.alice, settings, None) for _ in range(2)]
    assert first.status_code == again.status_code == other.status_code == 200, first.text
    assert first.json()["run_id"] == again.json()["run_id"]
    assert other.json()["run_id"] != first.json()["run_id"]
    assert untokened[0].json()["run_id"] != untokened[1].json()["run_id"]
    listed = client.get("/api/2.2/jobs/runs/list?run_type=SUBMIT_RUN&limit=25", headers=bearer(tokens.alice)).json()
    assert len(listed["runs"]) == 4


def test_run_now_retries_racing_each_other_make_one_run(client, tokens, settings):
    job_id = service.create_job({
        "name": "idem", "max_concurrent_runs": 10,
        "tasks": [{"task_key": "a", "spark_python_task": {"python_file": _script(settings)}}],
    })

    def run_now(_):
        return client.post("/api/2.2/jobs/run-now", json={"job_id": job_id, "idempotency_token": "same"},
                           headers=bearer(tokens.admin))

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(run_now, range(6)))
    assert {r.status_code for r in responses} == {200}, [r.text for r in responses]
    assert len({r.json()["run_id"] for r in responses}) == 1
    runs = service.list_runs(job_id=job_id, limit=25)["runs"]
    assert len(runs) == 1
