"""The CLI's jsonloader as healthmon reads variable-overrides.json: places and Go's messages."""

import pytest

from healthmon.bundle.jsonload import JsonError, error_location, load_json


def test_values_are_located_after_their_token():
    # Go's json.Decoder InputOffset() after each token: a string at its closing quote, a
    # container just after its opening bracket (column = offset minus the line's start).
    text = '{"a": "x\\"y", "b": [1, {"c": null}, []],\n "d": {}, "e": true, "f": 2.0, "a": 3}'
    v = load_json(text, "f.json")
    assert v.plain() == {"a": 3, "b": [1, {"c": None}, []], "d": {}, "e": True, "f": 2}
    b = v.v["b"]
    assert [(x.loc.line, x.loc.column) for x in (b, *b.v)] == [(1, 20), (1, 21), (1, 24), (1, 37)]
    assert (v.v["d"].loc.line, v.v["d"].loc.column) == (2, 7)
    assert (v.v["e"].loc.line, v.v["e"].loc.column) == (2, 19)
    assert list(v.v) == ["a", "b", "d", "e", "f"]  # a key written twice keeps its first place


def test_only_the_first_value_is_read():
    assert load_json('{"a": 1} trailing {', "f.json").plain() == {"a": 1}


@pytest.mark.parametrize("text,message,where", [
    ("foo", "invalid character 'o' in literal false (expecting 'a')", ":0:0"),
    ("", "unexpected end of JSON input", ":0:0"),
    ("}", "invalid character '}' looking for beginning of value", ":0:0"),
    ('{"a": 1,}', "invalid character '}' looking for beginning of object key string", "f.json:1:8"),
    ('{"a" 1}', "invalid character '1' after object key", "f.json:1:5"),
    ('{"a": 1 "b": 2}', "invalid character '\"' after object key:value pair", "f.json:1:8"),
    ('[1 2]', "invalid character '2' after array element", "f.json:1:3"),
    ('{"a": tru}', "invalid character '}' in literal true (expecting 'e')", "f.json:1:6"),
    ('{"a": -x}', "invalid character 'x' in numeric literal", "f.json:1:6"),
    ('{"a": "x\ny"}', "invalid character '\\n' in string literal", "f.json:1:6"),
    ('{"a": "x\\qy"}', "invalid character 'q' in string escape code", "f.json:1:6"),
    ('{"a": 1', "unexpected end of JSON input", "f.json:1:7"),
])
def test_syntax_errors_have_gos_wording(text, message, where):
    with pytest.raises(JsonError) as e:
        load_json(text, "f.json")
    assert e.value.message == message
    assert error_location(e.value, text, "f.json") == where


def test_deep_nesting_is_an_error_not_a_crash():
    with pytest.raises(JsonError, match="exceeded max depth"):
        load_json("[" * 100_000, "f.json")
