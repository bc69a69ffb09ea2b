from healthmon.bundle.dyn import Value, from_plain, get_path, merge, parse_path, set_path, to_plain, walk, format_path
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


def test_merge_maps_recursively_replaces_lists_and_keeps_base_on_null():
    base = from_plain({"m": {"x": 1, "y": 2}, "l": [1, 2], "s": "a", "keep": 5})
    over = from_plain({"m": {"y": 3}, "l": [9], "s": "b", "keep": None})
    assert to_plain(merge(base, over)) == {"m": {"x": 1, "y": 3}, "l": [9], "s": "b", "keep": 5}


def test_walk_visits_every_node_parent_first():
    v = from_plain({"a": [1, 2]})
    paths = [p for p, _ in walk(v)]
    assert paths == [(), ("a",), ("a", 0), ("a", 1)]
