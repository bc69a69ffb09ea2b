"""JSON text columns: one encoder (orjson, sorted keys) with the standard library's fallback."""

from __future__ import annotations

import json

from healthmon.store.jsontext import dumps_sorted, loads


def test_keys_are_sorted_at_every_level():
    text = dumps_sorted({"b": 1, "a": {"d": [1, {"z": 0, "y": 1}], "c": None}})
    assert text == '{"a":{"c":null,"d":[1,{"y":1,"z":0}]},"b":1}'


def test_round_trips_what_the_standard_encoder_would():
    value = {"tasks": [{"task_key": "t", "depends_on": [{"task_key": "u"}]}], "n": 1.5, "ok": True, "s": "é\n"}
    assert loads(dumps_sorted(value)) == json.loads(json.dumps(value)) == value


def test_non_string_keys_become_strings_as_with_the_standard_encoder():
    assert loads(dumps_sorted({1: "a", "2": "b"})) == json.loads(json.dumps({1: "a", "2": "b"}))


def test_values_beyond_json_fall_back_to_str():
    class Thing:
        def __str__(self) -> str:
            return "thing"

    big = 2**70  # beyond orjson's 64-bit integers
    assert loads(dumps_sorted({"x": Thing(), "big": big})) == {"big": big, "x": "thing"}


def test_an_empty_column_reads_as_none():
    assert loads(None) is None
    assert loads("") is None
    assert loads(b"[1]") == [1]
