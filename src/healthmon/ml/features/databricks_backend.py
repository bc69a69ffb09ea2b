"""Running the feature pipeline on a real Databricks workspace.

There, the gold and feature tables are Unity Catalog tables, so the pipeline talks to the
notebook's SparkSession and the real ``databricks.feature_engineering`` client instead of the
local lakehouse. The SQL needs no change (it is Spark SQL with three-level names). These
adapters give them the small interface ``pipeline.py`` uses (the local ``Lakehouse`` and
``FeatureEngineeringClient`` have the same methods), converting Arrow <-> Spark at the edges.

Not exercised by the local test suite (no workspace here); see docs/deploying-to-databricks.md.
"""

from __future__ import annotations

import pyarrow as pa


def on_databricks() -> bool:
    """The ML backend's choice (``DATABRICKS_RUNTIME_VERSION``, overridden by ``HEALTHMON_ML_BACKEND``)."""
    from healthmon.ml.backend import backend_name

    return backend_name() == "databricks"


def _spark():
    from pyspark.sql import SparkSession

    return SparkSession.builder.getOrCreate()


_SPARK_TYPES = {pa.string(): "STRING", pa.large_string(): "STRING", pa.date32(): "DATE", pa.float64(): "DOUBLE"}


def spark_ddl(schema: pa.Schema) -> str:
    """The feature tables hold only STRING/DATE keys and DOUBLE features (cleaning.py)."""
    cols = []
    for field in schema:
        if field.type not in _SPARK_TYPES:
            raise TypeError(f"column {field.name}: no Spark type for {field.type}")
        cols.append(f"`{field.name}` {_SPARK_TYPES[field.type]}{'' if field.nullable else ' NOT NULL'}")
    return ", ".join(cols)


class SparkLakehouse:
    """The subset of ``healthmon.lakehouse.Lakehouse`` the pipeline needs, on a SparkSession."""

    def __init__(self, spark=None):
        self.spark = spark or _spark()

    def table_exists(self, name: str) -> bool:
        return bool(self.spark.catalog.tableExists(name))

    def sql(self, query: str, dialect: str = "spark") -> pa.Table:
        df = self.spark.sql(query)
        if hasattr(df, "toArrow"):  # Spark 4 / DBR 16+
            return df.toArrow()
        return pa.Table.from_pandas(df.toPandas(), preserve_index=False)

    def create_schema(self, name: str, comment: str | None = None) -> None:
        self.spark.sql(f"CREATE SCHEMA IF NOT EXISTS {name}")

    def drop_table(self, name: str, if_exists: bool = True) -> None:
        self.spark.sql(f"DROP TABLE IF EXISTS {name}")


class SparkFeatureStore:
    """``create_table`` / ``write_table`` taking Arrow data, delegating to Databricks' client."""

    def __init__(self, spark=None):
        from databricks.feature_engineering import FeatureEngineeringClient

        self.spark = spark or _spark()
        self.fe = FeatureEngineeringClient()

    def _frame(self, data: pa.Table | None, schema: pa.Schema):
        rows = data.to_pandas() if data is not None else []
        return self.spark.createDataFrame(rows, schema=spark_ddl(schema))

    def create_table(self, name: str, primary_keys: list[str], schema: pa.Schema, description: str | None = None):
        return self.fe.create_table(name=name, primary_keys=primary_keys, df=self._frame(None, schema),
                                    description=description)

    def write_table(self, name: str, df: pa.Table, mode: str = "merge"):
        return self.fe.write_table(name=name, df=self._frame(df, df.schema), mode=mode)
