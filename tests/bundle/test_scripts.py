"""``experimental.scripts``: the CLI's hooks, run for real with bash in the bundle root."""

import textwrap

import pytest

from healthmon.bundle import load_bundle
from healthmon.bundle.deploy import deploy, deployed_jobs
from healthmon.bundle.diag import BundleError

HOOKS = ("preinit", "postinit", "prebuild", "postbuild", "predeploy", "postdeploy")


def write_bundle(root, scripts: dict[str, str]):
    root.mkdir(exist_ok=True)
    lines = "".join(f"    {hook}: {command!r}\n" for hook, command in scripts.items())
    (root / "databricks.yml").write_text(textwrap.dedent("""\
        bundle: {name: hooks}
        resources:
          jobs:
            j: {name: J, tasks: [{task_key: t, existing_cluster_id: abc, spark_python_task: {python_file: ./main.py}}]}
        experimental:
          scripts:
        """) + lines)
    (root / "main.py").write_text("print('hi')\n")
    return root


def test_every_hook_runs_once_in_its_phase_in_order(tmp_path, capsys):
    root = write_bundle(tmp_path / "b", {h: f"echo {h} >> hooks.log; echo ran {h}" for h in HOOKS})
    bundle = load_bundle(root)
    assert (root / "hooks.log").read_text().split() == ["preinit", "postinit"]
    deploy(bundle)
    assert (root / "hooks.log").read_text().split() == ["preinit", "postinit", *HOOKS[2:]]
    err = capsys.readouterr().err
    assert "Executing 'predeploy' script\nran predeploy\n" in err
    assert err.index("Executing 'postbuild'") < err.index("Executing 'predeploy'") < err.index("ran postdeploy")


def test_a_failing_predeploy_script_stops_the_deploy_before_anything_changes(tmp_path):
    root = write_bundle(tmp_path / "b", {"predeploy": "echo no; exit 7"})
    bundle = load_bundle(root)
    with pytest.raises(BundleError) as failed:
        deploy(bundle)
    assert failed.value.first.summary == "exit status 7"
    assert deployed_jobs(bundle) == {}


def test_a_failing_postdeploy_script_is_an_error_after_the_deploy(tmp_path):
    root = write_bundle(tmp_path / "b", {"postdeploy": "false"})
    bundle = load_bundle(root)
    with pytest.raises(BundleError, match="exit status 1"):
        deploy(bundle)
    assert set(deployed_jobs(bundle)) == {"j"}


def test_a_failing_preinit_script_stops_loading(tmp_path):
    root = write_bundle(tmp_path / "b", {"preinit": "exit 2", "postinit": "touch post.txt"})
    with pytest.raises(BundleError) as failed:
        load_bundle(root)
    assert [d.summary for d in failed.value.diagnostics] == ["exit status 2"]
    assert not (root / "post.txt").exists()


def test_the_script_runs_in_the_bundle_root_with_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_VALUE", "from-env")
    root = write_bundle(tmp_path / "b", {"postinit": 'echo "$HOOK_VALUE" > "$PWD/seen.txt"'})
    (root / "sub").mkdir()
    load_bundle(root)
    assert (root / "seen.txt").read_text() == "from-env\n"


def test_no_python_artifact_without_setup_py(tmp_path):
    root = tmp_path / "b"
    root.mkdir()
    (root / "dist").mkdir()
    (root / "dist/pkg-0.1-py3-none-any.whl").write_bytes(b"")
    (root / "databricks.yml").write_text(textwrap.dedent("""\
        bundle: {name: w}
        resources:
          jobs:
            j:
              tasks:
                - task_key: t
                  existing_cluster_id: abc
                  python_wheel_task: {package_name: pkg, entry_point: run}
                  libraries: [{whl: ./dist/pkg-0.1-py3-none-any.whl}]
        """))
    assert "artifacts" not in load_bundle(root).config
    (root / "setup.py").write_text("from setuptools import setup\nsetup(name='pkg')\n")
    assert load_bundle(root).config["artifacts"]["python_artifact"]["type"] == "whl"
