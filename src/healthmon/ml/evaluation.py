"""Evaluation of every Champion model on the TEST period (never used for training or selection).

- detectors: event-level precision / recall / F1 against ``ground_truth_incidents`` of their
  domain (target F1 >= 0.7);
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
import math
from pathlib import Path

import numpy as np
import pandas as pd

from healthmon.ml.models import MODELS, ModelSpec
from healthmon.ml.models import frames as fr
from healthmon.ml.models import io
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


def _test_rows(spec: ModelSpec, frame: pd.DataFrame, info: dict) -> tuple[np.ndarray, pd.Timestamp, pd.Timestamp]:
    dates = pd.to_datetime(frame[spec.date_key]).dt.normalize()
    test_start = pd.Timestamp(info["split"]["test_start"])
    return (dates >= test_start).to_numpy(), test_start, dates.max()


def evaluate_model(spec: ModelSpec, lh, *, catalog: str, gold_schema: str, feature_schema: str, incidents: pd.DataFrame | None) -> dict:
    registered = spec.registered_name(catalog, feature_schema)
    champ = io.champion_version(registered)
    if champ is None:
        from healthmon.ml.training import last_skip_reason

        reason = last_skip_reason(spec.name)
        why = f"training skipped: {reason}" if reason else "training skipped or not run"
        return {"status": "NO_CHAMPION", "met": False, "note": f"no {io.CHAMPION} version of {registered} ({why})"}
    info = io.model_info(champ.run_id)
    model = io.load_estimator(f"models:/{registered}/{champ.version}")
    base = {"status": "EVALUATED", "version": int(champ.version), "kind": spec.kind}
    if spec.custom:
        return {**base, **_evaluate_tags(spec, lh, model, catalog, gold_schema, feature_schema)}
    table = spec.table(catalog, feature_schema)
    frame = io.read_table(lh, table, what=f"Evaluation of {spec.name}")
    frame = frame[frame[spec.entity_key].notna() & frame[spec.date_key].notna()].reset_index(drop=True)
    test, start, end = _test_rows(spec, frame, info)
    base["test_period"] = f"{start.date()} .. {end.date()}"
    features = info["features"]
    if spec.kind == "anomaly":
        rows = frame.loc[test]
        flagged = model.predict(fr.clean_features(rows, features)) == -1
        flags = pd.DataFrame({"entity": rows.loc[flagged, spec.entity_key].astype(str).to_numpy(),
                              "date": pd.to_datetime(rows.loc[flagged, spec.date_key]).to_numpy()})
        inc = incidents_for(incidents, spec.domain, start, end)
        keywords = DETECTOR_KINDS.get(spec.name, ())
        wanted = inc[inc["kind"].str.lower().map(lambda k: any(w in k for w in keywords))] if keywords else inc
        if wanted.empty:
            wanted = inc
        score = event_scores(flags, inc, recall_incidents=wanted)
        res = {**base, **score.as_dict(), "flagged_rows": int(flagged.sum()), "test_rows": int(len(rows))}
        res["target"] = f"F1 >= {F1_TARGET}"
        res["met"] = bool(score.f1 == score.f1 and score.f1 >= F1_TARGET)
        if score.incidents == 0:
            res["note"] = "no incident of this domain in the test period"
        return res
    labelled = spec.enrich(frame, io.gold_reader(lh, catalog, gold_schema, model=spec.name)) if spec.enrich else frame
    labels = fr.derive_labels(spec, labelled).to_numpy()
    keep = test & ~np.isnan(labels)
    X = fr.clean_features(frame.loc[keep], features)
    y = labels[keep]
    base["test_rows"] = int(keep.sum())
    if keep.sum() == 0:
        return {**base, "met": False, "note": "no labelled row in the test period"}
    if spec.kind == "regression":
        pred = model.predict(X)
        baseline = spec.target.baseline(frame, spec.keys).to_numpy()[keep]
        ok = ~np.isnan(baseline)
        res = {**base, "mae": mae(y, pred), "mape": mape(y, pred),
               "baseline_mae": mae(y[ok], baseline[ok]), "baseline_mape": mape(y[ok], baseline[ok]),
               "mape_same_rows": mape(y[ok], pred[ok]), "baseline_rows": int(ok.sum())}
        if res["baseline_mape"] and res["baseline_mape"] == res["baseline_mape"]:
            res["mape_improvement"] = 1.0 - res["mape_same_rows"] / res["baseline_mape"]
        else:
            res["mape_improvement"] = math.nan
        res["target"] = f"MAPE >= {int(MAPE_IMPROVEMENT_TARGET * 100)} % below seasonal naive"
        res["met"] = bool(res["mape_improvement"] == res["mape_improvement"] and res["mape_improvement"] >= MAPE_IMPROVEMENT_TARGET)
        return res
    y = y.astype(int)
    scores = classifier_scores(y, model.predict_proba(X), list(model.classes_))
    res = {**base, **scores, "target": f"ROC-AUC >= {AUC_TARGET}"}
    res["met"] = bool(scores["roc_auc"] == scores["roc_auc"] and scores["roc_auc"] >= AUC_TARGET)
    if scores["roc_auc"] != scores["roc_auc"]:
        res["note"] = "single class in the test period: AUC undefined"
    return res


def _evaluate_tags(spec, lh, model, catalog, gold_schema, feature_schema) -> dict:
    from healthmon.ml.models import tags

    usage = tags._usage(lh, catalog, gold_schema)
    rows = tags.training_rows(usage, tags._job_names(lh, catalog, gold_schema))
    features = list(spec.features)
    data = tags._with_features(rows, tags._cost_features(lh, spec.table(catalog, feature_schema), features), features)
    test = data[data["job_id"].map(tags.job_period) == "test"]
    test = test[test["tag_value"].astype(str).isin(model.classes_)]
    if test.empty:
        return {"met": False, "note": "no tagged job in the test split", "test_rows": 0}
    inputs = [*features, "job_name"]
    y = test["tag_value"].astype(str).to_numpy()
    scores = classifier_scores(y, model.predict_proba(test[inputs]), list(model.classes_))
    acc = float(np.mean(model.predict(test[inputs]) == y))
    return {**scores, "accuracy": acc, "test_rows": int(len(test)), "test_period": "job_id hash split (20 % of jobs)",
            "target": f"ROC-AUC >= {AUC_TARGET}", "met": bool(scores["roc_auc"] == scores["roc_auc"] and scores["roc_auc"] >= AUC_TARGET)}


def evaluate_all(*, catalog: str, gold_schema: str, feature_schema: str, output: str | Path | None = "EVALUATION.md",
                 models: list[str] | None = None) -> dict:
    from healthmon.lakehouse.registry import configure_mlflow

    configure_mlflow()
    lh = io.lakehouse()
    inc_table = f"{catalog}.{gold_schema}.ground_truth_incidents"
    incidents = lh.read_table(inc_table).to_pandas() if lh.table_exists(inc_table) else None
    results: dict[str, dict] = {}
    for name in models or list(MODELS):
        spec = MODELS[name]
        try:
            results[name] = evaluate_model(spec, lh, catalog=catalog, gold_schema=gold_schema, feature_schema=feature_schema, incidents=incidents)
        except Exception as exc:  # noqa: BLE001 - one broken model must not hide the others
            results[name] = {"status": "ERROR", "met": False, "note": f"{type(exc).__name__}: {exc}"}
    summary = {
        "catalog": catalog, "gold_schema": gold_schema, "feature_schema": feature_schema,
        "evaluated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "incidents_table": inc_table if incidents is not None else None,
        "models": results,
        "evaluated": sum(r["status"] == "EVALUATED" for r in results.values()),
        "met": sum(bool(r.get("met")) for r in results.values()),
    }
    summary["mlflow_run_id"] = _log_mlflow(summary)
    if output:
        Path(output).write_text(render_markdown(summary))
        summary["output"] = str(output)
    return summary


def _log_mlflow(summary: dict) -> str:
    import mlflow

    from healthmon.lakehouse.registry import set_experiment

    set_experiment(EXPERIMENT)
    with mlflow.start_run(run_name=f"evaluation_{dt.datetime.now(dt.timezone.utc):%Y%m%d_%H%M%S}") as run:
        mlflow.set_tags({"project": "databricks_health_monitor", "catalog": summary["catalog"], "feature_schema": summary["feature_schema"]})
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
        return f"{v * 100:.1f} %"
    if count:
        return str(int(v))
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def render_markdown(summary: dict) -> str:
    res = summary["models"]
    lines = [
        "# Model evaluation",
        "",
        f"Written by `healthmon evaluate` at {summary['evaluated_at']} for `{summary['catalog']}.{summary['feature_schema']}` "
        f"(gold `{summary['catalog']}.{summary['gold_schema']}`). Every figure is on the **test period** recorded at training "
        "time (the last 20 % of each feature table's dates, never used for fitting or Champion selection). "
        f"MLflow run: `{summary.get('mlflow_run_id')}`.",
        "",
        f"Targets met: **{summary['met']} of {len(res)}** models ({summary['evaluated']} evaluated).",
        "",
        "## Anomaly detectors (event-level, vs ground_truth_incidents of the domain; target F1 >= 0.7)",
        "",
        "| model | domain | precision | recall | F1 | incidents | detected | flagged events | met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    order = list(MODELS)
    for n in order:
        r, s = res.get(n, {}), MODELS[n]
        if s.kind == "anomaly":
            lines.append(f"| {n} | {s.domain} | {_fmt(r.get('precision'))} | {_fmt(r.get('recall'))} | {_fmt(r.get('f1'))} | "
                         f"{_fmt(r.get('incidents'), count=True)} | {_fmt(r.get('detected_incidents'), count=True)} | "
                         f"{_fmt(r.get('flagged_events'), count=True)} | {_met(r)} |")
    lines += ["", "## Classifiers (future labels on the test period; target ROC-AUC >= 0.8)", "",
              "| model | domain | ROC-AUC | PR-AUC | positive rate | test rows | met |", "|---|---|---|---|---|---|---|"]
    for n in order:
        r, s = res.get(n, {}), MODELS[n]
        if s.kind in ("binary", "multiclass"):
            lines.append(f"| {n} | {s.domain} | {_fmt(r.get('roc_auc'))} | {_fmt(r.get('pr_auc'))} | {_fmt(r.get('positive_rate'))} | "
                         f"{_fmt(r.get('test_rows'), count=True)} | {_met(r)} |")
    lines += ["", "## Forecasters (vs seasonal naive on the same rows; target MAPE >= 15 % lower)", "",
              "| model | domain | MAPE | seasonal-naive MAPE | improvement | MAE | seasonal-naive MAE | test rows | met |",
              "|---|---|---|---|---|---|---|---|---|"]
    for n in order:
        r, s = res.get(n, {}), MODELS[n]
        if s.kind == "regression":
            lines.append(f"| {n} | {s.domain} | {_fmt(r.get('mape_same_rows'))} | {_fmt(r.get('baseline_mape'))} | "
                         f"{_fmt(r.get('mape_improvement'), pct=True)} | {_fmt(r.get('mae'))} | {_fmt(r.get('baseline_mae'))} | "
                         f"{_fmt(r.get('test_rows'), count=True)} | {_met(r)} |")
    notes = [(n, r) for n, r in res.items() if r.get("note") or r.get("status") != "EVALUATED"]
    if notes:
        lines += ["", "## Notes and misses", ""]
        for n, r in notes:
            lines.append(f"- `{n}` ({r.get('status')}): {r.get('note', '')}")
    missed = [n for n, r in res.items() if not r.get("met")]
    if missed:
        lines += ["", "Targets missed (figures above): " + ", ".join(f"`{n}`" for n in missed) + "."]
    lines += ["", "Targets and methods: docs/models.md.", ""]
    return "\n".join(lines)


def _met(r: dict) -> str:
    if r.get("status") != "EVALUATED":
        return r.get("status", "-")
    return "yes" if r.get("met") else "**no**"
