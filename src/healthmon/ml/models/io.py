"""Reading feature and gold tables, and MLflow registry look-ups, for the ML layer."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from healthmon.errors import HealthmonError, NotFoundError

CHAMPION = "Champion"
SPEC_ARTIFACT = "healthmon_model.json"


def lakehouse():
    from healthmon.lakehouse import Lakehouse

    return Lakehouse.from_env()


def read_table(lh, name: str, *, what: str) -> pd.DataFrame:
    if not lh.table_exists(name):
        raise NotFoundError(f"{what}: table {name} does not exist.")
    return lh.read_table(name).to_pandas()


def gold_reader(lh, catalog: str, gold_schema: str, *, model: str) -> Callable[[str], pd.DataFrame]:
    def read(table: str) -> pd.DataFrame:
        return read_table(lh, f"{catalog}.{gold_schema}.{table}", what=f"model {model}")

    return read


def client():
    from mlflow import MlflowClient

    return MlflowClient()


def champion_version(registered_name: str):
    """The ModelVersion behind the Champion alias, or None when there is none."""
    from mlflow.exceptions import MlflowException

    try:
        return client().get_model_version_by_alias(registered_name, CHAMPION)
    except MlflowException:
        return None


def model_info(run_id: str) -> dict:
    """What training recorded about the model (features, split, spec) in the run."""
    import mlflow

    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{SPEC_ARTIFACT}")
    except Exception as exc:  # noqa: BLE001 - missing artifact is reported, not fatal to callers
        raise HealthmonError(f"Run {run_id} has no {SPEC_ARTIFACT}: {exc}") from exc


def load_estimator(model_uri: str):
    """The fitted scikit-learn estimator of a registered version (for scores/probabilities
    beyond ``predict``)."""
    import mlflow.sklearn

    return mlflow.sklearn.load_model(model_uri)
