"""A servable baseline as a scikit-learn estimator (``BaselineEstimator``), so a baseline that
wins the Champion contest is logged, registered, served and evaluated like any model.

Kept apart from ``baselines`` (the rules themselves, NumPy and pandas only) because this module
needs scikit-learn, and reading the model specs — as the server does for every page — must not
pay for importing it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from healthmon.ml.models.baselines import Baseline, _num

MULTICLASS_CONFIDENCE = 0.8


class BaselineEstimator(BaseEstimator):
    """A servable baseline as a scikit-learn estimator over the model's feature columns, so it
    is logged, registered, served (``fe.score_batch``) and evaluated like any model.

    Forecasters: ``predict`` = the reference value. Binary classifiers: ``predict_proba`` is a
    monotone map of the score (ROC-AUC depends on the ranking only; 0.5 at the training
    period's median), ``predict`` = proba >= 0.5. Multiclass: the score is a class (the
    entity's last label); ``predict_proba`` puts ``MULTICLASS_CONFIDENCE`` on it and spreads
    the rest over the other classes (uniform where the score is no class). Detectors
    (``kind="anomaly"``): the score is the anomaly score (``score_samples`` = −score,
    IsolationForest's convention), ``predict`` = −1 where it reaches ``threshold_`` (set by
    training's false-alarm budget), and ``evidence`` names the column with its observed value."""

    def __init__(self, baseline: Baseline | None = None, columns: Sequence[str] = (), kind: str = "regression",
                 classes: Sequence = (0, 1)):
        self.baseline = baseline
        self.columns = columns
        self.kind = kind
        self.classes = classes

    def _rule(self) -> Baseline:
        if self.baseline is None:
            raise ValueError("BaselineEstimator needs a baseline")
        return self.baseline

    def _frame(self, X) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame):
            return X
        return pd.DataFrame(np.asarray(X, float), columns=list(self.columns))

    def fit(self, X, y=None):
        s = self._rule().score(self._frame(X))
        s = s[np.isfinite(s)]
        self.center_ = float(np.median(s)) if len(s) else 0.0
        self.scale_ = float(np.std(s)) or 1.0
        self.classes_ = np.asarray(self.classes)
        return self

    def predict(self, X):
        s = self._rule().score(self._frame(X))
        if self.kind == "anomaly":
            return np.where(np.nan_to_num(s, nan=-np.inf) >= getattr(self, "threshold_", np.inf), -1, 1)
        if self.kind == "regression":
            return np.nan_to_num(s, nan=0.0)
        if self.kind == "multiclass":
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        return np.where(self.predict_proba(X)[:, 1] >= 0.5, self.classes_[-1], self.classes_[0])

    def score_samples(self, X):
        return -np.nan_to_num(np.asarray(self._rule().score(self._frame(X)), float), nan=0.0)

    def set_threshold(self, threshold: float) -> "BaselineEstimator":
        self.threshold_ = float(threshold)
        return self

    def evidence(self, X) -> pd.DataFrame:
        frame = self._frame(X)
        cols = self._rule().columns()
        observed = _num(frame, cols[0]) if cols else np.full(len(frame), np.nan)
        return pd.DataFrame({"evidence_metric": cols[0] if cols else self._rule().name, "expected_value": np.nan,
                             "observed_value": observed, "evidence_p_value": np.nan})

    def predict_proba(self, X):
        if self.kind == "multiclass":
            s = self._rule().score(self._frame(X))
            k = len(self.classes_)
            hit = np.column_stack([s == c for c in self.classes_]).astype(float)
            known = hit.sum(axis=1, keepdims=True) > 0
            rest = (1.0 - MULTICLASS_CONFIDENCE) / max(k - 1, 1)
            return np.where(known, hit * (MULTICLASS_CONFIDENCE - rest) + rest, 1.0 / k)
        s = np.nan_to_num(self._rule().score(self._frame(X)), nan=self.center_)
        p = 1.0 / (1.0 + np.exp(-np.clip((s - self.center_) / self.scale_, -50, 50)))
        return np.column_stack([1.0 - p, p])
