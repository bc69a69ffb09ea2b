"""Notebooks that are not what they claim to be: a ``.ipynb`` whose JSON is not a Jupyter notebook,
a source notebook that is not UTF-8. A task running one fails with ``FAILED`` and a message naming
the file and the cell (never "Internal error: AttributeError"), and a Jupyter import of such content
is refused by the Workspace API with ``INVALID_PARAMETER_VALUE`` (the SDK's ``InvalidParameterValue``)."""

from __future__ import annotations

import base64

import pytest

from healthmon.jobs import service
from healthmon.settings import Settings
from healthmon.store import auth
from healthmon.store.db import Database
from tests.jobs.jobs_helpers import Workspace, nb_task
from tests.server.conftest import LiveServer

BROKEN_IPYNB = {
    "top_list": ("[1]", "expected a JSON object"),
    "cell_int": ('{"cells": [5]}', "cell 1: expected a JSON object"),
    "source_int": ('{"cells": [{"cell_type": "code", "source": 7}]}', "cell 1: source must be a string"),
    "cells_str": ('{"cells": "x"}', '"cells" is a list'),
}


def test_a_task_running_a_malformed_ipynb_or_a_non_utf8_notebook_fails_naming_the_file(healthmon_home):
    ws = Workspace(healthmon_home)
    tasks = []
    for key, (text, _) in BROKEN_IPYNB.items():
        (ws.root / f"{key}.ipynb").write_text(text)
        tasks.append(nb_task(key, ws.workspace_path(ws.root / key)))
    (ws.root / "latin1.py").write_bytes(b"# Databricks notebook source\nprint('caf\xe9')\n")
    tasks.append(nb_task("latin1", ws.workspace_path(ws.root / "latin1")))
    run = service.wait_for_run(service.run_now(service.create_job({"name": "bad notebooks", "tasks": tasks})),
                               timeout=60)
    messages = {t["task_key"]: t["state"]["state_message"] for t in run["tasks"]}
    assert {t["task_key"]: t["state"]["result_state"] for t in run["tasks"]} == dict.fromkeys(messages, "FAILED")
    for key, (_, expected) in BROKEN_IPYNB.items():
        assert f"{key}.ipynb" in messages[key] and expected in messages[key], messages[key]
        assert "Internal error" not in messages[key]
    assert "latin1.py" in messages["latin1"] and "not UTF-8" in messages["latin1"], messages["latin1"]


@pytest.mark.parametrize("text", [text for text, _ in BROKEN_IPYNB.values()] + ["print(1)"])
def test_a_jupyter_import_of_content_that_is_not_a_notebook_is_refused(healthmon_home, text):
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.errors import InvalidParameterValue, NotFound
    from databricks.sdk.service.workspace import ImportFormat

    from healthmon.server.app import create_app

    settings = Settings.from_env()
    with Database.from_settings(settings).session() as s:
        token = auth.create_token(s, "alice@example.com").token_value
    with LiveServer(create_app(settings)) as srv:
        w = WorkspaceClient(host=srv.url, token=token)
        w.workspace.mkdirs("/Users/alice@example.com")
        content = base64.b64encode(text.encode()).decode()
        for path, fmt in (("/Users/alice@example.com/nb", ImportFormat.JUPYTER),
                          ("/Users/alice@example.com/nb.ipynb", ImportFormat.AUTO)):
            with pytest.raises(InvalidParameterValue, match="content of /Users/alice@example.com/nb"):
                w.workspace.import_(path, content=content, format=fmt)
            with pytest.raises(NotFound):  # nothing was stored
                w.workspace.get_status(path)
        good = base64.b64encode(b'{"cells": [{"cell_type": "code", "source": ["x = 1"]}]}').decode()
        w.workspace.import_("/Users/alice@example.com/ok", content=good, format=ImportFormat.JUPYTER)
        assert w.workspace.get_status("/Users/alice@example.com/ok").language is not None


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ({"notebook_task": {"notebook_path": "/Workspace/x", "base_parameters": {"a": 1}}},
         "notebook_task.base_parameters must be a JSON object of names to strings"),
        ({"notebook_task": {"notebook_path": "/Workspace/x", "base_parameters": [1]}},
         "notebook_task.base_parameters must be a JSON object of names to strings"),
        ({"notebook_task": {"notebook_path": 5}}, "notebook_task.notebook_path must be a string"),
        ({"spark_python_task": {"python_file": "/Workspace/x.py", "parameters": [1, None, {"a": 1}, True]}},
         "spark_python_task.parameters must be a list of strings"),
        ({"spark_python_task": {"python_file": "/Workspace/x.py", "parameters": "--x"}},
         "spark_python_task.parameters must be a list of strings"),
        ({"python_wheel_task": {"package_name": "p", "entry_point": "e", "named_parameters": {"a": {"b": 1}}}},
         "python_wheel_task.named_parameters must be a JSON object of names to strings"),
    ],
)
def test_task_parameters_of_another_json_type_are_refused_at_create_and_submit(healthmon_home, task, message):
    # The Jobs API types these as strings (NotebookTask.base_parameters: map<string, string>,
    # SparkPythonTask.parameters: array of strings); run-now's notebook_params/python_params are
    # refused the same way. Stored, they would reach the task as Python reprs ('None', "{'a': 1}").
    from healthmon.errors import InvalidParameterError

    settings = {"name": "odd", "tasks": [{"task_key": "t", **task}]}
    with pytest.raises(InvalidParameterError, match=message):
        service.create_job(settings)
    with pytest.raises(InvalidParameterError, match=message):
        service.submit_run(settings)
    assert not service.list_jobs().get("jobs")


def test_a_python_file_task_reads_its_file_as_python_does(healthmon_home):
    # `python file.py`: bytes that are not UTF-8 are a SyntaxError naming the file and line unless
    # a PEP 263 coding line declares the encoding.
    ws = Workspace(healthmon_home)
    (ws.root / "latin1.py").write_bytes(b"x = 'caf\xe9'\n")
    (ws.root / "declared.py").write_bytes(b"# -*- coding: latin-1 -*-\nassert 'caf\xe9' == 'caf\\u00e9'\n")
    tasks = [{"task_key": name, "spark_python_task": {"python_file": ws.workspace_path(ws.root / f"{name}.py")}}
             for name in ("latin1", "declared")]
    run = service.wait_for_run(service.submit_run({"run_name": "encodings", "tasks": tasks}), timeout=60)
    states = {t["task_key"]: t["state"] for t in run["tasks"]}
    assert states["declared"]["result_state"] == "SUCCESS", states["declared"]
    assert states["latin1"]["result_state"] == "FAILED"
    message = states["latin1"]["state_message"]
    assert message.startswith("SyntaxError") and "latin1.py, line 1" in message, message
