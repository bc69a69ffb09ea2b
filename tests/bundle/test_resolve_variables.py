import pytest

from healthmon.bundle.context import LoadContext
from healthmon.bundle.diag import BundleError
from healthmon.bundle.mutators.merge_target import merge_target
from healthmon.bundle.mutators.resolve_variables import resolve_variables
from healthmon.bundle.yamlparse import parse_text

YAML = """
bundle: {name: v}
variables:
  catalog:
    default: from_default
  plain: {default: 1}
  cfg:
    type: complex
    default: {nodes: [a, b]}
targets:
  dev:
    variables:
      catalog: from_target
"""


def resolve(text=YAML, variables=None, environ=None, target="dev", tmp_path=None):
    cfg = merge_target(parse_text(text, "databricks.yml"), target)
    ctx = LoadContext(root=tmp_path or __import__("pathlib").Path("/tmp"), user_name="u@x.com",
                      variables=variables or {}, environ=environ or {})
    return resolve_variables(cfg, ctx).plain()["variables"]


@pytest.mark.parametrize("variables,environ,expected", [
    ({}, {}, "from_target"),
    ({}, {"BUNDLE_VAR_catalog": "from_env"}, "from_env"),
    ({"catalog": "from_flag"}, {"BUNDLE_VAR_catalog": "from_env"}, "from_flag"),
])
def test_precedence_flag_env_target_default(variables, environ, expected):
    assert resolve(variables=variables, environ=environ)["catalog"]["value"] == expected


def test_default_used_without_target_value():
    text = YAML.replace("      catalog: from_target\n", "      plain: 2\n")
    assert resolve(text)["catalog"]["value"] == "from_default"
    assert resolve(text)["plain"]["value"] == 2


def test_complex_values_keep_their_structure_and_reject_flags():
    assert resolve()["cfg"]["value"] == {"nodes": ["a", "b"]}
    with pytest.raises(BundleError, match="complex type via --var is not supported"):
        resolve(variables={"cfg": "x"})


def test_non_complex_variable_with_a_map_is_an_error():
    with pytest.raises(BundleError) as e:
        resolve("bundle: {name: v}\nvariables:\n  x:\n    default: {a: 1}\n", target="default")
    assert 'add "type: complex"' in str(e.value)
    assert "databricks.yml:4:5" in str(e.value)  # the default: key


def test_missing_value_and_lookup_errors_name_the_variable():
    with pytest.raises(BundleError) as e:
        resolve("bundle: {name: v}\nvariables:\n  needed:\n    description: no default\n", target="default")
    assert 'no value assigned to required variable "needed"' in str(e.value)
    assert "BUNDLE_VAR_needed" in str(e.value)
    with pytest.raises(BundleError) as e:
        resolve("bundle: {name: v}\nvariables:\n  wh:\n    lookup:\n      warehouse: Shared\n", target="default")
    assert "lookups need a Databricks workspace" in str(e.value)
    # ...but a lookup variable given a value locally is fine
    assert resolve("bundle: {name: v}\nvariables:\n  wh:\n    lookup:\n      warehouse: Shared\n", target="default",
                   variables={"wh": "abc"})["wh"]["value"] == "abc"


def test_unknown_var_flag_suggests():
    with pytest.raises(BundleError, match='did you mean "catalog"'):
        resolve(variables={"catalgo": "x"})
