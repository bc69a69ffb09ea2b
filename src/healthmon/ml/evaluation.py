"""Evaluation of every Champion model on the TEST period (never used for training or selection).

- detectors: incident recall, flagged-day precision and their F1 (detection F1) against
  ``ground_truth_incidents`` of their domain;
- classifiers: ROC-AUC and PR-AUC of the future label (target ROC-AUC >= 0.8);
- forecasters: MAPE and MAE against the seasonal-naive baseline on the same rows (target: MAPE
  at least 15 % lower than the baseline's).

The test period is the one recorded by training in the model's run (``healthmon_model.json``),
so evaluation cannot drift into data the model saw. Results go to MLflow (experiment
``/Shared/health_monitor_ml_evaluation``) and to EVALUATION.md; misses are reported with their
figure, nothing is tuned here.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from healthmon.ml import registration
from healthmon.ml.models import MODELS, ModelSpec, baselines as bl, frames as fr, io
from healthmon.ml.models.metrics import classifier_scores, event_scores, mae, mape

F1_TARGET = 0.7
AUC_TARGET = 0.8
MAPE_IMPROVEMENT_TARGET = 0.15
EXPERIMENT = "/Shared/health_monitor_ml_evaluation"

# Column of ground_truth_incidents naming the entity each domain's feature rows are keyed by.
INCIDENT_ENTITY = {
    "cost": "workspace_id",
    "security": "user_name",
    "performance": "warehouse_id",
    "reliability": "job_id",
    "quality": "table_name",
}
# Incident kinds a detector is meant to find (substring match on ``kind``); recall counts only
# those when the data has any, precision accepts any incident of the domain.
DETECTOR_KINDS = {
    "exfiltration_detector": ("exfil", "download", "bulk", "mass_read", "data_access"),
    "privilege_escalation_detector": ("privilege", "escalat", "permission", "grant", "admin"),
}


def target_incidents(model_name: str, incidents: pd.DataFrame) -> pd.DataFrame:
    """The incidents a detector's recall counts: those of its kinds (``DETECTOR_KINDS``), or all
    of its domain's when it names none or none of them are present. Its precision accepts any
    real incident of the domain."""
    keywords = DETECTOR_KINDS.get(model_name, ())
    if not keywords or incidents.empty:
        return incidents
    wanted = incidents[incidents["kind"].astype(str).str.lower().map(lambda k: any(w in k for w in keywords))]
    return wanted if not wanted.empty else incidents


def incidents_for(incidents: pd.DataFrame, domain: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The domain's incidents as (entity, start, end, kind) with inclusive dates, clipped to the
    incidents that overlap [start, end]."""
    if incidents is None or incidents.empty:
        return pd.DataFrame(columns=["entity", "start", "end", "kind"])
    inc = incidents[incidents["domain"].astype(str).str.lower() == domain]
    col = INCIDENT_ENTITY[domain]
    entity = inc[col].astype("string")
    if domain == "quality":
        entity = entity.str.split(".").str[0]
    s = pd.to_datetime(inc["start_time"], utc=True).dt.tz_localize(None)
    e = pd.to_datetime(inc["end_time"], utc=True).dt.tz_localize(None) - pd.Timedelta(microseconds=1)
    out = pd.DataFrame({"entity": entity.to_numpy(), "start": s.dt.normalize().to_numpy(),
                        "end": e.dt.normalize().to_numpy(), "kind": inc["kind"].astype(str).to_numpy()})
    out = out[out["entity"].notna()]
    out["end"] = out[["start", "end"]].max(axis=1)
    return out[(out["end"] >= start) & (out["start"] <= end)].reset_index(drop=True)


# Too few cases make a figure noise: "n/a (k cases)" instead (docs/models.md "Bad input").
MIN_POSITIVES = 10  # classifiers: positives and negatives in the test period
MIN_INCIDENTS = 3  # detectors: incidents overall, and of a kind for its recall
MIN_FORECAST_ROWS = 30

# Primary metric per kind: (name, higher is better).
PRIMARY = {
    "anomaly": ("f1", True),
    "binary": ("roc_auc", True),
    "multiclass": ("roc_auc", True),
    "regression": ("mape", False),
}


def na(cases: int, what: str = "cases") -> str:
    return f"n/a ({cases} {what})"


def _periods(spec: ModelSpec, frame: pd.DataFrame, info: dict) -> np.ndarray:
    """train | validation | test per row, by the split recorded at training time."""
    dates = pd.to_datetime(frame[spec.date_key]).dt.normalize()
    split = info["split"]
    val, test = pd.Timestamp(split["validation_start"]), pd.Timestamp(split["test_start"])
    return np.where(dates >= test, "test", np.where(dates >= val, "validation", "train"))


def champion_algorithm(run_id: str) -> str:
    import mlflow

    try:
        return mlflow.get_run(run_id).data.tags.get("algorithm", "")
    except Exception:  # noqa: BLE001 - a missing tag only loses the label
        return ""


def evaluate_model(
    spec: ModelSpec, lh, *, catalog: str, gold_schema: str, feature_schema: str, incidents: pd.DataFrame | None
) -> dict:
    registered = spec.registered_name(catalog, feature_schema)
    champ = io.champion_version(registered)
    skipped = registration.last_skip_reason(spec.name)
    if champ is None:
        why = f"training skipped: {skipped}" if skipped else "training skipped or not run"
        # The reason first: it is what a reader needs, and summaries cut long notes.
        return {"status": "NO_CHAMPION", "met": False, "na": f"n/a ({why})",
                "note": f"{why}; no {io.CHAMPION} version of {registered}"}
    result = _evaluate_champion(spec, lh, registered, champ, catalog=catalog, gold_schema=gold_schema,
                                feature_schema=feature_schema, incidents=incidents)
    if skipped:  # an earlier Champion still serves; say that the latest training did not replace it
        earlier = f"the latest training was skipped ({skipped}); this is an earlier version"
        result["note"] = "; ".join(n for n in (earlier, result.get("note")) if n)
    return result


def _evaluate_champion(
    spec: ModelSpec, lh, registered: str, champ, *, catalog: str, gold_schema: str, feature_schema: str,
    incidents: pd.DataFrame | None,
) -> dict:
    info = io.model_info(champ.run_id)
    model = io.load_estimator(f"models:/{registered}/{champ.version}")
    metric, higher = PRIMARY[spec.kind]
    base = {
        "status": "EVALUATED",
        "version": int(champ.version),
        "kind": spec.kind,
        "metric": metric,
        "higher_is_better": higher,
        "algorithm": champion_algorithm(champ.run_id) or spec.algorithm,
    }
    if spec.custom:
        return {**base, **_evaluate_tags(spec, lh, model, catalog, gold_schema, feature_schema)}
    table = spec.table(catalog, feature_schema)
    frame = io.read_table(lh, table, what=f"Evaluation of {spec.name}")
    frame = frame[frame[spec.entity_key].notna() & frame[spec.date_key].notna()].reset_index(drop=True)
    periods = _periods(spec, frame, info)
    test = periods == "test"
    dates = pd.to_datetime(frame[spec.date_key]).dt.normalize()
    start, end = dates[test].min(), dates[test].max()
    base["test_period"] = f"{start.date()} .. {end.date()}" if test.any() else "empty"
    features = info["features"]
    if spec.kind == "anomaly":
        return {**base, **_evaluate_detector(spec, model, frame, periods, features, incidents)}
    labelled = spec.enrich(frame, io.gold_reader(lh, catalog, gold_schema, model=spec.name)) if spec.enrich else frame
    labels = fr.derive_labels(spec, labelled).to_numpy(dtype=float)
    ctx = bl.Context(spec, frame, labels, periods, list(features))
    fitted = [b.fit(ctx) for b in spec.baselines]
    keep = test & ~np.isnan(labels)
    base["test_rows"] = int(keep.sum())
    if keep.sum() == 0:
        return {**base, "met": False, "note": "no labelled row in the test period"}
    X = fr.clean_features(frame.loc[keep], features)
    if spec.kind == "regression":
        return {**base, **_evaluate_forecaster(spec, model, frame, labels, keep, X, fitted)}
    return {**base, **_evaluate_classifier(spec, model, frame, labels, keep, X, fitted)}


# --------------------------------------------------------------------------- forecasters
def _evaluate_forecaster(spec, model, frame, labels, keep, X, fitted) -> dict:
    y = labels[keep]
    pred = np.asarray(model.predict(X), float)
    scores = {bl.baseline_label(b): np.asarray(b.score(frame), float)[keep] for b in fitted}
    # Same rows for everyone: those where every baseline has a value.
    same = np.ones(len(y), bool)
    for v in scores.values():
        same &= np.isfinite(v)
    n = int(same.sum())
    res: dict[str, Any] = {"mae": mae(y, pred), "mape_all_rows": mape(y, pred), "rows_compared": n}
    if n < MIN_FORECAST_ROWS:
        return {**res, "met": False, "value": None, "na": na(n, "rows with every baseline")}
    res["mape"] = res["value"] = mape(y[same], pred[same])
    res["baselines"] = {
        name: {"mape": mape(y[same], v[same]), "mae": mae(y[same], v[same])} for name, v in scores.items()
    }
    for r in res["baselines"].values():
        r["value"] = r["mape"]
    return _with_verdict(res, lower_better=True)


# --------------------------------------------------------------------------- classifiers
def within_entity_auc(entities: np.ndarray, y: np.ndarray, score: np.ndarray) -> tuple[float, int]:
    """ROC-AUC over pairs (positive, negative) of the SAME entity: does the score rank an
    entity's bad days above its good ones, beyond knowing which entities are bad? Returns the
    AUC and the number of positives in entities that have both classes."""
    from scipy.stats import rankdata

    num = 0.0
    pairs = 0
    positives = 0
    df = pd.DataFrame({"e": entities, "y": y.astype(int), "s": score})
    for _, g in df.groupby("e", sort=False):
        npos = int(g["y"].sum())
        nneg = len(g) - npos
        if npos == 0 or nneg == 0:
            continue
        r = rankdata(g["s"].to_numpy())
        num += r[g["y"].to_numpy() == 1].sum() - npos * (npos + 1) / 2
        pairs += npos * nneg
        positives += npos
    return (num / pairs if pairs else float("nan")), positives


def _evaluate_classifier(spec, model, frame, labels, keep, X, fitted) -> dict:
    y = labels[keep].astype(int)
    classes = list(model.classes_)
    proba = model.predict_proba(X)
    counts = np.bincount(y, minlength=2) if spec.kind == "binary" else np.bincount(y)
    smallest = int(counts[counts > 0].min()) if (counts > 0).sum() > 1 else 0
    res: dict[str, Any] = {
        "positive_rate": float(np.mean(y == classes[-1])) if spec.kind == "binary" else float("nan"),
        "positives": int((y == classes[-1]).sum()) if spec.kind == "binary" else None,
    }
    if smallest < MIN_POSITIVES:
        what = "positives" if spec.kind == "binary" and counts[-1] <= counts[0] else "cases of the rarest class"
        return {**res, "met": False, "value": None, "na": na(smallest, what)}
    res.update(classifier_scores(y, proba, classes))
    res["value"] = res["roc_auc"]
    entities = frame.loc[keep, spec.entity_key].astype(str).to_numpy()
    if spec.kind == "binary":
        w_auc, w_pos = within_entity_auc(entities, y, np.asarray(proba)[:, -1])
        res["within_entity_auc"] = w_auc if w_pos >= MIN_POSITIVES else None
        if w_pos < MIN_POSITIVES:
            res["within_entity_auc_na"] = na(w_pos, "positives in entities with both classes")
    res["baselines"] = {}
    for b in fitted:
        s = np.asarray(b.score(frame), float)[keep]
        if not np.isfinite(s).any():
            res["baselines"][bl.baseline_label(b)] = {"value": None, "na": "not fitted (no usable validation rows)"}
            continue
        sc: dict[str, Any]
        if spec.kind == "binary":
            s = np.where(np.isfinite(s), s, np.nanmedian(s))
            w_auc, w_pos = within_entity_auc(entities, y, s)
            sc = {**classifier_scores(y, s, [0, 1]), "within_entity_auc": w_auc if w_pos >= MIN_POSITIVES else None}
        else:  # a class per row (the entity's last label): one-hot probabilities
            onehot = np.column_stack([(s == c).astype(float) for c in classes])
            sc = classifier_scores(y, onehot, classes)
        res["baselines"][bl.baseline_label(b)] = {**sc, "value": sc["roc_auc"]}
    return _with_verdict(res, lower_better=False)


# --------------------------------------------------------------------------- detectors
def _entity_weeks(frame, spec, mask) -> float:
    rows = frame.loc[mask]
    if rows.empty:
        return 0.0
    days = (pd.to_datetime(rows[spec.date_key]).max() - pd.to_datetime(rows[spec.date_key]).min()).days + 1
    return rows[spec.entity_key].nunique() * days / 7.0


def _detector_scores(flags_mask, frame, spec, test, incidents_test, wanted) -> tuple[dict, pd.DataFrame]:
    rows = frame.loc[test]
    f = flags_mask[test]
    flags = pd.DataFrame(
        {
            "entity": rows.loc[f, spec.entity_key].astype(str).to_numpy(),
            "date": pd.to_datetime(rows.loc[f, spec.date_key]).to_numpy(),
        }
    )
    score = event_scores(flags, incidents_test, recall_incidents=wanted)
    out = score.as_dict()
    weeks = _entity_weeks(frame, spec, test)
    out["false_events_per_entity_week"] = (
        (score.flagged_events - score.true_flagged_events) / weeks if weeks else float("nan")
    )
    out["flagged_rows"] = int(f.sum())
    return out, flags


def recall_by(flags: pd.DataFrame, incidents: pd.DataFrame, column: str) -> dict[str, dict]:
    """Recall per value of ``column`` (incident kind, magnitude class): 'n/a (k cases)' below
    MIN_INCIDENTS incidents of that value."""
    out: dict[str, dict] = {}
    if incidents.empty or column not in incidents.columns:
        return out
    for value, group in incidents.groupby(column):
        k = len(group)
        s = event_scores(flags, group)
        out[str(value)] = {
            "incidents": k,
            "detected": s.detected_incidents,
            "recall": s.recall if k >= MIN_INCIDENTS else None,
            **({"na": na(k)} if k < MIN_INCIDENTS else {}),
        }
    return out


def _evaluate_detector(spec, model, frame, periods, features, incidents) -> dict:
    test = periods == "test"
    dates = pd.to_datetime(frame[spec.date_key]).dt.normalize()
    res: dict = {"test_rows": int(test.sum())}
    if not test.any():
        return {**res, "met": False, "value": None, "na": "n/a (no test rows)"}
    t0, t1 = dates[test].min(), dates[test].max()
    inc_all = incidents_for(incidents, spec.domain, dates.min(), dates.max())
    inc_test = inc_all[(inc_all["end"] >= t0) & (inc_all["start"] <= t1)].reset_index(drop=True)
    wanted = target_incidents(spec.name, inc_test)
    flagged = np.zeros(len(frame), bool)
    flagged[test] = model.predict(fr.clean_features(frame.loc[test], features)) == -1
    scores, flags = _detector_scores(flagged, frame, spec, test, inc_test, wanted)
    res.update(scores)
    res["recall_by_kind"] = recall_by(flags, inc_test, "kind")
    if "magnitude_class" in inc_test.columns:
        res["recall_by_magnitude"] = recall_by(flags, inc_test, "magnitude_class")
    if len(wanted) < MIN_INCIDENTS:
        res.update(value=None, met=False, na=na(len(wanted), "incidents"))
    else:
        res["value"] = res["f1"]
    # Baselines: fitted on what precedes the test period, flagged by a false-alarm budget on the
    # validation period, scored on the same test rows and incidents.
    before = inc_all[inc_all["start"] < t0].reset_index(drop=True)
    # The single feature is picked on the incidents the detector is judged on.
    ctx = bl.Context(spec, frame, None, periods, list(features), incidents=target_incidents(spec.name, before))
    val = periods == "validation"
    inc_val = before[before["end"] >= dates[val].min()] if val.any() else before.iloc[:0]
    res["baselines"] = {}
    for b in spec.baselines:
        fb = b.fit(ctx)
        name = bl.baseline_label(fb)
        s = np.asarray(fb.score(frame), float)
        if not np.isfinite(s).any():
            res["baselines"][name] = {
                "value": None,
                "na": f"n/a ({len(before)} incidents before the test period to choose on)",
            }
            continue
        for how, thr in detector_thresholds(
            spec, s[val], frame.loc[val, spec.entity_key].astype(str).to_numpy(), dates[val].to_numpy(), inc_val
        ).items():
            bflags = np.nan_to_num(s, nan=-np.inf) >= thr
            sc, _ = _detector_scores(bflags, frame, spec, test, inc_test, wanted)
            res["baselines"][f"{name}@{how}"] = {
                **sc,
                "threshold": thr,
                "value": sc["f1"] if len(wanted) >= MIN_INCIDENTS else None,
            }
    return _with_verdict(res, lower_better=False)


def detector_thresholds(
    spec: ModelSpec, scores: np.ndarray, entities: np.ndarray, dates: np.ndarray, incidents: pd.DataFrame
) -> dict[str, float]:
    """Where a detector baseline flags, both set on the VALIDATION period: ``budget`` = the
    lowest threshold with at most one false event per entity per month; ``model_rate`` = the
    model's own rule: its ``false_events_per_entity_month`` budget with its ``threshold_rule``
    (as in the Champion contest), else the ``threshold_quantile`` of the validation scores
    (rows tied with it flagged)."""
    out = {"budget": bl.budget_threshold(scores, entities, dates, incidents)}
    model_budget = spec.hyperparameters.get("false_events_per_entity_month")
    if model_budget is not None:  # the detector's own false-alarm budget and threshold rule
        out["model_rate"] = bl.budget_threshold(
            scores, entities, dates, incidents, float(model_budget),
            rule=spec.hyperparameters.get("threshold_rule", "lowest"),
            recall_incidents=target_incidents(spec.name, incidents))
        return out
    q = spec.hyperparameters.get("threshold_quantile")
    finite = np.asarray(scores, float)[np.isfinite(scores)]
    if q is not None and len(finite):
        out["model_rate"] = float(np.quantile(finite, float(q), method="lower"))
    return out


# --------------------------------------------------------------------------- verdicts
def strongest(baselines: dict, lower_better: bool) -> tuple[str | None, float | None]:
    figures = [(n, r["value"]) for n, r in baselines.items() if r.get("value") is not None and r["value"] == r["value"]]
    if not figures:
        return None, None
    return (min if lower_better else max)(figures, key=lambda kv: kv[1])


def margin(model: float, baseline: float, lower_better: bool) -> float:
    """How much better the model is: relative error reduction for forecasters (MAPE), the
    difference otherwise (AUC, F1). Positive = the model wins."""
    if lower_better:
        return 1.0 - model / baseline if baseline else float("nan")
    return model - baseline


def _with_verdict(res: dict, *, lower_better: bool) -> dict:
    name, value = strongest(res.get("baselines", {}), lower_better)
    res["best_baseline"], res["best_baseline_value"] = name, value
    if res.get("value") is None or value is None:
        res.setdefault("met", False)
        res["margin"] = None
        return res
    res["margin"] = margin(res["value"], value, lower_better)
    res["met"] = bool(res["margin"] > 0)
    return res


def _evaluate_tags(spec, lh, model, catalog, gold_schema, feature_schema) -> dict:
    """tag_recommender on the test jobs (a job-hash split): accuracy of the recommended tag,
    against the workspace's most frequent tag and the tag of the nearest training job name."""
    from healthmon.ml.models import tags

    usage = tags._usage(lh, catalog, gold_schema)
    rows = tags.training_rows(usage, tags._job_names(lh, catalog, gold_schema))
    features = list(spec.features)
    data = tags._with_features(rows, tags._cost_features(lh, spec.table(catalog, feature_schema), features), features)
    period = data["job_id"].map(tags.job_period)
    test = data[period == "test"]
    test = test[test["tag_value"].astype(str).isin(model.classes_)]
    known = tags.without_test_names(data.assign(period=period))
    known = known[known["period"] != "test"]
    res = {"metric": "accuracy", "test_rows": int(len(test)), "test_period": "job_id hash split (30 % of jobs)"}
    if len(test) < MIN_POSITIVES:
        return {**res, "met": False, "value": None, "na": na(len(test), "tagged test jobs")}
    inputs = [*features, "job_name"]
    y = test["tag_value"].astype(str).to_numpy()
    scores = classifier_scores(y, model.predict_proba(test[inputs]), list(model.classes_))
    acc = float(np.mean(model.predict(test[inputs]) == y))
    res.update(scores, accuracy=acc, value=acc)
    res["baselines"] = {
        name: {"value": float(np.mean(pred == y)), "accuracy": float(np.mean(pred == y))}
        for name, pred in tag_baselines(known, test).items()
    }
    return _with_verdict(res, lower_better=False)


def tag_baselines(known: pd.DataFrame, test: pd.DataFrame) -> dict[str, np.ndarray]:
    """Tag predictions of the simple rules, from the training/validation jobs ``known``:
    the most frequent tag of the job's workspace (overall most frequent where the workspace has
    none) and the tag of the training job whose name is nearest (TF-IDF cosine)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    overall = known["tag_value"].astype(str).value_counts().index[0] if len(known) else ""
    per_ws = known.groupby("workspace_id")["tag_value"].agg(lambda s: s.astype(str).value_counts().index[0])
    frequent = test["workspace_id"].map(per_ws).fillna(overall).astype(str).to_numpy()
    out = {"most_frequent_tag_in_workspace": frequent}
    names = known["job_name"].fillna("").astype(str)
    if len(known) and names.str.strip().any():
        vec = TfidfVectorizer(token_pattern=r"[A-Za-z][A-Za-z0-9]+").fit(names)
        sim = (vec.transform(test["job_name"].fillna("").astype(str)) @ vec.transform(names).T).toarray()
        nearest = known["tag_value"].astype(str).to_numpy()[sim.argmax(axis=1)]
        out["nearest_job_name"] = np.where(sim.max(axis=1) > 0, nearest, frequent)
    return out


def evaluate_all(
    *,
    catalog: str,
    gold_schema: str,
    feature_schema: str,
    output: str | Path | None = "EVALUATION.md",
    models: list[str] | None = None,
) -> dict:
    lh = io.backend()
    lh.configure_tracking()
    inc_table = f"{catalog}.{gold_schema}.ground_truth_incidents"
    incidents = lh.read_table(inc_table) if lh.table_exists(inc_table) else None
    results: dict[str, dict] = {}
    for name in models or list(MODELS):
        spec = MODELS[name]
        try:
            results[name] = evaluate_model(
                spec, lh, catalog=catalog, gold_schema=gold_schema, feature_schema=feature_schema, incidents=incidents
            )
        except Exception as exc:  # noqa: BLE001 - one broken model must not hide the others
            results[name] = {"status": "ERROR", "met": False, "note": f"{type(exc).__name__}: {exc}"}
    summary = {
        "catalog": catalog,
        "gold_schema": gold_schema,
        "feature_schema": feature_schema,
        "evaluated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "incidents_table": inc_table if incidents is not None else None,
        "models": results,
        "evaluated": sum(r["status"] == "EVALUATED" for r in results.values()),
        "met": sum(bool(r.get("met")) for r in results.values()),
    }
    summary["mlflow_run_id"] = _log_mlflow(summary, lh)
    if output:
        Path(output).write_text(render_markdown(summary))
        summary["output"] = str(output)
    return summary


def _log_mlflow(summary: dict, backend) -> str:
    import mlflow

    backend.set_experiment(EXPERIMENT)
    with mlflow.start_run(run_name=f"evaluation_{dt.datetime.now(dt.timezone.utc):%Y%m%d_%H%M%S}") as run:
        mlflow.set_tags(
            {
                "project": registration.PROJECT,
                "catalog": summary["catalog"],
                "feature_schema": summary["feature_schema"],
            }
        )
        metrics = {}
        for name, r in summary["models"].items():
            for k, v in r.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and k != "version":
                    metrics[f"{name}.{k}"] = float(v)
            metrics[f"{name}.target_met"] = float(bool(r.get("met")))
        mlflow.log_metrics(metrics)
        mlflow.log_dict(summary, "evaluation.json")
        return run.info.run_id


def _fmt(v, pct: bool = False, count: bool = False) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "n/a"
    if pct:
        return f"{v * 100:+.1f} %"
    if count:
        return str(int(v))
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def fmt_margin(v, lower_better: bool) -> str:
    """Forecasters' margin is a relative MAPE reduction (a percentage), others a difference."""
    if v is None or v != v:
        return "n/a"
    return f"{v * 100:+.1f} %" if lower_better else f"{v:+.3f}"


def render_markdown(summary: dict) -> str:
    """One account's figures (what ``make demo`` shows): per model its metric, the strongest
    baseline on the same rows and the margin. The multi-seed EVALUATION.md is rendered by
    ``healthmon.ml.evaluation_seeds``."""
    res = summary["models"]
    lines = [
        "# Model evaluation: one account",
        "",
        f"Written by `healthmon evaluate` at {summary['evaluated_at']} "
        f"for `{summary['catalog']}.{summary['feature_schema']}` "
        f"(gold `{summary['catalog']}.{summary['gold_schema']}`). Every figure is on the **test period** recorded "
        "at training time (never used for fitting or Champion selection), next to the strongest simple baseline on "
        "the same rows. One account says little: `healthmon evaluate --seeds 10` (`make eval`) reports the spread "
        "over fresh accounts. "
        f"MLflow run: `{summary.get('mlflow_run_id')}`.",
        "",
        f"Beats its strongest baseline on this account: **{summary['met']} of {len(res)}** models "
        f"({summary['evaluated']} evaluated).",
        "",
        "| model | kind | scorer | metric | figure | best baseline | baseline figure | margin | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n in MODELS:
        if n not in res:
            continue
        r = res[n]
        lower = not r.get("higher_is_better", True)
        figure = r.get("na") if r.get("value") is None and r.get("na") else _fmt(r.get("value"))
        lines.append(
            f"| {n} | {MODELS[n].kind} | {r.get('algorithm', '-')} | {r.get('metric', '-')} | {figure} | "
            f"{r.get('best_baseline') or '-'} | {_fmt(r.get('best_baseline_value'))} | "
            f"{fmt_margin(r.get('margin'), lower)} | {verdict(r)} |"
        )
    det = [(n, r) for n, r in res.items() if MODELS[n].kind == "anomaly" and r.get("status") == "EVALUATED"]
    if det:
        lines += [
            "",
            "## Detectors: events, per-kind recall, false alarms",
            "",
            "| model | precision | recall | F1 | incidents | false events / entity-week | recall by kind |",
            "|---|---|---|---|---|---|---|",
        ]
        for n, r in det:
            kinds = (
                "; ".join(
                    f"{k} {_fmt(v['recall']) if v.get('recall') is not None else v.get('na')}"
                    for k, v in r.get("recall_by_kind", {}).items()
                )
                or "-"
            )
            lines.append(
                f"| {n} | {_fmt(r.get('precision'))} | {_fmt(r.get('recall'))} | {_fmt(r.get('f1'))} | "
                f"{_fmt(r.get('incidents'), count=True)} | {_fmt(r.get('false_events_per_entity_week'))} | {kinds} |"
            )
    notes = [(n, r) for n, r in res.items() if r.get("note") or r.get("status") != "EVALUATED"]
    if notes:
        lines += ["", "## Notes", ""]
        for n, r in notes:
            lines.append(f"- `{n}` ({r.get('status')}): {r.get('note', '')}")
    lines += ["", "Targets and methods: docs/models.md.", ""]
    return "\n".join(lines)


def verdict(r: dict) -> str:
    if r.get("status") != "EVALUATED":
        return r.get("status", "-")
    if r.get("value") is None:
        return r.get("na") or "n/a"
    if r.get("margin") is None:
        return "n/a (no baseline figure)"
    shipped = str(r.get("algorithm", "")).startswith("baseline:")
    if shipped:
        return "ships baseline"
    return "beats baseline" if r.get("met") else "**below baseline**"
