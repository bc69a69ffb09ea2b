import pytest

from healthmon.bundle.yamlparse import YamlError, parse_text


def test_every_node_has_file_line_col():
    v = parse_text("a:\n  b: 1\n  c:\n    - x\n    - 2.5\n", "f.yml")
    assert v.v["a"].loc.line == 2  # a block map starts at its first key
    b = v.v["a"].v["b"]
    assert (b.v, b.loc.file, b.loc.line, b.loc.column) == (1, "f.yml", 2, 6)  # where the value starts
    items = v.v["a"].v["c"].v
    assert [i.v for i in items] == ["x", 2.5]
    assert [(i.loc.line, i.loc.column) for i in items] == [(4, 7), (5, 7)]


def test_scalars_are_typed_like_the_clis_yaml_1_2_and_dates_stay_strings():
    v = parse_text("i: 3\nf: 1.5\nb: true\nn: null\ns: '3'\nd: 2024-01-01\n", "f.yml").plain()
    assert v == {"i": 3, "f": 1.5, "b": True, "n": None, "s": "3", "d": "2024-01-01"}
    # Where PyYAML's YAML 1.1 differs from the CLI's yaml.v3 + scalar loader, the CLI wins.
    v = parse_text("a: yes\nb: Off\nc: 1:30\nd: 0600\ne: 1e3\nf: '1e3'\ng: =\nh: 0x1F\ni: FALSE\n", "f.yml").plain()
    assert v == {"a": "yes", "b": "Off", "c": "1:30", "d": 600, "e": 1000.0, "f": "1e3", "g": "=", "h": 31, "i": False}


def test_a_key_written_twice_takes_its_later_value_in_its_first_place():
    # The CLI's yamlloader: dyn.Mapping.Set replaces the value of a key it already holds (its
    # bundle/tests/variables/complex writes a task's task_key twice, the later one counting).
    v = parse_text("jobs:\n  a: 1\n  b: 2\n  a: 3\n", "r.yml")
    jobs = v.v["jobs"]
    assert list(jobs.v) == ["a", "b"] and jobs.plain() == {"a": 3, "b": 2}
    assert str(jobs.v["a"].loc) == "r.yml:4:6"
    # Own keys still win over merged ones, whichever of the two is written twice.
    v = parse_text("x: &x {a: 1}\ny:\n  <<: *x\n  a: 2\n  a: 3\n", "r.yml").plain()
    assert v["y"] == {"a": 3}


@pytest.mark.parametrize("text,where", [
    ("a: [1, 2\nb: 3\n", "f.yml:2"),
    ("a:\n  - b\n c: d\n", "f.yml:3"),
    ("a: *missing\n", "f.yml:1:4"),
    ("a: !custom 3\n", "f.yml:1"),
    ("\tx: 1\n", "f.yml:1"),
])
def test_malformed_yaml_is_an_error_with_position(text, where):
    with pytest.raises(YamlError) as e:
        parse_text(text, "f.yml")
    assert str(e.value).startswith(where), str(e.value)


def test_anchors_and_merge_keys_work():
    v = parse_text("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\nref: *b\n", "f.yml").plain()
    assert v["use"] == {"x": 1, "y": 3}
    assert v["ref"] == {"x": 1, "y": 2}


def test_merge_key_precedence_follows_the_cli_loader():
    # The CLI's yamlloader.loadMapping merges the listed maps in order, then the map's own
    # entries, each Mapping.Set replacing: a later map in the list wins (unlike the YAML spec).
    text = ("a: &a {x: 1, z: 1}\nb: &b {x: 2, y: 2, z: 2}\nc: &c {<<: *b, y: 3}\n"
            "list: {<<: [*a, *b], z: 9}\nnested: {<<: *c}\nrev: {<<: [*b, *a]}\n")
    v = parse_text(text, "f.yml")
    assert v.plain()["list"] == {"x": 2, "z": 9, "y": 2}  # later in the list wins; own keys win over all
    assert list(v.v["list"].v) == ["x", "z", "y"]  # a key keeps the place where it first appears
    assert v.plain()["nested"] == {"x": 2, "y": 3, "z": 2}  # a merged map's own keys win inside it
    assert v.plain()["rev"] == {"x": 1, "y": 2, "z": 1}
    with pytest.raises(YamlError, match="map merge requires map or sequence of maps as the value") as e:
        parse_text("x: &x [1]\ny: {<<: *x}\n", "f.yml")
    assert e.value.location.line == 2  # the merge value (the alias), not the anchored node


def test_two_merge_keys_in_one_map_are_an_error():
    # The CLI's loader keeps one merge node per map (a second one panics): no bundle has two.
    with pytest.raises(YamlError, match="written twice") as e:
        parse_text("a: &a {x: 1}\nb: &b {x: 2}\ntwo:\n  <<: *a\n  <<: *b\n", "f.yml")
    assert (e.value.location.line, e.value.location.column) == (5, 3)


def test_alias_bomb_is_rejected():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    prev = "a"
    for name in "bcdefghij":
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
        prev = name
    with pytest.raises(YamlError, match="alias"):
        parse_text("\n".join(lines) + "\n", "bomb.yml")


def test_empty_document_is_an_empty_map():
    assert parse_text("", "f.yml").plain() == {}
    assert parse_text("# just a comment\n", "f.yml").plain() == {}


@pytest.mark.parametrize("text,expected", [
    ("a: 1\n---\nb: 2\n", {"a": 1}),
    ("a: 1\n---\nb: [unclosed\n", {"a": 1}),     # a later document is never parsed
    ("---\n---\nb: 2\n", {}),                     # an empty first document: nil, the rest ignored
    ("null\n---\nb: 2\n", {}),
    ("# comment\n---\nb: 2\n", {"b": 2}),         # a comment before `---` is no document
    ("a: 1\n...\n---\nb: 2\n", {"a": 1}),
])
def test_only_the_first_document_is_read_as_the_clis_yamlloader(text, expected):
    assert parse_text(text, "f.yml").plain() == expected


def test_deep_and_recursive_structures_are_errors_not_crashes():
    with pytest.raises(YamlError, match="nested more than"):
        parse_text("x: " + "[" * 300 + "]" * 300 + "\n", "f.yml")
    with pytest.raises(YamlError) as e:
        parse_text("a: &a [1, *a]\n", "f.yml")
    assert str(e.value.location).startswith("f.yml:1:")


@pytest.mark.parametrize("text, message", [
    # yaml.v3's parser.fail: the context mark's 0-based line unless it is 0, then the problem
    # mark's; a scanner error adds 1; line 0 is not named.
    ("a: b: c\n", "yaml: mapping values are not allowed in this context"),
    ("x: 1\na: b: c\n", "yaml: line 2: mapping values are not allowed in this context"),
    ("a:\n  - x\n  y: 1\n", "yaml: line 1: did not find expected '-' indicator"),
    ("a:\n\tb: 1\n", "yaml: line 2: found character that cannot start any token"),
    ("a:\n  b: 1\n  foo\nc: 1\n", "yaml: line 3: could not find expected ':'"),
    ("a: 1\nb: *nope\n", "yaml: unknown anchor 'nope' referenced"),
])
def test_syntax_errors_carry_yaml_v3s_message(text, message):
    with pytest.raises(YamlError) as e:
        parse_text(text, "f.yml")
    assert e.value.syntax == message
