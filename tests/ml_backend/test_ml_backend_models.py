"""Loading the estimator of a model in the layout Databricks' ``fe.log_model`` writes, on a real
MLflow store (the layout constants are the real package's, recorded in fe_signatures.json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from healthmon.ml.backend import databricks as dbx

RECORDED = json.loads(Path(__file__).with_name("fe_signatures.json").read_text())


def test_layout_constants_are_the_recorded_package():
    assert RECORDED["model_layout"] == {"loader_module": dbx.FE_LOADER_MODULE,
                                        "raw_model_folder": dbx.FE_RAW_MODEL_FOLDER}


@pytest.fixture
def fitted():
    from sklearn.linear_model import LogisticRegression

    X = np.arange(20.0).reshape(-1, 1)
    return LogisticRegression().fit(X, (X[:, 0] > 9).astype(int)), X


def test_estimator_of_a_feature_engineering_model(fitted, tmp_path):
    import mlflow
    import mlflow.pyfunc

    from healthmon.lakehouse.registry import configure_mlflow
    from healthmon.ml.models import io

    configure_mlflow()
    # An earlier test in this process may have left another store's experiment active.
    mlflow.set_experiment("/Shared/healthmon_backend_tests")
    model, X = fitted
    # What FeatureEngineeringClient.log_model logs: the flavor model under <data>/raw_model, and a
    # pyfunc whose loader module is the feature store's (never imported here: it needs a workspace).
    data = tmp_path / "feature_store"
    io.sklearn_flavor().save_model(model, str(data / dbx.FE_RAW_MODEL_FOLDER))
    (data / "feature_spec.yaml").write_text("input_columns: []\n")
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", loader_module=dbx.FE_LOADER_MODULE, data_path=str(data),
                                       pip_requirements=["scikit-learn"])
    estimator = dbx.DatabricksBackend(spark=object()).load_estimator(info.model_uri)
    np.testing.assert_allclose(estimator.predict_proba(X), model.predict_proba(X))


def test_estimator_of_a_plain_sklearn_model(fitted):
    import mlflow
    import mlflow.sklearn

    from healthmon.lakehouse.registry import configure_mlflow

    configure_mlflow()
    # An earlier test in this process may have left another store's experiment active.
    mlflow.set_experiment("/Shared/healthmon_backend_tests")
    model, X = fitted
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", serialization_format="cloudpickle",
                                        pip_requirements=["scikit-learn"])
    estimator = dbx.DatabricksBackend(spark=object()).load_estimator(info.model_uri)
    np.testing.assert_allclose(estimator.predict_proba(X), model.predict_proba(X))
