"""Run storage on SQLite and PostgreSQL (HEALTHMON_TEST_POSTGRES_URL; skipped when unset)."""

from __future__ import annotations

import os
import threading
import uuid

import pytest
from sqlalchemy import create_engine, text

from healthmon.store.db import Database
from healthmon.store import secrets
from healthmon.store.runs import RunRecord, count_active_job_runs, latest_task_runs, list_job_runs, lock_job

PG_URL = os.environ.get("HEALTHMON_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path, monkeypatch):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'runs.db'}"
        monkeypatch.setenv("HEALTHMON_DATABASE_URL", url)
        yield url
        return
    if not PG_URL:
        pytest.skip("HEALTHMON_TEST_POSTGRES_URL is not set")
    name = f"hm_jobs_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    monkeypatch.setenv("HEALTHMON_DATABASE_URL", url)
    yield url
    from healthmon.store import db as dbmod

    cached = dbmod._databases.pop(url, None)
    if cached is not None:
        cached.engine.dispose()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _run(job_id, state="RUNNING", **kw) -> RunRecord:
    return RunRecord(job_id=job_id, life_cycle_state=state, run_name="j", **kw)


def test_run_ids_unique_across_runs_and_tasks_and_never_reused(db_url):
    db = Database(db_url)
    with db.session() as s:
        job_run = _run(1)
        s.add(job_run)
        s.flush()
        tasks = [_run(1, job_run_id=job_run.run_id, task_key=k, state="TERMINATED") for k in ("a", "b", "a")]
        s.add_all(tasks)
        s.flush()
        ids = [job_run.run_id, *(t.run_id for t in tasks)]
        assert len(set(ids)) == 4
        latest = latest_task_runs(s, job_run.run_id)
        assert latest["a"].run_id == tasks[2].run_id and set(latest) == {"a", "b"}
        top = max(ids)
        s.delete(tasks[2])
    with db.session() as s:
        again = _run(1)
        s.add(again)
        s.flush()
        assert again.run_id > top


def test_listing_filters(db_url):
    db = Database(db_url)
    with db.session() as s:
        s.add_all([_run(1), _run(1, "TERMINATED"), _run(2, "QUEUED"), _run(1, "TERMINATED")])
    with db.session() as s:
        rows, more = list_job_runs(s, job_id=1, limit=2)
        assert len(rows) == 2 and more and rows[0].run_id > rows[1].run_id
        assert [r.life_cycle_state for r in list_job_runs(s, job_id=1, active_only=True)[0]] == ["RUNNING"]
        assert len(list_job_runs(s, completed_only=True)[0]) == 2
        assert count_active_job_runs(s, 2) == 0 and count_active_job_runs(s, 2, states=("QUEUED",)) == 1


def test_job_gate_serialises_admission(db_url):
    """Ten concurrent admissions with max 1 active: exactly one gets in (the gate row lock)."""
    db = Database(db_url)
    db.create_all()
    admitted = []
    barrier = threading.Barrier(10)

    def admit():
        barrier.wait()
        with db.session() as s:
            lock_job(s, 5)
            if count_active_job_runs(s, 5) == 0:
                s.add(_run(5))
                admitted.append(1)

    threads = [threading.Thread(target=admit) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == 1


def test_secret_scopes(db_url):
    from healthmon.errors import HealthmonError, NotFoundError

    db = Database(db_url)
    with db.session() as s:
        secrets.create_scope(s, "team")
        secrets.put_secret(s, "team", "k", "v1")
        secrets.put_secret(s, "team", "k", "v2")
    with db.session() as s:
        assert secrets.get_secret(s, "team", "k") == "v2"
        assert [d["key"] for d in secrets.list_secrets(s, "team")] == ["k"]
        with pytest.raises(HealthmonError, match="Scope team already exists"):
            secrets.create_scope(s, "team")
    with db.session() as s, pytest.raises(NotFoundError, match="scope: team and key: nope"):
        secrets.get_secret(s, "team", "nope")
    with db.session() as s, pytest.raises(NotFoundError, match="Scope other does not exist"):
        secrets.put_secret(s, "other", "k", "v")


@pytest.mark.postgres
def test_end_to_end_run_on_postgres(ws, monkeypatch):
    if not PG_URL:
        pytest.skip("HEALTHMON_TEST_POSTGRES_URL is not set")
    name = f"hm_jobs_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    monkeypatch.setenv("HEALTHMON_DATABASE_URL", url)
    try:
        from jobs_helpers import nb_task
        from healthmon.jobs import service

        a = ws.notebook("a", "dbutils.jobs.taskValues.set('x', 5)")
        b = ws.notebook("b", "dbutils.notebook.exit(str(dbutils.jobs.taskValues.get('a', 'x') * 2))")
        job = service.create_job({"name": "pg", "tasks": [nb_task("a", a), nb_task("b", b, deps=["a"])]})
        run = service.wait_for_run(service.run_now(job), timeout=60)
        assert run["state"]["result_state"] == "SUCCESS"
        b_run = [t for t in run["tasks"] if t["task_key"] == "b"][0]
        assert service.get_run_output(b_run["run_id"])["notebook_output"]["result"] == "10"
    finally:
        from healthmon.store import db as dbmod

        cached = dbmod._databases.pop(url, None)
        if cached is not None:
            cached.engine.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
