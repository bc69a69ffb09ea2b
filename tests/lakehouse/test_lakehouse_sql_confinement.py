"""The embedded SQL reads the lakehouse and nothing else: no host files, no other table's files,
no workspace database, no URLs, no extensions, and no statement runs past the timeout."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pyarrow as pa
import pytest

from healthmon.errors import HealthmonError, InvalidParameterError
from healthmon.lakehouse import Lakehouse
from healthmon.lakehouse.engines.duckdb_engine import confined_connection
from healthmon.lakehouse.sql_confine import SQLTimeoutError
from healthmon.settings import Settings

DENIED = "file system operations are disabled by configuration"


@pytest.fixture
def lh(healthmon_home) -> Lakehouse:
    lh = Lakehouse.from_env()
    lh.write_table("c.s.visible", pa.table({"id": [1, 2], "v": ["a", "b"]}))
    lh.write_table("c.s.other", pa.table({"id": [3], "secret": ["s3cr3t"]}))
    return lh


def _denied(lh: Lakehouse, query: str, dialect: str = "spark") -> str:
    with pytest.raises(HealthmonError) as info:
        lh.sql(query, dialect)
    return str(info.value)


def test_lakehouse_tables_still_read_both_ways(lh):
    assert lh.sql("SELECT sum(id) AS n FROM c.s.visible").column("n").to_pylist() == [3]
    # partitioned: bound through deltalake's Arrow dataset, not DuckDB's file reader
    lh.write_table("c.s.parts", pa.table({"p": ["x", "y"], "n": [1, 2]}), partition_by=["p"])
    assert lh.sql("SELECT v.id, p.n FROM c.s.visible v JOIN c.s.parts p ON v.id = p.n ORDER BY 1").num_rows == 2
    assert lh.sql("SELECT count(*) AS n FROM c.s.visible VERSION AS OF 0").column("n").to_pylist() == [0]


@pytest.mark.parametrize("dialect", ["spark", "duckdb"])
def test_host_files_are_not_readable(lh, dialect):
    assert DENIED in _denied(lh, "SELECT * FROM read_csv('/etc/passwd')", dialect)
    assert DENIED in _denied(lh, "SELECT * FROM read_text('/etc/hostname')", dialect)
    if dialect == "duckdb":  # glob() is no table function in Spark SQL
        assert DENIED in _denied(lh, "SELECT * FROM glob('/etc/*')", dialect)


def test_workspace_database_is_not_readable(lh, healthmon_home):
    from healthmon.store.db import Database

    Database.from_settings(Settings.from_env()).create_all()
    db_file = healthmon_home / "workspace.db"
    assert db_file.exists()
    assert DENIED in _denied(lh, f"SELECT * FROM read_blob('{db_file}')")
    # also when the query names a table, which opens that table's directory to DuckDB
    assert DENIED in _denied(lh, f"SELECT v.id, b.size FROM c.s.visible v, read_blob('{db_file}') b")
    assert DENIED in _denied(lh, f"SELECT * FROM c.s.visible, read_blob('{lh.root}/c/s/visible/../../../../workspace.db')")


def test_a_query_reads_only_the_tables_it_names(lh):
    other = lh.table_path("c.s.other")
    text = _denied(lh, f"SELECT * FROM c.s.visible, read_parquet('{other}/*.parquet')")
    assert DENIED in text
    assert "s3cr3t" not in text


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/data.csv", "https://127.0.0.1:9/data.parquet"])
def test_urls_are_not_read_and_nothing_is_installed(lh, url, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # where DuckDB would install extensions
    reader = "read_csv" if url.endswith(".csv") else "read_parquet"
    assert DENIED in _denied(lh, f"SELECT * FROM {reader}('{url}')")
    assert not (tmp_path / ".duckdb").exists()


def test_install_load_and_reconfiguration_are_refused(lh):
    for statement in ("INSTALL httpfs", "LOAD httpfs", "SET enable_external_access = true", "ATTACH '/tmp/x.db'",
                      "COPY (SELECT 1) TO '/tmp/x.csv'"):
        for dialect in ("spark", "duckdb"):
            with pytest.raises(InvalidParameterError):
                lh.sql(statement, dialect)
    # The connection itself refuses them too, whatever reaches it.
    con = confined_connection()
    try:
        with pytest.raises(duckdb.PermissionException):
            con.execute("INSTALL httpfs")
        with pytest.raises(duckdb.PermissionException):
            con.execute("LOAD httpfs")
        with pytest.raises(duckdb.Error, match="locked"):
            con.execute("SET enable_external_access = true")
        with pytest.raises(duckdb.Error, match="locked"):
            con.execute("SET autoinstall_known_extensions = true")
        with pytest.raises(duckdb.PermissionException):
            con.execute("COPY (SELECT 1) TO '/tmp/robust-should-not-exist.csv'")
    finally:
        con.close()
    assert not os.path.exists("/tmp/robust-should-not-exist.csv")


def test_statement_timeout(healthmon_home, monkeypatch):
    lh = Lakehouse.from_env(timeout=0.5)
    with pytest.raises(SQLTimeoutError, match=r"statement timeout of 0.5 s"):
        lh.sql("SELECT count(*) FROM range(100000000000000)")
    # the environment sets it too; the default is 10 minutes
    from healthmon.lakehouse.sql_confine import DEFAULT_TIMEOUT_S, timeout_from_env

    assert DEFAULT_TIMEOUT_S == 600
    monkeypatch.setenv("HEALTHMON_SQL_TIMEOUT", "0.5")
    with pytest.raises(SQLTimeoutError):
        Lakehouse.from_env().sql("SELECT count(*) FROM range(100000000000000)")
    monkeypatch.setenv("HEALTHMON_SQL_TIMEOUT", "0")
    assert timeout_from_env() is None
    monkeypatch.setenv("HEALTHMON_SQL_TIMEOUT", "ten")
    with pytest.raises(InvalidParameterError, match="HEALTHMON_SQL_TIMEOUT 'ten'"):
        Lakehouse.from_env().sql("SELECT 1")


def test_cli_timeout_and_denied_read(healthmon_home):
    env = {**os.environ, "HEALTHMON_HOME": str(healthmon_home)}
    proc = subprocess.run([sys.executable, "-m", "healthmon.cli.main", "sql", "--timeout", "0.5",
                           "SELECT count(*) FROM range(100000000000000)"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 1 and "statement timeout of 0.5 s" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "healthmon.cli.main", "sql", "SELECT * FROM read_csv('/etc/passwd')"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1 and DENIED in proc.stderr and "root:" not in proc.stdout + proc.stderr
