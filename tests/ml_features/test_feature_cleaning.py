"""clean_features: NaN/inf/NULL -> 0, NULL keys dropped, keys typed, duplicates refused."""

from __future__ import annotations

import datetime as dt
import math

import pyarrow as pa
import pytest

from healthmon.errors import HealthmonError
from healthmon.ml.features.cleaning import clean_features

D = dt.date(2024, 1, 1)


def test_non_finite_and_null_features_become_zero_and_null_keys_are_dropped():
    raw = pa.table({
        "k": ["a", "b", None, "c"],
        "d": [D, D, D, None],
        "x": [1.5, float("nan"), 2.0, 3.0],
        "y": pa.array([float("inf"), None, 1.0, -float("inf")]),
        "n": pa.array([1, 2, 3, 4], pa.int64()),
    })
    out, counts = clean_features(raw, ("k", "d"), ("x", "y", "n"))
    assert out.column_names == ["k", "d", "x", "y", "n"]
    assert out.to_pydict() == {"k": ["a", "b"], "d": [D, D], "x": [1.5, 0.0], "y": [0.0, 0.0], "n": [1.0, 2.0]}
    assert counts == {"null_key_rows": 2, "non_finite_values": 3}
    assert all(out.schema.field(f).type == pa.float64() for f in ("x", "y", "n"))
    assert not out.schema.field("k").nullable and not out.schema.field("d").nullable
    assert all(math.isfinite(v) for f in ("x", "y", "n") for v in out[f].to_pylist())


def test_timestamp_date_key_is_cast_to_date_and_extras_kept_as_strings():
    raw = pa.table({
        "k": pa.array([1, 2], pa.int64()),
        "d": pa.array([dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)], pa.timestamp("us")),
        "kind": ["A", None],
        "x": [1.0, 2.0],
    })
    out, _ = clean_features(raw, ("k", "d"), ("x",), ("kind",))
    assert out.schema.field("k").type == pa.string() and out.schema.field("d").type == pa.date32()
    assert out["k"].to_pylist() == ["1", "2"] and out["kind"].to_pylist() == ["A", None]


def test_duplicate_keys_and_missing_columns_are_refused():
    dup = pa.table({"k": ["a", "a"], "d": [D, D], "x": [1.0, 2.0]})
    with pytest.raises(HealthmonError, match="1 duplicate key rows"):
        clean_features(dup, ("k", "d"), ("x",))
    with pytest.raises(HealthmonError, match=r"did not produce columns \['y'\]"):
        clean_features(dup, ("k", "d"), ("x", "y"))
