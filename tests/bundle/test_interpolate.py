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


def test_resource_ids_are_left_for_deploy_but_must_exist():
    c, _ = run(VARS + "resources:\n  jobs:\n    a: {name: A}\n    b:\n      name: ${resources.jobs.a.name}\n      id_ref: ${resources.jobs.a.id}\n")
    assert c["resources"]["jobs"]["b"] == {"name": "A", "id_ref": "${resources.jobs.a.id}"}
    with pytest.raises(BundleError) as e:
        run(VARS + "resources:\n  jobs:\n    b:\n      x: ${resources.jobs.missing.id}\n")
    assert "reference does not exist: ${resources.jobs.missing.id}" in str(e.value)
    assert "databricks.yml:15:7" in str(e.value)


def test_cycles_are_reported_with_the_chain():
    with pytest.raises(BundleError) as e:
        run("variables:\n  a: {value: '${var.b}'}\n  b: {value: 'x${var.c}'}\n  c: {value: '${var.a}'}\n")
    msg = str(e.value)
    assert "cycle detected" in msg
    assert "variables.a.value -> variables.b.value -> variables.c.value -> variables.a.value" in msg


def test_undefined_variable_names_file_line_col():
    with pytest.raises(BundleError) as e:
        run(VARS + "x: ${var.nope}\n")
    d = e.value.diagnostics[0]
    assert "reference does not exist: ${var.nope}" in d.summary
    assert str(d.location) == "databricks.yml:12:1"


def test_maps_cannot_be_spliced_into_strings():
    with pytest.raises(BundleError, match="cannot interpolate a map"):
        run(VARS + "x: prefix-${var.cfg}\n")


def test_unknown_prefix_is_kept_with_a_warning():
    c, diags = run(VARS + "x: ${bundel.name}\n")
    assert c["x"] == "${bundel.name}"
    assert 'did you mean "bundle"' in diags.items[0].summary


def test_a_broken_reference_inside_a_variable_is_named_at_its_source():
    with pytest.raises(BundleError) as e:
        run(VARS + "  broken: {value: '${var.missing}'}\nx: ${var.broken}\n")
    assert all("reference does not exist: ${var.missing}" in d.summary for d in e.value.diagnostics)


def test_a_cycle_is_reported_once():
    with pytest.raises(BundleError) as e:
        run("variables:\n  a: {value: '${var.b}'}\n  b: {value: '${var.a}'}\nx: ${var.a}\ny: ${var.b}\n")
    assert len(e.value.diagnostics) == 1
    assert str(e.value.diagnostics[0].location) == "databricks.yml:2:7"  # the value: field of a
