"""Metric functions (pure): forecast errors, classifier ranking quality, and event-level
detection scores against labelled incidents."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


def mae(actual, predicted) -> float:
    a, p = np.asarray(actual, float), np.asarray(predicted, float)
    return float(np.mean(np.abs(a - p))) if len(a) else float("nan")


# MAPE is undefined at a zero actual and meaningless near one: an incomplete last day (usage
# of runs that cross midnight after the data ends) or an idle entity turns a few cents of error
# into thousands of percent and hides everything else. Rows whose actual is below this fraction
# of the mean |actual| of the evaluated rows count in MAE only. The floor depends on the
# actuals alone, so the model and the baseline scored on the same rows use the same rows.
MAPE_FLOOR_FRACTION = 0.01


def mape_rows(actual, floor_fraction: float = MAPE_FLOOR_FRACTION, min_actual: float = 1e-9) -> np.ndarray:
    """Mask of the rows MAPE is computed over: |actual| >= max(min_actual, floor_fraction x
    mean |actual|)."""
    a = np.abs(np.asarray(actual, float))
    if not len(a):
        return np.zeros(0, bool)
    floor = max(min_actual, floor_fraction * float(np.nanmean(a)))
    return a >= floor


def mape(actual, predicted, floor_fraction: float = MAPE_FLOOR_FRACTION, min_actual: float = 1e-9) -> float:
    """Mean absolute percentage error in %, over the rows whose actual is at least
    ``floor_fraction`` of the mean |actual| (and non-zero): see ``MAPE_FLOOR_FRACTION``."""
    a, p = np.asarray(actual, float), np.asarray(predicted, float)
    keep = mape_rows(a, floor_fraction, min_actual)
    if not keep.any():
        return float("nan")
    return float(np.mean(np.abs(a[keep] - p[keep]) / np.abs(a[keep])) * 100.0)


def classifier_scores(y_true, proba, classes: Sequence | None = None) -> dict[str, float]:
    """ROC-AUC and PR-AUC (average precision); one-vs-rest macro for more than two classes.
    NaN when the period holds a single class (AUC is undefined)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(y_true)
    proba = np.asarray(proba, float)
    present = np.unique(y)
    if len(present) < 2:
        return {
            "roc_auc": float("nan"),
            "pr_auc": float("nan"),
            "positive_rate": float(np.mean(y == present.max())) if len(y) else float("nan"),
        }
    if proba.ndim == 1 or proba.shape[1] == 1 or (proba.ndim == 2 and proba.shape[1] == 2):
        pos = proba if proba.ndim == 1 else proba[:, -1]
        yb = (y == (classes[-1] if classes is not None else 1)).astype(int)
        return {
            "roc_auc": float(roc_auc_score(yb, pos)),
            "pr_auc": float(average_precision_score(yb, pos)),
            "positive_rate": float(yb.mean()),
        }
    classes = list(classes) if classes is not None else list(range(proba.shape[1]))
    cols = [classes.index(c) for c in present if c in classes]
    sub = proba[:, cols]
    sub = sub / np.clip(sub.sum(axis=1, keepdims=True), 1e-12, None)
    yb = np.column_stack([(y == c).astype(int) for c in present if c in classes])
    roc = roc_auc_score(yb, sub, average="macro") if sub.shape[1] > 2 else roc_auc_score(yb[:, 1], sub[:, 1])
    return {
        "roc_auc": float(roc),
        "pr_auc": float(average_precision_score(yb, sub, average="macro")),
        "positive_rate": float("nan"),
    }


@dataclass(frozen=True)
class DetectionScore:
    precision: float
    recall: float
    f1: float
    incidents: int
    detected_incidents: int
    flagged_events: int
    true_flagged_events: int
    flagged_days: int = 0
    true_flagged_days: int = 0

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.__dict__.items()}


def _event_arrays(flags: pd.DataFrame, max_gap_days: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(entity, start, end) arrays of the events in ``flags``, in (entity, start) order; dates
    as datetime64[ns] midnights. Plain NumPy: threshold searches call this hundreds of times."""
    if flags.empty:
        return np.zeros(0, object), np.zeros(0, "datetime64[ns]"), np.zeros(0, "datetime64[ns]")
    entity = flags["entity"].astype(str).to_numpy(dtype=object)
    date = pd.to_datetime(flags["date"]).dt.normalize().to_numpy(dtype="datetime64[ns]")
    names, code = np.unique(entity, return_inverse=True)
    order = np.lexsort((date, code))
    code, date = code[order], date[order]
    fresh = np.ones(len(code), bool)  # first row of an (entity, date) pair
    fresh[1:] = (code[1:] != code[:-1]) | (date[1:] != date[:-1])
    code, date = code[fresh], date[fresh]
    starts = np.ones(len(code), bool)  # first row of an event
    starts[1:] = (code[1:] != code[:-1]) | (date[1:] - date[:-1] > np.timedelta64(max_gap_days, "D"))
    first = np.flatnonzero(starts)
    last = np.append(first[1:], len(code)) - 1
    return names[code[first]], date[first], date[last]


def flagged_events(flags: pd.DataFrame, max_gap_days: int = 1) -> pd.DataFrame:
    """Merge flagged (entity, date) rows into events: runs of flagged dates per entity with
    gaps of at most ``max_gap_days``. Columns: entity, start, end (inclusive dates)."""
    if flags.empty:
        return pd.DataFrame(columns=["entity", "start", "end"])
    entity, start, end = _event_arrays(flags, max_gap_days)
    return pd.DataFrame({"entity": entity, "start": start, "end": end})


def _overlapping_pairs(ev_entity, ev_start, ev_end, inc: pd.DataFrame, tol: np.timedelta64):
    """(event index, incident index) of every overlapping pair: same entity, incident dates
    widened by ``tol``. A sort-merge on the entity, so only same-entity pairs are compared."""
    if not len(ev_entity) or inc.empty:
        return np.zeros(0, int), np.zeros(0, int)
    inc_entity = inc["entity"].astype(str).to_numpy(dtype=object)
    inc_start = pd.to_datetime(inc["start"]).to_numpy(dtype="datetime64[ns]") - tol
    inc_end = pd.to_datetime(inc["end"]).to_numpy(dtype="datetime64[ns]") + tol
    _, code = np.unique(np.concatenate([ev_entity, inc_entity]), return_inverse=True)
    ev_code, inc_code = code[: len(ev_entity)], code[len(ev_entity) :]
    by_code = np.argsort(inc_code, kind="stable")
    sorted_codes = inc_code[by_code]
    lo = np.searchsorted(sorted_codes, ev_code, side="left")
    counts = np.searchsorted(sorted_codes, ev_code, side="right") - lo
    ev = np.repeat(np.arange(len(ev_code)), counts)
    offset = np.arange(len(ev)) - np.repeat(np.cumsum(counts) - counts, counts)
    ic = by_code[np.repeat(lo, counts) + offset]
    hit = (inc_start[ic] <= ev_end[ev]) & (inc_end[ic] >= ev_start[ev])
    return ev[hit], ic[hit]


def event_scores(
    flags: pd.DataFrame,
    incidents: pd.DataFrame,
    *,
    recall_incidents: pd.DataFrame | None = None,
    tolerance_days: int = 1,
) -> DetectionScore:
    """Incident recall, flagged-day precision and their F1 (the composite F-score of Garg et
    al., 2021), with the event counts the false-alarm budget reads.

    ``flags``: rows (entity, date) the detector flagged. ``incidents``: (entity, start, end)
    with inclusive dates. An incident is detected when a flagged day of its entity lies on it
    (dates widened by ``tolerance_days`` on both sides: daily features see an incident on the
    day it starts and their rolling windows may carry it a day on). Precision is the share of
    flagged entity-days that lie on an incident of their entity: counted in days, not in runs of
    days, because a run counted once lets a scorer that flags every day of every entity score
    one "true event" per entity with an incident (flagging everything would then look like a
    detector). ``recall_incidents`` (default: ``incidents``) restricts recall to the incident
    kinds the detector targets, while precision accepts any real incident. ``flagged_events`` /
    ``true_flagged_events`` count runs of flagged days (one alert each), for the budget and the
    false events per entity-week.
    """
    entity, start, end = _event_arrays(flags)
    recall_set = incidents if recall_incidents is None else recall_incidents
    tol = np.timedelta64(tolerance_days, "D")
    true_events = len(np.unique(_overlapping_pairs(entity, start, end, incidents, tol)[0]))
    day_entity, day, _ = _event_arrays(flags, max_gap_days=0)  # one row per flagged entity-day
    true_days = len(np.unique(_overlapping_pairs(day_entity, day, day, incidents, tol)[0]))
    detected = np.zeros(len(recall_set), bool)
    detected[_overlapping_pairs(entity, start, end, recall_set, tol)[1]] = True
    n_events, n_days, n_inc = len(entity), len(day_entity), len(recall_set)
    precision = true_days / n_days if n_days else 0.0
    recall = detected.sum() / n_inc if n_inc else float("nan")
    f1 = (
        2 * precision * recall / (precision + recall)
        if n_inc and (precision + recall) > 0
        else (float("nan") if not n_inc else 0.0)
    )
    return DetectionScore(precision, recall, f1, n_inc, int(detected.sum()), n_events, true_events, n_days, true_days)


def summarize(values: Iterable[float]) -> float:
    vals = [v for v in values if v == v]
    return float(np.mean(vals)) if vals else float("nan")


# --------------------------------------------------------------------------- paired comparison
# A model replaces its simple baseline only when it beats it by more than this many standard
# errors of the paired difference: the one-standard-error rule of model selection — among
# candidates within one standard error of the best, take the simplest. A tie, or an edge the
# validation rows cannot tell from noise, ships the rule a person can read.
SELECTION_STANDARD_ERRORS = 1.0


def clearly_better(margin: float, standard_error: float) -> bool:
    """Whether a margin (better direction) clears the one-standard-error rule."""
    return margin == margin and standard_error == standard_error and margin > SELECTION_STANDARD_ERRORS * standard_error


def _auc_with_weights(y, score) -> Callable[[np.ndarray], float]:
    """ROC-AUC as a function of row weights (ties count one half): the scores are sorted once,
    so each weighting costs O(n) — the probability that a weighted positive outscores a
    weighted negative."""
    pos_row = np.asarray(y) > 0
    levels, group = np.unique(np.asarray(score, float), return_inverse=True)

    def auc(weight: np.ndarray) -> float:
        w = np.asarray(weight, float)
        pos = np.bincount(group, weights=w * pos_row, minlength=len(levels))
        neg = np.bincount(group, weights=w * ~pos_row, minlength=len(levels))
        total = pos.sum() * neg.sum()
        if total <= 0:
            return float("nan")
        below = np.cumsum(neg) - neg
        return float(np.sum(pos * (below + 0.5 * neg)) / total)

    return auc


def rank_auc(positive: np.ndarray, X: np.ndarray) -> np.ndarray:
    """ROC-AUC of every column of ``X`` as a score of the boolean labels ``positive`` (ties count
    one half, as ``sklearn.metrics.roc_auc_score``), from one ranking of all columns: the
    Mann-Whitney U statistic over the number of positive-negative pairs."""
    from scipy.stats import rankdata

    pos = np.asarray(positive, bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if not n_pos or not n_neg or not X.shape[1]:
        return np.full(X.shape[1], np.nan)
    ranks = rankdata(X, axis=0)
    return (ranks[pos].sum(axis=0) - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def weighted_roc_auc(y_true, score, weight) -> float:
    """ROC-AUC with row weights (ties count one half)."""
    return _auc_with_weights(y_true, score)(np.asarray(weight, float))


def _figure_with_weights(kind: str, y, output, classes: Sequence | None = None) -> Callable[[np.ndarray], float]:
    """The Champion metric as a function of row weights: ROC-AUC (binary: positive-class
    score; multiclass: macro one-vs-rest), accuracy (``kind="accuracy"``: ``output`` is the
    predicted label) or, for forecasts, MAPE over the rows ``mape_rows`` keeps."""
    y = np.asarray(y)
    if kind == "accuracy":
        hit = (np.asarray(output) == y).astype(float)
        return lambda w: float(np.sum(w * hit) / w.sum()) if w.sum() else float("nan")
    if kind == "regression":
        keep = mape_rows(y)
        ape = np.abs(y[keep].astype(float) - np.asarray(output, float)[keep]) / np.abs(y[keep].astype(float))
        return lambda w: float(np.sum(w[keep] * ape) / w[keep].sum() * 100.0) if w[keep].sum() else float("nan")
    out = np.asarray(output, float)
    if out.ndim == 1:
        return _auc_with_weights(y, out)
    columns = list(classes) if classes is not None else list(range(out.shape[1]))
    per_class = [_auc_with_weights(y == c, out[:, columns.index(c)]) for c in np.unique(y) if c in columns]

    def macro(w: np.ndarray) -> float:
        aucs = [a for a in (f(w) for f in per_class) if a == a]
        return float(np.mean(aucs)) if aucs else float("nan")

    return macro


def paired_entity_bootstrap(kind: str, y, model_output, baseline_output, entities, *, classes: Sequence | None = None,
                            resamples: int = 200, seed: int = 0) -> tuple[float, float]:
    """(margin, standard error) of a model over a baseline on the same rows, in the better
    direction (AUC or accuracy difference; for forecasts the relative MAPE reduction). The standard error
    comes from resampling whole entities with replacement: rows of one entity are not
    independent, so resampling rows would understate it."""
    codes = pd.factorize(pd.Series(np.asarray(entities)).astype(str))[0]
    n = int(codes.max()) + 1 if len(codes) else 0
    model_figure = _figure_with_weights(kind, y, model_output, classes)
    baseline_figure = _figure_with_weights(kind, y, baseline_output, classes)

    def margin_with(weight) -> float:
        m, b = model_figure(weight), baseline_figure(weight)
        if kind == "regression":
            return 1.0 - m / b if b > 0 else float("nan")
        return m - b

    point = margin_with(np.ones(len(codes)))
    if n < 2:
        return point, float("nan")
    rng = np.random.default_rng(seed)
    draws = [margin_with(np.bincount(rng.integers(0, n, n), minlength=n)[codes]) for _ in range(resamples)]
    draws = [d for d in draws if d == d]
    return point, (float(np.std(draws, ddof=1)) if len(draws) > 1 else float("nan"))
