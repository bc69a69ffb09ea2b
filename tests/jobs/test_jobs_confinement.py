"""Task code is confined away from the control plane: the attacks of a user who may submit a run
(read the token table, write an admin token, read the server secret, read another run's log, run
any module as a wheel, run a host file) each fail with a clear error in the task's output; what
tasks are for (the lakehouse, volumes, secrets through the runner) still works. Plus the memory
limit."""

from __future__ import annotations

import pytest

from jobs_helpers import nb_task
from healthmon.jobs import confine, service
from healthmon.store.db import Database

pytestmark = pytest.mark.skipif(confine.landlock_abi() < 1, reason="Landlock is not available on this kernel")


def run_job(settings: dict, timeout: float = 60) -> dict:
    return service.wait_for_run(service.run_now(service.create_job(settings)), timeout=timeout)


def outputs(run: dict) -> dict[str, dict]:
    return {t["task_key"]: service.get_run_output(t["run_id"]) for t in run["tasks"]}


def test_the_attacks_on_the_control_plane_fail_with_a_clear_error(ws, healthmon_home):
    from healthmon.store import auth

    with Database.from_settings().session() as s:  # a real token table, and the server secret
        auth.create_token(s, "admin@example.com", comment="admin's")
    (healthmon_home / ".server-secret").write_text("00" * 32)
    db = healthmon_home / "workspace.db"
    victim = run_job({"name": "victim", "tasks": [nb_task("talk", ws.notebook("talk", "print('private output')"))]})
    victim_log = healthmon_home / "runs" / str(victim["run_id"])
    log_file = next(victim_log.glob("talk-*/output.log"))
    attacks = {
        "read_tokens": f"import sqlite3\nprint(sqlite3.connect({str(db)!r}).execute('SELECT token_hash FROM tokens').fetchall())",
        "read_db_file": f"print(open({str(db)!r}, 'rb').read(100))",
        "write_admin_token": ("from healthmon.store.db import Database\nfrom healthmon.store import auth\n"
                              f"with Database.from_url('sqlite:///{db}').session() as s:\n"
                              "    print(auth.create_token(s, 'admin@example.com'))"),
        "read_server_secret": f"print(open({str(healthmon_home / '.server-secret')!r}).read())",
        "read_other_log": f"print(open({str(log_file)!r}).read())",
        "signal_the_runner": "import os\nos.kill(os.getppid(), 9)",
    }
    run = run_job({"name": "attacks", "tasks": [nb_task(k, ws.notebook(k, code)) for k, code in attacks.items()]})
    out = outputs(run)
    assert {t["task_key"]: t["state"]["result_state"] for t in run["tasks"]} == {k: "FAILED" for k in attacks}
    assert out["read_tokens"]["error"] == "OperationalError: unable to open database file"
    assert out["write_admin_token"]["error"].startswith(f"PermissionError: [Errno 13] Permission denied: '{db}")
    for key, path in (("read_db_file", db), ("read_server_secret", healthmon_home / ".server-secret"),
                      ("read_other_log", log_file)):
        assert out[key]["error"].startswith(f"PermissionError: [Errno 13] Permission denied: '{path}'"), out[key]["error"]
        assert "tasks are confined" in out[key]["error"]
    assert out["signal_the_runner"]["error"].startswith("PermissionError: [Errno 1] Operation not permitted")
    with Database.from_settings().session() as s:  # nothing was written: still one token
        assert len(auth.list_tokens(s, include_revoked=True)) == 1


def test_task_code_comes_from_the_workspace_and_wheels_from_the_task_environment(ws, tmp_path):
    host_file = tmp_path / "host.py"
    host_file.write_text("print('ran a host file')\n")
    outside = ws.notebook("outside", f"# MAGIC %run {tmp_path / 'host'}")
    run = run_job({"name": "paths", "tasks": [
        {"task_key": "host_notebook", "notebook_task": {"notebook_path": str(tmp_path / "host")}},
        {"task_key": "host_file", "spark_python_task": {"python_file": str(host_file)}},
        {"task_key": "etc", "spark_python_task": {"python_file": "/etc/passwd"}},
        {"task_key": "escape", "notebook_task": {"notebook_path": "/Workspace/../../../etc/passwd"}},
        {"task_key": "timeit", "python_wheel_task": {"package_name": "timeit", "entry_point": "main",
                                                     "parameters": ["-s", "import os", "os.system('id')"]}},
        nb_task("run_magic", outside),
    ]})
    states = {t["task_key"]: t["state"] for t in run["tasks"]}
    assert {k: s["result_state"] for k, s in states.items()} == {k: "FAILED" for k in states}
    for key, path in (("host_notebook", tmp_path / "host"), ("host_file", host_file), ("etc", "/etc/passwd"),
                      ("escape", "/Workspace/../../../etc/passwd")):
        assert f"is outside the workspace's files" in states[key]["state_message"] and str(path) in states[key]["state_message"]
    assert ("python_wheel_task package 'timeit' is not a dependency of the task"
            in states["timeit"]["state_message"])
    assert "outside the workspace's files" in states["run_magic"]["state_message"]
    assert not list((ws.home / "runs").glob("*/host*/output.log"))  # nothing ran


def test_what_tasks_are_for_still_works_lakehouse_volumes_secrets(ws, healthmon_home):
    from healthmon.store import secrets

    with Database.from_settings().session() as s:
        secrets.create_scope(s, "prod")
        secrets.put_secret(s, "prod", "api", "s3cr3t-value")
    nb = ws.notebook("work", """
        import os, tempfile
        unasked = len(dbutils._args[4].values)  # secret values the attempt holds before asking: none
        value = dbutils.secrets.get("prod", "api")
        print("the secret is", value)
        keys = [m.key for m in dbutils.secrets.list("prod")]
        dbutils.fs.put("/Volumes/main/default/out/note.txt", "written by a task", overwrite=True)
        with tempfile.NamedTemporaryFile(dir=None) as f:
            scratch = os.path.dirname(f.name)
        try:
            dbutils.secrets.get("prod", "missing")
        except Exception as exc:
            missing = str(exc)
        dbutils.notebook.exit(f"{unasked} {len(value)} {keys} {scratch == os.environ['HOME']} {missing}")
        """)
    run = run_job({"name": "work", "tasks": [nb_task("work", nb)]})
    out = outputs(run)["work"]
    assert run["state"]["result_state"] == "SUCCESS", out
    assert out["notebook_output"]["result"] == (
        "0 12 ['api'] True Secret does not exist with scope: prod and key: missing")
    assert (ws.out / "note.txt").read_text() == "written by a task"
    log = next((healthmon_home / "runs").glob("*/work-*/output.log")).read_text()
    assert "the secret is [REDACTED]" in log and "s3cr3t" not in log
    assert not (healthmon_home / "scratch" / str(run["run_id"])).exists()  # removed with the run


def test_a_task_over_its_memory_limit_fails_clearly_and_the_run_goes_on(ws, monkeypatch):
    monkeypatch.setenv("HEALTHMON_TASK_MEMORY_LIMIT", "300m")
    hog = ws.notebook("hog", "blocks = [bytearray(50 * 2**20) for _ in range(20)]")
    after = ws.notebook("after", "dbutils.notebook.exit(str(len(bytearray(10 * 2**20))))")
    run = run_job({"name": "memory", "tasks": [nb_task("hog", hog), nb_task("after", after, deps=[
        {"task_key": "hog"}], run_if="ALL_DONE")]})
    out = outputs(run)
    assert out["hog"]["error"] == "MemoryError: out of memory (limit 300 MiB)"
    assert out["after"]["notebook_output"]["result"] == str(10 * 2**20)


def test_memory_limit_setting_is_checked():
    assert confine.parse_size("512m") == 512 * 2**20 and confine.parse_size("2G") == 2 * 2**30
    assert confine.parse_size("0") == 0 and confine.parse_size("1.5gib") == 3 * 2**29
    with pytest.raises(ValueError, match="expected a size such as 4g"):
        confine.parse_size("lots")
