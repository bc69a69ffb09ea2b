"""The workspace database schema is created safely by racing processes."""

from __future__ import annotations

import multiprocessing as mp
import os

import pytest
from sqlalchemy import inspect

from healthmon.store.db import Database


def _create(url: str) -> None:
    Database(url).create_all()


def _race(url: str, n: int = 6) -> list[int]:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_create, args=(url,)) for _ in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    return [p.exitcode for p in procs]


def test_racing_processes_create_the_sqlite_schema_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'race.db'}"
    assert _race(url) == [0] * 6
    tables = set(inspect(Database(url).engine).get_table_names())
    assert {"jobs", "runs", "deployments", "deployment_locks", "schedule_fires", "tokens"} <= tables


def test_sqlite_database_is_in_wal_mode(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("HEALTHMON_TEST_POSTGRES_URL"), reason="HEALTHMON_TEST_POSTGRES_URL not set")
def test_racing_processes_create_the_postgres_schema():
    from sqlalchemy import create_engine, text

    base = os.environ["HEALTHMON_TEST_POSTGRES_URL"]
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS hm_schema_race"))
        conn.execute(text("CREATE DATABASE hm_schema_race"))
    url = base.rsplit("/", 1)[0] + "/hm_schema_race"
    try:
        assert _race(url) == [0] * 6
        assert "runs" in inspect(Database(url).engine).get_table_names()
    finally:
        Database(url).engine.dispose()
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS hm_schema_race WITH (FORCE)"))
