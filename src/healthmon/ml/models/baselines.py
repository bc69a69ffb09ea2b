"""Simple baselines every model is measured against, on the same rows.

One interface for all of them: a ``Baseline`` has a ``name``, is fitted on what is known outside
the test period (``fit(context)``: the feature table, its labels and its periods) and scores
every row of the table (``score(frame)``: one value per row; for multiclass one probability
column per class). Each spec declares its baselines (``ModelSpec.baselines``); the evaluator and
the Champion selection only call this interface.

``servable`` baselines are functions of the row's own feature columns (a reference input, a
single feature with its sign). They can be registered and served as the model's scorer
(``BaselineEstimator``), so a model that does not beat one on the validation period ships it
instead (``healthmon.ml.training``). The others (the entity's label history, seasonal naive,
the robust z-score over the entity's trailing raw series) read rows other than the one being
scored and are evaluation-only yardsticks.

What each one reads: ``BestFeature`` and detector thresholds learn on the VALIDATION period
only; ``EntityHistory`` reads, for the row (e, d), the labels of e that had resolved by d
(date + horizon <= d), in any period — exactly what a running system would know at d.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from healthmon.ml.models.metrics import rank_auc

if TYPE_CHECKING:
    from healthmon.ml.models.spec import ModelSpec

SCORE_HIGHER = "higher"


@dataclass
class Context:
    """What a baseline may learn from: the spec, the full feature table (rows with an entity
    and a date, in table order), per-row labels (NaN = no label; test labels masked out),
    per-row periods ('train' | 'validation' | 'test' | ''), the model's feature columns, and
    for detectors the domain's incidents as (entity, start, end, kind) before the test period
    and the periods whose incident rows a detector's best single feature is picked on."""

    spec: object
    frame: pd.DataFrame
    labels: np.ndarray | None
    periods: np.ndarray
    features: list[str]
    incidents: pd.DataFrame | None = None
    incident_periods: tuple[str, ...] = ("train", "validation")


class Baseline:
    """Subclasses are dataclasses with a ``name`` and a ``servable`` flag."""

    name: str
    servable: bool

    def fit(self, ctx: Context) -> "Baseline":
        return self

    def score(self, frame: pd.DataFrame) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def columns(self) -> tuple[str, ...]:
        """Feature columns a servable baseline reads."""
        return ()


def _num(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").astype(float).to_numpy()


# --------------------------------------------------------------------------- servable
@dataclass
class ReferenceInput(Baseline):
    """A known-at-d column (times a factor): the model's own reference input, the last value,
    a trailing mean. ``name`` says what it is (``mean_last_4_same_weekday``)."""

    name: str
    column: str
    factor: float = 1.0
    offset: float = 0.0
    servable: bool = True

    def score(self, frame):
        return _num(frame, self.column) * self.factor + self.offset

    def columns(self):
        return (self.column,)


@dataclass
class BestFeature(Baseline):
    """The single feature (with its sign) that best ranks the VALIDATION period's labels
    (ROC-AUC), used as the score. ``candidates`` defaults to the model's features."""

    name: str = "best_single_feature"
    candidates: tuple[str, ...] | None = None
    column: str | None = None
    sign: float = 1.0
    servable: bool = True

    def fit(self, ctx):
        if ctx.labels is not None:
            rows = (ctx.periods == "validation") & ~np.isnan(ctx.labels)
            y = ctx.labels[rows]
            candidates = self.candidates or ctx.features
        else:  # a detector: rows on an incident (one day of tolerance) in ``incident_periods``
            rows = np.isin(ctx.periods, ctx.incident_periods)
            y = incident_rows(ctx.frame, ctx.spec, ctx.incidents)[rows].astype(float)
            skip = set(ctx.spec.keys)
            candidates = self.candidates or [c for c in ctx.frame.columns if c not in skip
                                             and pd.api.types.is_numeric_dtype(ctx.frame[c])]
        if len(np.unique(y)) < 2:
            return self
        columns = list(candidates)
        X = np.column_stack([np.nan_to_num(_num(ctx.frame, c)[rows], nan=0.0, posinf=0.0, neginf=0.0)
                             for c in columns]) if columns else np.zeros((int(rows.sum()), 0))
        aucs = rank_auc(y == y.max(), X)
        best: tuple[float, str | None, float] = (0.5, None, 1.0)
        for col, x, auc in zip(columns, X.T, aucs, strict=True):
            if np.all(x == x[0]):
                continue
            for a, s in ((auc, 1.0), (1.0 - auc, -1.0)):
                if a > best[0]:
                    best = (a, col, s)
        return replace(self, column=best[1], sign=best[2])

    def score(self, frame):
        if self.column is None:
            return np.full(len(frame), np.nan)
        return self.sign * np.nan_to_num(_num(frame, self.column), nan=0.0, posinf=0.0, neginf=0.0)

    def columns(self):
        return (self.column,) if self.column else ()

    @property
    def label(self) -> str:
        return f"{self.name}:{'-' if self.sign < 0 else ''}{self.column}" if self.column else self.name


def incident_rows(frame: pd.DataFrame, spec, incidents: pd.DataFrame | None, tolerance_days: int = 1) -> np.ndarray:
    """Rows of the feature table that lie on an incident of their entity (dates widened by the
    evaluation's tolerance)."""
    out = np.zeros(len(frame), bool)
    if incidents is None or incidents.empty:
        return out
    ent = frame[spec.entity_key].astype(str).to_numpy()
    dates = pd.to_datetime(frame[spec.date_key]).dt.normalize().to_numpy()
    tol = np.timedelta64(tolerance_days, "D")
    for inc in incidents.itertuples(index=False):
        within = (dates >= np.datetime64(inc.start) - tol) & (dates <= np.datetime64(inc.end) + tol)
        out |= (ent == str(inc.entity)) & within
    return out


# --------------------------------------------------------------------------- evaluation-only
def mape_optimal_levels(y: np.ndarray) -> np.ndarray:
    """Element k: the constant forecast with the least MAPE over ``y[:k+1]``, i.e. their median
    weighted by 1/y (MAPE weighs an error on y by 1/y; the lower weighted median). Labels <= 0
    carry no weight (MAPE leaves out near-zero actuals); NaN until a positive label is seen."""
    y = np.asarray(y, float)
    out = np.full(len(y), np.nan)
    positive = y > 0
    if not positive.any():
        return out
    # A Fenwick tree of the 1/y weights over the sorted distinct labels: each step adds one
    # label and finds the weighted median in O(log n), where re-sorting every prefix took
    # O(n) per step (a job with thousands of runs made that quadratic). At an exact tie of the
    # two halves, any level between the two middle labels has the same MAPE; float rounding may
    # then pick the other one.
    values = np.unique(y[positive])
    size = len(values)
    tree = np.zeros(size + 1)
    top = 1 << (size.bit_length() - 1)
    total = 0.0
    for k, v in enumerate(y):
        if v > 0:
            i, weight = int(np.searchsorted(values, v)) + 1, 1.0 / v
            total += weight
            while i <= size:
                tree[i] += weight
                i += i & -i
        if total > 0:  # the first label whose prefix weight reaches half the total
            pos, acc, half, bit = 0, 0.0, 0.5 * total, top
            while bit:
                if pos + bit <= size and acc + tree[pos + bit] < half:
                    pos, acc = pos + bit, acc + tree[pos + bit]
                bit >>= 1
            out[k] = values[min(pos, size - 1)]
    return out


def entity_label_history(frame, spec, labels, how: str) -> np.ndarray:
    """Per row (e, d): the mean (``how='mean'``), last value (``'last'``), number
    (``'count'``) or MAPE-optimal level (``'median'``: ``mape_optimal_levels``) of entity e's
    labels that were already KNOWN at d, i.e. of rows dated <= d - horizon; NaN where e has
    none."""
    if how not in ("mean", "last", "count", "median"):
        raise ValueError(f"entity_label_history: how={how!r}, expected mean, last, count or median")
    horizon = pd.Timedelta(days=int(spec.target.horizon_days)) if spec.target is not None else pd.Timedelta(0)
    dates = pd.to_datetime(frame[spec.date_key]).dt.normalize().to_numpy()
    ent = frame[spec.entity_key].astype(str).to_numpy()
    known = ~np.isnan(labels)
    out = np.full(len(frame), np.nan)
    order = np.lexsort((dates, ent))
    lab = pd.DataFrame({"e": ent[known], "t": dates[known] + horizon, "y": labels[known]})
    lab = lab.sort_values(["e", "t"], kind="stable")
    by_entity = {e: g for e, g in lab.groupby("e", sort=False)}
    for e, idx in pd.Series(order).groupby(ent[order], sort=False):
        g = by_entity.get(e)
        if g is None:
            continue
        rows = idx.to_numpy()
        t = g["t"].to_numpy()
        y = g["y"].to_numpy(float)
        pos = np.searchsorted(t, dates[rows], side="right")  # labels known at d: t <= d
        have = pos > 0
        if how == "last":
            out[rows[have]] = y[pos[have] - 1]
        elif how == "count":
            out[rows[have]] = pos[have]
        elif how == "median":
            level = mape_optimal_levels(y)
            out[rows[have]] = level[pos[have] - 1]
        else:
            csum = np.concatenate([[0.0], np.cumsum(y)])
            out[rows[have]] = csum[pos[have]] / pos[have]
    return out


@dataclass
class EntityHistory(Baseline):
    """The entity's historical label rate / mean (``how='mean'``), its MAPE-optimal level
    (``how='median'``: the 1/y-weighted median) or its last known label (``how='last'``), from
    labels known at d; the training period's overall mean where the entity has no history yet."""

    name: str = "entity_label_rate"
    how: str = "mean"
    servable: bool = False
    _spec: object = None
    _labels: np.ndarray | None = None
    _periods: np.ndarray | None = None
    _frame_index: pd.Index | None = None
    _fallback: float = float("nan")

    def fit(self, ctx):
        labels = np.asarray(ctx.labels, float)
        train = ~np.isnan(labels) & (ctx.periods == "train")
        return replace(self, _spec=ctx.spec, _labels=labels, _periods=ctx.periods, _frame_index=ctx.frame.index,
                       _fallback=self._level(labels[train]) if train.any() else float("nan"))

    def _level(self, labels: np.ndarray) -> float:
        if self.how == "median":
            level = mape_optimal_levels(np.sort(labels))
            return float(level[-1]) if len(level) else float("nan")
        return float(np.mean(labels))

    def score(self, frame):
        if self._labels is None or not frame.index.equals(self._frame_index):
            raise ValueError(f"{self.name} scores the rows it was fitted with (it reads their label history)")
        out = entity_label_history(frame, self._spec, self._labels, self.how)
        return np.where(np.isnan(out), self._fallback, out)


@dataclass
class SeasonalNaive(Baseline):
    """The target's seasonal-naive forecast (the same quantity one season earlier)."""

    name: str = "seasonal_naive"
    servable: bool = False
    _spec: ModelSpec | None = None

    def fit(self, ctx):
        return replace(self, _spec=ctx.spec)

    def score(self, frame):
        spec = self._spec
        if spec is None or spec.target is None or spec.target.baseline is None:
            raise ValueError("seasonal_naive scores a forecaster's target: fit it on one first")
        return spec.target.baseline(frame, spec.keys).to_numpy(dtype=float)


@dataclass
class RobustZ(Baseline):
    """Per-entity robust z-score of a raw daily series: (x − median) / (1.4826 MAD) over the
    entity's previous ``window`` days (today excluded; needs 7 observations)."""

    column: str = ""
    name: str = "robust_z"
    window: int = 28
    servable: bool = False

    def score(self, frame):
        from healthmon.ml.models.targets import _back_to_rows, _wide

        keys = self._keys
        x = pd.Series(_num(frame, self.column), index=frame.index)
        wide = _wide(frame, keys, x)
        hist = wide.shift(1).rolling(self.window, min_periods=7)
        med = hist.median()
        mad = (wide.shift(1) - med).abs().rolling(self.window, min_periods=7).median()
        scale = 1.4826 * mad
        floor = 0.05 * med.abs() + 1e-9  # a flat history is not infinitely surprising
        z = (wide - med) / np.maximum(scale, floor)
        return np.nan_to_num(_back_to_rows(frame, keys, z).to_numpy(float), nan=0.0)

    def fit(self, ctx):
        return replace(self, _keys=ctx.spec.keys)

    _keys: tuple = ()


# --------------------------------------------------------------------------- detector thresholds
FALSE_EVENTS_PER_ENTITY_MONTH = 1.0
# Where a budgeted threshold sits (``budget_threshold``): ``lowest`` spends the whole budget (the
# lowest threshold within it); ``best_f1`` takes the budget as a cap and picks, among the
# thresholds within it, the one with the best detection F1 on the same rows.
THRESHOLD_RULES = ("lowest", "best_f1")


def budget_threshold(scores: np.ndarray, entities: np.ndarray, dates: np.ndarray, incidents: pd.DataFrame | None,
                     budget_per_entity_month: float = FALSE_EVENTS_PER_ENTITY_MONTH, *, rule: str = "lowest",
                     recall_incidents: pd.DataFrame | None = None) -> float:
    """A threshold (flags: score >= threshold) on these (validation) rows whose flags make at
    most ``budget`` false events: ``budget_per_entity_month`` per entity per 30 days of the
    period. An event is a run of flagged days of one entity; it is false when it overlaps no
    incident of that entity (one day of tolerance, as the evaluation counts). ``rule``
    (``THRESHOLD_RULES``) says which threshold within the budget: the lowest, or the one with
    the best detection F1 (recall over ``recall_incidents``, default ``incidents``; the highest
    such threshold at a tie; the lowest when no threshold within the budget catches an
    incident, since F1 then prefers none)."""
    from healthmon.ml.models.metrics import event_scores

    if rule not in THRESHOLD_RULES:
        raise ValueError(f"budget_threshold: rule={rule!r}, expected one of {', '.join(THRESHOLD_RULES)}")
    scores = np.nan_to_num(np.asarray(scores, float), nan=-np.inf)
    if not len(scores):
        return float("inf")
    days = (pd.to_datetime(dates).max() - pd.to_datetime(dates).min()).days + 1
    budget = max(1.0, budget_per_entity_month * len(np.unique(entities)) * days / 30.0)
    inc = incidents if incidents is not None else pd.DataFrame(columns=["entity", "start", "end"])
    candidates = np.unique(scores[np.isfinite(scores)])[::-1]
    if not len(candidates):
        return float("inf")
    # Walk down a grid of candidate thresholds (at most 200 evaluations).
    grid = candidates if len(candidates) <= 200 else np.quantile(candidates, np.linspace(1, 0, 200))
    lowest, best, best_f1 = float("inf"), float("inf"), 0.0
    for thr in grid:
        flagged = scores >= thr
        flags = pd.DataFrame({"entity": entities[flagged], "date": dates[flagged]})
        s = event_scores(flags, inc, recall_incidents=recall_incidents)
        if s.flagged_events - s.true_flagged_events > budget:
            break
        lowest = float(thr)
        if s.f1 > best_f1:
            best, best_f1 = float(thr), s.f1
    return best if rule == "best_f1" and best_f1 > 0 else lowest


def servable(baselines: Sequence[Baseline], features: Sequence[str]) -> list[Baseline]:
    """The fitted baselines that can stand in for the model: computed from its own features."""
    have = set(features)
    return [b for b in baselines if b.servable and b.columns() and set(b.columns()) <= have]


def baseline_label(b: Baseline) -> str:
    return getattr(b, "label", b.name)


__all__ = ["Baseline", "BestFeature", "Context", "EntityHistory", "ReferenceInput", "RobustZ",
           "SeasonalNaive", "baseline_label", "budget_threshold", "servable", "FALSE_EVENTS_PER_ENTITY_MONTH",
           "THRESHOLD_RULES"]


def __getattr__(name: str):
    """Models registered before the estimator wrapper moved to ``baseline_estimator`` were
    pickled under this module's name; unpickling them still finds the class here."""
    if name in ("BaselineEstimator", "MULTICLASS_CONFIDENCE"):
        from healthmon.ml.models import baseline_estimator

        return getattr(baseline_estimator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
