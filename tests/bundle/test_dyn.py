import pytest

from healthmon.bundle.dyn import (MergeError, Value, find, format_path, from_plain, get_path, go_float, map_pattern,
                                  merge, parse_path, set_path, to_plain, walk)
from healthmon.errors import Location


def test_round_trip_and_paths():
    v = from_plain({"a": {"b": [1, {"c": "x"}]}}, Location("f.yml", 1, 1))
    assert to_plain(v) == {"a": {"b": [1, {"c": "x"}]}}
    assert parse_path("a.b[1].c") == ("a", "b", 1, "c")
    assert format_path(("a", "b", 1, "c")) == "a.b[1].c"
    assert get_path(v, parse_path("a.b[1].c")).v == "x"
    assert get_path(v, parse_path("a.b[5]")) is None
    assert get_path(v, parse_path("a.x.y")) is None


def test_set_path_is_pure_and_creates_maps():
    v = from_plain({"a": {"b": 1}})
    w = set_path(v, ("a", "c", "d"), Value(2))
    assert to_plain(v) == {"a": {"b": 1}}
    assert to_plain(w) == {"a": {"b": 1, "c": {"d": 2}}}


def test_merge_maps_recursively_concatenates_lists_and_keeps_base_on_null():
    # The CLI's merge.Merge: sequences are concatenated, a null keeps the other side.
    base = from_plain({"m": {"x": 1, "y": 2}, "l": [1, 2], "s": "a", "keep": 5, "n": None})
    over = from_plain({"m": {"y": 3}, "l": [9], "s": "b", "keep": None, "n": 1})
    assert to_plain(merge(base, over)) == {"m": {"x": 1, "y": 3}, "l": [1, 2, 9], "s": "b", "keep": 5, "n": 1}


def test_merge_of_different_kinds_is_an_error():
    with pytest.raises(MergeError, match="cannot merge map with string"):
        merge(from_plain({"a": {"x": 1}}), from_plain({"a": "s"}))


def test_patterns_find_and_map_share_untouched_subtrees():
    v = from_plain({"resources": {"jobs": {"a": {"tasks": [{"k": 1}, {"k": 2}]}, "b": {}}}, "other": {"x": 1}})
    assert [format_path(p) for p, _ in find(v, "resources.jobs.*.tasks[*].k")] == [
        "resources.jobs.a.tasks[0].k", "resources.jobs.a.tasks[1].k"]
    out = map_pattern(v, "resources.jobs.*.tasks[*].k", lambda _p, x: Value(x.v * 10))
    assert to_plain(out)["resources"]["jobs"]["a"]["tasks"] == [{"k": 10}, {"k": 20}]
    assert out.v["other"] is v.v["other"] and out.v["resources"].v["jobs"].v["b"] is v.v["resources"].v["jobs"].v["b"]


def test_walk_visits_every_node_parent_first():
    v = from_plain({"a": [1, 2]})
    paths = [p for p, _ in walk(v)]
    assert paths == [(), ("a",), ("a", 0), ("a", 1)]


@pytest.mark.parametrize("v, f, g", [
    # strconv.FormatFloat(v, 'f', -1, 64) and fmt.Sprint(v), as Go prints them.
    (1.0, "1", "1"),
    (1000.0, "1000", "1000"),
    (2.5, "2.5", "2.5"),
    (0.6, "0.6", "0.6"),
    (1e-7, "0.0000001", "1e-07"),
    (0.0001, "0.0001", "0.0001"),
    (1e-5, "0.00001", "1e-05"),
    (123456.7, "123456.7", "123456.7"),
    (1e6, "1000000", "1e+06"),
    (1234567.5, "1234567.5", "1.2345675e+06"),
    (1e21, "1000000000000000000000", "1e+21"),
    (-0.0, "-0", "-0"),
    (-3.25, "-3.25", "-3.25"),
])
def test_go_float(v, f, g):
    assert go_float(v, "f") == f
    assert go_float(v, "g") == g
