"""Reading feature and gold tables, and MLflow registry look-ups, for the ML layer."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from healthmon.errors import HealthmonError, NotFoundError

CHAMPION = "Champion"
SPEC_ARTIFACT = "healthmon_model.json"


def backend():
    """The ML backend of this process (``local`` or ``databricks``, see ``healthmon.ml.backend``)."""
    from healthmon.ml.backend import get_backend

    return get_backend()


def read_table(backend, name: str, *, what: str) -> pd.DataFrame:
    if not backend.table_exists(name):
        raise NotFoundError(f"{what}: table {name} does not exist.")
    return backend.read_table(name)


def gold_reader(backend, catalog: str, gold_schema: str, *, model: str) -> Callable[[str], pd.DataFrame]:
    def read(table: str) -> pd.DataFrame:
        return read_table(backend, f"{catalog}.{gold_schema}.{table}", what=f"model {model}")

    return read


def client():
    from mlflow import MlflowClient

    return MlflowClient()


def champion_version(registered_name: str):
    """The ModelVersion behind the Champion alias, or None when there is none."""
    return backend().version_by_alias(registered_name, CHAMPION)


def set_champion(registered_name: str, version: int | str) -> None:
    backend().set_alias(registered_name, CHAMPION, version)


def model_info(run_id: str) -> dict:
    """What training recorded about the model (features, split, spec) in the run."""
    import mlflow

    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{SPEC_ARTIFACT}")
    except Exception as exc:  # noqa: BLE001 - missing artifact is reported, not fatal to callers
        raise HealthmonError(f"Run {run_id} has no {SPEC_ARTIFACT}: {exc}") from exc


def pip_requirements() -> list[str]:
    import importlib.metadata as md

    out = []
    for dist in ("scikit-learn", "xgboost-cpu", "cloudpickle", "pandas", "numpy"):
        try:
            out.append(f"{dist}=={md.version(dist)}")
        except md.PackageNotFoundError:
            out.append(dist)
    return out


def sklearn_flavor():
    """``mlflow.sklearn`` saving with cloudpickle: MLflow 3's default (skops) refuses to load
    our own pipeline steps (DerivedFeatures, RelativeRegressor, EncodedClassifier) and tree
    internals unless every type is listed as trusted. The models are written and read by the
    same workspace, so pickle's trust model is the right one here."""
    import types

    import mlflow.sklearn

    def save_model(model, path, **kwargs):
        kwargs.setdefault("serialization_format", "cloudpickle")
        # Explicit requirements: without them MLflow infers them by importing the model in a
        # subprocess, which costs 10-30 s per model on a busy machine.
        kwargs.setdefault("pip_requirements", pip_requirements())
        return mlflow.sklearn.save_model(model, path, **kwargs)

    # FLAVOR_NAME: Databricks' FeatureEngineeringClient.log_model reads it to tell flavors from pyfunc.
    return types.SimpleNamespace(__name__="mlflow.sklearn", FLAVOR_NAME=mlflow.sklearn.FLAVOR_NAME,
                                 save_model=save_model, load_model=mlflow.sklearn.load_model)


def load_estimator(model_uri: str):
    """The fitted scikit-learn estimator of a registered version (for scores/probabilities
    beyond ``predict``), wherever the backend keeps it."""
    return backend().load_estimator(model_uri)
