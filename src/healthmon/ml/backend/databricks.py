"""The ``databricks`` backend: the notebook's SparkSession on Unity Catalog tables
(``catalog.schema.table``), ``databricks.feature_engineering.FeatureEngineeringClient`` for
training sets, model logging and batch scoring, and MLflow's ``databricks-uc`` registry.

Imports happen inside methods: this module loads (and its Spark side runs) where neither the
Feature Engineering client nor a workspace exists. What is missing is reported on the first call
that needs it, naming how to add it, instead of an ImportError from deep inside.

Prediction tables are merged on their primary keys with Delta's ``MERGE INTO`` (rows of the
scoring day that today's scores no longer hold are deleted, like the local backend's
replaceWhere). A table that is not Delta (the plain Spark catalog standing in for Unity Catalog
in the tests) gets the same rows from a DataFrame rewrite, because only Delta tables accept MERGE.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from healthmon.errors import HealthmonError

FE_PACKAGE = "databricks-feature-engineering"
# The layout of a model logged by FeatureEngineeringClient.log_model (databricks.ml_features_common.
# mlflow_model_constants; checked against the recorded package in the tests).
FE_LOADER_MODULE = "databricks.feature_store.mlflow_model"
FE_RAW_MODEL_FOLDER = "raw_model"
MISSING_FE = (
    "The databricks ML backend needs the Feature Engineering client (module databricks.feature_engineering), "
    "which this environment lacks."
)
MISSING_FE_HINT = (
    f"add `{FE_PACKAGE}` to the job environment's dependencies (resources/ml/*.yml, environments: spec: "
    f"dependencies) or run `%pip install {FE_PACKAGE}` in the notebook; Databricks Runtime ML includes it."
)
NO_UC_HINT = (
    "run on serverless compute or a cluster with Unity Catalog access mode (Standard or Dedicated; "
    "not 'No isolation shared'), and create the catalog or pass --var catalog=<an existing catalog>."
)


def _to_pandas(df) -> pd.DataFrame:
    """Spark -> pandas through Arrow (``toArrow`` since Spark 4), the local backend's path."""
    if hasattr(df, "toArrow"):
        return df.toArrow().to_pandas()
    return df.toPandas()


def merge_sql(table: str, source_view: str, primary_keys: list[str], day: dt.date) -> str:
    """The Delta MERGE that upserts one scoring day: matched rows are updated, new rows inserted,
    rows of ``day`` absent from the source deleted (``WHEN NOT MATCHED BY SOURCE``, DBR 12.2+)."""
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in primary_keys)
    return (
        f"MERGE INTO {table} AS t USING {source_view} AS s ON {on} "
        "WHEN MATCHED THEN UPDATE SET * "
        "WHEN NOT MATCHED THEN INSERT * "
        f"WHEN NOT MATCHED BY SOURCE AND t.`scored_date` = DATE'{day.isoformat()}' THEN DELETE"
    )


class DatabricksBackend:
    name = "databricks"

    def __init__(self, spark: Any = None, fe: Any = None):
        self._spark = spark
        self._fe = fe
        self._catalogs_checked: set[str] = set()

    # -- what this backend needs, checked on first use ------------------------------------
    @property
    def spark(self):
        if self._spark is None:
            try:
                from pyspark.sql import SparkSession
            except ImportError:
                raise HealthmonError("The databricks ML backend needs a SparkSession, and pyspark is not installed.",
                                     hint="run the task on Databricks compute (a notebook or job task).") from None
            self._spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
        return self._spark

    @staticmethod
    def _require_feature_engineering() -> None:
        try:
            from databricks.feature_engineering import FeatureEngineeringClient  # noqa: F401
        except ImportError:
            raise HealthmonError(MISSING_FE, hint=MISSING_FE_HINT) from None

    @property
    def fe(self):
        if self._fe is None:
            self._require_feature_engineering()
            from databricks.feature_engineering import FeatureEngineeringClient

            self._fe = FeatureEngineeringClient()
        return self._fe

    def _uc(self, name: str) -> str:
        """``name`` after checking it is ``catalog.schema.table`` in a catalog this session sees."""
        parts = name.split(".")
        if len(parts) != 3:
            raise HealthmonError(f"Table or model name {name!r}: expected a Unity Catalog name catalog.schema.name.")
        catalog = parts[0]
        if catalog not in self._catalogs_checked:
            try:
                catalogs = {c.name for c in self.spark.catalog.listCatalogs()}
            except Exception as exc:  # noqa: BLE001 - an old runtime or no catalog API: say what is needed
                raise HealthmonError(f"Cannot list catalogs on this cluster ({type(exc).__name__}); "
                                     "the databricks ML backend needs Unity Catalog.", hint=NO_UC_HINT) from None
            if catalog not in catalogs:
                raise HealthmonError(
                    f"Catalog {catalog!r} (of {name}) is not visible to this Spark session "
                    f"(it sees: {', '.join(sorted(catalogs)) or 'none'}); "
                    "the databricks ML backend needs Unity Catalog.",
                    hint=NO_UC_HINT)
            self._catalogs_checked.add(catalog)
        return name

    def configure_tracking(self) -> None:
        """Also the first call of every ML task: a missing Feature Engineering client fails here,
        before any data is read."""
        import mlflow

        self._require_feature_engineering()

        mlflow.set_tracking_uri("databricks")
        mlflow.set_registry_uri("databricks-uc")

    def set_experiment(self, name: str) -> None:
        import mlflow

        mlflow.set_experiment(name)

    # -- tables ---------------------------------------------------------------------------
    def table_exists(self, name: str) -> bool:
        name = self._uc(name)
        return bool(self.spark.catalog.tableExists(name))

    def columns(self, name: str) -> list[str]:
        return list(self.spark.table(self._uc(name)).columns)

    def read_table(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        df = self.spark.table(self._uc(name))
        if columns is not None:
            df = df.select(*[f"`{c}`" for c in columns])
        return _to_pandas(df)

    @property
    def sql_lakehouse(self):
        from healthmon.ml.features.databricks_backend import SparkLakehouse

        return SparkLakehouse(self.spark)

    # -- feature store --------------------------------------------------------------------
    def feature_lookup(self, table_name: str, lookup_key: list[str], feature_names: list[str]):
        self._require_feature_engineering()
        from databricks.feature_engineering import FeatureLookup

        return FeatureLookup(table_name=self._uc(table_name), lookup_key=list(lookup_key),
                             feature_names=list(feature_names))

    def create_training_set(self, df: pd.DataFrame, feature_lookups: list[Any], label: str | None,
                            exclude_columns: list[str]):
        return self.fe.create_training_set(df=self.spark.createDataFrame(df), feature_lookups=feature_lookups,
                                           label=label, exclude_columns=list(exclude_columns))

    def load_training_frame(self, training_set: Any) -> pd.DataFrame:
        return _to_pandas(training_set.load_df())

    def log_model(self, model: Any, *, flavor: Any, training_set: Any, registered_model_name: str,
                  artifact_path: str = "model"):
        return self.fe.log_model(model=model, artifact_path=artifact_path, flavor=flavor, training_set=training_set,
                                 registered_model_name=self._uc(registered_model_name))

    def score_batch(self, model_uri: str, df: pd.DataFrame) -> pd.DataFrame:
        return _to_pandas(self.fe.score_batch(model_uri=model_uri, df=self.spark.createDataFrame(df)))

    def load_estimator(self, model_uri: str) -> Any:
        """A model logged by Databricks' ``fe.log_model`` is a pyfunc whose loader scores through
        the feature store (``predict`` only); the estimator itself is the flavor model saved in
        ``<python_function data>/raw_model``. Plain ``mlflow.sklearn`` models load directly."""
        import os

        import mlflow.artifacts
        import mlflow.sklearn
        from mlflow.models import get_model_info

        pyfunc = get_model_info(model_uri).flavors.get("python_function", {})
        if pyfunc.get("loader_module") != FE_LOADER_MODULE:
            return mlflow.sklearn.load_model(model_uri)
        local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri)
        return mlflow.sklearn.load_model(os.path.join(local, pyfunc["data"], FE_RAW_MODEL_FOLDER))

    # -- registry -------------------------------------------------------------------------
    def set_alias(self, registered_name: str, alias: str, version: int | str) -> None:
        from mlflow import MlflowClient

        MlflowClient().set_registered_model_alias(name=registered_name, alias=alias, version=str(version))

    def version_by_alias(self, registered_name: str, alias: str):
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        try:
            return MlflowClient().get_model_version_by_alias(name=registered_name, alias=alias)
        except MlflowException:
            return None

    # -- predictions ----------------------------------------------------------------------
    def _is_delta(self, table: str) -> bool:
        rows = self.spark.sql(f"DESCRIBE TABLE EXTENDED {table}").collect()
        provider = next((r[1] for r in rows if str(r[0]).strip().lower() == "provider"), "")
        return str(provider).strip().lower() == "delta"

    def write_predictions(self, table: str, data: pd.DataFrame, *, primary_keys: list[str], day: dt.date) -> None:
        from pyspark.sql import functions as F

        table = self._uc(table)
        source = self.spark.createDataFrame(data.reset_index(drop=True))
        if not self.spark.catalog.tableExists(table):
            source.write.saveAsTable(table)
            return
        target_columns = self.spark.table(table).columns
        if set(target_columns) == set(source.columns) and self._is_delta(table):
            view = "healthmon_predictions_source"
            source.createOrReplaceTempView(view)
            try:
                self.spark.sql(merge_sql(table, view, primary_keys, day))
            finally:
                self.spark.catalog.dropTempView(view)
            return
        # Same rows as the MERGE: the other days' rows plus today's scores (a new column, or a
        # table that is not Delta). localCheckpoint cuts the plan's read of the table it overwrites.
        kept = self.spark.table(table).filter(F.col("scored_date") != F.lit(day))
        merged = kept.unionByName(source, allowMissingColumns=True).localCheckpoint()
        merged.write.mode("overwrite").option("overwriteSchema", "true").saveAsTable(table)
