"""Shared training flow for the 25 models (``train_model`` is what every training notebook calls).

Flow: read the feature table -> select features (spec) -> derive the future label (spec) ->
time split (train / validation / test by date, purged) -> training set through the feature
store (``FeatureLookup`` + ``create_training_set``) -> NaN/inf -> 0 -> fit the real algorithm ->
log params, metrics and the model with its feature spec (``healthmon.ml.registration``), registered as
``<catalog>.<feature_schema>.<model>`` -> move alias ``Champion`` only when the new version is
not worse than the current Champion on the validation period.

Unusable data (no rows, too few rows, a single class) ends in ``{"status": "SKIPPED", "reason"}``.
Anything else that goes wrong raises a ``HealthmonError`` naming the model, the table and the cause.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from healthmon.errors import HealthmonError
from healthmon.ml import registration
from healthmon.ml.backend import MLBackend
from healthmon.ml.models import MODELS, ModelSpec, frames as fr, get_spec, io, tags
from healthmon.ml.models.metrics import classifier_scores, mae, mape
from healthmon.ml.models.spec import FEATURE_TABLE_TRAINER, NotEnoughData, Skip
from healthmon.ml.registration import last_skip_reason, not_worse

__all__ = [
    "TRAINERS", "NotEnoughData", "Skip", "last_skip_reason", "not_worse", "prepare", "require_enough_data",
    "train_all", "train_model",
]


def train_model(model_name: str, *, catalog: str, gold_schema: str, feature_schema: str) -> dict:
    spec = get_spec(model_name)
    table = spec.table(catalog, feature_schema)
    try:
        backend = io.backend()
        backend.configure_tracking()
        if not backend.table_exists(table):
            from healthmon.ml.features.pipeline import why_not_built

            why = why_not_built(backend.sql_lakehouse, spec.feature_table, catalog, gold_schema)
            if why:  # no data for it (e.g. an import without information_schema); else: not built yet
                raise Skip(f"feature table {table} was not built: {why}")
        return trainer_of(spec)(spec, backend, catalog=catalog, gold_schema=gold_schema, feature_schema=feature_schema)
    except Skip as skip:
        counts = skip_counts(skip)
        registration.record_skip(spec, backend=backend, training_data=table, reason=str(skip),
                                 counts={f"skip_data_{k}": str(v) for k, v in counts.items()})
        out = {"status": "SKIPPED", "model_name": spec.name, "feature_table": table, "reason": str(skip)}
        return {**out, "not_enough_data": counts} if counts else out
    except HealthmonError as exc:
        if spec.name in exc.message:
            raise
        raise HealthmonError(
            f"Training {spec.name} (feature table {table}) failed: {exc.message}", hint=exc.hint
        ) from exc
    except Exception as exc:
        raise HealthmonError(
            f"Training {spec.name} (feature table {table}) failed: {type(exc).__name__}: {exc}"
        ) from exc


def skip_counts(skip: Skip) -> dict[str, object]:
    """What a ``NotEnoughData`` skip counted ({what, have, need}); empty for any other skip."""
    if isinstance(skip, NotEnoughData):
        return {"what": skip.what, "have": skip.have, "need": skip.need}
    return {}


def trainer_of(spec: ModelSpec) -> Callable[..., dict]:
    """The training strategy ``spec.trainer`` names (``TRAINERS``)."""
    try:
        return TRAINERS[spec.trainer]
    except KeyError:
        raise HealthmonError(
            f"Model {spec.name}: trainer={spec.trainer!r}, expected one of {', '.join(TRAINERS)}."
        ) from None


# --------------------------------------------------------------------------- data preparation
def prepare(spec: ModelSpec, frame: pd.DataFrame, table: str, read_gold=None) -> dict[str, Any]:
    """Features, labels and periods for ``spec`` from its feature table (pure; no I/O except
    ``read_gold`` for gold-enriched labels). Raises ``Skip`` for unusable data."""
    if frame.empty:
        raise Skip(f"feature table {table} has no rows")
    missing_keys = [k for k in spec.keys if k not in frame.columns]
    if missing_keys:
        raise HealthmonError(f"Model {spec.name}: table {table} lacks key column(s) {', '.join(missing_keys)}.")
    features = spec.select_features(list(frame.columns), fr.numeric_columns(frame))
    missing = [f for f in dict.fromkeys([*features, *spec.required_columns]) if f not in frame.columns]
    if missing:
        raise HealthmonError(f"Model {spec.name}: table {table} lacks feature column(s) {', '.join(missing)}.")
    if not features:
        raise HealthmonError(f"Model {spec.name}: table {table} has no numeric feature column.")
    frame = frame[frame[spec.entity_key].notna() & frame[spec.date_key].notna()].reset_index(drop=True)
    split = fr.split_for(spec, frame)
    labelled = frame
    if spec.enrich is not None:
        labelled = spec.enrich(frame, read_gold)
    baseline = None
    if spec.target is not None:
        labels = fr.derive_labels(spec, labelled)
        keep = labels.notna().to_numpy()
        rows = frame.loc[keep].reset_index(drop=True)
        y = labels[keep].to_numpy()
        if spec.kind == "regression" and spec.target.baseline is not None:
            baseline = spec.target.baseline(frame, spec.keys)[keep].to_numpy()
    else:
        rows, y = frame, None
    periods = split.period(rows[spec.date_key]).to_numpy()
    counts = {p: int((periods == p).sum()) for p in ("train", "validation", "test")}
    train = periods == "train"
    inputs = list(spec.required_columns) or features
    require_enough_data(spec, table, split, counts, None if y is None else y[train], rows.loc[train, inputs])
    return {
        "features": features,
        "rows": rows,
        "y": y,
        "periods": periods,
        "split": split,
        "counts": counts,
        "baseline": baseline,
    }


# A false-alarm budget is a count of false events per entity per 30 days (docs/models.md, "The
# seven detectors"): the validation period sets the threshold, and it must hold at least one
# budgeted event, or the threshold search may spend a whole event on flagging every day.
BUDGET_DAYS = 30


def _label_text(label) -> str:
    """A label as a reader writes it: ``1`` for a float 1.0, a class name as it is."""
    return f"{label:g}" if isinstance(label, (int, float, np.number)) else str(label)


def require_enough_data(
    spec: ModelSpec, table: str, split, counts: dict[str, int], train_labels, train_inputs: pd.DataFrame
) -> None:
    """Every "is there enough data to train ``spec``?" rule, in one place; raises
    ``NotEnoughData`` (a ``Skip``) naming the count, the table and what the model needs.

    - ``spec.min_train_rows`` labelled rows in the training period;
    - a finite value in at least one of its inputs there (``train_inputs``: the columns its
      estimator reads by name, else its features): inputs that are all null are cleaned to 0, and
      a detector on constant inputs trains "successfully" and can never flag;
    - both classes (classifiers) among the training labels;
    - a labelled row in the validation period (it chooses the Champion);
    - budgeted detectors: validation entity-days (rows) enough for one false event at their
      budget, ``BUDGET_DAYS / false_events_per_entity_month``. With fewer, the budget rounds up
      to one event, and one event may be a run that covers every validation day of an entity: on
      a one-workspace, 21-day account the drift detector then flagged every row."""
    before = f"{table} before {split.validation_start.date()}"
    if counts["train"] < spec.min_train_rows:
        scope = spec.target.row_filter if spec.target is not None and spec.target.row_filter else ""
        raise NotEnoughData("labelled training rows", counts["train"], spec.min_train_rows, where=before,
                            why=f"labels exist only for {scope}" if scope else "")
    values = train_inputs.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(values).any():
        shown = ", ".join(train_inputs.columns[:4]) + (", ..." if len(train_inputs.columns) > 4 else "")
        raise NotEnoughData(f"finite values in its {len(train_inputs.columns)} input columns ({shown})", 0, 1,
                            where=f"the training period of {before}", why="every input is null")
    if train_labels is not None and spec.target is not None and spec.kind in ("binary", "multiclass"):
        classes = np.unique(train_labels)
        if len(classes) < 2:
            what = f"class (a single class, {_label_text(classes[0])}) of label {spec.target.name}"
            raise NotEnoughData(what, len(classes), 2, where=f"the training period of {before}")
    if counts["validation"] == 0:
        raise NotEnoughData("labelled rows", 0, 1, where=f"the validation period of {table} "
                            f"({split.validation_start.date()} .. {split.test_start.date()})")
    if is_budgeted_detector(spec):
        budget = float(spec.hyperparameters["false_events_per_entity_month"])
        need = math.ceil(BUDGET_DAYS / budget)
        if counts["validation"] < need:
            raise NotEnoughData(
                f"{spec.entity_key}-days", counts["validation"], need,
                where=f"the validation period of {table} ({split.validation_start.date()} .. "
                f"{split.test_start.date()})",
                why=f"its false-alarm budget of {budget:g} per {spec.entity_key} per {BUDGET_DAYS} days "
                "needs at least one event's worth",
            )


def matrix(rows: pd.DataFrame, features: list[str]) -> np.ndarray:
    return fr.clean_features(rows, features)


# --------------------------------------------------------------------------- metrics
def period_metrics(
    spec: ModelSpec, model, X: np.ndarray, y, rows: pd.DataFrame | None = None, baseline=None
) -> dict[str, float]:
    if len(X) == 0:
        return {}
    if spec.kind == "anomaly":
        pred = model.predict(X)
        return {"anomaly_rate": float(np.mean(pred == -1)), "rows": float(len(X))}
    if spec.kind == "regression":
        pred = model.predict(X)
        out = {"mae": mae(y, pred), "mape": mape(y, pred), "rows": float(len(X))}
        if baseline is not None:
            ok = ~np.isnan(baseline)
            out["baseline_mae"] = mae(np.asarray(y)[ok], baseline[ok])
            out["baseline_mape"] = mape(np.asarray(y)[ok], baseline[ok])
            out["model_mape_same_rows"] = mape(np.asarray(y)[ok], pred[ok])
        return out
    proba = model.predict_proba(X)
    scores = classifier_scores(y, proba, list(model.classes_))
    scores["accuracy"] = float(np.mean(model.predict(X) == y))
    scores["rows"] = float(len(X))
    return scores


def _calibrate_detector(
    spec: ModelSpec, model, rows: pd.DataFrame, periods: np.ndarray, features: list[str]
) -> float | None:
    """Detectors with a ``threshold_quantile`` flag what scores above that quantile of the
    VALIDATION period's scores (no labels involved; the test period plays no part)."""
    quantile = spec.hyperparameters.get("threshold_quantile")
    if spec.kind != "anomaly" or quantile is None:
        return None
    from healthmon.ml.models.estimators import calibrate_threshold

    return calibrate_threshold(model, matrix(rows.loc[periods == "validation"], features), float(quantile))


def selection_metric(spec: ModelSpec, metrics: dict[str, float]) -> tuple[str, float, bool]:
    """(name, value, higher_is_better) used to decide the Champion on the validation period."""
    if is_budgeted_detector(spec):
        # Its threshold was set on this very validation period by the false-alarm budget, and
        # choose_detector already compared it with its baselines there: the newest version wins.
        return "threshold_set_by_budget", math.nan, False
    if spec.kind == "anomaly":
        # Without labels, a detector version is judged by whether it flags the intended share of
        # the validation period. Any rate within +-50 % of that share counts as on target (error
        # 0): ties in discrete scores make an exact share unreachable, and the newest version,
        # calibrated on this very period, must not lose to an older design over such noise.
        quantile = spec.hyperparameters.get("threshold_quantile")
        expected = 1.0 - quantile if quantile is not None else spec.hyperparameters.get("contamination", 0.05)
        error = abs(metrics.get("anomaly_rate", math.nan) - expected) - 0.5 * expected
        return "anomaly_rate_error", (max(0.0, error) if error == error else error), False
    if spec.kind == "regression":
        return "mae", metrics.get("mae", math.nan), False
    auc = metrics.get("roc_auc", math.nan)
    if auc == auc:
        return "roc_auc", auc, True
    return "accuracy", metrics.get("accuracy", math.nan), True


# --------------------------------------------------------------------------- the flow
def train_on_feature_table(
    spec: ModelSpec, backend: MLBackend, *, catalog: str, gold_schema: str, feature_schema: str
) -> dict:
    """The ``feature_table`` trainer: the spec's rows, features and future labels from its
    feature table, a purged time split, a feature-store training set."""
    table = spec.table(catalog, feature_schema)
    frame = io.read_table(backend, table, what=f"Model {spec.name}")
    # A Delta snapshot's row order depends on its file layout (an overwrite can reorder rows);
    # sorting by the primary key makes subsampling, and so every trained model, reproducible.
    keys = [k for k in spec.keys if k in frame.columns]
    frame = frame.sort_values(keys, kind="stable").reset_index(drop=True) if keys else frame
    data = prepare(spec, frame, table, io.gold_reader(backend, catalog, gold_schema, model=spec.name))
    features, rows, y, periods, split = data["features"], data["rows"], data["y"], data["periods"], data["split"]

    train_mask = periods == "train"
    if train_mask.sum() > spec.max_train_rows:
        keep = np.random.default_rng(42).choice(np.flatnonzero(train_mask), spec.max_train_rows, replace=False)
        train_mask = np.zeros(len(periods), dtype=bool)
        train_mask[keep] = True
    base = rows.loc[train_mask, list(spec.keys)].reset_index(drop=True)
    label_name = None
    if y is not None:
        label_name = fr.LABEL
        base[fr.LABEL] = (
            y[train_mask].astype(int) if spec.kind in ("binary", "multiclass") else y[train_mask].astype(float)
        )
    lookup = backend.feature_lookup(table, list(spec.keys), features)
    training_set = backend.create_training_set(base, [lookup], label_name, list(spec.keys))
    train_df = backend.load_training_frame(training_set)
    X_train = matrix(train_df, features)
    y_train = None if label_name is None else train_df[label_name].to_numpy()
    if y_train is not None and spec.kind in ("binary", "multiclass"):
        y_train = y_train.astype(int)

    model = spec.build(features)
    model.fit(X_train, y_train) if y_train is not None else model.fit(X_train)
    threshold = _calibrate_detector(spec, model, rows, periods, features)
    if is_budgeted_detector(spec):
        incidents = known_incidents(spec, backend, catalog, gold_schema, rows, split)
        model, algorithm, contest = choose_detector(spec, model, rows, periods, features, X_train, incidents)
        threshold = float(model.threshold_)
    else:
        model, algorithm, contest = choose_scorer(spec, model, rows, y, periods, features, X_train)

    baseline = data["baseline"]
    metrics: dict[str, float] = {}
    for period in ("train", "validation", "test"):
        mask = periods == period
        X = matrix(rows.loc[mask], features)
        yy = None if y is None else (y[mask].astype(int) if spec.kind in ("binary", "multiclass") else y[mask])
        for k, v in period_metrics(spec, model, X, yy, baseline=None if baseline is None else baseline[mask]).items():
            metrics[f"{period}_{k}"] = v
    sel_name, sel_value, higher = selection_metric(
        spec, {k.removeprefix("validation_"): v for k, v in metrics.items() if k.startswith("validation_")}
    )
    metrics[f"selection_{sel_name}"] = sel_value
    if threshold is not None:
        metrics["anomaly_score_threshold"] = threshold
    metrics.update(contest)

    registered = spec.registered_name(catalog, feature_schema)
    info = {
        "model_name": spec.name,
        "kind": spec.kind,
        "algorithm": algorithm,
        "feature_table": table,
        "keys": list(spec.keys),
        "features": features,
        "split": split.as_dict(),
        "target": spec.target.name if spec.target else None,
        "target_description": spec.target.description if spec.target else "no label: unsupervised detector",
        "classes": [int(c) for c in getattr(model, "classes_", [])] if spec.kind in ("binary", "multiclass") else [],
        "selection_metric": sel_name,
        "selection_higher_is_better": higher,
    }
    params = {
        k: v for k, v in model.get_params(deep=True).items() if isinstance(v, (int, float, str, bool)) or v is None
    }
    params = {k: v for k, v in list(params.items())[:90]}
    params.update(
        {
            "feature_table": table,
            "features_count": len(features),
            "split_validation_start": info["split"]["validation_start"],
            "split_test_start": info["split"]["test_start"],
            "purge_gap_days": split.gap_days,
        }
    )
    run_id, version = registration.log_and_register(
        spec,
        backend=backend,
        registered_name=registered,
        algorithm=algorithm,
        tags=registration.run_tags(
            spec,
            training_data=table,
            algorithm=algorithm,
            feature_engineering="unity_catalog",
            target=info["target"] or "none",
        ),
        params=params,
        metrics={**metrics, **{f"{p}_samples": float(c) for p, c in data["counts"].items()}},
        info=info,
        model=model,
        training_set=training_set,
    )

    def score_champion(champion, recorded: dict) -> float:
        mask = periods == "validation"
        X = matrix(rows.loc[mask], recorded["features"])
        yy = None if y is None else (y[mask].astype(int) if spec.kind in ("binary", "multiclass") else y[mask])
        return selection_metric(spec, period_metrics(spec, champion, X, yy))[1]

    promoted, reason = registration.promote_if_not_worse(
        registered, version, metric=sel_name, value=sel_value, higher_is_better=higher, score_champion=score_champion
    )
    return {
        "status": "SUCCESS",
        "model_name": spec.name,
        "registered_as": registered,
        "version": version,
        "run_id": run_id,
        "champion": promoted,
        "champion_reason": reason,
        "feature_table": table,
        "algorithm": algorithm,
        "features_count": len(features),
        "rows": data["counts"],
        "split": info["split"],
        "target": info["target"],
        "metrics": {k: round(v, 6) for k, v in metrics.items() if v == v},
    }


def _scorer_output(spec: ModelSpec, scorer, X: np.ndarray) -> np.ndarray:
    """What the Champion metric reads: forecasts, the positive class's probability, or every
    class's probability."""
    if spec.kind == "regression":
        return np.asarray(scorer.predict(X), float)
    proba = np.asarray(scorer.predict_proba(X), float)
    return proba[:, -1] if spec.kind == "binary" else proba


# The rules' longer record: the validation period plus this many last weeks of the training
# period (a quarter). A validation period of a few weeks is too short to tell close rules apart,
# and the whole record is not right either: a rule that reads the entity's own label history is
# weak early in training, where that history is short.
RECENT_TRAINING_WEEKS = 13


def choose_scorer(spec: ModelSpec, model, rows: pd.DataFrame, y, periods: np.ndarray, features: list[str], X_train):
    """The ML model or one of its servable baselines, decided before the test period (which
    plays no part), as two questions, each asked of the record that can answer it:

    1. Does the ML model clearly beat every servable rule? It is judged on the VALIDATION
       period only (it was fitted on the training period), against the baseline with the best
       validation figure (ROC-AUC; MAPE for forecasters, the evaluation's metric): it ships when
       its paired margin there exceeds one entity-bootstrap standard error
       (``metrics.clearly_better``).
    2. If not, which rule ships? The servable baseline with the best figure on the recent
       record — the validation period plus the last ``RECENT_TRAINING_WEEKS`` weeks of training
       (``recent_record``): the rules were fitted on nothing there, and between close rules a
       few weeks of validation alone is noise.

    A baseline that ships is wrapped as a ``BaselineEstimator`` over the same features under the
    algorithm tag ``baseline:<name>``, so it is registered, served and evaluated like any model.
    Returns (scorer, algorithm tag, the candidates' figures and the decisive margin)."""
    from healthmon.ml.models import baselines as bl
    from healthmon.ml.models.baseline_estimator import BaselineEstimator
    from healthmon.ml.models.metrics import clearly_better, paired_entity_bootstrap

    if spec.kind == "anomaly" or y is None or not spec.baselines:
        return model, spec.algorithm, {}
    val = periods == "validation"
    recent = recent_record(rows[spec.date_key], periods) & ~pd.isna(np.asarray(y, float))
    classes = tuple(getattr(model, "classes_", (0, 1)))
    forecast = spec.kind == "regression"

    def labels(mask: np.ndarray):
        return y[mask].astype(int) if spec.kind in ("binary", "multiclass") else y[mask]

    X_val, y_val = matrix(rows.loc[val], features), labels(val)
    X_recent, y_recent = matrix(rows.loc[recent], features), labels(recent)
    metric = "mape" if forecast else selection_metric(spec, period_metrics(spec, model, X_val, y_val))[0]

    def figure(est, X, yy) -> float:
        scores = period_metrics(spec, est, X, yy)
        return scores.get("mape", math.nan) if forecast else selection_metric(spec, scores)[1]

    contest = {f"candidate_ml_validation_{metric}": figure(model, X_val, y_val)}
    rules = []  # (validation figure, recent-record figure, estimator, algorithm tag)
    ctx = bl.Context(spec, rows, np.asarray(y, float), periods, features)
    for baseline in bl.servable([b.fit(ctx) for b in spec.baselines], features):
        est = BaselineEstimator(baseline, features, spec.kind, classes).fit(X_train)
        label = bl.baseline_label(baseline).replace(":", "_")
        on_val = contest[f"candidate_{label}_validation_{metric}"] = figure(est, X_val, y_val)
        on_recent = contest[f"candidate_{label}_recent_{metric}"] = figure(est, X_recent, y_recent)
        if on_val == on_val:
            rules.append((on_val, on_recent, est, f"baseline:{bl.baseline_label(baseline)}"))
    if not rules:
        return model, spec.algorithm, contest
    best = min if forecast else max
    judge = best(rules, key=lambda r: r[0])
    edge, se = paired_entity_bootstrap(
        spec.kind, y_val, _scorer_output(spec, model, X_val), _scorer_output(spec, judge[2], X_val),
        rows.loc[val, spec.entity_key].to_numpy(), classes=classes,
    )
    contest["selection_ml_margin_over_baseline"] = edge
    contest["selection_ml_margin_standard_error"] = se
    if clearly_better(edge, se):
        return model, spec.algorithm, contest
    on_record = [r for r in rules if r[1] == r[1]]
    shipped = best(on_record, key=lambda r: r[1]) if on_record else judge
    return shipped[2], shipped[3], contest


def recent_record(dates: pd.Series, periods: np.ndarray, weeks: int = RECENT_TRAINING_WEEKS) -> np.ndarray:
    """Rows of the validation period and of the last ``weeks`` weeks of the training period."""
    day = pd.to_datetime(dates).dt.normalize().to_numpy()
    train, val = periods == "train", periods == "validation"
    if not train.any():
        return val
    return val | (train & (day > day[train].max() - np.timedelta64(7 * weeks, "D")))


# --------------------------------------------------------------------------- detectors
def is_budgeted_detector(spec: ModelSpec) -> bool:
    """A detector whose flags are set by a false-alarm budget on the validation period."""
    return spec.kind == "anomaly" and spec.hyperparameters.get("false_events_per_entity_month") is not None


def known_incidents(
    spec: ModelSpec, backend: MLBackend, catalog: str, gold_schema: str, rows: pd.DataFrame, split
) -> pd.DataFrame:
    """The domain's labelled incidents that START before the test period (entity, start, end,
    kind), when the account has a ground truth (a synthetic one does; a real one does not, and
    then every validation flag counts against the budget)."""
    from healthmon.ml.evaluation import incidents_for

    table = f"{catalog}.{gold_schema}.ground_truth_incidents"
    raw = backend.read_table(table) if backend.table_exists(table) else None
    dates = pd.to_datetime(rows[spec.date_key]).dt.normalize()
    inc = incidents_for(raw, spec.domain, dates.min(), dates.max())
    return inc[inc["start"] < split.test_start].reset_index(drop=True)


def _budget_flags(spec: ModelSpec, scores: np.ndarray, rows: pd.DataFrame, mask: np.ndarray, incidents: pd.DataFrame):
    """(threshold by the spec's false-alarm budget and threshold rule on the ``mask`` rows,
    validation event score). The detector and its baselines all go through here, so they get
    the same rule."""
    from healthmon.ml.evaluation import target_incidents
    from healthmon.ml.models import baselines as bl
    from healthmon.ml.models.metrics import event_scores

    entities = rows.loc[mask, spec.entity_key].astype(str).to_numpy()
    dates = pd.to_datetime(rows.loc[mask, spec.date_key]).dt.normalize().to_numpy()
    budget = float(spec.hyperparameters["false_events_per_entity_month"])
    # Judged as the evaluation judges it: recall over the detector's own incident kinds.
    wanted = target_incidents(spec.name, incidents)
    s = np.nan_to_num(np.asarray(scores, float)[mask], nan=-np.inf)
    threshold = bl.budget_threshold(s, entities, dates, incidents, budget,
                                    rule=spec.hyperparameters.get("threshold_rule", "lowest"), recall_incidents=wanted)
    flagged = s >= threshold
    flags = pd.DataFrame({"entity": entities[flagged], "date": dates[flagged]})
    return threshold, event_scores(flags, incidents, recall_incidents=wanted)


# A baseline may replace a detector only when the validation period holds at least this many
# incidents: with fewer, detection F1 moves by a whole incident at a time and the contest is noise
# (a single feature that caught the one validation incident can score nothing on the next month).
MIN_CONTEST_INCIDENTS = 5


def choose_detector(
    spec: ModelSpec,
    model,
    rows: pd.DataFrame,
    periods: np.ndarray,
    features: list[str],
    X_train,
    incidents: pd.DataFrame,
):
    """The detectors' side of ``choose_scorer``: the detector and each servable baseline get a
    threshold from the false-alarm budget on the VALIDATION period (incidents there do not count
    as false events), and the one with the best validation detection F1 is shipped (a baseline only
    when strictly better; with fewer than ``MIN_CONTEST_INCIDENTS`` validation incidents the
    detector stays). Baselines that learn
    (the best single feature) learn on the training period only."""
    from healthmon.ml.models import baselines as bl
    from healthmon.ml.models.baseline_estimator import BaselineEstimator

    val = periods == "validation"
    dates = pd.to_datetime(rows[spec.date_key]).dt.normalize()
    inc_val = incidents[incidents["end"] >= dates[val].min()] if val.any() else incidents.iloc[:0]
    X_all = matrix(rows, features)
    learn = getattr(model, "learn_combination", None)
    if callable(learn):  # how much each signal counts, from the training period's incidents
        train = periods == "train"
        learn(X_all[train], bl.incident_rows(rows, spec, incidents)[train])
    threshold, score = _budget_flags(spec, -model.score_samples(X_all), rows, val, inc_val)
    model.set_threshold(threshold)
    f1 = score.f1 if score.incidents else math.nan
    contest = {"candidate_ml_validation_f1": f1, "candidate_ml_threshold": threshold}
    best = (f1, model, spec.algorithm)
    from healthmon.ml.evaluation import target_incidents

    if len(target_incidents(spec.name, inc_val)) < MIN_CONTEST_INCIDENTS or not spec.baselines:
        return model, spec.algorithm, contest
    # The single feature is picked on the training period's incidents, so the validation period
    # judges it out of sample as it judges the detector: picked on the few validation incidents
    # themselves it would win the contest by hindsight.
    ctx = bl.Context(spec, rows, None, periods, features, incidents=target_incidents(spec.name, incidents),
                     incident_periods=("train",))
    for baseline in bl.servable([b.fit(ctx) for b in spec.baselines], features):
        est = BaselineEstimator(baseline, features, "anomaly").fit(X_train)
        b_threshold, b_score = _budget_flags(spec, -est.score_samples(X_all), rows, val, inc_val)
        est.set_threshold(b_threshold)
        label = bl.baseline_label(baseline)
        contest[f"candidate_{label.replace(':', '_')}_validation_f1"] = b_score.f1
        if b_score.f1 == b_score.f1 and (best[0] != best[0] or b_score.f1 > best[0]):
            best = (b_score.f1, est, f"baseline:{label}")
    return best[1], best[2], contest


# Training strategies by the name a spec gives in ``ModelSpec.trainer``; each takes
# (spec, backend, catalog=, gold_schema=, feature_schema=), returns the training result and
# raises ``Skip`` for unusable data.
TRAINERS: dict[str, Callable[..., dict]] = {
    FEATURE_TABLE_TRAINER: train_on_feature_table,
    "job_tags": tags.train,
}


def train_all(
    *, catalog: str, gold_schema: str, feature_schema: str, models: list[str] | None = None
) -> dict[str, dict]:
    """Train several models in this process (tests, benchmarks); jobs run one task per model."""
    out = {}
    for name in models or list(MODELS):
        try:
            out[name] = train_model(name, catalog=catalog, gold_schema=gold_schema, feature_schema=feature_schema)
        except HealthmonError as exc:
            out[name] = {"status": "FAILED", "model_name": name, "error": str(exc)}
    return out
