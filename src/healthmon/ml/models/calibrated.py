"""The detectors' scorer: each entity against its own behaviour, calibrated, combined, budgeted.

A detector watches a few *signals* of one entity-day (a user's exports, a workspace's DBUs, a
warehouse's template bytes, ...). Each signal compares today's value with the entity's own
expectation known at d — a column of the feature table computed from trailing windows that
exclude today (the user's mean and spread over its previous 28 active days, the workspace's mean
of the last four same weekdays, a workload's ratio to its own 28-day mean) — and yields a
one-sided surprise statistic:

- ``count``: −log10 P(N ≥ observed) for N negative-binomial with the entity's trailing mean and
  variance (Poisson when the variance does not exceed the mean; a pseudo-count — the peer group's
  mean of the count on training rows, 0.01 to 0.5 a day — keeps an entity with no history of an
  action from being infinitely surprised by one occurrence, yet compares it with its peers). With a
  ``peak`` column (the entity's largest day of the last five weeks) the expected count is at least
  that peak, with the same dispersion: a recurring peak — last month's month-end exports, an
  admin's usual grant bursts — is the entity's own behaviour, not news;
- ``level``: robust-z-like (observed − expected) / max(spread, 10 % of expected), above 0 only;
- ``log_ratio``: max(0, ln((1 + observed) / (1 + expected))), for baselines without a spread;
- ``ratio``: max(0, ln observed) for a column that already is a ratio to the entity's baseline;
- ``value``: the column itself (a share of the day's DBUs, days a table went unwritten, ...).

The statistics are then **calibrated**: each one's tail probability is read off its own
distribution on the TRAINING rows (empirical survival up to the 98th percentile, an
exponential tail fitted to the exceedances beyond it — peaks over threshold — so a value beyond
anything seen in training still gets a finite, ordered p-value). Signals are **combined** by
the minimum p-value with a Bonferroni correction for the number of signals (``combine="minp"``;
Fisher's method is available but assumes independent signals, which exports and tables read are
not), or (``combine="learned"``) by non-negative logistic weights over the signals' surprises
(−log10 p) fitted on the training period's labelled incidents (``learn_combination``), the
weighted sum calibrated again on the ordinary training rows; min-p without enough incidents.
The anomaly score is −log10 of the combined p-value.

Where to flag is not a quantile: training sets ``threshold_`` with a **false-alarm budget** on the
validation period (``baselines.budget_threshold``: at most ``false_events_per_entity_month``
false events per entity per 30 days there; the lowest such threshold, or for some detectors the
one with the best validation detection F1, ``detectors.THRESHOLD_RULE``). Every flag carries its
**evidence**: the signal with the smallest p-value, the entity's expected value and today's
observed value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from healthmon.ml.models.signals import Signal

# A count nobody has seen before is compared with a pseudo mean (events per day): the peer
# group's mean, between PEER_PRIOR_MIN and this.
COUNT_PRIOR = 0.5
# A level's spread is at least this share of its expected value (a flat history is not
# infinitely sure of itself).
LEVEL_SPREAD_FLOOR = 0.10
MAX_STAT = 300.0
# Empirical survival up to this training quantile, an exponential tail beyond it.
TAIL_QUANTILE = 0.98
MIN_EXCEEDANCES = 10
# The learned combination: surprises (−log10 p) are capped so that one extreme signal cannot
# decide the weights alone; it needs this many training rows on incidents, and its weights are
# shrunk towards 0 by this L2 penalty (on the class-balanced loss).
SURPRISE_CAP = 8.0
MIN_INCIDENT_ROWS = 10
LEARNED_L2 = 1e-3
WEIGHT_FLOOR = 0.25
PEER_PRIOR_MIN = 0.01
DEFAULT_THRESHOLD = 3.0  # −log10 p: used only until training sets the budgeted threshold


def negbin_surprise(observed, mean, variance, prior=COUNT_PRIOR) -> np.ndarray:
    """−log10 P(N ≥ observed) for N with this mean and variance: negative binomial when the
    variance exceeds the mean, else Poisson. Observed counts are rounded up; 0 when observed ≤ 0."""
    from scipy.stats import nbinom, poisson

    k = np.ceil(np.clip(np.asarray(observed, float), 0, None))
    mu = np.clip(np.asarray(mean, float), 0, None) + prior
    var = np.maximum(np.asarray(variance, float), 0.0)
    over = var > mu * 1.05
    out = np.zeros(len(k))
    pois = ~over & (k > 0)
    out[pois] = -poisson.logsf(k[pois] - 1, mu[pois]) / np.log(10.0)
    nb = over & (k > 0)
    if nb.any():
        # mean mu, variance v: n = mu² / (v − mu), p = mu / v
        n = mu[nb] ** 2 / (var[nb] - mu[nb])
        p = mu[nb] / var[nb]
        out[nb] = -nbinom.logsf(k[nb] - 1, n, p) / np.log(10.0)
    return np.clip(np.nan_to_num(out, nan=0.0, posinf=MAX_STAT), 0.0, MAX_STAT)


def expected_count(mean, spread, peak=None, prior=COUNT_PRIOR) -> tuple[np.ndarray, np.ndarray]:
    """(mean, variance) a count is compared with: the trailing mean plus the pseudo-count, raised
    to the recent ``peak`` when given, the variance scaled with it (same variance-to-mean ratio)."""
    mu = np.clip(np.nan_to_num(np.asarray(mean, float)), 0, None) + prior
    var = np.maximum(np.nan_to_num(np.asarray(spread, float)) ** 2, mu) if spread is not None else mu
    if peak is None:
        return mu, var
    level = np.maximum(mu, np.nan_to_num(np.asarray(peak, float)))
    return level, var * level / mu


def statistic(signal: Signal, observed, expected=None, spread=None, peak=None, prior=COUNT_PRIOR) -> np.ndarray:
    """The one-sided surprise statistic of ``signal`` (higher = more unusual for this entity)."""
    x = np.nan_to_num(np.asarray(observed, float), nan=0.0)
    # Signals without an expected value compare with 0 (the "ratio" family ignores it).
    e = np.zeros_like(x) if expected is None else np.nan_to_num(np.asarray(expected, float), nan=0.0)
    s = None if spread is None else np.nan_to_num(np.asarray(spread, float), nan=0.0)
    f = signal.family
    if f == "count":
        mu, var = expected_count(e, s, peak, prior)
        return negbin_surprise(x, mu - prior, var, prior)
    if f == "level":
        scale = np.maximum(s if s is not None else 0.0, LEVEL_SPREAD_FLOOR * np.abs(e))
        z = np.divide(x - e, scale, out=np.zeros_like(x), where=scale > 0)
        return np.clip(z, 0.0, MAX_STAT)
    if f == "log_ratio":
        return np.clip(np.log1p(np.clip(x, 0, None)) - np.log1p(np.clip(e, 0, None)), 0.0, MAX_STAT)
    if f == "ratio":
        return np.clip(np.log(np.clip(x, 1.0, None)), 0.0, MAX_STAT)
    return np.clip(x, -MAX_STAT, MAX_STAT)


@dataclass
class TailCalibrator:
    """Tail probability P(S ≥ s) of one statistic, learned from reference (training) values:
    empirical survival (with +1 smoothing) up to the ``TAIL_QUANTILE`` value ``u``; beyond it
    p(u) · exp(−(s − u) / β), β = mean excess over u (an exponential peaks-over-threshold tail).
    Monotone non-increasing in s; never 0."""

    sorted_values: np.ndarray
    u: float
    p_u: float
    beta: float

    @classmethod
    def fit(cls, values: np.ndarray) -> "TailCalibrator":
        v = np.sort(np.nan_to_num(np.asarray(values, float), nan=0.0))
        if not len(v):
            return cls(v, 0.0, 1.0, 1.0)
        u = float(np.quantile(v, TAIL_QUANTILE))
        excess = v[v > u] - u
        if len(excess) >= MIN_EXCEEDANCES and excess.mean() > 0:
            beta = float(excess.mean())
        else:  # too few distinct tail values: a tail as wide as the spread of the statistic
            beta = float(max(np.std(v), 1e-6))
        p_u = cls._empirical(v, np.array([u]))[0]
        return cls(v, u, float(p_u), beta)

    @staticmethod
    def _empirical(v: np.ndarray, s: np.ndarray) -> np.ndarray:
        n = len(v)
        at_or_above = n - np.searchsorted(v, s, side="left")
        return (at_or_above + 1.0) / (n + 1.0)

    def survival(self, s) -> np.ndarray:
        s = np.nan_to_num(np.asarray(s, float), nan=0.0)
        p = self._empirical(self.sorted_values, s)
        beyond = s > self.u
        p[beyond] = self.p_u * np.exp(-(s[beyond] - self.u) / self.beta)
        return np.clip(p, 1e-300, 1.0)


def nonnegative_logistic(S: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Weights w >= 0 and an intercept minimising the class-balanced logistic loss of
    ``S @ w + b`` plus ``l2 * |w|^2`` (L-BFGS-B with bounds). Non-negative because every column
    is a surprise: more of it may never make a row look more normal."""
    from scipy.optimize import minimize
    from scipy.special import expit

    y = np.asarray(y, bool)
    weight = np.where(y, 0.5 / max(y.sum(), 1), 0.5 / max((~y).sum(), 1))
    m = S.shape[1]

    def loss(theta):
        w, b = theta[:m], theta[m]
        z = S @ w + b
        # log(1 + e^z) − y z, stable for both signs
        ll = np.logaddexp(0.0, z) - y * z
        grad_z = weight * (expit(z) - y)
        value = float(weight @ ll + l2 * w @ w)
        return value, np.concatenate([S.T @ grad_z + 2 * l2 * w, [grad_z.sum()]])

    res = minimize(loss, np.concatenate([np.full(m, 0.1), [0.0]]), jac=True, method="L-BFGS-B",
                   bounds=[(0.0, None)] * m + [(None, None)])
    return res.x[:m], float(res.x[m])


def combine_pvalues(p: np.ndarray, how: str = "minp") -> np.ndarray:
    """Rows × signals p-values -> one p-value per row: Bonferroni-corrected minimum (``minp``)
    or Fisher's method (``fisher``, χ² with 2m degrees of freedom)."""
    p = np.clip(np.asarray(p, float), 1e-300, 1.0)
    m = p.shape[1]
    if how == "minp":
        return np.clip(m * p.min(axis=1), 1e-300, 1.0)
    if how == "fisher":
        from scipy.stats import chi2

        return np.clip(chi2.sf(-2.0 * np.log(p).sum(axis=1), 2 * m), 1e-300, 1.0)
    raise ValueError(f"unknown combination {how!r} (minp or fisher)")


class CalibratedDetector(BaseEstimator):
    """scikit-learn estimator over the feature columns ``columns`` (in the order of X).

    ``fit`` learns one ``TailCalibrator`` per signal on the training rows. ``score_samples``
    follows IsolationForest's convention (higher = more normal; ``anomaly_scores`` negates it):
    it returns −score with score = −log10(combined p). ``predict``: −1 (anomaly) where
    score ≥ ``threshold_``, else 1. ``evidence`` names, per row, the signal that drove the score.
    """

    def __init__(self, signals: Sequence[Signal] = (), columns: Sequence[str] = (), combine: str = "minp"):
        self.signals = signals
        self.columns = columns
        self.combine = combine

    # ---------------------------------------------------------------- columns
    def _col(self, X: np.ndarray, name: str | None):
        if name is None:
            return None
        try:
            return X[:, list(self.columns).index(name)]
        except ValueError:
            raise ValueError(f"detector input column {name!r} is not among its features {list(self.columns)}") from None

    def statistics(self, X) -> np.ndarray:
        X = np.asarray(X, float)
        priors = getattr(self, "priors_", None) or [COUNT_PRIOR] * len(self.signals)
        out = [statistic(s, self._col(X, s.metric), self._col(X, s.expected), self._col(X, s.spread),
                         self._col(X, s.peak), prior)
               for s, prior in zip(self.signals, priors)]
        return np.column_stack(out) if out else np.zeros((len(X), 0))

    # ---------------------------------------------------------------- fit / score
    def fit(self, X, y=None):
        if not self.signals:
            raise ValueError("a CalibratedDetector needs at least one signal")
        X = np.asarray(X, float)
        # A count's pseudo-count is what the peer group (every entity's training rows) does on
        # an ordinary day, so an entity with no history of an action is compared with its peers.
        self.priors_ = [float(np.clip(np.nan_to_num(np.mean(self._col(X, s.metric)) if len(X) else np.nan,
                                                    nan=COUNT_PRIOR), PEER_PRIOR_MIN, COUNT_PRIOR))
                        if s.family == "count" else COUNT_PRIOR for s in self.signals]
        stats = self.statistics(X)
        self.calibrators_ = [TailCalibrator.fit(stats[:, j]) for j in range(stats.shape[1])]
        self.weights_ = None  # until learn_combination sees labelled incidents
        if not hasattr(self, "threshold_"):
            self.threshold_ = DEFAULT_THRESHOLD
        return self

    def pvalues(self, X) -> np.ndarray:
        stats = self.statistics(X)
        return np.column_stack([c.survival(stats[:, j]) for j, c in enumerate(self.calibrators_)])

    def surprises(self, X) -> np.ndarray:
        """Per row and signal: −log10 of its calibrated p-value, capped at ``SURPRISE_CAP``."""
        return np.minimum(-np.log10(self.pvalues(X)), SURPRISE_CAP)

    def learn_combination(self, X, on_incident) -> "CalibratedDetector":
        """Learn how much each signal counts from the labelled incidents of these (training)
        rows: non-negative logistic weights over the signals' surprises, and the weighted sum's
        own tail calibration on the rows off incidents. With fewer than ``MIN_INCIDENT_ROWS`` incident
        rows (an account without a ground truth, a quiet training period) the detector keeps
        the unweighted ``combine`` rule."""
        y = np.asarray(on_incident, bool)
        self.weights_ = None
        if not self.combine.startswith("learned") or y.sum() < MIN_INCIDENT_ROWS or y.all():
            return self
        S = self.surprises(X)
        w, _ = nonnegative_logistic(S, y, LEARNED_L2)
        if not np.any(w > 0):
            return self
        # Every signal keeps a share of the strongest weight: the training period's incidents
        # are a few kinds, and a kind they do not show may move only a signal they left at 0.
        w = np.maximum(w, WEIGHT_FLOOR * w.max())
        self.weights_ = w
        # a p-value says how rare the score is on ORDINARY rows: the incident rows, which the
        # weights were chosen to push up, would otherwise fill the tail
        self.combined_calibrator_ = TailCalibrator.fit((S @ w)[~y])
        return self

    def _learned(self) -> bool:
        return getattr(self, "weights_", None) is not None

    def score(self, X) -> np.ndarray:  # noqa: D401 - not sklearn's R² "score": the anomaly score
        """−log10 of the combined p-value (higher = more anomalous)."""
        p = self.pvalues(X)
        minp = combine_pvalues(p, "fisher" if self.combine == "fisher" else "minp")
        if not self._learned():
            return -np.log10(minp)
        return -np.log10(self.combined_calibrator_.survival(np.minimum(-np.log10(p), SURPRISE_CAP) @ self.weights_))

    def score_samples(self, X) -> np.ndarray:
        return -self.score(X)

    def decision_function(self, X) -> np.ndarray:
        return self.threshold_ - self.score(X)

    def predict(self, X) -> np.ndarray:
        return np.where(self.score(X) >= self.threshold_, -1, 1)

    def set_threshold(self, threshold: float) -> "CalibratedDetector":
        self.threshold_ = float(threshold)
        return self

    # ---------------------------------------------------------------- evidence
    def evidence(self, X) -> pd.DataFrame:
        """Per row: ``evidence_metric`` (the signal with the smallest p-value), its
        ``expected_value`` (the entity's baseline at d; 1 for a ratio to the baseline; the
        training median for a plain value), ``observed_value`` and ``evidence_p_value``
        (its calibrated, uncorrected tail probability)."""
        X = np.asarray(X, float)
        p = self.pvalues(X)
        # the signal that contributed most to the score: the smallest p, or the largest
        # weighted surprise under a learned combination
        if self._learned():
            j = (np.minimum(-np.log10(p), SURPRISE_CAP) * self.weights_).argmax(axis=1)
        else:
            j = p.argmin(axis=1)
        rows = np.arange(len(X))
        observed = np.column_stack([self._col(X, s.metric) for s in self.signals])[rows, j]
        expected = np.column_stack([self._expected(X, s, c, prior) for s, c, prior
                                    in zip(self.signals, self.calibrators_, self.priors_)])[rows, j]
        names = np.array([s.name for s in self.signals], dtype=object)[j]
        return pd.DataFrame({"evidence_metric": names, "expected_value": expected.astype(float),
                             "observed_value": observed.astype(float), "evidence_p_value": p[rows, j]})

    def _expected(self, X, s: Signal, cal: TailCalibrator, prior: float) -> np.ndarray:
        if s.family == "count":
            return expected_count(self._col(X, s.expected), self._col(X, s.spread), self._col(X, s.peak), prior)[0]
        if s.expected is not None:
            return self._col(X, s.expected).astype(float)
        if s.family == "ratio":
            return np.ones(len(X))
        return np.full(len(X), float(np.median(cal.sorted_values)) if len(cal.sorted_values) else 0.0)


def evidence_frame(model, X) -> pd.DataFrame | None:
    """The evidence columns of a detector that can explain itself (None otherwise)."""
    explain = getattr(model, "evidence", None)
    return explain(X) if callable(explain) else None


__all__ = ["CalibratedDetector", "Signal", "TailCalibrator", "combine_pvalues", "evidence_frame", "negbin_surprise",
           "statistic"]
