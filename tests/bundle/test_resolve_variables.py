import pytest

from healthmon.bundle.context import LoadContext
from healthmon.bundle.diag import BundleError
from healthmon.bundle.mutators.merge_target import merge_target
from healthmon.bundle.mutators.resolve_variables import InitializeVariables, ResolveVariables
from healthmon.bundle.step import BundleState
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
    state = BundleState(cfg, ctx, target=target)
    for step in (InitializeVariables(), ResolveVariables()):  # --var checks, then values
        diags = step.apply(state)
        if diags.has_errors():
            raise BundleError(diags.items)
    return state.config.plain()["variables"]


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
    with pytest.raises(BundleError, match="complex type via --var flag is not supported: cfg"):
        resolve(variables={"cfg": "x"})


def test_a_map_or_list_default_makes_a_variable_complex():
    text = "bundle: {name: v}\nvariables:\n  x:\n    default: {a: 1}\n  y: {default: [1]}\n"
    assert resolve(text, target="default")["x"]["value"] == {"a": 1}
    with pytest.raises(BundleError, match="complex type via --var flag"):
        resolve(text, target="default", variables={"y": "1"})
    # nor the environment
    with pytest.raises(BundleError, match=r"setting via environment variables \(BUNDLE_VAR_x\) is not supported "
                                          "for complex variable x"):
        resolve(text, target="default", environ={"BUNDLE_VAR_x": "s"})


def test_value_written_in_the_definition_and_overrides_file(tmp_path):
    text = ("bundle: {name: v}\nvariables:\n  a: {value: direct, default: d}\n  b: {default: d}\n"
            "  c: {default: {k: 1}}\n")
    assert resolve(text, target="default")["a"]["value"] == "direct"
    f = tmp_path / ".databricks" / "bundle" / "default" / "variable-overrides.json"
    f.parent.mkdir(parents=True)
    f.write_text('{"a": "file", "b": "file", "c": {"k": 2}}')
    got = resolve(text, target="default", tmp_path=tmp_path)
    # a written value is already assigned; the file beats defaults
    assert (got["a"]["value"], got["b"]["value"], got["c"]["value"]) == ("direct", "file", {"k": 2})
    got = resolve(text, target="default", tmp_path=tmp_path, environ={"BUNDLE_VAR_a": "env", "BUNDLE_VAR_b": "env"})
    assert got["a"]["value"] == "direct" and got["b"]["value"] == "env"  # the environment beats the file
    with pytest.raises(BundleError, match="failed to assign x to a: variable has already been assigned value: direct"):
        resolve(text, target="default", variables={"a": "x"})


def test_values_of_the_wrong_kind_are_variable_errors(tmp_path):
    text = "bundle: {name: v}\nvariables:\n  s: {default: d}\n  c: {type: complex, default: {k: 1}}\n"
    f = tmp_path / ".databricks" / "bundle" / "default" / "variable-overrides.json"
    f.parent.mkdir(parents=True)
    for content, message in [
        ('{"s": [1]}', "variable s is not of type complex, but the value in the variable file is a complex type"),
        ('{"c": "x"}', "variable c is of type complex, but the value in the variable file is not a complex type"),
    ]:
        f.write_text(content)
        with pytest.raises(BundleError) as e:
            resolve(text, target="default", tmp_path=tmp_path)
        assert str(e.value) == f"Error: {message}"  # the CLI's wording, without a location
    with pytest.raises(BundleError) as e:
        resolve("bundle: {name: v}\nvariables:\n  c:\n    type: complex\n    default: small\n", target="default")
    assert str(e.value) == ("Error: variable c is of type complex, but the value of its default is not a complex type"
                            "\n  at variables.c.default\n  in databricks.yml:5:14")


def test_a_definition_with_both_default_and_lookup_is_an_error():
    with pytest.raises(BundleError) as e:
        resolve("bundle: {name: v}\nvariables:\n  w: {default: a, lookup: {warehouse: S}}\n", target="default",
                variables={"w": "flag"})
    assert str(e.value) == ("Error: variable w cannot have both a default and a lookup; set one of them\n"
                            "  at variables.w.lookup\n  in databricks.yml:3:27")


def test_unknown_type_resolves_as_a_plain_variable_and_is_an_enum_warning():
    from healthmon.bundle.mutators.validate import CheckRequiredAndEnum

    cfg = merge_target(parse_text("bundle: {name: v}\nvariables:\n  a: {type: text, default: x}\n", "d.yml"), "default")
    state = BundleState(cfg, LoadContext(root=__import__("pathlib").Path("/tmp"), user_name="u", environ={}))
    assert list(ResolveVariables().apply(state)) == []  # the CLI's validate.Enum reports it, later
    assert state.config.plain()["variables"]["a"]["value"] == "x"
    diags = CheckRequiredAndEnum().apply(state)
    assert [(d.summary, d.path) for d in diags] == [
        ('invalid value "text" for enum field. Valid values are [complex]', "variables.a.type")]


def test_missing_value_and_lookup_errors_name_the_variable_or_lookup():
    with pytest.raises(BundleError) as e:
        resolve("bundle: {name: v}\nvariables:\n  needed:\n    description: no default\n", target="default")
    assert str(e.value).startswith(
        "Error: no value assigned to required variable needed. Variables are usually assigned in databricks.yml, and "
        'they can be overridden using "--var", the BUNDLE_VAR_needed environment variable, or '
        ".databricks/bundle/<target>/variable-overrides.json file")
    with pytest.raises(BundleError) as e:
        resolve("bundle: {name: v}\nvariables:\n  wh:\n    lookup:\n      warehouse: Shared\n", target="default")
    assert "failed to resolve warehouse: Shared, err: " in str(e.value)
    assert "the local workspace has no warehouses" in str(e.value)
    # ...but a lookup variable given a value locally is fine
    assert resolve("bundle: {name: v}\nvariables:\n  wh:\n    lookup:\n      warehouse: Shared\n", target="default",
                   variables={"wh": "abc"})["wh"]["value"] == "abc"


def test_unknown_var_flag_is_an_error():
    with pytest.raises(BundleError, match="variable catalgo has not been defined"):
        resolve(variables={"catalgo": "x"})


def test_job_and_service_principal_lookups_resolve_against_the_local_workspace(tmp_path):
    from healthmon.settings import Settings
    from healthmon.store.auth import PrincipalRecord
    from healthmon.store.db import Database
    from healthmon.store.jobs import JobRecord

    db = Database.from_settings(Settings.from_env())
    db.create_all()
    with db.session() as s:
        job = JobRecord(settings_json='{"name": "nightly-default"}', creator_user_name="u", run_as_user_name="u",
                        created_time=0)
        s.add(job)
        s.add(PrincipalRecord(name="6a5b-app-id", kind="service_principal", display_name="etl runner"))
        s.flush()
        job_id = job.job_id
    # A lookup's name may reference bundle fields and other variables, defined before or after it
    # (the CLI's issue_3039_lookup_with_ref).
    text = ("bundle: {name: v}\nvariables:\n  j:\n    lookup:\n      job: ${var.base}-${bundle.target}\n"
            "  base: {default: nightly}\n  sp:\n    lookup:\n      service_principal: etl runner\n")
    got = resolve(text, target="default")
    assert got["j"]["value"] == str(job_id) and got["sp"]["value"] == "6a5b-app-id"


def test_a_broken_overrides_file_is_the_clis_json_loader_error(tmp_path):
    # readVariablesFromFile: "failed to parse variables file <path>: <jsonloader error>", with
    # the absolute path and no location of its own.
    f = tmp_path / ".databricks" / "bundle" / "default" / "variable-overrides.json"
    f.parent.mkdir(parents=True)
    f.write_text('{"b": fals}')
    with pytest.raises(BundleError) as exc:
        resolve("bundle: {name: v}\nvariables:\n  b: {default: d}\n", target="default", tmp_path=tmp_path)
    (d,) = exc.value.diagnostics
    assert d.summary == (f"failed to parse variables file {f}: error decoding JSON at {f}:1:6: "
                         "invalid character '}' in literal false (expecting 'e')")
    assert d.location is None or not d.location.file


def test_an_overrides_file_that_is_not_an_object_is_the_clis_invalid_format(tmp_path):
    f = tmp_path / ".databricks" / "bundle" / "default" / "variable-overrides.json"
    f.parent.mkdir(parents=True)
    f.write_text('["b"]')
    with pytest.raises(BundleError) as exc:
        resolve("bundle: {name: v}\nvariables:\n  b: {default: d}\n", target="default", tmp_path=tmp_path)
    (d,) = exc.value.diagnostics
    assert (d.summary, d.location) == (f"failed to parse variables file {f}: invalid format", None)
    assert d.detail == 'Variables file must be a JSON object with the following format:\n{"var1": "value1", "var2": "value2"}'

