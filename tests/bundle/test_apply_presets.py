import pytest

from healthmon.bundle.diag import BundleError
from healthmon.bundle.mutators.apply_presets import apply_presets
from healthmon.bundle.yamlparse import parse_text

YAML = """
presets:
  name_prefix: "[team] "
  tags: {owner: ml, team: default}
  trigger_pause_status: UNPAUSED
  jobs_max_concurrent_runs: 7
resources:
  jobs:
    a: {name: A, tags: {team: mine}, schedule: {quartz_cron_expression: x, timezone_id: UTC}, continuous: {}}
    b: {max_concurrent_runs: 1, trigger: {pause_status: PAUSED, periodic: {interval: 1, unit: DAYS}}}
"""


def test_presets_apply_where_unset():
    jobs = apply_presets(parse_text(YAML, "f.yml")).plain()["resources"]["jobs"]
    a, b = jobs["a"], jobs["b"]
    assert a["name"] == "[team] A" and b["name"] == "[team] Untitled"  # no name: the CLI's "Untitled"
    assert a["tags"] == {"owner": "ml", "team": "mine"} and b["tags"] == {"owner": "ml", "team": "default"}
    assert a["schedule"]["pause_status"] == "UNPAUSED" and a["continuous"]["pause_status"] == "UNPAUSED"
    assert b["trigger"]["pause_status"] == "PAUSED"
    assert a["max_concurrent_runs"] == 7 and b["max_concurrent_runs"] == 1


@pytest.mark.parametrize("bad,msg", [
    ("trigger_pause_status: SOMETIMES", "Invalid value for trigger_pause_status, should be PAUSED or UNPAUSED"),
    ("jobs_max_concurrent_runs: many", "expected an integer"),
    ("tags: [a, b]", "expected a map"),
])
def test_bad_presets_are_errors_with_location(bad, msg):
    with pytest.raises(BundleError) as e:
        apply_presets(parse_text(f"presets:\n  {bad}\nresources: {{jobs: {{}}}}\n", "f.yml"))
    assert msg in str(e.value) and "in f.yml:2:" in str(e.value)


def test_prefix_of_other_resources_and_unity_catalog_names():
    from bundle_fixtures import run_step
    from healthmon.bundle.mutators.apply_presets import ApplyPresets

    config, _ = run_step(ApplyPresets(), """
        presets: {name_prefix: "[dev jane] ", pipelines_development: true}
        resources:
          pipelines: {p: {name: P}}
          schemas: {s: {name: raw, catalog_name: main}}
          volumes: {v: {name: files, catalog_name: main, schema_name: raw}}
          experiments: {e: {name: /Users/jane@x.com/exp}}
          registered_models: {m: {name: model, catalog_name: main, schema_name: raw}}
        """)
    res = config["resources"]
    assert res["pipelines"]["p"] == {"name": "[dev jane] P", "development": True}
    assert res["schemas"]["s"]["name"] == "dev_jane_raw" and res["volumes"]["v"]["name"] == "dev_jane_files"
    assert res["registered_models"]["m"]["name"] == "dev_jane_model"
    assert res["experiments"]["e"]["name"] == "/Users/jane@x.com/[dev jane] exp"


def test_artifacts_dynamic_version_marks_every_wheel_artifact():
    config = parse_text("""
presets: {artifacts_dynamic_version: true}
artifacts:
  wheel: {type: whl, build: uv build --wheel}
  pinned: {type: whl, dynamic_version: false}
  jar: {type: jar, build: sbt package}
""", "f.yml")
    artifacts = apply_presets(config).plain()["artifacts"]
    assert artifacts["wheel"]["dynamic_version"] is True
    assert artifacts["pinned"]["dynamic_version"] is True  # a preset, as pipelines_development: unconditional
    assert "dynamic_version" not in artifacts["jar"]  # only a wheel's version can be patched
