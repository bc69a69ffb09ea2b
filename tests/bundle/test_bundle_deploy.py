import json
import shutil
import subprocess
import threading

import pytest
from sqlalchemy import select

from healthmon.bundle import load_bundle
from healthmon.bundle.deploy import DeploymentLockedError, deploy, deployment_lock, destroy, summary
from healthmon.bundle.diag import BundleError
from healthmon.errors import HealthmonError
from healthmon.permissions import job_owner
from healthmon.settings import Settings
from healthmon.store.db import Database
from healthmon.store.jobs import DeploymentRecord, JobRecord, bundle_jobs
from healthmon.workspace_files import resolve_notebook, to_local
from bundle_fixtures import fixtures_dir, outside_sync_bundle  # noqa: F401  (pytest fixtures)


@pytest.fixture
def basic(fixtures_dir, tmp_path):
    root = tmp_path / "basic"
    shutil.copytree(fixtures_dir / "basic", root)
    return root


def rows(name="basic_bundle", target="dev"):
    with Database.from_settings().session() as s:
        return {k: (r.job_id, r.settings) for k, r in bundle_jobs(s, name, target).items()}


def test_deploy_creates_jobs_with_real_ids_and_syncs_files(basic):
    b = load_bundle(basic, "dev")
    result = deploy(b)
    deployed = rows()
    assert set(deployed) == {"ingest_job", "orchestrator_job"}
    ingest_id, ingest = deployed["ingest_job"]
    orch_id, orch = deployed["orchestrator_job"]
    assert result.job_ids == {"ingest_job": ingest_id, "orchestrator_job": orch_id}
    assert orch["tasks"][0]["run_job_task"]["job_id"] == ingest_id  # an int, as the Jobs API has it
    assert ingest["name"] == "[dev tester] [dev] Ingest dev_catalog.gold.events"
    nb = ingest["tasks"][0]["notebook_task"]["notebook_path"]
    assert nb.endswith("/files/src/etl/load")
    assert resolve_notebook(nb).read_text() == (basic / "src/etl/load.py").read_text()
    assert to_local(ingest["tasks"][1]["spark_python_task"]["python_file"]).is_file()
    with Database.from_settings().session() as s:
        (rec,) = s.scalars(select(DeploymentRecord)).all()
        assert (rec.action, rec.status, rec.user_name, rec.target) == ("deploy", "SUCCEEDED", "tester@example.com", "dev")
        assert len(rec.bundle_hash) == 64


def test_redeploy_keeps_ids_and_removed_jobs_are_deleted(basic):
    first = deploy(load_bundle(basic, "dev")).job_ids
    (basic / "resources/orchestrator.yml").unlink()
    text = (basic / "resources/ingest.yml").read_text().replace('name: "[${bundle.target}] Ingest', 'name: "Renamed')
    (basic / "resources/ingest.yml").write_text(text)
    second = deploy(load_bundle(basic, "dev"))
    assert second.job_ids == {"ingest_job": first["ingest_job"]}
    assert second.deleted == {"orchestrator_job": first["orchestrator_job"]}
    deployed = rows()
    assert list(deployed) == ["ingest_job"] and deployed["ingest_job"][1]["name"].startswith("[dev tester] Renamed")
    with Database.from_settings().session() as s:
        assert s.get(JobRecord, first["orchestrator_job"]) is None


def test_targets_are_deployed_separately(basic):
    dev = deploy(load_bundle(basic, "dev")).job_ids
    prod = deploy(load_bundle(basic, "prod")).job_ids
    assert set(dev.values()).isdisjoint(prod.values())
    assert rows(target="prod")["ingest_job"][1]["max_concurrent_runs"] == 1


def test_failed_deploy_leaves_nothing_behind(basic):
    b = load_bundle(basic, "dev")
    with pytest.raises(HealthmonError, match="simulated failure"):
        deploy(b, _fail_after_jobs=True)
    assert rows() == {}
    assert not to_local(b.workspace["file_path"]).exists()
    with Database.from_settings().session() as s:
        statuses = [r.status for r in s.scalars(select(DeploymentRecord)).all()]
        assert statuses == ["FAILED"]
    # The lock was released, so a real deploy goes through afterwards.
    assert set(deploy(b).job_ids) == {"ingest_job", "orchestrator_job"}


def test_invalid_bundle_is_not_deployed(basic):
    (basic / "src/etl/load.py").unlink()
    with pytest.raises(BundleError, match="notebook ../src/etl/load.py not found"):
        deploy(load_bundle(basic, "dev"))
    assert rows() == {}


def test_a_task_key_the_jobs_api_refuses_validates_but_is_not_deployed(basic):
    # The CLI's validate accepts any task key; the Jobs API refuses one with spaces or `/`.
    ingest = basic / "resources/ingest.yml"
    ingest.write_text(ingest.read_text().replace("task_key: report", "task_key: load report/now"))
    b = load_bundle(basic, "dev")
    assert not b.diagnostics.has_errors()
    with pytest.raises(HealthmonError, match='cannot deploy resources.jobs.ingest_job: invalid task_key '
                                             '"load report/now"') as exc:
        deploy(b)
    assert exc.value.location is not None and exc.value.location.file == "resources/ingest.yml"
    assert rows() == {}


def test_a_task_without_type_validates_but_is_not_deployed(basic):
    ingest = basic / "resources/ingest.yml"
    text = ingest.read_text()
    start = text.index("          spark_python_task:")
    ingest.write_text(text.replace(text[start:text.index("      schedule:")], ""))
    b = load_bundle(basic, "dev")
    assert not any("task type" in d.summary for d in b.diagnostics)
    with pytest.raises(HealthmonError, match='cannot deploy resources.jobs.ingest_job: task "report" has no task '
                                             'type') as exc:
        deploy(b)
    assert exc.value.location is not None and exc.value.location.file == "resources/ingest.yml"
    assert rows() == {}


# healthmon's own checks (`pipeline.deploy_checks`): the CLI's `bundle validate` accepts each of
# these bundles; the Jobs API or a local run would refuse them, so the deploy does, before anything
# is written. (file, text, replacement, the error's summary, where it points)
DEPLOY_CHECK_ERRORS = {
    "missing-dependency": ("resources/ingest.yml", "            - task_key: load\n", "            - task_key: lod\n",
                           'task "report" of job "ingest_job" depends on "lod", which is not a task of this job '
                           '(did you mean "load"?)', "resources/ingest.yml:25:25"),
    "cycle": ("resources/ingest.yml", "          max_retries: ${var.retries}\n",
              "          depends_on: [{task_key: report}]\n",
              'cycle in the task dependencies of job "ingest_job": load -> report -> load', "resources/ingest.yml:4:7"),
    "several-task-types": ("resources/ingest.yml", "          max_retries: ${var.retries}\n",
                           "          condition_task: {op: EQUAL_TO, left: '1', right: '1'}\n",
                           'task "load" of job "ingest_job" has several task types (notebook_task, condition_task)',
                           "resources/ingest.yml:15:11"),
    "undeclared-environment": ("resources/ingest.yml", "          environment_key: default\n          notebook_task",
                               "          environment_key: defualt\n          notebook_task",
                               'task "load" of job "ingest_job" uses environment_key "defualt", which the job does '
                               'not declare (did you mean "default"?)', "resources/ingest.yml:16:28"),
    "pep508": ("resources/ingest.yml", '"pandas>=2.0"', '"pandas>>2.0"',
               'environment "default" of job "ingest_job": dependency \'pandas>>2.0\' is not a valid PEP 508 '
               "requirement", "resources/ingest.yml:13:17"),
    "unix-cron": ("resources/ingest.yml", '"0 0 3 ? * SUN"', '"0 0 * * *"',
                  "job \"ingest_job\": invalid quartz_cron_expression '0 0 * * *'", "resources/ingest.yml:30:33"),
    "time-zone": ("resources/ingest.yml", "America/Los_Angeles", "Mars/Olympus",
                  "job \"ingest_job\": invalid timezone_id 'Mars/Olympus'", "resources/ingest.yml:31:22"),
    "schedule-and-continuous": ("resources/ingest.yml", "      tags:\n",
                                "      continuous: {pause_status: PAUSED}\n      tags:\n",
                                'job "ingest_job": only one of schedule and continuous can be used',
                                "resources/ingest.yml:32:19"),
    "resource-key": ("resources/orchestrator.yml", "    orchestrator_job:\n", "    orchestrator.job:\n",
                     "invalid resource key 'orchestrator.job': use letters, digits, '_' and '-' only",
                     "resources/orchestrator.yml:4:7"),
    "widget-not-passed": ("src/etl/load.py", 'dbutils.widgets.get("schema")', 'dbutils.widgets.get("table")',
                          'Parameter missing: task "load" of job "ingest_job" runs src/etl/load.py, whose line 9 '
                          'reads widget "table"', "resources/ingest.yml:18:28"),
}


@pytest.mark.parametrize("case", sorted(DEPLOY_CHECK_ERRORS))
def test_a_deploy_check_error_validates_but_refuses_the_deploy_and_writes_nothing(basic, case):
    file, old, new, summary, where = DEPLOY_CHECK_ERRORS[case]
    first = load_bundle(basic, "dev")
    deploy(first)
    before = rows()
    deployed_notebook = resolve_notebook(before["ingest_job"][1]["tasks"][0]["notebook_task"]["notebook_path"])
    notebook = deployed_notebook.read_text()
    path = basic / file
    assert path.read_text().count(old) == 1
    path.write_text(path.read_text().replace(old, new))
    b = load_bundle(basic, "dev", strict=True)
    assert not b.diagnostics.items  # as the CLI's `bundle validate`: Validation OK!
    with pytest.raises(BundleError) as exc:
        deploy(b)
    (error,) = exc.value.diagnostics
    assert error.severity == "error" and error.summary.startswith(summary), error.summary
    assert f"\n  in {where}" in error.render()
    assert rows() == before  # no job created, changed or deleted
    assert deployed_notebook.read_text() == notebook  # no file synced
    with Database.from_settings().session() as s:
        assert [r.action for r in s.scalars(select(DeploymentRecord))] == ["deploy"]


def test_a_missing_local_library_validates_but_refuses_the_deploy_and_writes_nothing(basic):
    before = deploy(load_bundle(basic, "dev")).job_ids
    ingest = basic / "resources/ingest.yml"
    ingest.write_text(ingest.read_text().replace('"pandas>=2.0"', "./dist/tool-0.1-py3-none-any.whl"))
    b = load_bundle(basic, "dev", strict=True)
    assert not b.diagnostics.items  # as the CLI's validate, which does not look for libraries
    with pytest.raises(HealthmonError, match=r"library file './dist/tool-0.1-py3-none-any.whl' does not exist "
                                             r"\(declared in resources/ingest.yml:13:17\)"):
        deploy(b)
    assert {k: v[0] for k, v in rows().items()} == before
    assert rows()["ingest_job"][1]["environments"][0]["spec"]["dependencies"] == ["pandas>=2.0"]


def test_deploy_check_warnings_are_reported_and_the_deploy_goes_on(basic):
    notebook = basic / "src/etl/load.py"
    notebook.write_text(notebook.read_text() + 'if schema == "x":\n    dbutils.notebook.exit("FAILED")\n')
    orchestrator = basic / "resources/orchestrator.yml"  # composes jobs with run_job_task
    orchestrator.write_text(orchestrator.read_text() + """
    shared_job:
      tasks:
        - task_key: load
          notebook_task:
            notebook_path: ../src/etl/load.py
            base_parameters: {catalog: c, schema: s}
""")
    b = load_bundle(basic, "dev", strict=True)
    assert not b.diagnostics.items
    warned = []
    result = deploy(b, warn=warned.append)
    assert set(result.job_ids) == {"ingest_job", "orchestrator_job", "shared_job"}
    assert [d.severity for d in warned] == ["warning", "warning"]
    assert warned[0].summary.startswith("notebook src/etl/load.py appears in 2 jobs (ingest_job, shared_job)")
    assert warned[1].summary.startswith("src/etl/load.py:18 exits with 'FAILED'")


def test_lock_blocks_a_concurrent_deploy_and_force_lock_takes_over(basic):
    b = load_bundle(basic, "dev")
    settings = Settings.from_env()
    db = Database.from_settings(settings)
    with deployment_lock(db, "basic_bundle", "dev", settings):
        with pytest.raises(DeploymentLockedError, match="deployment lock .* is held by tester@example.com"):
            deploy(b)
    assert rows() == {}
    with deployment_lock(db, "basic_bundle", "dev", settings):
        pass  # released cleanly
    deploy(b, force_lock=True)
    assert len(rows()) == 2


def test_racing_deploys_never_corrupt_state(basic):
    b = load_bundle(basic, "dev")
    outcomes = []

    def go():
        try:
            outcomes.append(deploy(b).job_ids)
        except DeploymentLockedError:
            outcomes.append("locked")

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    succeeded = [o for o in outcomes if o != "locked"]
    assert succeeded, outcomes
    assert all(o == succeeded[0] for o in succeeded)  # every successful deploy agrees on the ids
    assert {k: v[0] for k, v in rows().items()} == succeeded[0]


def test_destroy_removes_jobs_and_files(basic):
    b = load_bundle(basic, "dev")
    ids = deploy(b).job_ids
    assert destroy(b) == ids
    assert rows() == {}
    assert not to_local(b.workspace["root_path"]).exists()


def test_summary_lists_ids_and_local_urls(basic):
    b = load_bundle(basic, "dev")
    before = summary(b)
    assert "id" not in before["resources"]["jobs"]["ingest_job"] and before["last_deployment"] is None
    ids = deploy(b).job_ids
    doc = summary(b)
    job = doc["resources"]["jobs"]["ingest_job"]
    assert job["id"] == str(ids["ingest_job"])
    assert job["url"] == f"http://127.0.0.1:8080/jobs/{ids['ingest_job']}"
    assert doc["workspace"]["file_path"].endswith("/.bundle/basic_bundle/dev/files")
    assert doc["last_deployment"]["status"] == "SUCCEEDED"


def git_repo(root, ignored: str) -> str:
    """Make ``root`` a git work tree whose ``.gitignore`` ignores the directory ``ignored``."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git not installed")
    (root / ".gitignore").write_text(f"{ignored}/\n")
    (root / ignored).mkdir()
    subprocess.run([git, "init", "-q"], cwd=root, check=True)
    return git


def test_git_repo_sync_honours_gitignore(basic):
    git = git_repo(basic, "ignored")
    (basic / "ignored/secret.txt").write_text("x")
    (basic / "untracked.txt").write_text("y")
    subprocess.run([git, "add", "databricks.yml"], cwd=basic, check=True)
    b = load_bundle(basic, "dev")
    deploy(b)
    files = to_local(b.workspace["file_path"])
    assert (files / "untracked.txt").is_file() and (files / "src/etl/load.py").is_file()
    assert not (files / "ignored").exists() and not (files / ".git").exists()


def test_sync_include_and_exclude_choose_the_deployed_files(basic):
    """As the CLI's sync: files git ignores come back through ``sync.include``, ``sync.exclude``
    drops files; patterns declared in an included file are relative to that file."""
    git_repo(basic, "build")
    (basic / "build/lib.whl").write_text("w")
    (basic / "build/log.txt").write_text("l")
    (basic / "resources/notes.tmp").write_text("t")
    (basic / "databricks.yml").write_text((basic / "databricks.yml").read_text() + "sync:\n  include:\n    - build/*.whl\n")
    (basic / "resources/sync.yml").write_text("sync:\n  exclude:\n    - '*.tmp'\n")
    b = load_bundle(basic, "dev")
    assert b.config["sync"] == {"include": ["build/*.whl"], "exclude": ["resources/*.tmp"], "paths": ["."]}
    deploy(b)
    files = to_local(b.workspace["file_path"])
    assert (files / "build/lib.whl").is_file() and (files / "src/etl/load.py").is_file()
    assert not (files / "build/log.txt").exists() and not (files / "resources/notes.tmp").exists()


def test_unreachable_database_is_a_clean_error(basic, monkeypatch):
    pytest.importorskip("psycopg")
    monkeypatch.setenv("HEALTHMON_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    b = load_bundle(basic, "dev")
    with pytest.raises(HealthmonError, match="Cannot open the workspace database"):
        deploy(b)
    assert not to_local(b.workspace["file_path"]).exists()


@pytest.mark.parametrize("root_path", ["/", "/Workspace", "/Volumes/x/y"])
def test_workspace_paths_outside_workspace_are_refused(basic, root_path, tmp_path):
    text = (basic / "databricks.yml").read_text().replace(
        "root_path: /Workspace/Shared/.bundle/${bundle.name}/${bundle.target}", f"root_path: {root_path}")
    (basic / "databricks.yml").write_text(text)
    b = load_bundle(basic, "prod")
    with pytest.raises(HealthmonError, match="workspace.root_path|workspace.file_path"):
        destroy(b)
    with pytest.raises(HealthmonError, match="workspace.root_path|workspace.file_path"):
        deploy(b)
    assert rows(target="prod") == {}


def test_a_workspace_inside_the_bundle_is_not_synced_into_itself(basic, monkeypatch):
    monkeypatch.setenv("HEALTHMON_HOME", str(basic / "state_home"))
    b = load_bundle(basic, "dev")
    deploy(b)
    deploy(b)
    files = to_local(b.workspace["file_path"])
    assert (files / "src/etl/load.py").is_file()
    assert not (files / "state_home").exists()


def test_tmp_root_path_gets_the_workspace_prefix(basic):
    # The CLI's PrependWorkspacePrefix: /tmp/somewhere is the workspace folder /Workspace/tmp/somewhere.
    text = (basic / "databricks.yml").read_text().replace(
        "root_path: /Workspace/Shared/.bundle/${bundle.name}/${bundle.target}", "root_path: /tmp/somewhere")
    (basic / "databricks.yml").write_text(text)
    assert load_bundle(basic, "prod").workspace["root_path"] == "/Workspace/tmp/somewhere"


def _write_broken(path):
    path.write_text("resources: somestring\n")


def _link_to_nothing(path):
    path.symlink_to("missing.yml")


@pytest.mark.parametrize("break_file, error", [
    # `resources: somestring` in an include used to drop the resources of the files before it.
    (_write_broken, "Error: expected map, found string\n  at resources\n  in resources/zz_broken.yml:1:12"),
    # A broken symlink matched by the include glob used to be skipped silently.
    (_link_to_nothing, "Error: cannot read included file resources/zz_broken.yml: it is a symbolic link to"),
])
def test_a_file_that_fails_to_load_never_deletes_jobs(basic, break_file, error):
    # Either way, the next deploy deleted the jobs the file defined.
    from typer.testing import CliRunner

    from healthmon.cli.bundle import app

    before = deploy(load_bundle(basic, "dev")).job_ids
    break_file(basic / "resources" / "zz_broken.yml")
    r = CliRunner().invoke(app, ["deploy", "-p", str(basic), "-t", "dev"])
    assert r.exit_code == 1
    assert error in r.stderr
    assert {k: v[0] for k, v in rows().items()} == before


def test_run_as_and_permissions_are_deployed(basic):
    text = (basic / "databricks.yml").read_text()
    (basic / "databricks.yml").write_text(text + """
run_as:
  service_principal_name: etl-sp
permissions:
  - level: CAN_RUN
    group_name: analysts
""")
    deploy(load_bundle(basic, "dev"))
    with Database.from_settings().session() as s:
        row = bundle_jobs(s, "basic_bundle", "dev")["ingest_job"]
        assert row.run_as_user_name == "etl-sp"
        assert row.settings["run_as"] == {"service_principal_name": "etl-sp"}
        assert row.settings["access_control_list"] == [
            {"group_name": "analysts", "permission_level": "CAN_MANAGE_RUN"},
            {"user_name": "tester@example.com", "permission_level": "IS_OWNER"}]
        assert "permissions" not in row.settings


def test_a_named_owner_owns_the_deployed_job_and_the_deployer_keeps_its_level(basic):
    text = (basic / "databricks.yml").read_text()
    (basic / "databricks.yml").write_text(text + """
permissions:
  - level: CAN_MANAGE
    user_name: tester@example.com
""")
    ingest = basic / "resources" / "ingest.yml"
    ingest.write_text(ingest.read_text().replace("      tags:\n", """      permissions:
        - level: IS_OWNER
          service_principal_name: owner-sp
      tags:\n"""))
    deploy(load_bundle(basic, "dev"))
    with Database.from_settings().session() as s:
        jobs = bundle_jobs(s, "basic_bundle", "dev")
        assert jobs["ingest_job"].settings["access_control_list"] == [
            {"service_principal_name": "owner-sp", "permission_level": "IS_OWNER"},
            {"user_name": "tester@example.com", "permission_level": "CAN_MANAGE"}]
        assert job_owner(jobs["ingest_job"].to_api()) == ("service_principal_name", "owner-sp")
        assert jobs["orchestrator_job"].settings["access_control_list"] == [
            {"user_name": "tester@example.com", "permission_level": "IS_OWNER"}]




def test_sync_paths_outside_the_root_deploy_under_the_sync_root(tmp_path):
    # The CLI uploads the common parent of sync.paths: files/<bundle dir>/... and files/common/...
    root = outside_sync_bundle(tmp_path, "print('designer')")
    (tmp_path / "unsynced.txt").write_text("not in sync.paths\n")
    b = load_bundle(root)
    assert b.config["sync"]["paths"] == ["my_bundle", "common"]
    deploy(b)
    _, settings = rows("jupyter", "default")["both"]
    files = b.workspace["file_path"]
    nb, tool = (t.get("notebook_task", {}).get("notebook_path") or t["spark_python_task"]["python_file"]
                for t in settings["tasks"])
    assert (nb, tool) == (f"{files}/my_bundle/src/designer.ipynb", f"{files}/common/tool.py")
    assert resolve_notebook(nb).read_text() == (root / "src/designer.ipynb").read_text()
    assert to_local(tool).read_text() == "print('shared tool ran')\n"
    assert not (to_local(files) / "unsynced.txt").exists()


def test_a_deployed_jupyter_notebook_is_listed_without_extension_and_found_by_its_job_path(tmp_path):
    # Databricks lists a notebook without its extension, while the job deployed from an .ipynb
    # source keeps `.ipynb` in notebook_path: the Workspace API must resolve that path to the
    # listed notebook (the local workspace keeps the file as deployed).
    from healthmon.server.workspace_api import get_status, list_objects
    from healthmon.store.auth import Principal

    root = outside_sync_bundle(tmp_path, "print('designer')")
    b = load_bundle(root)
    deploy(b)
    _, settings = rows("jupyter", "default")["both"]
    notebook_path = settings["tasks"][0]["notebook_task"]["notebook_path"]
    assert notebook_path.endswith("/my_bundle/src/designer.ipynb")
    listed = notebook_path.removeprefix("/Workspace").removesuffix(".ipynb")
    deployer = Principal(id=1, name=b.config["workspace"]["current_user"]["userName"])

    objects = list_objects(deployer, listed.rsplit("/", 1)[0])["objects"]
    assert [(o["object_type"], o["path"], o["language"]) for o in objects] == [("NOTEBOOK", listed, "PYTHON")]
    status = get_status(deployer, notebook_path)
    assert (status["object_type"], status["path"], status["language"]) == ("NOTEBOOK", listed, "PYTHON")
    assert status["object_id"] == objects[0]["object_id"]

