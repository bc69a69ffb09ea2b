"""Command-line values that used to be stored in a form later reads could not handle, or that
ended in a traceback: job settings of the wrong JSON type, JSON text with an unpaired surrogate
escape, a binary secret on stdin (the Databricks CLI stores stdin as bytes), a negative seed."""

from __future__ import annotations

import io
import json

import pytest

from healthmon.settings import Settings
from healthmon.store import secrets
from healthmon.store.db import Database


def test_jobs_create_refuses_a_name_that_is_not_a_string_and_jobs_list_still_answers(cli):
    code, text = cli("jobs", "create", "--json", '{"name": 5}')
    assert code == 1 and "Job settings: name must be a string, got 5." in text
    code, text = cli("jobs", "create", "--json", '{"name": "ok", "timeout_seconds": -1}')
    assert code == 1 and "timeout_seconds must be a whole number of seconds >= 0" in text
    assert cli("jobs", "create", "--json", '{"name": "ok"}')[0] == 0
    code, text = cli("jobs", "list")
    assert code == 0 and "ok" in text


@pytest.mark.parametrize(
    ("argv", "where"),
    [
        (("jobs", "create", "--json", '{"name": "j", "tags": {"team": "a\\ud800"}}'), "--json: tags.team"),
        (("jobs", "run-now", "--job-id", "1", "--notebook-params", '{"day": "\\udcff"}'), "--notebook-params: day"),
        (("jobs", "run-now", "--job-id", "1", "--python-params", '["\\ud800"]'), "--python-params: [0]"),
    ],
)
def test_json_with_an_unpaired_surrogate_escape_is_refused(cli, argv, where):
    code, text = cli(*argv)
    assert code == 1, text
    assert f"{where} holds an unpaired UTF-16 surrogate escape" in text
    code, text = cli("jobs", "list", "-o", "json")
    assert code == 0 and json.loads(text)["jobs"] == []


def _secret(scope: str, key: str) -> bytes:
    with Database.from_settings(Settings.from_env()).session() as s:
        return secrets.get_secret_bytes(s, scope, key)


def test_a_binary_secret_on_stdin_is_stored_byte_for_byte(cli, monkeypatch):
    assert cli("secrets", "create-scope", "s1")[0] == 0
    value = bytes(range(256)) * 4 + b"\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(value)))
    assert cli("secrets", "put-secret", "s1", "bin")[0] == 0
    assert _secret("s1", "bin") == value
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"hunter2\n")))
    assert cli("secrets", "put-secret", "s1", "text")[0] == 0
    assert _secret("s1", "text") == b"hunter2"  # what `echo` adds is dropped from text, as before


def test_a_string_value_that_is_not_utf8_is_stored_as_the_bytes_given(cli):
    """Python decodes argv bytes that are not UTF-8 to surrogates (surrogateescape)."""
    assert cli("secrets", "create-scope", "s1")[0] == 0
    not_utf8 = b"\xff\xfe".decode("utf-8", "surrogateescape")
    assert cli("secrets", "put-secret", "s1", "k", "--string-value", not_utf8)[0] == 0
    assert _secret("s1", "k") == b"\xff\xfe"


@pytest.mark.parametrize(
    "argv",
    [("demo-data", "generate", "--catalog", "c", "--seed", "-1"), ("evaluate", "--seed", "-1", "--scale", "small")],
)
def test_a_negative_seed_is_a_usage_error(cli, argv):
    code, text = cli(*argv)
    assert code == 2 and "Invalid value for '--seed'" in text and "greater than or equal to 0" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--lifetime-seconds", str(10**20)), "at most 315360000 (10 years)"),  # was an SQLite overflow
        (("--lifetime-seconds", "315360001"), "at most 315360000 (10 years)"),
        (("--service-principal", ""), "A principal needs a non-empty name"),  # was a token for the local user
        (("--user-name", ""), "A principal needs a non-empty name"),
        (("--group", ""), "--group: a group name must not be empty."),
    ],
)
def test_tokens_create_refuses_what_the_token_api_refuses(cli, argv, message):
    code, text = cli("tokens", "create", *argv)
    assert code == 1 and message in text
    code, text = cli("tokens", "list", "--all", "-o", "json")
    assert code == 0 and json.loads(text)["token_infos"] == []


@pytest.mark.parametrize("value", ["inf", "1e300"])
def test_a_statement_timeout_beyond_what_a_timer_can_wait_is_refused(cli, monkeypatch, value):
    """It used to start a timer whose thread died with a traceback (timestamp out of range),
    leaving the statement without any timeout."""
    code, text = cli("sql", "SELECT 1", "--timeout", value)
    assert code == 2 and "Invalid value for '--timeout'" in text
    monkeypatch.setenv("HEALTHMON_SQL_TIMEOUT", value)
    code, text = cli("sql", "SELECT 1")
    assert code == 1 and f"Invalid HEALTHMON_SQL_TIMEOUT '{value}': expected a number of seconds from 0 to" in text


@pytest.mark.parametrize(("option", "value"), [("--grace", "inf"), ("--reload-interval", "inf"),
                                               ("--poll-interval", "1e300")])
def test_scheduler_intervals_beyond_what_a_datetime_can_hold_are_usage_errors(cli, option, value):
    """They crashed the daemon (OverflowError in a timedelta): --grace at start, the intervals at
    the first wait."""
    code, text = cli("scheduler", "--once", option, value)
    assert code == 2 and f"Invalid value for '{option}'" in text


def test_json_nested_deeper_than_the_parser_can_go_is_refused(cli, tmp_path):
    """A RecursionError used to end in the 'unexpected internal error' banner."""
    deep = tmp_path / "deep.json"
    deep.write_text('{"name": "d", "tags": ' + '{"a": ' * 5000 + '"x"' + "}" * 5000 + "}")
    code, text = cli("jobs", "create", "--json", f"@{deep}")
    assert code == 1 and f"{deep}: the JSON nests arrays and objects too deeply to read" in text
    code, text = cli("jobs", "run-now", "--job-id", "1", "--python-params", "[" * 5000 + "]" * 5000)
    assert code == 1 and "--python-params: the JSON nests arrays and objects too deeply to read" in text
