"""The narrow interface the ML layer (training, inference, evaluation) talks to.

Two implementations: ``local`` (healthmon's lakehouse, feature store and MLflow registry) and
``databricks`` (the notebook's SparkSession on Unity Catalog, Databricks' Feature Engineering
client, MLflow's ``databricks-uc`` registry). Every method is one explicit operation; data
crosses the interface as pandas DataFrames so the ML code never sees which backend it runs on.
Native objects that only travel from one backend call to another (a feature lookup, a training
set, a model version) stay opaque to the caller.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

import pandas as pd


class MLBackend(Protocol):
    name: str

    def configure_tracking(self) -> None:
        """Point MLflow tracking and the model registry where this backend keeps models."""

    def set_experiment(self, name: str) -> None:
        """Make ``name`` (a workspace path such as ``/Shared/...``) the active MLflow experiment."""

    # -- tables ---------------------------------------------------------------------------
    def table_exists(self, name: str) -> bool: ...

    def columns(self, name: str) -> list[str]:
        """The column names of table ``catalog.schema.table``."""

    def read_table(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        """A feature or gold table (all columns, or ``columns``) as pandas."""

    @property
    def sql_lakehouse(self) -> Any:
        """What the feature pipeline runs its SQL on (``table_exists``/``sql``), for
        ``why_not_built``."""

    # -- feature store --------------------------------------------------------------------
    def feature_lookup(self, table_name: str, lookup_key: list[str], feature_names: list[str]) -> Any:
        """A native ``FeatureLookup``."""

    def create_training_set(self, df: pd.DataFrame, feature_lookups: list[Any], label: str | None,
                            exclude_columns: list[str]) -> Any:
        """A native training set: the spine ``df`` joined with its feature lookups."""

    def load_training_frame(self, training_set: Any) -> pd.DataFrame:
        """The materialised training set as pandas."""

    def log_model(self, model: Any, *, flavor: Any, training_set: Any, registered_model_name: str,
                  artifact_path: str = "model") -> Any:
        """Log ``model`` with the feature spec of ``training_set`` and register a new version of
        ``registered_model_name`` (``catalog.schema.model``) in the active MLflow run."""

    def score_batch(self, model_uri: str, df: pd.DataFrame) -> pd.DataFrame:
        """Keys in, keys + looked-up features + ``prediction`` out."""

    def load_estimator(self, model_uri: str) -> Any:
        """The fitted estimator of a logged model (scores and probabilities beyond ``predict``)."""

    # -- registry -------------------------------------------------------------------------
    def set_alias(self, registered_name: str, alias: str, version: int | str) -> None: ...

    def version_by_alias(self, registered_name: str, alias: str) -> Any | None:
        """The ``ModelVersion`` behind ``alias``, or None when the alias (or model) does not exist."""

    # -- predictions ----------------------------------------------------------------------
    def write_predictions(self, table: str, data: pd.DataFrame, *, primary_keys: list[str], day: dt.date) -> None:
        """Merge ``data`` (today's scores) into ``table`` on ``primary_keys``: rows of ``day``
        that ``data`` does not hold are removed, other days stay. Creates the table on first use."""
