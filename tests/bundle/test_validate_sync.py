"""The sync and job-cluster checks on input the conformance cases do not cover: values of the
wrong kind (found by the structure fuzzer) and patterns git cannot read."""

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
