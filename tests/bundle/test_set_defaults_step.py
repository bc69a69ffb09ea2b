import pytest

from healthmon.bundle import load_bundle
from healthmon.bundle.diag import BundleError
from bundle_fixtures import make_bundle  # noqa: F401  (pytest fixtures)

YAML = """
bundle: {name: d}
workspace: {root_path: "~/custom/${bundle.name}"}
resources:
  jobs:
    j:
      tasks: [{task_key: t, condition_task: {op: EQUAL_TO, left: "1", right: "1"}}]
    q:
      name: Q
      queue: {enabled: false}
      max_concurrent_runs: 3
      edit_mode: EDITABLE
      tasks: [{task_key: t, condition_task: {op: EQUAL_TO, left: "1", right: "1"}}]
"""


def test_cli_defaults_for_jobs_and_workspace(make_bundle):
    b = load_bundle(make_bundle({"databricks.yml": YAML}))
    ws = b.workspace
    root = "/Workspace/Users/tester@example.com/custom/d"
    assert ws["root_path"] == root
    assert ws["file_path"] == root + "/files" and ws["state_path"] == root + "/state"
    assert ws["artifact_path"] == root + "/artifacts" and ws["resource_path"] == root + "/resources"
    assert ws["current_user"] == {"userName": "tester@example.com", "short_name": "tester",
                                  "domain_friendly_name": "tester"}
    j = b.jobs["j"]
    assert j["name"] == "Untitled"
    assert j["max_concurrent_runs"] == 1 and j["format"] == "MULTI_TASK" and j["edit_mode"] == "UI_LOCKED"
    assert j["queue"] == {"enabled": True}
    assert j["deployment"] == {"kind": "BUNDLE", "metadata_file_path": root + "/state/metadata.json"}
    q = b.jobs["q"]  # user values win
    assert q["queue"] == {"enabled": False} and q["max_concurrent_runs"] == 3 and q["edit_mode"] == "EDITABLE"


def test_bundle_name_is_required(make_bundle):
    with pytest.raises(BundleError) as e:
        load_bundle(make_bundle({"databricks.yml": "bundle: {}\n"}))
    # The CLI's diag.Errorf: the message names the field, no location.
    assert str(e.value) == "Error: unable to define default workspace root: bundle name not defined"


def test_bundle_section_of_the_wrong_type(make_bundle):
    with pytest.raises(BundleError) as e:
        load_bundle(make_bundle({"databricks.yml": "x: 1\nbundle: [a, b]\n"}))
    assert str(e.value) == "Error: expected map, found sequence\n  at bundle\n  in databricks.yml:2:9"
    with pytest.raises(BundleError, match="bundle name not defined"):
        load_bundle(make_bundle({"databricks.yml": "x: 1\n"}))


def test_current_user_fields_come_from_the_local_workspace_when_referenced(make_bundle):
    from healthmon.settings import Settings
    from healthmon.store.auth import ensure_principal
    from healthmon.store.db import Database

    with Database.from_settings(Settings.from_env()).session() as s:
        ensure_principal(s, "someone@example.com")  # so the current user's id is not simply 1
        me = ensure_principal(s, "tester@example.com", groups=["data-eng"])
    b = load_bundle(make_bundle({"databricks.yml": """
bundle: {name: d}
resources:
  jobs:
    j:
      name: "${workspace.current_user.id}"
      tags: {groups: "${workspace.current_user.groups[0].display}"}
      tasks: [{task_key: t, condition_task: {op: EQUAL_TO, left: "1", right: "1"}}]
"""}))
    user = b.workspace["current_user"]
    assert user["id"] == str(me.id) == b.jobs["j"]["name"]
    assert {g["display"] for g in user["groups"]} >= {"data-eng", "users"}
    assert b.jobs["j"]["tags"]["groups"] == user["groups"][0]["display"]


def test_a_field_the_user_type_does_not_have_is_a_missing_reference(make_bundle):
    with pytest.raises(BundleError, match=r"reference does not exist: \$\{workspace.current_user.shoe_size\}"):
        load_bundle(make_bundle({"databricks.yml": "bundle: {name: d}\nresources: {jobs: {j: {name: "
                                                   "'${workspace.current_user.shoe_size}'}}}\n"}))


@pytest.mark.parametrize("host, error", [
    # Go's url.Parse of the host the SDK builds: these parse (the CLI would then contact them)
    ("https://adb-123.4.azuredatabricks.net", None),
    ("my-workspace.cloud.databricks.com", None),
    ("https://<workspace-url>", None),
    ("https://dbc-1.cloud.databricks.com:443/?o=1", None),
    ("https://ünïcode.example", None),
    # these do not: an unresolved reference, a space, a port that is not a number
    ("${var.host}", 'parse "https://${var.host}": invalid character "{" in host name'),
    ("https://${var.region}.cloud.databricks.com",
     'parse "https://${var.region}.cloud.databricks.com": invalid character "{" in host name'),
    ("https://my workspace", 'parse "https://my workspace": invalid character " " in host name'),
    ("https://host:${var.port}", 'parse "https://host:${var.port}": invalid port ":${var.port}" after host'),
])
def test_host_parse_error_is_go_url_parse(host, error):
    from healthmon.bundle.mutators.set_defaults import host_parse_error

    assert host_parse_error(host) == error
