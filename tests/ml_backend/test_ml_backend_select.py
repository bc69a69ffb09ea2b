"""Which ML backend runs, and what the databricks backend says when its requirements are missing."""

from __future__ import annotations

import sys

import pytest

from healthmon.errors import HealthmonError, InvalidParameterError
from healthmon.ml.backend import backend_name, get_backend
from healthmon.ml.backend.databricks import DatabricksBackend
from healthmon.ml.backend.local import LocalBackend


@pytest.fixture(autouse=True)
def _no_runtime(monkeypatch):
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    monkeypatch.delenv("HEALTHMON_ML_BACKEND", raising=False)


def test_local_outside_a_databricks_runtime():
    assert backend_name() == "local"
    assert isinstance(get_backend(), LocalBackend)


def test_databricks_inside_a_databricks_runtime(monkeypatch):
    # Databricks Runtime sets DATABRICKS_RUNTIME_VERSION in every notebook and job task.
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "16.4")
    assert backend_name() == "databricks"
    assert isinstance(get_backend(), DatabricksBackend)


def test_override_wins_both_ways(monkeypatch):
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "16.4")
    monkeypatch.setenv("HEALTHMON_ML_BACKEND", "local")
    assert backend_name() == "local"
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION")
    monkeypatch.setenv("HEALTHMON_ML_BACKEND", " Databricks ")
    assert backend_name() == "databricks"


def test_unknown_override_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HEALTHMON_ML_BACKEND", "sagemaker")
    with pytest.raises(InvalidParameterError, match="HEALTHMON_ML_BACKEND.*local, databricks"):
        backend_name()


def test_missing_feature_engineering_client_names_the_package(monkeypatch):
    # A module mapped to None in sys.modules raises ImportError on import: a runtime without the package.
    monkeypatch.setitem(sys.modules, "databricks.feature_engineering", None)
    backend = DatabricksBackend(spark=object())
    first_calls = (backend.configure_tracking, lambda: backend.fe,
                   lambda: backend.feature_lookup("c.s.t", ["k"], ["f"]))
    for first_call in first_calls:
        with pytest.raises(HealthmonError) as err:
            first_call()
        assert "databricks.feature_engineering" in err.value.message
        assert "%pip install databricks-feature-engineering" in (err.value.hint or "")
        assert err.value.__cause__ is None and err.value.__suppress_context__  # no chained ImportError


def test_a_two_level_name_is_refused_before_spark_is_asked():
    with pytest.raises(HealthmonError, match="expected a Unity Catalog name catalog.schema.name"):
        DatabricksBackend(spark=object()).table_exists("schema.table")
