"""Feature store: feature tables, merge upserts, point-in-time training sets, log_model with the
feature spec, and score_batch from keys only (alias and version URIs)."""

from __future__ import annotations

import datetime as dt
import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from healthmon.errors import InvalidParameterError
from healthmon.lakehouse import registry
from healthmon.lakehouse.feature_store import FeatureEngineeringClient, FeatureLookup


@pytest.fixture
def fe(mlflow_home) -> FeatureEngineeringClient:
    return FeatureEngineeringClient()


@pytest.fixture
def tables(fe):
    fe.create_table(
        "ml.f.daily", primary_keys=["ws"], timestamp_keys=["day"], description="daily cost",
        df=pd.DataFrame({"ws": ["a", "a", "b"], "day": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-03"]),
                         "cost": [1.0, 5.0, 3.0]}),
    )
    fe.create_table("ml.f.static", primary_keys="ws", df=pd.DataFrame({"ws": ["a", "b"], "tier": [1.0, 2.0], "region": ["eu", "us"]}))


def test_create_table_records_keys_and_description(fe, tables):
    t = fe.get_table("ml.f.daily")
    assert t.primary_keys == ["ws", "day"] and t.timestamp_keys == ["day"]
    assert t.description == "daily cost" and t.features == ["cost"]
    with pytest.raises(InvalidParameterError, match="already exists"):
        fe.create_table("ml.f.static", primary_keys="ws", df=pd.DataFrame({"ws": ["z"]}))


def test_create_table_from_schema_then_merge(fe):
    import pyarrow as pa

    fe.create_table("ml.f.empty", primary_keys="k", schema=pa.schema([("k", pa.int64()), ("v", pa.float64())]))
    assert fe.read_table("ml.f.empty").empty
    fe.write_table("ml.f.empty", pd.DataFrame({"k": [1, 2], "v": [1.0, 2.0]}))
    fe.write_table("ml.f.empty", pd.DataFrame({"k": [2, 3], "v": [20.0, 30.0]}), mode="merge")
    got = fe.read_table("ml.f.empty").sort_values("k")
    assert got["v"].tolist() == [1.0, 20.0, 30.0]


def test_point_in_time_training_set(fe, tables):
    spine = pd.DataFrame({
        "ws": ["a", "a", "b", "b", "c"],
        "t": pd.to_datetime(["2024-01-02", "2024-01-06", "2024-01-02", "2024-01-04", "2024-01-09"]),
        "y": [1.0, 2.0, 3.0, 4.0, 5.0],
    })
    ts = fe.create_training_set(
        spine,
        [FeatureLookup("ml.f.daily", "ws", timestamp_lookup_key="t"),
         FeatureLookup("ml.f.static", "ws", feature_names=["tier"], rename_outputs={"tier": "ws_tier"})],
        label="y", exclude_columns=["t"],
    )
    df = ts.load_df()
    assert list(df.columns) == ["ws", "y", "cost", "ws_tier"]
    # Latest feature row at or before t; b's 01-03 row is in the future for 01-02.
    assert df["cost"].tolist()[:4] == [1.0, 5.0, None, 3.0] or (
        df["cost"].iloc[:2].tolist() == [1.0, 5.0] and np.isnan(df["cost"].iloc[2]) and df["cost"].iloc[3] == 3.0
    )
    assert np.isnan(df["cost"].iloc[4]) and np.isnan(df["ws_tier"].iloc[4])
    assert df["ws_tier"].iloc[:4].tolist() == [1.0, 1.0, 2.0, 2.0]
    assert df["y"].tolist() == spine["y"].tolist()  # spine order preserved


def test_lookback_window_and_defaults(fe, tables):
    spine = pd.DataFrame({"ws": ["a", "a"], "t": pd.to_datetime(["2024-01-02", "2024-01-20"]), "y": [0, 0]})
    df = fe.create_training_set(
        spine, [FeatureLookup("ml.f.daily", "ws", timestamp_lookup_key="t", lookback_window=dt.timedelta(days=3),
                              default_values={"cost": -1.0})], label="y",
    ).load_df()
    assert df["cost"].tolist() == [1.0, -1.0]


def test_lookup_errors(fe, tables):
    spine = pd.DataFrame({"ws": ["a"], "y": [1]})
    with pytest.raises(InvalidParameterError, match="unknown feature"):
        fe.create_training_set(spine, [FeatureLookup("ml.f.static", "ws", feature_names=["nope"])], label="y")
    with pytest.raises(InvalidParameterError, match="not in the DataFrame"):
        fe.create_training_set(spine, [FeatureLookup("ml.f.static", "workspace")], label="y")
    with pytest.raises(InvalidParameterError, match="collide"):
        fe.create_training_set(spine.assign(tier=1.0), [FeatureLookup("ml.f.static", "ws")], label="y")
    with pytest.raises(InvalidParameterError, match="label"):
        fe.create_training_set(spine, [FeatureLookup("ml.f.static", "ws")], label="target")


@pytest.mark.slow
def test_log_model_and_score_batch_from_keys_only(fe, tables):
    registry.configure_mlflow()
    rng = np.random.default_rng(0)
    spine = pd.DataFrame({"ws": rng.choice(["a", "b"], 40),
                          "t": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10, 40), unit="D")})
    lookups = [FeatureLookup("ml.f.daily", "ws", timestamp_lookup_key="t", default_values={"cost": 0.0}),
               FeatureLookup("ml.f.static", "ws", feature_names=["tier"])]
    train = fe.create_training_set(spine.assign(y=rng.normal(size=40)), lookups, label="y", exclude_columns=["ws", "t"])
    df = train.load_df()
    model = LinearRegression().fit(df[["cost", "tier"]], df["y"])
    mlflow.set_experiment("/Shared/fs_test")
    with mlflow.start_run():
        info = fe.log_model(model, "model", flavor=mlflow.sklearn, training_set=train,
                            registered_model_name="ml.models.cost")
    assert info.registered_model_version == 1
    registry.set_alias("ml.models.cost", "Champion", 1)

    keys = pd.DataFrame({"ws": ["b", "a", "a"], "t": pd.to_datetime(["2024-01-04", "2024-01-02", "2024-01-06"])})
    scored = fe.score_batch("models:/ml.models.cost@Champion", keys)
    assert list(scored.columns) == ["ws", "t", "cost", "tier", "prediction"]
    assert scored["cost"].tolist() == [3.0, 1.0, 5.0]
    expected = model.predict(pd.DataFrame({"cost": [3.0, 1.0, 5.0], "tier": [2.0, 1.0, 1.0]}))
    np.testing.assert_allclose(scored["prediction"], expected)
    by_version = fe.score_batch("models:/ml.models.cost/1", keys)
    np.testing.assert_allclose(by_version["prediction"], expected)
    # A provided feature value overrides the lookup.
    override = fe.score_batch("models:/ml.models.cost/1", keys.assign(cost=[0.0, 0.0, 0.0]))
    np.testing.assert_allclose(override["prediction"], model.predict(pd.DataFrame({"cost": [0.0] * 3, "tier": [2.0, 1.0, 1.0]})))
    # The feature spec travels with the model: plain pyfunc predict works from keys too.
    np.testing.assert_allclose(mlflow.pyfunc.load_model("models:/ml.models.cost@Champion").predict(keys), expected)
    with pytest.raises(InvalidParameterError, match="Cannot load model"):
        fe.score_batch("models:/ml.models.cost@Nope", keys)
