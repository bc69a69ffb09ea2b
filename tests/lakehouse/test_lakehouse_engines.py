"""The same Spark SQL feature pipeline on the DuckDB and Spark engines, compared row by row."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from healthmon.errors import InvalidParameterError
from healthmon.lakehouse import Lakehouse
from healthmon.lakehouse.engines import get_engine

PIPELINE = [
    # A feature table built with CTEs, joins, window functions, date functions and CASE.
    """
    CREATE OR REPLACE TABLE eng.features.workspace_daily AS
    WITH daily AS (
      SELECT u.workspace_id, to_date(u.usage_date) AS day, w.workspace_name,
             sum(u.usage_quantity * p.price) AS cost, count(*) AS n_records,
             count(DISTINCT u.sku_name) AS n_skus
      FROM eng.gold.fact_usage u
      JOIN eng.gold.dim_workspace w ON u.workspace_id = w.workspace_id
      JOIN eng.gold.fact_list_prices p ON u.sku_name = p.sku_name
      GROUP BY u.workspace_id, to_date(u.usage_date), w.workspace_name
    )
    SELECT workspace_id, day, workspace_name, cost, n_records, n_skus,
           avg(cost) OVER (PARTITION BY workspace_id ORDER BY day ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS cost_7d_avg,
           cost - lag(cost, 1) OVER (PARTITION BY workspace_id ORDER BY day) AS cost_change,
           dayofweek(day) AS dow, weekday(day) AS wd,
           date_format(day, 'yyyy-MM') AS month,
           CASE WHEN cost > 100 THEN 'high' WHEN cost > 10 THEN 'mid' ELSE 'low' END AS band,
           datediff(day, DATE '2024-01-01') AS day_index,
           coalesce(workspace_name, 'unknown') AS name_or_unknown
    FROM daily
    """,
    """
    SELECT workspace_id, month, round(sum(cost), 6) AS cost, max(n_skus) AS max_skus,
           percentile_approx(cost, 0.5) IS NOT NULL AS has_median,
           count_if(band = 'high') AS high_days
    FROM eng.features.workspace_daily GROUP BY workspace_id, month
    """,
]


def _gold(lh: Lakehouse) -> None:
    rng = np.random.default_rng(3)
    n = 4000
    lh.write_table("eng.gold.fact_usage", pd.DataFrame({
        "workspace_id": rng.integers(1, 6, n).astype(str),
        "usage_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 60, n), unit="D"),
        "sku_name": rng.choice(["JOBS", "SQL", "DLT", "MODEL_SERVING"], n),
        "usage_quantity": rng.gamma(2.0, 3.0, n),
    }))
    lh.write_table("eng.gold.dim_workspace", pd.DataFrame({
        "workspace_id": [str(i) for i in range(1, 6)],
        "workspace_name": ["prod", "dev", None, "ml", "bi"],
    }), primary_keys=["workspace_id"])
    lh.write_table("eng.gold.fact_list_prices", pd.DataFrame({
        "sku_name": ["JOBS", "SQL", "DLT", "MODEL_SERVING"], "price": [0.15, 0.22, 0.3, 0.07],
    }))


def _rows(table: pa.Table, keys: list[str]) -> list[tuple]:
    rows = sorted(table.to_pylist(), key=lambda r: tuple(str(r[k]) for k in keys))
    return [tuple(r[c] for c in table.column_names) for r in rows]


def _same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def _engine_results(lh: Lakehouse):
    lh.sql(PIPELINE[0])
    features = lh.read_table("eng.features.workspace_daily")
    summary = lh.sql(PIPELINE[1])
    return features, summary


def test_engine_from_environment(monkeypatch):
    monkeypatch.setenv("HEALTHMON_ENGINE", "duckdb")
    assert Lakehouse.from_env().engine.name == "duckdb"
    monkeypatch.setenv("HEALTHMON_ENGINE", "spark")
    assert Lakehouse.from_env().engine.name == "spark"  # the session starts lazily
    assert Lakehouse.from_env(engine="duckdb").engine.name == "duckdb"
    with pytest.raises(InvalidParameterError, match="Unknown engine"):
        get_engine("oracle")


def test_spark_day_numbering_on_duckdb():
    # Spark: dayofweek 1=Sunday..7=Saturday, weekday 0=Monday..6=Sunday. 2024-01-01 was a Monday.
    out = Lakehouse.from_env().sql(
        "SELECT dayofweek(DATE '2024-01-01') AS a, weekday(DATE '2024-01-01') AS b, "
        "dayofweek(DATE '2024-01-07') AS c, weekday(DATE '2024-01-07') AS d"
    ).to_pylist()[0]
    assert out == {"a": 2, "b": 0, "c": 1, "d": 6}


@pytest.mark.slow
def test_feature_pipeline_same_on_duckdb_and_spark(tmp_path):
    duck = Lakehouse(tmp_path / "duck", engine="duckdb")
    _gold(duck)
    shutil.copytree(tmp_path / "duck", tmp_path / "spark")
    spark = Lakehouse(tmp_path / "spark", engine="spark")
    d_feat, d_sum = _engine_results(duck)
    s_feat, s_sum = _engine_results(spark)
    assert d_feat.column_names == s_feat.column_names
    assert d_feat.num_rows == s_feat.num_rows > 100
    for got, want in ((_rows(s_feat, ["workspace_id", "day"]), _rows(d_feat, ["workspace_id", "day"])),
                      (_rows(s_sum, ["workspace_id", "month"]), _rows(d_sum, ["workspace_id", "month"]))):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            diff = [(i, x, y) for i, (x, y) in enumerate(zip(g, w)) if not _same(x, y)]
            assert not diff, (diff, g, w)
    # Time travel and history work on Spark too (the CTAS is a Delta commit by deltalake).
    v = spark.delta_table("eng.gold.fact_usage").version()
    assert spark.sql(f"SELECT count(*) AS n FROM eng.gold.fact_usage VERSION AS OF {v}").column("n").to_pylist() == [4000]


def test_duckdb_binds_plain_snapshots_as_parquet_and_others_through_arrow(tmp_path):
    import duckdb

    from healthmon.lakehouse.engines.duckdb_engine import bind_snapshot

    lh = Lakehouse(tmp_path)
    lh.write_table("c.s.plain", pa.table({"a": [1, 2], "b": ["x", "y"]}))
    lh.write_table("c.s.plain", pa.table({"a": [3], "b": ["z"]}))
    lh.write_table("c.s.parted", pa.table({"a": [1, 2], "p": ["u", "v"]}), partition_by=["p"])
    lh.write_table("c.s.grown", pa.table({"a": [1]}))
    lh.delta_table("c.s.grown").alter.add_columns([__import__("deltalake").Field("extra", "string", nullable=True)])
    con = duckdb.connect()
    assert bind_snapshot(con, "v1", lh.delta_table("c.s.plain")) == "parquet"
    assert sorted(con.sql("SELECT a FROM v1").fetchall()) == [(1,), (2,), (3,)]
    assert bind_snapshot(con, "v0", lh.delta_table("c.s.plain", version=1)) == "parquet"
    assert con.sql("SELECT count(*) FROM v0").fetchall() == [(2,)]
    assert bind_snapshot(con, "v2", lh.delta_table("c.s.parted")) == "arrow"
    assert sorted(con.sql("SELECT p, a FROM v2").fetchall()) == [("u", 1), ("v", 2)]
    assert bind_snapshot(con, "v3", lh.delta_table("c.s.grown")) == "arrow"
    assert con.sql("SELECT a, extra FROM v3").fetchall() == [(1, None)]
    # Through SQL, all three read the same as through deltalake.
    assert lh.sql("SELECT count(*) AS n FROM c.s.parted WHERE p = 'v'").column("n").to_pylist() == [1]
