"""Bad ``HEALTHMON_*`` settings are refused before a command touches anything: the message names
the variable, its value and what it expects; exit 1; no traceback."""

from __future__ import annotations

import os

import pytest


def test_home_that_is_a_file(cli, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.write_text("not a folder")
    monkeypatch.setenv("HEALTHMON_HOME", str(home))
    code, text = cli("jobs", "list")
    assert code == 1
    assert f"HEALTHMON_HOME={home}: is a file; expected a directory" in text


def test_home_below_a_file(cli, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("HEALTHMON_HOME", str(tmp_path / "file" / "home"))
    code, text = cli("secrets", "list-scopes")
    assert code == 1
    assert f"cannot be created: {tmp_path / 'file'} is a file; expected a directory" in text


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes any directory")
def test_home_not_writable(cli, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir(mode=0o500)
    monkeypatch.setenv("HEALTHMON_HOME", str(home))
    code, text = cli("tables", "list")
    assert code == 1
    assert "not readable and writable by this user" in text


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("notaurl", "Invalid HEALTHMON_DATABASE_URL 'notaurl': not a database URL; expected sqlite:///"),
        ("oracle2://u:secret@h/db", "Invalid HEALTHMON_DATABASE_URL 'oracle2://u:***@h/db': no database driver for "
                                    "'oracle2'; expected sqlite:///"),
    ],
)
def test_bad_database_url(cli, monkeypatch, url, message):
    monkeypatch.setenv("HEALTHMON_DATABASE_URL", url)
    code, text = cli("jobs", "list")
    assert code == 1 and message in text


def test_unreachable_database(cli, monkeypatch):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HEALTHMON_DATABASE_URL", f"postgresql+psycopg://u:secret@127.0.0.1:{port}/db")
    code, text = cli("jobs", "list")
    assert code == 1
    assert f"Cannot open the workspace database postgresql+psycopg://u:***@127.0.0.1:{port}/db" in text
    assert "secret" not in text and "expected a reachable database" in text


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("HEALTHMON_SQL_TIMEOUT", "ten", "expected a number of seconds from 0 to 31622400"),
        ("HEALTHMON_SQL_TIMEOUT", "-3", "expected a number of seconds from 0 to 31622400"),
        ("HEALTHMON_SQL_TIMEOUT", "inf", "expected a number of seconds from 0 to 31622400"),
        ("HEALTHMON_TASK_SLOTS", "abc", "expected a whole number of task slots >= 1"),
        ("HEALTHMON_TASK_SLOTS", "0", "expected a whole number of task slots >= 1"),
        ("HEALTHMON_TASK_SLOTS", "2.5", "expected a whole number of task slots >= 1"),
        ("HEALTHMON_RUNNER_STALE_SECONDS", "soon", "expected a number of seconds >= 1"),
        ("HEALTHMON_LOG_MAX_BYTES", "10MB", "expected a whole number of bytes >= 1"),
        ("HEALTHMON_SMTP_PORT", "99999", "expected a TCP port from 1 to 65535"),
        ("HEALTHMON_ENGINE", "oracle", "expected one of duckdb, spark"),
    ],
)
def test_bad_setting_is_refused_before_the_command(cli, monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    code, text = cli("jobs", "list")
    assert code == 1
    assert f"Invalid {name} {value!r}: {expected}" in text


def test_good_settings_pass(cli, monkeypatch):
    for name, value in (("HEALTHMON_SQL_TIMEOUT", "0"), ("HEALTHMON_TASK_SLOTS", "3"), ("HEALTHMON_ENGINE", "DuckDB"),
                        ("HEALTHMON_SMTP_PORT", " 2525 ")):
        monkeypatch.setenv(name, value)
    code, text = cli("sql", "SELECT 1 AS one", "--format", "csv")
    assert code == 0 and text.split() == ['"one"', "1"]


def test_help_needs_no_workspace(cli, monkeypatch):
    monkeypatch.setenv("HEALTHMON_TASK_SLOTS", "abc")
    code, text = cli("jobs", "list", "--help")
    assert code == 0 and "Usage: healthmon jobs list" in text
