"""The Spark side of the databricks backend on a local SparkSession, the Spark catalog
(``spark_catalog``) standing in for Unity Catalog: reads, prediction merges by primary key, and
the same tables as the local backend, row for row."""

from __future__ import annotations

import datetime as dt
import importlib.util
import uuid

import numpy as np
import pandas as pd
import pytest

from healthmon.errors import HealthmonError
from healthmon.ml.backend.databricks import DatabricksBackend, merge_sql
from healthmon.ml.backend.local import LocalBackend

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark not installed"),
    pytest.mark.slow,  # a JVM start (~15-30 s on a busy machine)
]

KEYS = ["workspace_id", "usage_date"]
DAY1, DAY2 = dt.date(2025, 3, 1), dt.date(2025, 3, 2)


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    from healthmon.lakehouse.engines.spark_engine import get_session

    return get_session("local[1]")


@pytest.fixture
def backends(spark, tmp_path, healthmon_home):
    """(local, databricks) backends over empty schemas of the same name."""
    from healthmon.lakehouse import Lakehouse

    schema = f"hm_{uuid.uuid4().hex[:10]}"
    spark.sql(f"CREATE SCHEMA spark_catalog.{schema} LOCATION '{(tmp_path / schema).as_uri()}'")
    lh = Lakehouse.from_env()
    lh.create_schema(f"spark_catalog.{schema}")
    yield LocalBackend(lh), DatabricksBackend(spark=spark), f"spark_catalog.{schema}"
    spark.sql(f"DROP SCHEMA IF EXISTS spark_catalog.{schema} CASCADE")


def gold_frame() -> pd.DataFrame:
    days = pd.date_range("2025-01-01", periods=4).date
    return pd.DataFrame({
        "workspace_id": np.repeat(["w1", "w2", "w3"], 4),
        "usage_date": np.tile(days, 3),
        "cost": np.arange(12, dtype=float) * 1.5,
        "dbus": np.where(np.arange(12) % 5 == 0, np.nan, np.arange(12, dtype=float)),
    })


def write_gold(local: LocalBackend, databricks: DatabricksBackend, name: str, frame: pd.DataFrame) -> None:
    local.lakehouse.write_table(name, frame, mode="overwrite")
    databricks.spark.createDataFrame(frame).write.saveAsTable(name)


def predictions(day: dt.date, workspaces: list[str], offset: float, *, probability: bool = False) -> pd.DataFrame:
    out = pd.DataFrame({
        "workspace_id": workspaces,
        "usage_date": [dt.date(2025, 1, 4)] * len(workspaces),
        "prediction": [offset + i for i in range(len(workspaces))],
        "model_name": "cost_anomaly_detector",
        "model_version": 3,
        "scored_at": pd.Timestamp(f"{day} 06:00", tz="UTC"),
        "scored_date": day,
    })
    if probability:
        out["probability"] = 0.25
    return out


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for c in ("usage_date", "scored_date"):
        if c in frame:
            frame[c] = pd.to_datetime(frame[c]).dt.date
    if "scored_at" in frame:
        frame["scored_at"] = pd.to_datetime(frame["scored_at"], utc=True)
    cols = sorted(frame.columns)
    return frame[cols].sort_values([c for c in ("scored_date", *KEYS) if c in cols]).reset_index(drop=True)


def test_reads_agree_with_the_local_backend(backends):
    local, databricks, schema = backends
    name = f"{schema}.fact_usage"
    assert not databricks.table_exists(name) and not local.table_exists(name)
    write_gold(local, databricks, name, gold_frame())
    assert databricks.table_exists(name) and local.table_exists(name)
    assert databricks.columns(name) == local.columns(name) == ["workspace_id", "usage_date", "cost", "dbus"]
    pd.testing.assert_frame_equal(canonical(databricks.read_table(name)), canonical(local.read_table(name)))
    pd.testing.assert_frame_equal(canonical(databricks.read_table(name, columns=KEYS)),
                                  canonical(local.read_table(name, columns=KEYS)))


def test_prediction_writes_merge_by_primary_key_like_the_local_backend(backends):
    local, databricks, schema = backends
    table = f"{schema}.cost_anomaly_predictions"
    pk = [*KEYS, "scored_date"]
    steps = [
        predictions(DAY1, ["w1", "w2", "w3"], 0.0),  # creates the table
        predictions(DAY1, ["w1", "w2"], 10.0),       # same day again: w1, w2 updated, w3 of DAY1 deleted
        predictions(DAY2, ["w2", "w3"], 20.0),       # next day: DAY1 stays
        predictions(DAY2, ["w3"], 30.0, probability=True),  # a new column: still one row per key and day
    ]
    for step in steps:
        day = step["scored_date"].iloc[0]
        local.write_predictions(table, step, primary_keys=pk, day=day)
        databricks.write_predictions(table, step, primary_keys=pk, day=day)
    got, want = canonical(databricks.read_table(table)), canonical(local.read_table(table))
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    # The documented outcome, independent of either backend.
    assert [(r.workspace_id, r.scored_date, r.prediction) for r in got.itertuples()] == [
        ("w1", DAY1, 10.0), ("w2", DAY1, 11.0), ("w3", DAY2, 30.0)]
    assert got.loc[got["scored_date"] == DAY2, "probability"].tolist() == [0.25]
    assert got.loc[got["scored_date"] == DAY1, "probability"].isna().all()


def test_the_delta_merge_statement_parses_in_spark(spark):
    sql = merge_sql("main.ml.cost_anomaly_predictions", "src", ["workspace_id", "usage_date", "scored_date"], DAY1)
    # Spark's own parser (the one Databricks extends) accepts it; the plan is a MERGE with three clauses.
    plan = spark._jsparkSession.sessionState().sqlParser().parsePlan(sql).toString()
    matched, not_matched, by_source = plan.split("\n")[0].split("], [")
    assert plan.startswith("'MergeIntoTable") and "[main, ml, cost_anomaly_predictions]" in plan
    assert "updatestaraction" in matched and "insertstaraction" in not_matched
    assert "deleteaction(Some(('t.scored_date = 2025-03-01)))" in by_source


def test_a_catalog_the_session_cannot_see_names_unity_catalog(spark):
    with pytest.raises(HealthmonError) as err:
        DatabricksBackend(spark=spark).read_table("main.gold.fact_usage")
    assert "Catalog 'main'" in err.value.message and "spark_catalog" in err.value.message
    assert "Unity Catalog access mode" in (err.value.hint or "")
