"""tag_recommender: TF-IDF on the job name + cost features -> random forest over tag values.

Its rows are jobs, not (entity, date) rows, so it has its own data path (as in the original):
tagged jobs train it, untagged jobs are scored. A job's tag is a static attribute, not a dated
outcome, so the split is by job (a deterministic hash of job_id: 50/20/30), never by usage row,
and no train/validation job shares its name tokens with a test job;
the cost features are looked up at the job's first usage day (training) or last usage day
(scoring), both known before the recommendation is made.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from healthmon.errors import HealthmonError
from healthmon.ml import registration
from healthmon.ml.models import io
from healthmon.ml.models.spec import ModelSpec, NotEnoughData, Skip

TAG_KEYS = ("team", "project", "cost_center")
USAGE_COLUMNS = ["workspace_id", "usage_date", "usage_metadata_job_id", "custom_tags", "list_cost"]


def tag_value(tags) -> str | None:
    if tags is None:
        return None
    items: Iterable = tags.items() if isinstance(tags, dict) else tags
    found = {}
    try:
        for k, v in items:
            found[str(k)] = v
    except (TypeError, ValueError):
        return None
    for key in TAG_KEYS:
        if found.get(key):
            return str(found[key])
    return None


# Tagged jobs are few (a few hundred), so the test split is 30 % of them (50 / 20 / 30).
SPLIT_PERCENT = (50, 70)


def job_period(job_id: str) -> str:
    """Deterministic job-level split: 50 % train, 20 % validation, 30 % test."""
    h = int(hashlib.sha1(str(job_id).encode()).hexdigest()[:8], 16) % 100
    return "train" if h < SPLIT_PERCENT[0] else ("validation" if h < SPLIT_PERCENT[1] else "test")


NAME_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]+")  # the TF-IDF token pattern of the model


def name_key(name: str) -> str:
    """What the model sees of a job name: its TF-IDF tokens. Jobs with the same key (the same
    pipeline deployed in several workspaces, or ``x_2`` copies) are indistinguishable to it."""
    return " ".join(NAME_TOKEN.findall(str(name or "").lower()))


def without_test_names(data: pd.DataFrame) -> pd.DataFrame:
    """Drops train/validation jobs whose name key also belongs to a test job: a model that saw
    the identical name with its tag would be scored on memorisation, not on recommendation."""
    keys = data["job_name"].map(name_key)
    test_keys = set(keys[data["period"] == "test"])
    return data[(data["period"] == "test") | ~keys.isin(test_keys)]


def _usage(backend, catalog, gold_schema) -> pd.DataFrame:
    name = f"{catalog}.{gold_schema}.fact_usage"
    if not backend.table_exists(name):
        raise HealthmonError(f"Model tag_recommender: table {name} does not exist.")
    columns = backend.columns(name)
    present = [c for c in USAGE_COLUMNS if c in columns]
    missing = set(USAGE_COLUMNS) - set(present)
    if missing:
        raise HealthmonError(f"Model tag_recommender: table {name} lacks column(s) {', '.join(sorted(missing))}.")
    df = backend.read_table(name, columns=present)
    df = df[df["usage_metadata_job_id"].notna()].copy()
    df["usage_date"] = pd.to_datetime(df["usage_date"]).dt.normalize()
    df["list_cost"] = pd.to_numeric(df["list_cost"], errors="coerce").fillna(0.0).astype(float)
    df["tag_value"] = df["custom_tags"].map(tag_value)
    return df.drop(columns=["custom_tags"])


def _job_names(backend, catalog, gold_schema) -> pd.DataFrame:
    name = f"{catalog}.{gold_schema}.dim_job"
    jobs = io.read_table(backend, name, what="Model tag_recommender")
    if "change_time" in jobs.columns:
        jobs = jobs.sort_values("change_time")
    jobs = jobs.drop_duplicates("job_id", keep="last")
    return pd.DataFrame({"job_id": jobs["job_id"].astype(str), "job_name": jobs["name"].fillna("").astype(str)})


def _cost_features(backend, table: str, features: list[str]) -> pd.DataFrame:
    cf = io.read_table(backend, table, what="Model tag_recommender")
    missing = [f for f in features if f not in cf.columns]
    if missing:
        raise HealthmonError(f"Model tag_recommender: table {table} lacks feature column(s) {', '.join(missing)}.")
    cf = cf[["workspace_id", "usage_date", *features]].copy()
    cf["usage_date"] = pd.to_datetime(cf["usage_date"]).dt.normalize()
    return cf


def training_rows(usage: pd.DataFrame, names: pd.DataFrame) -> pd.DataFrame:
    """One row per tagged job: workspace, first usage day, most frequent tag value, name."""
    tagged = usage[usage["tag_value"].notna()]
    if tagged.empty:
        return pd.DataFrame(columns=["job_id", "workspace_id", "usage_date", "tag_value", "job_name"])
    jobs = tagged.groupby("usage_metadata_job_id").agg(
        workspace_id=("workspace_id", "first"), usage_date=("usage_date", "min"),
        tag_value=("tag_value", lambda s: s.value_counts().index[0]),
    ).reset_index().rename(columns={"usage_metadata_job_id": "job_id"})
    jobs["job_id"] = jobs["job_id"].astype(str)
    return jobs.merge(names, on="job_id", how="inner")


def scoring_rows(usage: pd.DataFrame, names: pd.DataFrame) -> pd.DataFrame:
    """One row per job that has usage but no team/project/cost_center tag at all."""
    tagged_jobs = set(usage.loc[usage["tag_value"].notna(), "usage_metadata_job_id"].astype(str))
    untagged = usage[~usage["usage_metadata_job_id"].astype(str).isin(tagged_jobs)]
    if untagged.empty:
        return pd.DataFrame(
            columns=["job_id", "workspace_id", "usage_date", "total_cost_30d", "usage_count", "job_name"]
        )
    last_day = usage["usage_date"].max()
    recent = untagged["usage_date"] > last_day - pd.Timedelta(days=30)
    with_recent = untagged.assign(recent_cost=np.where(recent, untagged["list_cost"], 0.0))
    jobs = with_recent.groupby("usage_metadata_job_id").agg(
        workspace_id=("workspace_id", "last"), usage_date=("usage_date", "max"),
        total_cost_30d=("recent_cost", "sum"), usage_count=("list_cost", "size"),
    ).reset_index().rename(columns={"usage_metadata_job_id": "job_id"})
    jobs["job_id"] = jobs["job_id"].astype(str)
    return jobs.merge(names, on="job_id", how="inner")


def _with_features(rows: pd.DataFrame, cf: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    out = rows.merge(cf, on=["workspace_id", "usage_date"], how="left")
    out[features] = out[features].apply(pd.to_numeric, errors="coerce").astype(float)
    out[features] = out[features].replace([np.inf, -np.inf], np.nan).fillna(0.0)
    return out


def _declared_features(spec: ModelSpec) -> list[str]:
    """The cost features the spec declares: the tag model reads them by name, it has no
    'every numeric column' mode."""
    if spec.features is None:
        raise HealthmonError(f"Model {spec.name}: the job_tags trainer needs the spec's features declared.")
    return list(spec.features)


def train(spec: ModelSpec, backend, *, catalog: str, gold_schema: str, feature_schema: str) -> dict:
    """The ``job_tags`` trainer (``ModelSpec.trainer``): tagged jobs, a split by job, the model
    or the nearest-job-name rule, registered and promoted like every model."""
    from healthmon.ml.models.metrics import classifier_scores

    features = _declared_features(spec)
    table = spec.table(catalog, feature_schema)
    usage = _usage(backend, catalog, gold_schema)
    rows = training_rows(usage, _job_names(backend, catalog, gold_schema))
    if rows.empty:
        raise Skip(f"no tagged job with a name in {catalog}.{gold_schema}.fact_usage / dim_job")
    data = _with_features(rows, _cost_features(backend, table, features), features)
    data["period"] = data["job_id"].map(job_period)
    all_jobs = len(data)
    data = without_test_names(data)
    train_df = data[data["period"] == "train"]
    if len(train_df) < spec.min_train_rows:
        raise NotEnoughData("tagged jobs", len(train_df), spec.min_train_rows,
                            where=f"the training split of {catalog}.{gold_schema}.dim_job")
    if train_df["tag_value"].nunique() < 2:
        raise NotEnoughData(f"tag value (a single one, {train_df['tag_value'].iloc[0]})", 1, 2,
                            where=f"the training split of {catalog}.{gold_schema}.dim_job")
    inputs = [*features, "job_name"]
    model = spec.build(inputs)
    model.fit(train_df[inputs], train_df["tag_value"].astype(str))
    model, algorithm, contest = _choose_scorer(spec, model, data, inputs)
    metrics = dict(contest)
    for period in ("train", "validation", "test"):
        part = data[data["period"] == period]
        part = part[part["tag_value"].isin(model.classes_)]
        if part.empty:
            continue
        metrics[f"{period}_accuracy"] = float(np.mean(model.predict(part[inputs]) == part["tag_value"].astype(str)))
        scores = classifier_scores(
            part["tag_value"].astype(str).to_numpy(), model.predict_proba(part[inputs]), list(model.classes_)
        )
        for k, v in scores.items():
            metrics[f"{period}_{k}"] = v
        metrics[f"{period}_samples"] = float(len(part))
    sel = metrics.get("validation_accuracy", float("nan"))
    registered = spec.registered_name(catalog, feature_schema)
    metrics["jobs_dropped_same_name_as_test"] = float(all_jobs - len(data))
    info = {"model_name": spec.name, "kind": spec.kind, "features": inputs, "feature_table": table, "keys": ["job_id"],
            "target": "tag_value",
            "target_description": "the job's team / project / cost_center tag (first present, most frequent value)",
            "classes": list(map(str, model.classes_)),
            "split": {"method": "job_id hash 50/20/30; train/validation jobs sharing a test job's name dropped"},
            "selection_metric": "accuracy"}
    run_id, version = registration.log_and_register(
        spec, backend=backend, registered_name=registered, algorithm=algorithm,
        tags=registration.run_tags(spec, training_data=table, algorithm=algorithm, feature_engineering="custom_tfidf"),
        params={**spec.hyperparameters, "feature_table": table, "features_count": len(inputs)},
        metrics=metrics, info=info, model=model, input_example=train_df[inputs].head(5),
    )
    validation = data[data["period"] == "validation"]

    def score_champion(champion, recorded: dict) -> float:
        if validation.empty:
            return float("nan")
        return float(np.mean(champion.predict(validation[inputs]) == validation["tag_value"].astype(str)))

    promoted, reason = registration.promote_if_not_worse(registered, version, metric="accuracy", value=sel,
                                                         higher_is_better=True, score_champion=score_champion)
    return {"status": "SUCCESS", "model_name": spec.name, "registered_as": registered, "version": version,
            "run_id": run_id, "algorithm": algorithm, "champion": promoted, "champion_reason": reason,
            "feature_table": table, "features_count": len(inputs),
            "rows": data["period"].value_counts().to_dict(), "target": "tag_value",
            "metrics": {k: round(v, 6) for k, v in metrics.items() if v == v}}


def nearest_name_classifier(text_column: str = "job_name"):
    """The ``nearest_job_name`` baseline as a servable estimator: the tag of the training job
    whose name is nearest (TF-IDF cosine, one neighbour)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline

    names = ColumnTransformer([("tfidf", TfidfVectorizer(token_pattern=NAME_TOKEN.pattern), text_column)])
    nearest = KNeighborsClassifier(n_neighbors=1, metric="cosine", algorithm="brute")
    return Pipeline([("features", names), ("model", nearest)])


def _choose_scorer(spec: ModelSpec, model, data: pd.DataFrame, inputs: list[str]):
    """The model or the nearest-job-name rule, decided on the VALIDATION jobs by accuracy with
    the rule ``training.choose_scorer`` applies to the other models: the model ships only when
    it beats the rule by more than one standard error (workspaces resampled). Returns (scorer,
    algorithm tag, validation accuracy of each candidate)."""
    from healthmon.ml.models.metrics import clearly_better, paired_entity_bootstrap

    train_df = data[data["period"] == "train"]
    val = data[data["period"] == "validation"]
    if val.empty:
        return model, spec.algorithm, {}
    y = val["tag_value"].astype(str).to_numpy()
    rule = nearest_name_classifier().fit(train_df[inputs], train_df["tag_value"].astype(str))
    ml_pred, rule_pred = model.predict(val[inputs]).astype(str), rule.predict(val[inputs]).astype(str)
    ml_acc, rule_acc = float(np.mean(ml_pred == y)), float(np.mean(rule_pred == y))
    contest = {"candidate_ml_validation_accuracy": ml_acc, "candidate_nearest_job_name_validation_accuracy": rule_acc}
    edge, se = paired_entity_bootstrap("accuracy", y, ml_pred, rule_pred, val["workspace_id"].to_numpy())
    if clearly_better(edge, se):
        return model, spec.algorithm, contest
    # The rule learns nothing but the known names: once chosen, it knows the validation jobs too.
    known = data[data["period"].isin(("train", "validation"))]
    rule = nearest_name_classifier().fit(known[inputs], known["tag_value"].astype(str))
    return rule, "baseline:nearest_job_name", contest


def score(
    spec: ModelSpec, backend, *, catalog: str, gold_schema: str, feature_schema: str, model_uri: str
) -> pd.DataFrame:
    """Recommendations for untagged jobs: predicted_tag and confidence_score."""
    model = io.load_estimator(model_uri)
    features = _declared_features(spec)
    rows = scoring_rows(_usage(backend, catalog, gold_schema), _job_names(backend, catalog, gold_schema))
    if rows.empty:
        return rows.assign(predicted_tag=pd.Series(dtype=str), confidence_score=pd.Series(dtype=float))
    data = _with_features(rows, _cost_features(backend, spec.table(catalog, feature_schema), features), features)
    inputs = [*features, "job_name"]
    proba = model.predict_proba(data[inputs])
    data["predicted_tag"] = model.classes_[np.argmax(proba, axis=1)].astype(str)
    data["confidence_score"] = proba.max(axis=1).astype(float)
    return data[["job_id", "job_name", "workspace_id", "usage_date", "predicted_tag", "confidence_score",
                 "total_cost_30d", "usage_count"]]
