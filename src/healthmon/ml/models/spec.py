"""One contract for all 25 models.

A ``ModelSpec`` says everything that is specific to a model; the shared training, inference
and evaluation code (``healthmon.ml.training`` / ``inference`` / ``evaluation``) does the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from healthmon.ml.models.targets import Target

Kind = Literal["anomaly", "regression", "binary", "multiclass"]

# The training strategy of a model (``ModelSpec.trainer``; dispatched by
# ``healthmon.ml.training.TRAINERS``, scored by ``healthmon.ml.inference``):
# - "feature_table": rows are the (entity, date) rows of the feature table, labels derived by
#   the spec's ``Target``, a time split, a feature-store training set (every model but one);
# - "job_tags": rows are jobs read from gold usage and job names, the label is the job's tag,
#   a split by job (``healthmon.ml.models.tags``; tag_recommender).
FEATURE_TABLE_TRAINER = "feature_table"


class Skip(Exception):
    """Unusable data (no rows, too few rows, a single class): a trainer raises it and the model
    is skipped with this reason instead of failing its task."""


class NotEnoughData(Skip):
    """A count below what the model needs: ``have`` of ``what`` (labelled training rows, classes,
    validation entity-days, tagged jobs) in ``where``, where it needs ``need``. Its message starts
    with "not enough data:", and the counts are recorded with the skip (``registration.record_skip``),
    so a reader can tell "too little history" from any other skip."""

    PREFIX = "not enough data"

    def __init__(self, what: str, have: int, need: int, *, where: str = "", why: str = "") -> None:
        self.what, self.have, self.need = what, int(have), int(need)
        place = f" in {where}" if where else ""
        because = f" ({why})" if why else ""
        super().__init__(f"{self.PREFIX}: {self.have} {what}{place}, need {self.need}{because}")

# Label-history columns of the feature tables (healthmon.ml.features.label_history).
HISTORY_PREFIX = "hist_"
HISTORY_STATS = ("mean", "last", "count", "median")  # "median": forecasters only
# Columns that are never features, whatever the table (§2.1 of the spec).
NON_FEATURE_COLUMNS = frozenset({"feature_timestamp", "user_type"})

TABLE_KEYS: dict[str, tuple[str, str]] = {
    "cost_features": ("workspace_id", "usage_date"),
    "security_features": ("user_id", "event_date"),
    "performance_features": ("warehouse_id", "query_date"),
    "reliability_features": ("job_id", "run_date"),
    "quality_features": ("catalog_name", "snapshot_date"),
}


# Keyword-only: 25 specs of ten-plus fields stay readable and a field can be added anywhere.
@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    name: str
    domain: str
    kind: Kind
    algorithm: str  # MLflow tag: isolation_forest | gradient_boosting | xgboost | random_forest
    factory: Callable[[Sequence[str]], object]  # selected feature names -> unfitted estimator
    feature_table: str  # table name inside <catalog>.<feature_schema>
    prediction_table: str
    task_key: str
    notebook: str  # path under src/ml/ without extension
    use_case: str
    target: Target | None = None  # None for detectors
    features: tuple[str, ...] | None = None  # None = every numeric column of the live table
    exclude: tuple[str, ...] = ()  # removed from "every column"
    # Gold-based label inputs: gold(frame, read_gold) -> frame with extra label-source columns.
    enrich: Callable[[pd.DataFrame, Callable[[str], pd.DataFrame]], pd.DataFrame] | None = None
    # Columns the estimator reads by name beyond ``features`` (a detector's signals): training
    # checks them with the features, so a table that lacks one fails naming it, whatever the
    # amount of data.
    required_columns: tuple[str, ...] = ()
    min_train_rows: int = 30
    # Training rows above this are sampled (seeded, within the training period): GBR cost grows
    # linearly with rows and 25 tasks share two cores. Time order is unaffected.
    max_train_rows: int = 20000
    hyperparameters: dict = field(default_factory=dict)
    trainer: str = FEATURE_TABLE_TRAINER  # a key of healthmon.ml.training.TRAINERS
    # The simple rules this model must beat on the same rows (healthmon.ml.models.baselines);
    # servable ones are also candidates for the Champion on the validation period.
    baselines: tuple = ()
    # Why a shallow tree on the features at d may predict this label near-perfectly (empty: it
    # must not; tests/ml_models/test_label_leakage.py).
    leakage_note: str = ""

    @property
    def custom(self) -> bool:
        """True when the model's rows are not the rows of its feature table (its trainer reads
        its own rows): no label history, no (entity, date) keys in its predictions."""
        return self.trainer != FEATURE_TABLE_TRAINER

    @property
    def keys(self) -> tuple[str, str]:
        return TABLE_KEYS[self.feature_table]

    @property
    def entity_key(self) -> str:
        return self.keys[0]

    @property
    def date_key(self) -> str:
        return self.keys[1]

    @property
    def model_type(self) -> str:
        return {"anomaly": "anomaly_detection", "regression": "regression"}.get(self.kind, "classification")

    def select_features(self, columns: Sequence[str], numeric: Sequence[str] | None = None) -> list[str]:
        """The model's input columns, in table order. The label is never one of them: labels
        are derived columns (``Target.name``) that the feature tables do not hold."""
        if self.features is not None:
            return list(self.features)
        allowed = set(numeric) if numeric is not None else set(columns)
        skip = set(self.keys) | NON_FEATURE_COLUMNS | set(self.exclude)
        if self.target is not None:
            skip.add(self.target.name)
        return [c for c in columns if c in allowed and c not in skip and self._own_history(c)]

    def _own_history(self, column: str) -> bool:
        """Label-history columns (``hist_<target>_*``, healthmon.ml.features.label_history) are
        inputs of the model whose target they describe only."""
        if not column.startswith(HISTORY_PREFIX):
            return True
        own = {f"{HISTORY_PREFIX}{self.target.name}_{stat}" for stat in HISTORY_STATS} if self.target else set()
        return column in own

    def build(self, feature_names: Sequence[str]):
        return self.factory(list(feature_names))

    def registered_name(self, catalog: str, feature_schema: str) -> str:
        return f"{catalog}.{feature_schema}.{self.name}"

    def table(self, catalog: str, feature_schema: str) -> str:
        return f"{catalog}.{feature_schema}.{self.feature_table}"

    def output_table(self, catalog: str, feature_schema: str) -> str:
        return f"{catalog}.{feature_schema}.{self.prediction_table}"
