"""A user's mistakes on the command line, one test per case that used to end in a traceback,
a silent success or a message without the place and the expectation. Exit 2: the command line
is wrong by itself; exit 1: it is well-formed but the files or the workspace disagree."""

from __future__ import annotations

import socket

import pytest


# -- anomalies score ------------------------------------------------------------------------
def _score(cli, src, *extra):
    return cli("anomalies", "score", "--input", src, "--time-column", "day", "--value-column", "cost", *extra)


def test_anomalies_input_missing_or_a_directory(cli, tmp_path):
    code, text = _score(cli, tmp_path / "nope.csv")
    assert code == 1 and f"--input {tmp_path / 'nope.csv'}: no such file." in text
    code, text = _score(cli, tmp_path)
    assert code == 1 and f"--input {tmp_path}: is a directory; expected a file." in text


@pytest.fixture
def series(tmp_path):
    src = tmp_path / "cost.csv"
    src.write_text("day,cost\n2026-01-01,1\n2026-01-02,2\n")
    return src


def test_anomalies_output_is_a_directory(cli, series, tmp_path):
    (tmp_path / "out").mkdir()
    code, text = _score(cli, series, "--output", tmp_path / "out")
    assert code == 1 and f"--output {tmp_path / 'out'}: is a directory; expected the path of a file" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cost.csv", "out"]  # no partial file left


def test_anomalies_output_in_a_missing_folder(cli, series, tmp_path):
    target = tmp_path / "nodir" / "x.csv"
    code, text = _score(cli, series, "--output", target)
    assert code == 1 and f"--output {target}: its folder {tmp_path / 'nodir'} does not exist" in text


def test_anomalies_header_without_rows(cli, tmp_path):
    src = tmp_path / "head.csv"
    src.write_text("day,cost\n")
    code, text = _score(cli, src)
    assert code == 1 and f"{src}: no data row after the header; expected a timestamp in 'day'" in text
    assert not (tmp_path / "head_scored.csv").exists()


def test_anomalies_no_usable_row_names_each_line(cli, tmp_path):
    src = tmp_path / "bad.csv"
    src.write_text("day,cost\n01/13/2026 xx,1\n2026-01-02,abc\n")
    code, text = _score(cli, src)
    assert code == 1 and "no usable row (2 unusable rows of 2)" in text
    assert f"{src}:2: " in text and f"{src}:3: value: 'abc' is not a number" in text


# -- jobs ------------------------------------------------------------------------------------
def test_jobs_create_json_file_missing_or_a_directory(cli, tmp_path):
    code, text = cli("jobs", "create", "--json", f"@{tmp_path / 'job.json'}")
    assert code == 1 and f"--json @file: {tmp_path / 'job.json'}: no such file." in text
    code, text = cli("jobs", "create", "--json", f"@{tmp_path}")
    assert code == 1 and "is a directory; expected a file" in text


def test_jobs_create_json_file_with_a_syntax_error_names_file_and_line(cli, tmp_path):
    path = tmp_path / "job.json"
    path.write_text('{\n  "name": "x",\n  "tasks": [,]\n}\n')
    code, text = cli("jobs", "create", "--json", f"@{path}")
    assert code == 1 and f"{path}: invalid JSON at line 3 column 13" in text


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ('{"name": "j", "tasks": "t"}', "Job 'j': tasks must be a list of task objects, got str."),
        ('{"name": "j", "tasks": [{"task_key": "a"}, 5]}', "Job 'j': tasks[1] must be a task object, got int."),
        ('{"name": "j", "tasks": [{"task_key": 5}]}', "Job 'j': tasks[0].task_key must be a string, got 5."),
        ('{"name": "j", "tasks": [{"task_key": "a", "depends_on": ["b"]}]}',
         """Job 'j', task 'a': depends_on must be a list of {"task_key": ...} objects, got ['b']."""),
    ],
)
def test_jobs_create_wrong_shape(cli, settings, message):
    code, text = cli("jobs", "create", "--json", settings)
    assert code == 1 and message in text


def test_jobs_list_limit_out_of_range(cli):
    code, text = cli("jobs", "list", "--limit", "0")
    assert code == 2 and "Invalid value for '--limit'" in text


def test_jobs_next_runs_unknown_output(cli):
    code, text = cli("jobs", "next-runs", "--job-id", "1", "--output", "xml")
    assert code == 2 and "Invalid --output 'xml': expected one of text, json." in text


# -- tables, sql, tokens, demo-data: values outside their set are usage errors ---------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("tables", "describe", "a.b.c", "--format", "csv"), "Invalid --format 'csv': expected one of table, json."),
        (("tables", "history", "a.b.c", "--limit", "-1"), "Invalid value for '--limit'"),
        (("sql", "SELECT 1", "--format", "xml"), "Invalid --format 'xml': expected one of table, csv, json."),
        (("tokens", "list", "--output", "xml"), "Invalid --output 'xml': expected one of text, json."),
        (("demo-data", "generate", "--catalog", "c", "--output", "yaml"), "Invalid --output 'yaml'"),
        (("demo-data", "generate", "--catalog", "c", "--scale", "huge"),
         "Invalid --scale 'huge': expected one of small, medium, large."),
        (("evaluate", "--seed", "42", "--scale", "huge"), "Invalid --scale 'huge': expected one of small, medium, large."),
        (("evaluate", "--seeds", "-1"), "Invalid value for '--seeds'"),
        (("scheduler", "--catch-up", "sometimes"), "Invalid --catch-up 'sometimes': expected one of latest, all, none."),
        (("scheduler", "--once", "--poll-interval", "-1"), "Invalid value for '--poll-interval'"),
        (("server", "--port", "70000"), "Invalid value for '--port'"),
        (("mlflow", "ui", "--port", "0"), "Invalid value for '--port'"),
    ],
    ids=lambda v: " ".join(v[:2]) if isinstance(v, tuple) else None,
)
def test_value_outside_its_set_is_a_usage_error(cli, argv, message):
    code, text = cli(*argv)
    assert code == 2 and message in text


# -- evaluate, report --------------------------------------------------------------------------
def test_evaluate_from_log_that_is_not_json(cli, tmp_path):
    log = tmp_path / "seeds.jsonl"
    log.write_text('{"drawn": [1]}\n{"seed": \n')
    code, text = cli("evaluate", "--from-log", log)
    assert code == 1 and f"{log}:2:10: not JSON (Expecting value); expected the JSON lines of" in text


def test_report_output_is_a_directory_or_below_a_file(cli, tmp_path):
    code, text = cli("report", "--output", tmp_path)
    assert code == 1 and f"--output {tmp_path}: is a directory; expected the path of a file" in text
    (tmp_path / "file").write_text("")
    code, text = cli("report", "--output", tmp_path / "file" / "sub" / "r.html")
    assert code == 1 and f"its folder {tmp_path / 'file'} is not a directory" in text


# -- server ------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [("server", "--no-scheduler"), ("mlflow", "ui")], ids=" ".join)
def test_port_in_use(cli, command):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, text = cli(*command, "--port", port)
    assert code == 1  # `mlflow ui` itself exits 0 after logging the error
    assert f"--host 127.0.0.1 --port {port}: cannot listen (Address already in use); another process" in text


def test_server_host_not_of_this_machine(cli):
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this machine, no DNS involved.
    code, text = cli("server", "--host", "192.0.2.1", "--port", "18080", "--no-scheduler")
    assert code == 1 and "--host 192.0.2.1 --port 18080: cannot listen" in text
    assert "expected an address of this machine" in text
