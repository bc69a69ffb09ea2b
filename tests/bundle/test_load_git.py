import shutil
import subprocess

import pytest

from healthmon.bundle import load_bundle
from healthmon.bundle.mutators.load_git import git_details
from bundle_fixtures import make_bundle  # noqa: F401  (pytest fixtures)

YAML = "bundle:\n  name: g\n  git:\n    origin_url: https://override.example/r.git\nresources: {jobs: {j: {description: '${bundle.git.branch}@${bundle.git.commit}'}}}\n"


def test_details_from_a_real_repository(make_bundle):
    git = shutil.which("git")
    if git is None:
        pytest.skip("git not installed")
    root = make_bundle({"sub/databricks.yml": YAML})
    run = lambda *a: subprocess.run([git, *a], cwd=root, check=True, capture_output=True, text=True).stdout.strip()
    run("init", "-q", "-b", "feature/x")
    run("config", "user.email", "t@example.com")
    run("config", "user.name", "t")
    run("remote", "add", "origin", "https://example.com/repo.git")
    run("add", ".")
    run("commit", "-q", "-m", "init")
    commit = run("rev-parse", "HEAD")
    assert git_details(root / "sub") == {"branch": "feature/x", "actual_branch": "feature/x", "commit": commit,
                                         "origin_url": "https://example.com/repo.git", "bundle_root_path": "sub"}
    b = load_bundle(root / "sub", validate=False)
    assert b.config["resources"]["jobs"]["j"]["description"] == f"feature/x@{commit}"
    assert b.config["bundle"]["git"]["origin_url"] == "https://override.example/r.git"  # the user's value wins
    assert b.config["bundle"]["git"]["inferred"] is True  # the branch came from git


def test_packed_refs_and_no_repository(tmp_path):
    repo = tmp_path / "r"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git/HEAD").write_text("ref: refs/heads/main\n")
    (repo / ".git/packed-refs").write_text("# pack-refs with: peeled\n" + "a" * 40 + " refs/heads/main\n")
    assert git_details(repo)["commit"] == "a" * 40
    assert git_details(tmp_path / "elsewhere") == {}


def test_user_set_empty_strings_are_filled_from_the_repository(make_bundle):
    """The CLI's LoadGitDetails tests the typed fields against "": a `branch: ""` (or an empty
    commit / origin URL) the user wrote is replaced by what the repository says."""
    root = make_bundle({"databricks.yml": "bundle:\n  name: g\n  git:\n    branch: ''\n    commit: ''\n"
                        "resources: {jobs: {j: {name: 'j-${bundle.git.branch}'}}}\n"})
    (root / ".git/refs/heads").mkdir(parents=True)
    (root / ".git/HEAD").write_text("ref: refs/heads/feature-x\n")
    (root / ".git/refs/heads/feature-x").write_text("b" * 40 + "\n")
    b = load_bundle(root, validate=False)
    git = b.config["bundle"]["git"]
    assert (git["branch"], git["actual_branch"], git["commit"], git["inferred"]) == ("feature-x", "feature-x", "b" * 40, True)
    assert b.config["resources"]["jobs"]["j"]["name"] == "j-feature-x"
