"""The algorithms, as picklable scikit-learn estimators.

Every model is a scikit-learn estimator (Pipeline) whose ``predict`` gives the ``prediction``
column that ``fe.score_batch`` writes. Sizes are modest on purpose: 25 training tasks share two
cores during ``make demo`` (n_jobs=1 everywhere, 60-150 trees, shallow depth).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin, clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import GradientBoostingRegressor, IsolationForest, RandomForestClassifier
from sklearn.pipeline import Pipeline

RANDOM_STATE = 42
# Pseudo-count added to an entity's trailing mean before asking how surprising today's count is:
# an entity with no history of an action is not infinitely surprised by one occurrence.
SURPRISE_PRIOR = 0.5
MAX_SURPRISE = 50.0


def _log1p_pos(y):
    return np.log1p(np.clip(np.asarray(y, dtype=float), 0.0, None))


def _expm1(y):
    return np.expm1(np.asarray(y, dtype=float))


class DerivedFeatures(TransformerMixin, BaseEstimator):
    """Adds scale-free columns computed from the feature-table columns (by position).

    ``derived`` items: ("log_ratio", a, b) = log1p(a) - log1p(b); ("log", a) = log1p(a);
    ("ratio", a, b) = a / b (0 when b <= 0); ("excess_log_ratio", a, b) = max(0, log1p(a) -
    log1p(b)), one-sided: a detector of *surges* must not isolate quiet days, so everything at
    or below the entity's baseline collapses to 0; ("poisson_surprise", count, baseline) =
    -log10 P(N >= count) for N ~ Poisson(baseline + SURPRISE_PRIOR): how unlikely today's count is
    for *this* entity given its own trailing mean (a per-entity calibrated, one-sided score: 8
    grant changes are routine for an admin and extraordinary for an analyst who never made one);
    ("log_surge", r) = max(0, ln r) for a column that is already a ratio to a baseline (1 = usual):
    one-sided like excess_log_ratio, and a ratio of 0 ("no baseline") counts as usual;
    ("sum", a, b, ...) = a + b + ... (negatives clipped to 0), for shares of one total that mean
    the same thing to the detector.
    Raw columns listed in ``keep`` pass through.
    Deviations from an entity's own history make one detector work across workspaces whose
    spend differs by orders of magnitude.
    """

    def __init__(self, columns: Sequence[str] = (), derived: Sequence[tuple] = (), keep: Sequence[str] = ()):
        self.columns = columns
        self.derived = derived
        self.keep = keep

    def fit(self, X, y=None):
        return self

    def _col(self, X, name):
        return np.asarray(X[:, list(self.columns).index(name)], dtype=float)

    def transform(self, X):
        X = np.asarray(X, dtype=float)
        out = [self._col(X, k) for k in self.keep]
        for op, *args in self.derived:
            if op == "log_ratio":
                a, b = (np.clip(self._col(X, c), 0, None) for c in args)
                out.append(np.log1p(a) - np.log1p(b))
            elif op == "excess_log_ratio":
                a, b = (np.clip(self._col(X, c), 0, None) for c in args)
                out.append(np.clip(np.log1p(a) - np.log1p(b), 0, None))
            elif op == "poisson_surprise":
                from scipy.stats import poisson

                count, base = (np.clip(self._col(X, c), 0, None) for c in args)
                logsf = poisson.logsf(np.ceil(count) - 1, base + SURPRISE_PRIOR)
                out.append(np.clip(-logsf / np.log(10.0), 0, MAX_SURPRISE))
            elif op == "log_surge":
                a = self._col(X, args[0])
                out.append(np.log(np.clip(a, 1.0, None)))
            elif op == "sum":
                out.append(np.sum([np.clip(self._col(X, c), 0, None) for c in args], axis=0))
            elif op == "log":
                out.append(np.log1p(np.clip(self._col(X, args[0]), 0, None)))
            elif op == "ratio":
                a, b = (self._col(X, c) for c in args)
                out.append(np.divide(a, b, out=np.zeros_like(a), where=b > 0))
            else:
                raise ValueError(f"unknown derived feature op {op!r}")
        res = np.column_stack(out) if out else np.empty((X.shape[0], 0))
        return np.nan_to_num(res, nan=0.0, posinf=0.0, neginf=0.0)

    def get_feature_names_out(self, input_features=None):
        return np.array(list(self.keep) + ["_".join(map(str, d)) for d in self.derived], dtype=object)


class EncodedClassifier(ClassifierMixin, BaseEstimator):
    """Fits ``estimator`` on labels encoded 0..k-1 (XGBoost needs contiguous classes) and
    predicts the original labels."""

    def __init__(self, estimator=None):
        self.estimator = estimator

    def fit(self, X, y, **fit_params):
        self.classes_, encoded = np.unique(np.asarray(y), return_inverse=True)
        self.estimator_ = clone(self.estimator).fit(X, encoded, **fit_params)
        return self

    def predict(self, X):
        return self.classes_[np.asarray(self.estimator_.predict(X)).astype(int)]

    def predict_proba(self, X):
        return self.estimator_.predict_proba(X)


class ReferenceClassifier(ClassifierMixin, BaseEstimator):
    """A binary classifier that learns a correction to a reference probability known at d (the
    entity's label rate so far): the boosting starts every row from logit(reference) (XGBoost's
    ``base_margin``) instead of from the global rate, so the trees spend themselves on what the
    entity's history does not already say. The rate is shrunk towards the training period's rate
    by ``prior_weight`` pseudo-labels (an entity with 2 resolved labels has no 0 % or 100 % rate),
    using the ``count`` column (how many labels the rate is made of)."""

    def __init__(self, estimator=None, columns: Sequence[str] = (), reference: str = "", count: str = "",
                 prior_weight: float = 5.0):
        self.estimator = estimator
        self.columns = columns
        self.reference = reference
        self.count = count
        self.prior_weight = prior_weight

    def _margin(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        idx = list(self.columns)
        rate = X[:, idx.index(self.reference)]
        n = X[:, idx.index(self.count)] if self.count else np.zeros(len(X))
        p = (rate * n + self.prior_ * self.prior_weight) / (n + self.prior_weight)
        p = np.clip(p, 0.005, 0.995)
        return np.log(p / (1.0 - p))

    def fit(self, X, y, **fit_params):
        self.classes_, encoded = np.unique(np.asarray(y), return_inverse=True)
        if len(self.classes_) != 2:
            raise ValueError(f"ReferenceClassifier is binary; got classes {list(self.classes_)}")
        self.prior_ = float(np.mean(encoded))
        self.estimator_ = clone(self.estimator).fit(
            np.asarray(X, dtype=float), encoded, base_margin=self._margin(X), **fit_params
        )
        return self

    def predict_proba(self, X):
        return self.estimator_.predict_proba(np.asarray(X, dtype=float), base_margin=self._margin(X))

    def predict(self, X):
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]


class RelativeRegressor(RegressorMixin, BaseEstimator):
    """Forecasts a quantity relative to a reference known at d (e.g. the trailing 7-day mean):
    the regressor learns log1p(y) - log1p(reference), prediction = expm1(that + log1p(reference)).

    One model then serves entities whose levels differ by orders of magnitude, and it only has
    to learn the *change* (weekday effect, trend, momentum), which is what beats a naive forecast.
    ``reference = (factor, numerators, denominators)``: factor x prod(numerators) / prod(denominators),
    with column names looked up in ``columns`` (a zero denominator gives the numerators' product).
    ``relative_inputs`` lists columns also given to the regressor as log1p(column) − log1p(reference):
    how far a recent level sits from the reference, on the scale of the target (trees cannot form
    a ratio of two raw columns themselves).
    """

    def __init__(self, regressor=None, columns: Sequence[str] = (), reference: tuple = (1.0, (), ()),
                 relative_inputs: Sequence[str] = ()):
        self.regressor = regressor
        self.columns = columns
        self.reference = reference
        self.relative_inputs = relative_inputs

    def _inputs(self, X, ref: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        relative = getattr(self, "relative_inputs", ())  # absent from versions pickled before it existed
        if not relative:
            return X
        idx = list(self.columns)
        rel = [np.log1p(np.clip(np.nan_to_num(X[:, idx.index(c)]), 0.0, None)) - np.log1p(ref) for c in relative]
        return np.column_stack([X, *rel])

    def _reference(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        factor, nums, dens = self.reference
        idx = list(self.columns)
        ref = np.full(X.shape[0], float(factor))
        for c in nums:
            ref = ref * X[:, idx.index(c)]
        for c in dens:
            d = X[:, idx.index(c)]
            ref = np.divide(ref, d, out=ref.copy(), where=d > 0)
        return np.clip(np.nan_to_num(ref, nan=0.0, posinf=0.0, neginf=0.0), 0.0, None)

    def fit(self, X, y):
        ref = self._reference(X)
        self.regressor_ = clone(self.regressor).fit(self._inputs(X, ref), _log1p_pos(y) - np.log1p(ref))
        return self

    def predict(self, X):
        ref = self._reference(X)
        return np.clip(np.expm1(self.regressor_.predict(self._inputs(X, ref)) + np.log1p(ref)), 0.0, None)


def relative_gradient_boosting(
    columns: Sequence[str],
    reference: tuple,
    *,
    max_depth: int = 3,
    n_estimators: int = 150,
    min_samples_leaf: int = 1,
    relative_inputs: Sequence[str] = (),
):
    gbr = GradientBoostingRegressor(
        n_estimators=n_estimators,
        max_depth=max_depth,
        learning_rate=0.05,
        subsample=0.8,
        loss="absolute_error",
        min_samples_leaf=min_samples_leaf,
        random_state=RANDOM_STATE,
    )
    return RelativeRegressor(regressor=gbr, columns=tuple(columns), reference=reference,
                             relative_inputs=tuple(relative_inputs))


def isolation_forest(
    contamination: float,
    *,
    columns: Sequence[str] = (),
    derived: Sequence[tuple] = (),
    keep: Sequence[str] = (),
    max_samples: int | str = "auto",
    n_estimators: int = 100,
):
    """``max_samples`` above the default 256 lets the trees grow deep enough to rank the far tail
    (with 256 samples every point beyond the bulk reaches the depth limit and they all tie)."""
    steps = []
    if derived or keep:
        steps.append(("derive", DerivedFeatures(columns=tuple(columns), derived=tuple(derived), keep=tuple(keep))))
    steps.append(
        (
            "model",
            IsolationForest(
                n_estimators=n_estimators,
                contamination=contamination,
                max_samples=max_samples,
                random_state=RANDOM_STATE,
                n_jobs=1,
            ),
        )
    )
    return Pipeline(steps)


def gradient_boosting(*, max_depth: int = 3, n_estimators: int = 150, log_target: bool = True):
    gbr = GradientBoostingRegressor(
        n_estimators=n_estimators,
        max_depth=max_depth,
        learning_rate=0.05,
        subsample=0.8,
        loss="absolute_error" if log_target else "squared_error",
        random_state=RANDOM_STATE,
    )
    if not log_target:
        return gbr
    # Costs and durations are skewed over orders of magnitude: fit on log1p so the error is
    # relative (what MAPE measures), predict back on the original scale.
    return TransformedTargetRegressor(regressor=gbr, func=_log1p_pos, inverse_func=_expm1, check_inverse=False)


def _xgb(n_estimators: int, max_depth: int, **kw):
    from xgboost import XGBClassifier

    return XGBClassifier(
        n_estimators=n_estimators,
        max_depth=max_depth,
        learning_rate=kw.pop("learning_rate", 0.08),
        subsample=0.9,
        colsample_bytree=0.9,
        eval_metric="logloss",
        tree_method="hist",
        n_jobs=1,
        random_state=RANDOM_STATE,
        **kw,
    )


def xgb_classifier(*, n_estimators: int = 120, max_depth: int = 4):
    return EncodedClassifier(_xgb(n_estimators, max_depth))


def xgb_reference_classifier(
    columns: Sequence[str],
    reference: str,
    count: str,
    *,
    n_estimators: int = 120,
    max_depth: int = 3,
    min_child_weight: float = 5.0,
    reg_lambda: float = 5.0,
    learning_rate: float = 0.05,
):
    """XGBoost learning a correction to the entity's label rate known at d (``ReferenceClassifier``)."""
    return ReferenceClassifier(
        _xgb(
            n_estimators,
            max_depth,
            min_child_weight=min_child_weight,
            reg_lambda=reg_lambda,
            learning_rate=learning_rate,
        ),
        columns=tuple(columns),
        reference=reference,
        count=count,
    )


def random_forest_classifier():
    return RandomForestClassifier(
        n_estimators=100,
        max_depth=10,
        min_samples_split=5,
        min_samples_leaf=2,
        class_weight="balanced",
        random_state=RANDOM_STATE,
        n_jobs=1,
    )


def tfidf_random_forest(numeric_columns: Sequence[str], text_column: str = "job_name"):
    """TF-IDF on the job name next to the numeric cost columns, then a random forest."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer

    columns = ColumnTransformer(
        [
            (
                "tfidf",
                TfidfVectorizer(
                    max_features=50, ngram_range=(1, 2), lowercase=True, token_pattern=r"[A-Za-z][A-Za-z0-9]+"
                ),
                text_column,
            ),
            ("numeric", "passthrough", list(numeric_columns)),
        ],
        n_jobs=1,
    )
    return Pipeline([("features", columns), ("model", random_forest_classifier())])


def calibrate_threshold(model, X_validation, quantile: float) -> float | None:
    """Move the Isolation Forest's decision threshold to the ``quantile`` of its scores on the
    validation period (rows it was not fitted on; no labels are used), so a share ``1 - quantile``
    of ordinary validation rows is flagged. The forest's own ``contamination`` sets the threshold
    on the training rows instead, which over-flags when the training period was noisier than
    today. Returns the threshold (on the anomaly score, higher = more anomalous), or None when
    there is no validation row."""
    X_validation = np.asarray(X_validation, dtype=float)
    if len(X_validation) == 0:
        return None
    forest, Xt = model, X_validation
    if isinstance(model, Pipeline):
        forest = model.steps[-1][1]
        for _, step in model.steps[:-1]:
            Xt = step.transform(Xt)
    raw = forest.score_samples(Xt)  # higher = more normal
    # predict() flags score_samples < offset_. Rows tied with the quantile are flagged too: beyond
    # the training range a forest's score saturates, so a far-out row ties with the most extreme
    # ordinary rows instead of scoring above them, and must not be let through by the tie.
    forest.offset_ = float(np.nextafter(np.quantile(raw, 1.0 - quantile, method="lower"), np.inf))
    return -forest.offset_


def anomaly_scores(model, X) -> np.ndarray:
    """Higher = more anomalous (the negated IsolationForest score)."""
    return -np.asarray(model.score_samples(X), dtype=float)
