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
    assert a["name"] == "[team] A" and b["name"] == "[team] b"  # no name: the key is prefixed
    assert a["tags"] == {"owner": "ml", "team": "mine"} and b["tags"] == {"owner": "ml", "team": "default"}
    assert a["schedule"]["pause_status"] == "UNPAUSED" and a["continuous"]["pause_status"] == "UNPAUSED"
    assert b["trigger"]["pause_status"] == "PAUSED"
    assert a["max_concurrent_runs"] == 7 and b["max_concurrent_runs"] == 1


@pytest.mark.parametrize("bad,msg", [
    ("trigger_pause_status: SOMETIMES", "expected PAUSED or UNPAUSED"),
    ("jobs_max_concurrent_runs: many", "expected an integer"),
    ("tags: [a, b]", "expected a map"),
])
def test_bad_presets_are_errors_with_location(bad, msg):
    with pytest.raises(BundleError) as e:
        apply_presets(parse_text(f"presets:\n  {bad}\nresources: {{jobs: {{}}}}\n", "f.yml"))
    assert msg in str(e.value) and "f.yml:2:3" in str(e.value)
