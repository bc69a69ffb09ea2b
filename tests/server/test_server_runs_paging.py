"""runs/list keyset paging over the REST API: next and previous page tokens, legacy offsets,
filtered (non-admin) paging, and the job-runs indexes on new and existing databases."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import insert, inspect, text

from healthmon.jobs import service
from healthmon.store.runs import RunRecord
from tests.jobs.test_jobs_store import db_url  # noqa: F401  (the SQLite + PostgreSQL database fixture)
from tests.server.conftest import bearer

RUNS = 57  # not a multiple of the page sizes used


@pytest.fixture
def seeded(db, tokens):
    """Two jobs: alice's (57 finished runs, each with a task run) and bob's (5 runs),
    interleaved so that a caller who sees only one job must skip the other's runs."""
    task = {"task_key": "t", "spark_python_task": {"python_file": "/x.py"}}
    mine = service.create_job({"name": "mine", "tasks": [task]}, user_name="alice@example.com")
    other = service.create_job({"name": "other", "tasks": [task]}, user_name="bob@example.com")
    ids: dict[int, list[int]] = {mine: [], other: []}
    with db.engine.begin() as conn:
        for i in range(RUNS + 5):
            job = other if i % 12 == 5 else mine
            rid = conn.execute(insert(RunRecord).values(
                job_id=job, run_name="r", life_cycle_state="TERMINATED", result_state="SUCCESS",
                start_time=1000 + i, end_time=2000 + i, settings_json=json.dumps({"name": "r", "tasks": [task]}),
                run_type="SUBMIT_RUN" if i % 24 == 5 else "JOB_RUN",  # 3 of bob's 5
            )).inserted_primary_key[0]
            conn.execute(insert(RunRecord).values(job_id=job, job_run_id=rid, task_key="t", run_name="t",
                                                  life_cycle_state="TERMINATED", result_state="SUCCESS",
                                                  settings_json=json.dumps(task)))
            ids[job].append(rid)
    assert len(ids[mine]) == RUNS
    return mine, other, ids


def _walk(client, token: str, url: str) -> tuple[list[int], list[dict]]:
    seen, pages = [], []
    page_token = None
    while True:
        r = client.get(url + (f"&page_token={page_token}" if page_token else ""), headers=bearer(token))
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body)
        seen += [run["run_id"] for run in body.get("runs", [])]
        page_token = body.get("next_page_token")
        if not page_token:
            assert body["has_more"] is False
            return seen, pages


def test_next_page_tokens_walk_every_run_once_newest_first(client, tokens, seeded):
    mine, _, ids = seeded
    seen, pages = _walk(client, tokens.alice, f"/api/2.2/jobs/runs/list?job_id={mine}&limit=10")
    assert seen == sorted(ids[mine], reverse=True)
    assert len(pages) == 6 and all(len(p["runs"]) == 10 for p in pages[:-1]) and len(pages[-1]["runs"]) == 7
    assert "prev_page_token" not in pages[0] and all("prev_page_token" in p for p in pages[1:])
    assert all("tasks" not in run for p in pages for run in p["runs"])


def test_prev_page_token_returns_the_previous_page(client, tokens, seeded):
    mine, _, ids = seeded
    url = f"/api/2.2/jobs/runs/list?job_id={mine}&limit=10"
    first = client.get(url, headers=bearer(tokens.alice)).json()
    second = client.get(url + f"&page_token={first['next_page_token']}", headers=bearer(tokens.alice)).json()
    third = client.get(url + f"&page_token={second['next_page_token']}", headers=bearer(tokens.alice)).json()
    back = client.get(url + f"&page_token={third['prev_page_token']}", headers=bearer(tokens.alice)).json()
    assert [r["run_id"] for r in back["runs"]] == [r["run_id"] for r in second["runs"]]
    assert back["has_more"] is True and "prev_page_token" in back
    again = client.get(url + f"&page_token={back['prev_page_token']}", headers=bearer(tokens.alice)).json()
    assert [r["run_id"] for r in again["runs"]] == [r["run_id"] for r in first["runs"]]
    assert "prev_page_token" not in again  # nothing newer than the first page
    forward = client.get(url + f"&page_token={again['next_page_token']}", headers=bearer(tokens.alice)).json()
    assert [r["run_id"] for r in forward["runs"]] == [r["run_id"] for r in second["runs"]]


def test_legacy_offsets_and_expand_tasks(client, tokens, seeded):
    mine, _, ids = seeded
    newest_first = sorted(ids[mine], reverse=True)
    for offset in (0, 1, 24, 50, 56):
        r = client.get(f"/api/2.1/jobs/runs/list?job_id={mine}&limit=5&offset={offset}", headers=bearer(tokens.alice))
        body = r.json()
        assert [run["run_id"] for run in body["runs"]] == newest_first[offset:offset + 5]
        assert body["has_more"] is (offset + 5 < RUNS)
    past = client.get(f"/api/2.1/jobs/runs/list?job_id={mine}&offset={RUNS}", headers=bearer(tokens.alice)).json()
    assert past == {"has_more": False}
    expanded = client.get(f"/api/2.2/jobs/runs/list?job_id={mine}&limit=3&expand_tasks=true", headers=bearer(tokens.alice))
    assert [[t["task_key"] for t in run["tasks"]] for run in expanded.json()["runs"]] == [["t"]] * 3


def test_caller_without_job_filter_pages_through_only_what_they_may_view(client, tokens, seeded):
    mine, other, ids = seeded
    seen, pages = _walk(client, tokens.alice, "/api/2.2/jobs/runs/list?limit=7")
    assert seen == sorted(ids[mine], reverse=True)
    admin_seen, _ = _walk(client, tokens.admin, "/api/2.2/jobs/runs/list?limit=25")
    assert admin_seen == sorted(ids[mine] + ids[other], reverse=True)
    submits, _ = _walk(client, tokens.admin, "/api/2.2/jobs/runs/list?limit=25&run_type=SUBMIT_RUN")
    assert len(submits) == 3 and set(submits) < set(ids[other])
    window, _ = _walk(client, tokens.admin, "/api/2.2/jobs/runs/list?limit=25&start_time_from=1010&start_time_to=1019")
    assert len(window) == 10


def test_forged_or_foreign_page_tokens_are_refused(client, tokens, seeded):
    mine, _, _ = seeded
    import base64

    for payload in ({"b": -1}, {"x": 3}, {"b": 1, "a": 2}, {"b": True}, [1]):
        forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
        r = client.get(f"/api/2.2/jobs/runs/list?job_id={mine}&page_token={forged}", headers=bearer(tokens.alice))
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    runs_token = client.get(f"/api/2.2/jobs/runs/list?job_id={mine}&limit=2", headers=bearer(tokens.alice)).json()["next_page_token"]
    r = client.get(f"/api/2.2/jobs/list?page_token={runs_token}", headers=bearer(tokens.alice))
    assert r.status_code == 400  # a runs cursor is not a jobs page token


def test_job_runs_indexes_exist_and_are_added_to_an_existing_database(tmp_path, monkeypatch):
    from healthmon.store.db import Database

    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = Database(url)
    db.create_all()
    names = {ix["name"] for ix in inspect(db.engine).get_indexes("runs")}
    assert {"ix_runs_job_task_run", "ix_runs_task_run"} <= names
    with db.engine.begin() as conn:  # a database from before these indexes
        conn.execute(text("DROP INDEX ix_runs_job_task_run"))
        conn.execute(text("DROP INDEX ix_runs_task_run"))
    db.engine.dispose()
    reopened = Database(url)
    reopened.create_all()
    assert {"ix_runs_job_task_run", "ix_runs_task_run"} <= {ix["name"] for ix in inspect(reopened.engine).get_indexes("runs")}
    with reopened.engine.connect() as conn:
        plan = " ".join(str(r) for r in conn.execute(text(
            "EXPLAIN QUERY PLAN SELECT run_id FROM runs WHERE task_key IS NULL AND job_id = 1 AND run_id < 99 "
            "ORDER BY run_id DESC LIMIT 26")))
    assert "COVERING INDEX ix_runs_job_task_run" in plan and "TEMP B-TREE" not in plan


def test_runs_delete_and_cancel_need_their_levels(client, tokens, seeded):
    mine, other, ids = seeded
    victim = ids[mine][3]
    denied = client.post("/api/2.2/jobs/runs/delete", headers=bearer(tokens.bob), json={"run_id": victim})
    assert denied.status_code == 403 and denied.json()["error_code"] == "PERMISSION_DENIED"
    assert client.post("/api/2.2/jobs/runs/delete", headers=bearer(tokens.alice), json={"run_id": victim}).json() == {}
    gone = client.get(f"/api/2.2/jobs/runs/get?run_id={victim}", headers=bearer(tokens.alice))
    assert gone.status_code == 404 and gone.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    seen, _ = _walk(client, tokens.alice, f"/api/2.2/jobs/runs/list?job_id={mine}&limit=25")
    assert seen == sorted(set(ids[mine]) - {victim}, reverse=True)
    finished = client.post("/api/2.1/jobs/runs/cancel", headers=bearer(tokens.alice), json={"run_id": ids[mine][0]})
    assert finished.status_code == 200  # cancelling a finished run is a no-op, as on Databricks


def test_store_keyset_paging_and_index_creation_on_sqlite_and_postgresql(db_url):
    """The store's paging (keyset both ways, offsets) and the creation of the job-runs indexes
    on a database made before them, on both backends (PostgreSQL: HEALTHMON_TEST_POSTGRES_URL)."""
    from healthmon.store.db import Database
    from healthmon.store.runs import RUN_COLUMNS, list_job_runs

    db = Database(db_url)
    db.create_all()
    with db.engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_runs_job_task_run"))
        conn.execute(text("DROP INDEX ix_runs_task_run"))
        for i in range(30):
            rid = conn.execute(insert(RunRecord).values(job_id=1 + i % 2, run_name="r", life_cycle_state="TERMINATED")
                               ).inserted_primary_key[0]
            conn.execute(insert(RunRecord).values(job_id=1 + i % 2, job_run_id=rid, task_key="t", run_name="t",
                                                  life_cycle_state="TERMINATED"))
    db.engine.dispose()
    again = Database(db_url)
    again.create_all()
    assert {"ix_runs_job_task_run", "ix_runs_task_run"} <= {ix["name"] for ix in inspect(again.engine).get_indexes("runs")}
    with again.connect() as conn:
        everything, _ = list_job_runs(conn, job_id=1, limit=100, columns=RUN_COLUMNS)
        ids = [r.run_id for r in everything]
        assert len(ids) == 15 and ids == sorted(ids, reverse=True)
        page, more = list_job_runs(conn, job_id=1, limit=4, before_run_id=ids[3], columns=RUN_COLUMNS)
        assert [r.run_id for r in page] == ids[4:8] and more
        back, newer = list_job_runs(conn, job_id=1, limit=4, after_run_id=ids[8], columns=RUN_COLUMNS)
        assert [r.run_id for r in back] == ids[4:8] and newer
        offset, more = list_job_runs(conn, job_id=1, limit=4, offset=13, columns=RUN_COLUMNS)
        assert [r.run_id for r in offset] == ids[13:15] and not more
        both, _ = list_job_runs(conn, limit=100, columns=RUN_COLUMNS)
        assert len(both) == 30
    again.engine.dispose()
