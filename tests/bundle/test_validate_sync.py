"""The sync and job-cluster checks on input the conformance cases do not cover: values of the
wrong kind (found by the structure fuzzer) and patterns git cannot read; the sync root."""

from pathlib import Path

from healthmon.bundle.mutators.validate import Check
from bundle_fixtures import run_step


def test_job_cluster_keys_of_the_wrong_kind_do_not_crash():
    _, diags = run_step(Check("job_cluster_keys"), """
        resources:
          jobs:
            j:
              job_clusters: [{job_cluster_key: [a]}]
              tasks: [{task_key: t, job_cluster_key: [a]}, {task_key: u, job_cluster_key: b}]
        """)
    assert [(d.summary, d.path) for d in diags] == [("job_cluster_key b is not defined",
                                                     "resources.jobs.j.tasks[1].job_cluster_key")]


def test_an_unreadable_sync_pattern_is_an_error_at_its_place(tmp_path):
    (tmp_path / "databricks.yml").write_text("bundle: {name: b}\n")
    _, diags = run_step(Check("sync_patterns"), r"""
        sync:
          include: "*.csv"
          exclude: ["*.yml", "\\"]
        """, root=tmp_path)
    assert [(d.severity, d.path, d.location.line) for d in diags] == [("error", "sync.exclude[1]", 4)]  # line 1 is the blank first line
    assert "invalid sync pattern" in diags.items[0].summary


def test_sync_root_is_the_innermost_directory_holding_every_sync_path():
    from healthmon.bundle.context import LoadContext
    from healthmon.bundle.mutators.sync_paths import SyncInferRoot
    from healthmon.bundle.step import BundleState
    from healthmon.bundle.yamlparse import parse_text

    text = "sync: {paths: ['.', '../../a/b', '../x'], include: ['*.py'], exclude: ['!keep']}\n"
    state = BundleState(parse_text(text, "databricks.yml"), LoadContext(root=Path("/tmp/x/bundle"), user_name="u"))
    assert not SyncInferRoot().apply(state).items
    assert state.sync_root == Path("/tmp")
    # As Go's filepath.Join(rel, p): the bundle's own path in front of every entry.
    assert state.config.plain()["sync"] == {"paths": ["x/bundle", "a/b", "x/x"], "include": ["x/bundle/*.py"],
                                            "exclude": ["x/bundle/!keep"]}


def test_sync_paths_inside_the_root_leave_the_sync_root_and_the_entries_alone():
    from healthmon.bundle.mutators.sync_paths import SyncInferRoot

    config, diags = run_step(SyncInferRoot(), "sync: {paths: ['.', 'src/../lib'], include: ['*.py']}\n")
    assert not diags.items and config["sync"] == {"paths": [".", "src/../lib"], "include": ["*.py"]}
