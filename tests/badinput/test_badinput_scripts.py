"""Hostile ``experimental.scripts`` hooks: a hook of the wrong type, a script that floods its
output with megabytes of binary, one in an included file, ``bash`` missing from PATH, and one
that never ends while the command is interrupted. Each gets a clear message and an exit code;
an interrupt ends every process of the script and leaves no lock held and no half deploy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

JOB = ("    j: {name: J, tasks: [{task_key: t, existing_cluster_id: abc,"
       " spark_python_task: {python_file: ./main.py}}]}\n")


def _bundle(root, scripts: str, extra_files: dict[str, str] | None = None):
    root.mkdir(exist_ok=True)
    (root / "databricks.yml").write_text("bundle: {name: hooks}\ninclude: ['*.inc.yml']\nresources:\n  jobs:\n"
                                         + JOB + "experimental:\n  scripts:\n" + textwrap.indent(scripts, "    "))
    (root / "main.py").write_text("print('hi')\n")
    for name, text in (extra_files or {}).items():
        (root / name).write_text(text)
    return root


def test_a_map_or_list_hook_is_a_located_warning_and_is_not_run(cli, tmp_path, monkeypatch):
    root = _bundle(tmp_path / "b", "prebuild: {run: touch ran}\npredeploy: [touch, ran]\n")
    monkeypatch.chdir(root)
    code, text = cli("bundle", "deploy")
    assert code == 0, text
    assert "Warning: expected string, found map\n  at experimental.scripts.prebuild\n  in databricks.yml:8:15" in text
    assert "Warning: expected string, found sequence\n  at experimental.scripts.predeploy\n  in databricks.yml:9:16" \
        in text
    assert "Executing" not in text and not (root / "ran").exists()


def test_a_number_hook_is_run_as_its_text_as_the_cli_normalises_it(cli, tmp_path, monkeypatch):
    # The CLI's Normalize turns 5 into "5" for a string field; bash then cannot find command 5.
    monkeypatch.chdir(_bundle(tmp_path / "b", "postinit: 5\n"))
    code, text = cli("bundle", "validate")
    assert code == 1
    assert "Executing 'postinit' script" in text and "5: command not found" in text
    assert "Error: exit status 127" in text


def test_megabytes_of_binary_output_are_printed_without_failing(cli, tmp_path, monkeypatch):
    script = "head -c 1000000 /dev/urandom; printf 'caf\\351\\n'; yes x | head -n 200000; echo end"
    monkeypatch.chdir(_bundle(tmp_path / "b", f"postinit: {script!r}\n"))
    code, text = cli("bundle", "validate")
    assert code == 0, text[-500:]
    assert "caf\N{REPLACEMENT CHARACTER}\n" in text  # invalid UTF-8 is replaced, not a UnicodeDecodeError
    assert text.count("x\n") >= 200000 and "x\nend\n" in text and "Name: hooks" in text


def test_a_hook_in_an_included_file_runs(cli, tmp_path, monkeypatch):
    root = _bundle(tmp_path / "b", "prebuild: 'echo root'\n",
                   {"hooks.inc.yml": "experimental:\n  scripts:\n    postdeploy: 'echo from-include > inc.txt'\n"})
    monkeypatch.chdir(root)
    code, text = cli("bundle", "deploy")
    assert code == 0, text
    assert "Executing 'postdeploy' script" in text and (root / "inc.txt").read_text() == "from-include\n"


def test_bash_missing_from_path_names_the_hook_and_what_was_expected(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(_bundle(tmp_path / "b", "postinit: 'echo hi'\n"))
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    code, text = cli("bundle", "validate")
    assert code == 1
    assert ("Error: failed to execute script: bash was not found on PATH\n  at experimental.scripts.postinit\n"
            "  in databricks.yml:8:15\n\n" f"expected a bash executable in one of PATH='{empty}'") in text


# -- a script that never ends, interrupted ------------------------------------------------------
# The script records its own pid and a child's, then waits forever; its trap ignores SIGTERM, so
# only the group kill after the grace ends it.
ENDLESS = "trap '' TERM; echo $$ > pids; sleep 600 & echo $! >> pids; wait"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie waiting for its parent is gone for us
        return stat.read().split(") ")[-1][0] != "Z"


def _deploy_and_interrupt(root, signum):
    argv = [sys.executable, "-m", "healthmon.cli.main", "bundle", "deploy"]
    proc = subprocess.Popen(argv, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not ((root / "pids").exists() and len((root / "pids").read_text().split()) == 2):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        pids = [int(p) for p in (root / "pids").read_text().split()]
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out + err, pids


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_interrupt_during_predeploy_ends_the_script_and_deploys_nothing(cli, tmp_path, monkeypatch, signum):
    root = _bundle(tmp_path / "b", f"predeploy: {ENDLESS!r}\n")
    code, text, pids = _deploy_and_interrupt(root, signum)
    assert code == 128 + signum, text
    assert "Traceback" not in text and "Uploading bundle files" not in text
    assert not [pid for pid in pids if _alive(pid)], "the script's processes outlive the command"
    assert json.loads(cli("jobs", "list", "--output", "json")[1])["jobs"] == []  # no half deploy

    monkeypatch.chdir(root)
    (root / "databricks.yml").write_text((root / "databricks.yml").read_text().replace(repr(ENDLESS), "'true'"))
    code, text = cli("bundle", "deploy")
    assert code == 0 and "lock" not in text, text  # no lock was left behind to take over


@pytest.mark.slow
def test_sigterm_during_postdeploy_leaves_the_deploy_complete_and_the_lock_free(cli, tmp_path, monkeypatch):
    root = _bundle(tmp_path / "b", f"postdeploy: {ENDLESS!r}\n")
    code, text, pids = _deploy_and_interrupt(root, signal.SIGTERM)
    assert code == 143 and "Deploying resources" in text and "Traceback" not in text, text
    assert not [pid for pid in pids if _alive(pid)]
    monkeypatch.chdir(root)
    (root / "databricks.yml").write_text((root / "databricks.yml").read_text().replace(repr(ENDLESS), "'true'"))
    code, text = cli("bundle", "deploy")
    assert code == 0 and "lock" not in text, text
    assert "job j: updated" in text, text
