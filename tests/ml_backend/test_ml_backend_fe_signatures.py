"""Every call the databricks backend (and the feature pipeline's Spark adapter) makes into
Databricks' Feature Engineering client and MLflow's registry matches the real signatures.

The Feature Engineering client cannot run without a workspace, and is too heavy to be a
dependency, so its signatures are recorded from the real package in ``fe_signatures.json``
(``record_fe_signatures.py``; checked against the live package when it is installed). Each
recorded method becomes a stand-in that binds its arguments with ``inspect.Signature.bind`` —
a call the real client would reject fails here. MLflow is installed: its real signatures are used.
Spark is a real local session."""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from healthmon.ml.backend.databricks import DatabricksBackend

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark not installed"),
    pytest.mark.slow,  # a JVM start
]

RECORDED = json.loads(Path(__file__).with_name("fe_signatures.json").read_text())


def recorded_signature(qualname: str) -> inspect.Signature:
    params = [inspect.Parameter(p["name"], getattr(inspect.Parameter, p["kind"]),
                                default=None if p["has_default"] else inspect.Parameter.empty)
              for p in RECORDED["signatures"][qualname]]
    return inspect.Signature(params)


class Recorder:
    def __init__(self):
        self.calls: list[tuple[str, dict]] = []

    def bind(self, qualname: str, signature: inspect.Signature, *args, **kwargs) -> dict:
        bound = signature.bind(*args, **kwargs)  # TypeError when the real API would reject the call
        self.calls.append((qualname, dict(bound.arguments)))
        return bound.arguments

    def names(self) -> set[str]:
        return {q for q, _ in self.calls}


def fake_feature_engineering(rec: Recorder, tmp_path: Path) -> types.ModuleType:
    """``databricks.feature_engineering`` whose classes accept exactly what the real ones accept."""

    class TrainingSet:
        def __init__(self, df):
            self._df = df

        def load_df(self, *a, **kw):
            rec.bind("TrainingSet.load_df", recorded_signature("TrainingSet.load_df"), self, *a, **kw)
            return self._df

    class FeatureLookup:
        def __init__(self, *a, **kw):
            signature = recorded_signature("FeatureLookup.__init__")
            self.arguments = rec.bind("FeatureLookup.__init__", signature, self, *a, **kw)

    class FeatureEngineeringClient:
        def __getattr__(self, method):
            qualname = f"FeatureEngineeringClient.{method}"
            if qualname not in RECORDED["signatures"]:
                raise AssertionError(f"{qualname} is called but its signature was not recorded")

            def call(*a, **kw):
                args = rec.bind(qualname, recorded_signature(qualname), self, *a, **kw)
                if method == "create_training_set":
                    return TrainingSet(args["df"])
                if method == "score_batch":
                    return args["df"].withColumn("prediction", args["df"]["k"].cast("double"))
                if method == "log_model":
                    flavor = args["flavor"]
                    missing = [a for a in RECORDED["flavor_attributes"] if not hasattr(flavor, a)]
                    assert not missing, f"the flavor lacks {missing}, which log_model reads"
                    # The call the real log_model makes for a non-pyfunc flavor, for real.
                    from mlflow.models import Model

                    assert RECORDED["flavor_save_model_passes"] == ["mlflow_model"]
                    flavor.save_model(args["model"], str(tmp_path / "raw_model"), mlflow_model=Model())
                return None

            return call

    module = types.ModuleType("databricks.feature_engineering")
    module.FeatureEngineeringClient = FeatureEngineeringClient  # type: ignore[attr-defined]
    module.FeatureLookup = FeatureLookup  # type: ignore[attr-defined]
    return module


@pytest.fixture
def recorder(monkeypatch, tmp_path):
    import mlflow

    rec = Recorder()
    monkeypatch.setitem(sys.modules, "databricks.feature_engineering", fake_feature_engineering(rec, tmp_path))

    real_client = mlflow.MlflowClient

    class MlflowClient:  # the real methods' signatures, nothing sent anywhere
        def __getattr__(self, method):
            real = inspect.signature(getattr(real_client, method))
            return lambda *a, **kw: rec.bind(f"MlflowClient.{method}", real, self, *a, **kw) and None

    monkeypatch.setattr(mlflow, "MlflowClient", MlflowClient)
    for fn in ("set_tracking_uri", "set_registry_uri", "set_experiment"):
        real = inspect.signature(getattr(mlflow, fn))
        monkeypatch.setattr(mlflow, fn,
                            lambda *a, _n=fn, _s=real, **kw: rec.bind(f"mlflow.{_n}", _s, *a, **kw) and None)
    return rec


@pytest.fixture(scope="module")
def spark():
    from healthmon.lakehouse.engines.spark_engine import get_session

    return get_session("local[1]")


def test_every_call_matches_the_real_signatures(recorder, spark):
    from sklearn.linear_model import LogisticRegression

    from healthmon.ml.features.databricks_backend import SparkFeatureStore
    from healthmon.ml.models import io

    backend = DatabricksBackend(spark=spark)
    backend.configure_tracking()
    backend.set_experiment("/Shared/health_monitor_ml_cost_anomaly_detector")
    lookup = backend.feature_lookup("spark_catalog.ml.cost_features", ["k"], ["f"])
    spine = pd.DataFrame({"k": ["a", "b", "c", "d"], "label": [0, 1, 0, 1]})
    training_set = backend.create_training_set(spine, [lookup], "label", ["k"])
    pd.testing.assert_frame_equal(backend.load_training_frame(training_set), spine)
    model = LogisticRegression().fit(np.arange(4.0).reshape(-1, 1), spine["label"])
    backend.log_model(model, flavor=io.sklearn_flavor(), training_set=training_set,
                      registered_model_name="spark_catalog.ml.cost_anomaly_detector")
    scored = backend.score_batch("models:/spark_catalog.ml.cost_anomaly_detector/1", pd.DataFrame({"k": ["1", "2"]}))
    assert scored["prediction"].tolist() == [1.0, 2.0]
    backend.set_alias("spark_catalog.ml.cost_anomaly_detector", "Champion", 1)
    backend.version_by_alias("spark_catalog.ml.cost_anomaly_detector", "Champion")

    store = SparkFeatureStore(spark)
    schema = pa.schema([("k", pa.string()), ("f", pa.float64())])
    store.create_table("spark_catalog.ml.cost_features", ["k"], schema, description="cost features")
    store.write_table("spark_catalog.ml.cost_features", pa.table({"k": ["a"], "f": [1.0]}, schema=schema))

    assert recorder.names() >= {f"FeatureEngineeringClient.{m}" for m in
                                ("create_training_set", "log_model", "score_batch", "create_table", "write_table")}
    assert recorder.names() >= {"FeatureLookup.__init__", "TrainingSet.load_df",
                                "MlflowClient.set_registered_model_alias", "MlflowClient.get_model_version_by_alias"}
    uris = [args for name, args in recorder.calls if name == "mlflow.set_registry_uri"]
    assert uris == [{"uri": "databricks-uc"}]


@pytest.mark.skipif(importlib.util.find_spec("databricks.feature_engineering") is None,
                    reason="databricks-feature-engineering not installed (signatures come from fe_signatures.json)")
def test_the_recorded_signatures_are_the_installed_package():
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from record_fe_signatures import record
    finally:
        sys.path.pop(0)
    assert record() == RECORDED
