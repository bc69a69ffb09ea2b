"""The ``local`` backend: healthmon's lakehouse (Delta + DuckDB/Spark), its feature store with
the Feature Engineering client's names, and the MLflow store of the workspace."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from healthmon.errors import HealthmonError


class LocalBackend:
    name = "local"

    def __init__(self, lakehouse: Any = None):
        self._lakehouse = lakehouse
        self._fe: Any = None

    @property
    def lakehouse(self):
        if self._lakehouse is None:
            from healthmon.lakehouse import Lakehouse

            self._lakehouse = Lakehouse.from_env()
        return self._lakehouse

    @property
    def sql_lakehouse(self):
        return self.lakehouse

    @property
    def fe(self):
        if self._fe is None:
            from healthmon.lakehouse.feature_store import FeatureEngineeringClient

            self._fe = FeatureEngineeringClient(lakehouse=self.lakehouse)
        return self._fe

    def configure_tracking(self) -> None:
        from healthmon.lakehouse.registry import configure_mlflow

        configure_mlflow()

    def set_experiment(self, name: str) -> None:
        from healthmon.lakehouse.registry import set_experiment

        set_experiment(name)

    # -- tables ---------------------------------------------------------------------------
    def table_exists(self, name: str) -> bool:
        return bool(self.lakehouse.table_exists(name))

    def columns(self, name: str) -> list[str]:
        return list(self.lakehouse.delta_table(name).to_pyarrow_dataset().schema.names)

    def read_table(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        return self.lakehouse.read_table(name, columns=None if columns is None else list(columns)).to_pandas()

    # -- feature store --------------------------------------------------------------------
    def feature_lookup(self, table_name: str, lookup_key: list[str], feature_names: list[str]):
        from healthmon.lakehouse.feature_store import FeatureLookup

        return FeatureLookup(table_name=table_name, lookup_key=list(lookup_key), feature_names=list(feature_names))

    def create_training_set(self, df: pd.DataFrame, feature_lookups: list[Any], label: str | None,
                            exclude_columns: list[str]):
        return self.fe.create_training_set(df=df, feature_lookups=feature_lookups, label=label,
                                           exclude_columns=list(exclude_columns))

    def load_training_frame(self, training_set: Any) -> pd.DataFrame:
        return training_set.load_df()

    def log_model(self, model: Any, *, flavor: Any, training_set: Any, registered_model_name: str,
                  artifact_path: str = "model"):
        return self.fe.log_model(model=model, artifact_path=artifact_path, flavor=flavor, training_set=training_set,
                                 registered_model_name=registered_model_name)

    def score_batch(self, model_uri: str, df: pd.DataFrame) -> pd.DataFrame:
        return self.fe.score_batch(model_uri, df)

    def load_estimator(self, model_uri: str) -> Any:
        """Models logged with ``fe.log_model`` are a pyfunc wrapping the raw model and its feature
        spec; plain ``mlflow.sklearn`` models (tag_recommender) load directly."""
        import mlflow.pyfunc

        loaded = mlflow.pyfunc.load_model(model_uri)
        try:
            wrapper = loaded.unwrap_python_model()
        except Exception:  # noqa: BLE001 - not a PythonModel: a flavor model such as sklearn
            wrapper = None
        raw = getattr(wrapper, "raw_model", None)
        if raw is not None:
            return raw.get_raw_model() if hasattr(raw, "get_raw_model") else raw
        return loaded.get_raw_model()

    # -- registry -------------------------------------------------------------------------
    def set_alias(self, registered_name: str, alias: str, version: int | str) -> None:
        from healthmon.lakehouse.registry import set_alias

        set_alias(registered_name, alias, version)

    def version_by_alias(self, registered_name: str, alias: str):
        from mlflow.exceptions import MlflowException

        from healthmon.lakehouse.registry import get_version_by_alias

        try:
            return get_version_by_alias(registered_name, alias)
        except MlflowException:
            return None

    # -- predictions ----------------------------------------------------------------------
    def write_predictions(self, table: str, data: pd.DataFrame, *, primary_keys: list[str], day: dt.date) -> None:
        """The day's rows are replaced in ONE Delta commit (an overwrite with a ``scored_date``
        predicate, Spark's replaceWhere) — the same rows a MERGE on the primary keys that
        deletes the day's unmatched rows leaves."""
        import pyarrow as pa
        from deltalake import write_deltalake

        lh = self.lakehouse
        arrow = pa.Table.from_pandas(data.reset_index(drop=True), preserve_index=False)
        if not lh.table_exists(table):
            lh.write_table(table, arrow, mode="append", primary_keys=list(primary_keys),
                           comment="Batch predictions with model version and run; one set of rows per scoring day.")
            return
        from healthmon.lakehouse.arrow_utils import conform
        from healthmon.lakehouse.delta_io import arrow_schema

        try:
            arrow = conform(arrow, arrow_schema(lh.delta_table(table)), table)
        except HealthmonError:
            # The layout changed (e.g. a new prediction column): keep the other days' rows and
            # rewrite the table with the union of the columns, still in one commit.
            old = lh.read_table(table).to_pandas()
            old = old[pd.to_datetime(old["scored_date"]).dt.date != day]
            lh.write_table(table, pd.concat([old, data], ignore_index=True), mode="overwrite")
            return
        write_deltalake(lh.table_path(table), arrow, mode="overwrite", predicate=f"scored_date = '{day.isoformat()}'")
