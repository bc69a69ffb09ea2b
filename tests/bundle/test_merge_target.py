from bundle_fixtures import load, make_bundle, run_step  # noqa: F401  (pytest fixtures)

from healthmon.bundle.mutators.merge_keyed import MergeKeyedLists
from healthmon.bundle.mutators.merge_target import merge_target
from healthmon.bundle.yamlparse import parse_text

BASE = """
bundle:
  name: m
variables:
  catalog:
    default: main
  cfg:
    type: complex
    default: {a: 1, b: 2}
resources:
  jobs:
    j:
      name: job
      tags: {team: data, cost: low}
      email_notifications:
        on_failure: [a@x.com, b@x.com]
      job_clusters:
        - job_cluster_key: c1
          new_cluster: {num_workers: 1, node_type_id: small}
      tasks:
        - task_key: t1
          timeout_seconds: 10
          notebook_task: {notebook_path: ./a.py}
        - task_key: t2
          notebook_task: {notebook_path: ./b.py}
targets:
  prod:
    mode: production
    variables:
      catalog: prod
      cfg: {a: 9}
    resources:
      jobs:
        j:
          tags: {cost: high}
          email_notifications:
            on_failure: [oncall@x.com]
          job_clusters:
            - job_cluster_key: c1
              new_cluster: {num_workers: 8}
          tasks:
            - task_key: t2
              timeout_seconds: 99
            - task_key: t3
              notebook_task: {notebook_path: ./c.py}
"""


def merged():
    return merge_target(parse_text(BASE, "databricks.yml"), "prod").plain()


def keyed():
    """Target merge (sequences concatenated), then entries with the same key combined."""
    import yaml

    return run_step(MergeKeyedLists(), yaml.safe_dump(merged()))[0]


def test_target_sequences_are_appended_before_keyed_merging():
    tasks = merged()["resources"]["jobs"]["j"]["tasks"]
    assert [t["task_key"] for t in tasks] == ["t1", "t2", "t2", "t3"]


def test_tasks_merge_by_key_and_new_keys_append():
    tasks = keyed()["resources"]["jobs"]["j"]["tasks"]
    assert [t["task_key"] for t in tasks] == ["t1", "t2", "t3"]
    assert tasks[0]["timeout_seconds"] == 10
    assert tasks[1] == {"task_key": "t2", "notebook_task": {"notebook_path": "./b.py"}, "timeout_seconds": 99}


def test_job_clusters_merge_by_key_maps_merge_lists_append():
    job = keyed()["resources"]["jobs"]["j"]
    assert job["job_clusters"] == [{"job_cluster_key": "c1", "new_cluster": {"num_workers": 8, "node_type_id": "small"}}]
    assert job["tags"] == {"team": "data", "cost": "high"}
    assert job["email_notifications"]["on_failure"] == ["a@x.com", "b@x.com", "oncall@x.com"]
    assert job["name"] == "job"


def test_pipeline_clusters_merge_by_label_case_insensitively_and_unlabelled_is_default():
    # The CLI's MergePipelineClusters: labels compared lowercased, no label = "default", and each
    # merged cluster is printed with the normalised label.
    text = """
resources:
  pipelines:
    p:
      clusters:
        - label: Default
          num_workers: 1
          node_type_id: small
        - label: maintenance
          num_workers: 1
        - num_workers: 4
        - label: MAINTENANCE
          node_type_id: big
"""
    clusters = run_step(MergeKeyedLists(), text)[0]["resources"]["pipelines"]["p"]["clusters"]
    assert clusters == [{"label": "default", "num_workers": 4, "node_type_id": "small"},
                        {"label": "maintenance", "num_workers": 1, "node_type_id": "big"}]
    alone = run_step(MergeKeyedLists(), "resources: {pipelines: {p: {clusters: [{num_workers: 2}]}}}")[0]
    assert alone["resources"]["pipelines"]["p"]["clusters"] == [{"label": "default", "num_workers": 2}]


def test_mode_moves_under_bundle_and_targets_are_left_null():
    c = merged()
    assert c["bundle"] == {"name": "m", "mode": "production", "target": "prod", "environment": "prod"}
    assert c["targets"] is None  # SelectTarget's `b.Config.Targets = nil`, printed as null


def test_target_variables_override_defaults_and_complex_values_replace():
    v = merged()["variables"]
    assert v["catalog"]["default"] == "prod"
    assert v["cfg"] == {"type": "complex", "default": {"a": 9}}


def test_target_override_keeps_its_own_location():
    cfg = merge_target(parse_text(BASE, "databricks.yml"), "prod")
    t2 = cfg.v["resources"].v["jobs"].v["j"].v["tasks"].v[2]
    assert (t2.v["timeout_seconds"].loc.line, t2.v["timeout_seconds"].loc.column) == (43, 32)


def test_target_cannot_assign_an_undefined_variable():
    import pytest

    from healthmon.bundle.diag import BundleError

    text = "bundle: {name: m}\nvariables:\n  catalog: {default: a}\ntargets:\n  dev:\n    variables:\n      catalgo: b\n"
    with pytest.raises(BundleError) as e:
        merge_target(parse_text(text, "databricks.yml"), "dev")
    assert e.value.diagnostics[0].summary == "variable catalgo is not defined but is assigned a value"
    assert e.value.diagnostics[0].location is None


def test_keys_are_merged_after_interpolation(load):
    b = load({"databricks.yml": """
        bundle: {name: m}
        variables: {k: {default: t1}}
        resources:
          jobs:
            j:
              tasks:
                - {task_key: "${var.k}", notebook_task: {notebook_path: /Workspace/a}}
        targets:
          dev:
            resources:
              jobs:
                j:
                  tasks:
                    - {task_key: t1, timeout_seconds: 5}
        """}, "dev")
    assert b.jobs["j"]["tasks"] == [{"task_key": "t1", "notebook_task": {"notebook_path": "/Workspace/a"},
                                     "timeout_seconds": 5}]


def test_a_target_lookup_replaces_the_default_and_a_target_value_the_lookup():
    text = ("bundle: {name: m}\nvariables:\n  wh: {default: abc}\n  pool: {lookup: {instance_pool: p}}\n"
            "targets:\n  prod:\n    variables:\n      wh: {lookup: {warehouse: Shared}}\n      pool: xyz\n")
    v = merge_target(parse_text(text, "databricks.yml"), "prod").plain()["variables"]
    assert v == {"wh": {"lookup": {"warehouse": "Shared"}}, "pool": {"default": "xyz"}}


def test_a_target_value_of_the_wrong_kind_is_a_variable_error():
    import pytest

    from healthmon.bundle.diag import BundleError

    head = "bundle: {name: m}\nvariables:\n  s: {default: a}\n  c: {default: {k: 1}}\n  r: {type: complex}\n"
    for assign, message in [
        ("s: [1, 2]", 'variable s is not of type complex, but the value assigned in target "dev" is a complex type'),
        ("c: one", 'variable c is of type complex, but the value assigned in target "dev" is not a complex type'),
        ("r: 3", 'variable r is of type complex, but the value assigned in target "dev" is not a complex type'),
    ]:
        text = head + f"targets:\n  dev:\n    variables:\n      {assign}\n"
        with pytest.raises(BundleError) as e:
            merge_target(parse_text(text, "databricks.yml"), "dev")
        assert str(e.value).startswith(f"Error: {message}\n  at targets.dev.variables.{assign[0]}\n"
                                       f"  in databricks.yml:9:10")
    # A reference may stand for either kind: interpolation checks what it becomes.
    text = head + "targets:\n  dev:\n    variables:\n      c: ${var.r}\n"
    assert merge_target(parse_text(text, "databricks.yml"), "dev").plain()["variables"]["c"]["default"] == "${var.r}"
