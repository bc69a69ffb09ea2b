"""Batch inference for every Champion model (the ``batch_inference_all_models`` task).

Each model is scored through the feature store with keys only (``fe.score_batch`` looks the
features up); ``tag_recommender`` follows its own path (untagged jobs, TF-IDF on names). One
predictions table per model, ``<catalog>.<feature_schema>.<prediction_table>``:

    <keys>, prediction, [anomaly_score, is_anomaly, evidence_metric, expected_value, observed_value
    | probability], model_name, model_version, run_id, scored_at (TIMESTAMP, UTC), scored_date (DATE)

Detectors' evidence: ``evidence_metric`` = the signal whose calibrated tail probability was the
smallest (for a shipped single-feature baseline: its column), ``expected_value`` = the entity's
expected value at d (NaN for a shipped baseline), ``observed_value`` = the day's value.

Re-running on the same day replaces that day's rows in ONE Delta commit (an overwrite with a
``scored_date = <today>`` predicate, i.e. Spark's replaceWhere); earlier days stay (history).
Rows scored: the last ``lookback_days`` days of each feature table (default 90), so history does
not grow with the square of the table.
"""

from __future__ import annotations

import datetime as dt
import traceback

import pandas as pd

from healthmon.errors import HealthmonError
from healthmon.ml import registration
from healthmon.ml.backend import MLBackend
from healthmon.ml.models import MODELS, ModelSpec, io
from healthmon.ml.models.calibrated import evidence_frame
from healthmon.ml.models.estimators import anomaly_scores
from healthmon.ml.models.frames import clean_features

LOOKBACK_DAYS = 90
META_COLUMNS = ("model_name", "model_version", "run_id", "scored_at", "scored_date")
EVIDENCE_COLUMNS = ("evidence_metric", "expected_value", "observed_value")


def batch_inference_all_models(
    *, catalog: str, gold_schema: str, feature_schema: str, models: list[str] | None = None,
    lookback_days: int = LOOKBACK_DAYS, now: dt.datetime | None = None,
) -> dict:
    backend = io.backend()
    backend.configure_tracking()
    now = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    results: dict[str, dict] = {}
    for name in models or list(MODELS):
        spec = MODELS[name]
        try:
            results[name] = score_model(
                spec,
                backend,
                catalog=catalog,
                gold_schema=gold_schema,
                feature_schema=feature_schema,
                lookback_days=lookback_days,
                now=now,
            )
        except Exception as exc:  # noqa: BLE001 - every model is attempted; failures raise below
            results[name] = {
                "status": "FAILED",
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=5),
            }
    summary = {
        "status": "SUCCESS",
        "total_models": len(results),
        "successful": sum(r["status"] == "SUCCESS" for r in results.values()),
        "failed": sum(r["status"] == "FAILED" for r in results.values()),
        "not_found": sum(r["status"] == "NOT_FOUND" for r in results.values()),
        "skipped": sum(r["status"] == "SKIPPED" for r in results.values()),
        "total_records": sum(r.get("records", 0) for r in results.values()),
        "failed_models": [n for n, r in results.items() if r["status"] == "FAILED"],
        "not_found_models": [n for n, r in results.items() if r["status"] == "NOT_FOUND"],
        "scored_date": now.date().isoformat(),
        "models": {n: {k: v for k, v in r.items() if k != "traceback"} for n, r in results.items()},
    }
    if summary["failed"]:
        summary["status"] = "FAILED"
        details = "; ".join(
            f"{n} ({MODELS[n].output_table(catalog, feature_schema)}): {results[n]['error']}"
            for n in summary["failed_models"]
        )
        raise HealthmonError(f"Batch inference failed for {summary['failed']} of {len(results)} models: {details}")
    return summary


def score_model(
    spec: ModelSpec,
    backend: MLBackend,
    *,
    catalog: str,
    gold_schema: str,
    feature_schema: str,
    lookback_days: int = LOOKBACK_DAYS,
    now: dt.datetime | None = None,
) -> dict:
    """Score one model's Champion and replace today's rows of its predictions table."""
    now = now or dt.datetime.now(dt.timezone.utc)
    registered = spec.registered_name(catalog, feature_schema)
    champ = io.champion_version(registered)
    if champ is None:
        # A model whose training was skipped (unusable data) has no Champion: reported, not fatal.
        skipped = registration.last_skip_reason(spec.name)
        return {
            "status": "NOT_FOUND" if not _has_versions(registered) else "SKIPPED",
            "reason": f"no {io.CHAMPION} version of {registered}"
            + (f" (training skipped: {skipped})" if skipped else ""),
            "records": 0,
        }
    model_uri = f"models:/{registered}/{champ.version}"
    if spec.custom:
        from healthmon.ml.models import tags

        scored = tags.score(
            spec, backend, catalog=catalog, gold_schema=gold_schema, feature_schema=feature_schema, model_uri=model_uri
        )
    else:
        scored = _score_feature_store(spec, backend, catalog, feature_schema, model_uri, champ.run_id, lookback_days)
    scored = scored.assign(
        model_name=spec.name,
        model_version=int(champ.version),
        run_id=str(champ.run_id),
        scored_at=pd.Timestamp(now).tz_convert("UTC") if pd.Timestamp(now).tzinfo else pd.Timestamp(now, tz="UTC"),
        scored_date=now.date(),
    )
    table = spec.output_table(catalog, feature_schema)
    backend.write_predictions(table, scored, primary_keys=[*_output_keys(spec), "scored_date"], day=now.date())
    return {"status": "SUCCESS", "records": int(len(scored)), "model_version": int(champ.version), "table": table}


def _has_versions(registered: str) -> bool:
    try:
        return bool(io.client().search_model_versions(f"name='{registered}'"))
    except Exception:  # noqa: BLE001
        return False


def _output_keys(spec: ModelSpec) -> list[str]:
    return ["job_id"] if spec.custom else list(spec.keys)


def _score_feature_store(
    spec: ModelSpec,
    backend: MLBackend,
    catalog: str,
    feature_schema: str,
    model_uri: str,
    run_id: str,
    lookback_days: int,
) -> pd.DataFrame:
    table = spec.table(catalog, feature_schema)
    keys_df = backend.read_table(table, columns=list(spec.keys))
    dates = pd.to_datetime(keys_df[spec.date_key])
    keys_df = keys_df[dates > dates.max() - pd.Timedelta(days=lookback_days)].drop_duplicates().reset_index(drop=True)
    out = backend.score_batch(model_uri, keys_df)
    result = out[list(spec.keys)].copy()
    result["prediction"] = pd.to_numeric(out["prediction"], errors="coerce").astype(float)
    # Scores and probabilities need the estimator itself (score_batch gives predict() only).
    info = io.model_info(run_id)
    X = clean_features(out, info["features"]) if all(f in out.columns for f in info["features"]) else None
    if X is not None and spec.kind in ("anomaly", "binary", "multiclass"):
        model = io.load_estimator(model_uri)
        if spec.kind == "anomaly":
            result["anomaly_score"] = anomaly_scores(model, X)
            result["is_anomaly"] = result["prediction"] == -1
            evidence = evidence_frame(model, X)
            if evidence is not None:  # what drove the score: the metric, its expected and observed value
                for column in EVIDENCE_COLUMNS:
                    result[column] = evidence[column].to_numpy()
        elif spec.kind == "binary":
            result["probability"] = model.predict_proba(X)[:, -1].astype(float)
        else:
            result["probability"] = model.predict_proba(X).max(axis=1).astype(float)
    return result
