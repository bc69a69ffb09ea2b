import pytest

from healthmon.bundle.diag import BundleError
from healthmon.bundle.mutators.interpolate import interpolate
from healthmon.bundle.yamlparse import parse_text


def run(text):
    cfg, diags = interpolate(parse_text(text, "databricks.yml"))
    return cfg.plain(), diags


VARS = """
bundle: {name: b, target: dev}
workspace:
  current_user: {userName: me@x.com, short_name: me}
  root_path: /Workspace/Users/me@x.com/.bundle/${bundle.name}/${bundle.target}
  file_path: ${workspace.root_path}/files
variables:
  catalog: {value: cat}
  n: {value: 3}
  cfg: {value: {clusters: [{node: small}, {node: big}], flag: true}}
  nested: {value: "${var.catalog}_x"}
"""


def test_references_resolve_with_field_and_index_access_and_types():
    c, _ = run(VARS + """
out:
  a: ${var.catalog}.gold
  b: ${variables.catalog.value}
  c: ${var.n}
  d: ${var.cfg.clusters[1].node}
  e: ${var.cfg}
  f: "${bundle.name}-${bundle.target} by ${workspace.current_user.short_name}"
  g: ${workspace.file_path}
  h: ${var.nested}/${var.cfg.flag}
""")
    out = c["out"]
    assert out["a"] == "cat.gold" and out["b"] == "cat"
    assert out["c"] == 3  # a whole-string reference keeps the type
    assert out["d"] == "big"
    assert out["e"] == {"clusters": [{"node": "small"}, {"node": "big"}], "flag": True}
    assert out["f"] == "b-dev by me"
    assert out["g"] == "/Workspace/Users/me@x.com/.bundle/b/dev/files"
    assert out["h"] == "cat_x/true"


def test_resource_references_are_left_as_written():
    # the CLI's ResolveVariableReferences resolves the bundle, workspace and variables prefixes
    # only: any ${resources...} is for the deployment, a field that exists or not, an id or not
    c, _ = run(VARS + "resources:\n  jobs:\n    a: {name: A}\n    b:\n      name: ${resources.jobs.a.name} (${var.catalog})\n      id_ref: ${resources.jobs.a.id}\n")
    assert c["resources"]["jobs"]["b"] == {"name": "${resources.jobs.a.name} (cat)", "id_ref": "${resources.jobs.a.id}"}
    c, diags = run(VARS + "resources:\n  jobs:\n    b:\n      x: ${resources.jobs.missing.id}\n      y: ${resources.jobs.b.nope}\n")
    assert c["resources"]["jobs"]["b"] == {"x": "${resources.jobs.missing.id}", "y": "${resources.jobs.b.nope}"}
    assert not diags.items


def test_cycles_of_plain_references_are_errors_with_the_chain():
    with pytest.raises(BundleError) as e:
        run("variables:\n  a: {value: '${var.b}'}\n  b: {value: '${var.c}'}\n  c: {value: '${var.a}'}\n")
    msg = str(e.value)
    assert "cycle detected in field resolution: " in msg
    assert "variables.b.value -> variables.c.value -> variables.a.value -> variables.b.value" in msg


def test_a_cycle_through_text_or_complex_values_stops_with_a_warning():
    c, diags = run("variables:\n  a: {value: {x: '${var.b}'}}\n  b: {value: {y: '${var.a}'}}\n")
    assert [d.summary for d in diags] == ["Detected unresolved variables after 11 resolution rounds"]
    assert "${var" in str(c["variables"])


def test_references_built_from_references_resolve_in_rounds():
    c, _ = run(VARS + "  tail: {value: prod}\n  foo_prod: {value: found}\n  ünï: {value: u}\nx: ${var.foo_${var.tail}}\ny: ${var.ünï}\n")
    assert c["x"] == "found" and c["y"] == "u"


def test_unterminated_reference_is_an_error():
    with pytest.raises(BundleError) as e:
        run(VARS + "x: {depends_on: '${var.catalog'}\n")
    d = e.value.diagnostics[0]
    assert d.summary == 'unterminated variable reference in "${var.catalog": "${" has no closing "}"'
    assert d.path == "x.depends_on"


def test_undefined_variable_is_named_as_the_cli_does():
    with pytest.raises(BundleError) as e:
        run(VARS + "x: ${var.nope}\ny: a-${var.nope}\n")
    assert str(e.value) == "Error: reference does not exist: ${var.nope}"  # once, without a location


def test_maps_cannot_be_spliced_into_strings():
    with pytest.raises(BundleError) as e:
        run(VARS + "x: prefix-${var.cfg}\n")
    assert str(e.value) == "Error: cannot interpolate non-string value: ${var.cfg}"  # dynvar's words, no location


def test_unknown_prefix_is_kept_as_the_cli_does():
    c, diags = run(VARS + "x: ${bundel.name}\ny: echo ${HOME}\n")
    assert c["x"] == "${bundel.name}" and c["y"] == "echo ${HOME}"
    assert not diags.items


def test_a_broken_reference_inside_a_variable_is_named_at_its_source():
    with pytest.raises(BundleError) as e:
        run(VARS + "  broken: {value: '${var.missing}'}\nx: ${var.broken}\n")
    assert all("reference does not exist: ${var.missing}" in d.summary for d in e.value.diagnostics)


def test_a_cycle_is_reported_once():
    with pytest.raises(BundleError) as e:
        run("variables:\n  a: {value: '${var.b}'}\n  b: {value: '${var.a}'}\nx: ${var.a}\ny: ${var.b}\n")
    assert len(e.value.diagnostics) == 1
    assert e.value.diagnostics[0].summary == ("cycle detected in field resolution: variables.b.value -> "
                                              "variables.a.value -> variables.b.value")


def test_a_field_naming_itself_is_a_cycle_not_a_crash():
    # The fuzz test's find: `bundle.name: ${bundle.name}` (dynvar: the path, then itself again).
    with pytest.raises(BundleError) as e:
        run("bundle: {name: '${bundle.name}'}\n")
    assert [d.summary for d in e.value.diagnostics] == [
        "cycle detected in field resolution: bundle.name -> bundle.name"]
