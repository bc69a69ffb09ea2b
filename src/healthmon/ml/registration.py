"""Logging, tagging, registering and promoting a trained model: one module for every model.

Each step is one function with explicit arguments and no hidden state besides MLflow's
tracking/registry configuration, so that a backend can route each call as a unit:

- ``run_tags``: the MLflow tag dict of a model's training run (the only definition);
- ``record_skip``: a model-less run saying why training was skipped; ``last_skip_reason`` reads it;
- ``log_and_register``: one run with tags, params, metrics, the model's spec artifact and the
  model itself (with its feature spec when it was trained from a feature-store training set),
  registered as a new version; returns (run id, version);
- ``promote_if_not_worse``: moves the ``Champion`` alias to the new version unless the current
  Champion scores better on the same validation period.

Every registry write goes through ``registry_write``: 25 training tasks share one SQLite store
locally, and each write retries "database is locked".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from healthmon.errors import HealthmonError
from healthmon.ml.backend import MLBackend
from healthmon.ml.models import io
from healthmon.ml.models.spec import ModelSpec

EXPERIMENT_PREFIX = "/Shared/health_monitor_ml_"
PROJECT = "databricks_health_monitor"


def experiment_name(model_name: str) -> str:
    return EXPERIMENT_PREFIX + model_name


def run_tags(spec: ModelSpec, *, training_data: str, **extra: str) -> dict[str, str]:
    """The tags of every run of ``spec`` (trained or skipped); ``extra`` adds run-specific ones
    (algorithm, target, feature_engineering, status)."""
    return {
        "project": PROJECT, "domain": spec.domain, "model_name": spec.name, "model_type": spec.model_type,
        "use_case": spec.use_case, "training_data": training_data, **extra,
    }


def record_skip(spec: ModelSpec, *, backend: MLBackend, training_data: str, reason: str,
                counts: dict[str, str] | None = None) -> None:
    """A skipped training still leaves a (model-less) MLflow run saying why, so evaluation, the
    report and the MLflow UI can show the reason next to the missing Champion. ``counts``: the
    tags of a ``NotEnoughData`` skip (``skip_data_what``, ``skip_data_have``, ``skip_data_need``)."""
    try:
        import mlflow

        from healthmon.lakehouse.registry import registry_write as w

        backend.set_experiment(experiment_name(spec.name))
        with w(mlflow.start_run, run_name=f"{spec.name}_skipped_{_stamp()}"):
            w(mlflow.set_tags, run_tags(spec, training_data=training_data, status="SKIPPED", skip_reason=reason[:4000],
                                        **(counts or {})))
    except Exception:  # noqa: BLE001 - recording the skip must never turn it into a failure
        pass


def last_skip_reason(model_name: str) -> str | None:
    """The reason of the latest training run of ``model_name`` if that run was a skip."""
    try:
        import mlflow

        exp = mlflow.get_experiment_by_name(experiment_name(model_name))
        if exp is None:
            return None
        runs = mlflow.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=1,
                                  output_format="list")
        if runs and runs[0].data.tags.get("status") == "SKIPPED":
            return runs[0].data.tags.get("skip_reason")
    except Exception:  # noqa: BLE001
        return None
    return None


def log_and_register(spec: ModelSpec, *, backend: MLBackend, registered_name: str, algorithm: str, tags: dict[str, str],
                     params: dict[str, Any], metrics: dict[str, float], info: dict, model: Any,
                     training_set: Any = None, input_example: Any = None) -> tuple[str, int]:
    """One MLflow run for a trained model, registered as a new version of ``registered_name``.

    With a ``training_set`` (``backend.create_training_set``) the model is logged by the
    backend's feature store client with its feature spec, so batch scoring looks its features up by key; without one
    (a model whose rows are not feature-table rows) it is a plain ``mlflow.sklearn`` model.
    NaN metrics are left out. Returns (run id, registered version)."""
    import mlflow

    from healthmon.lakehouse.registry import registry_write as w

    backend.set_experiment(experiment_name(spec.name))
    mlflow.autolog(disable=True)
    with w(mlflow.start_run, run_name=f"{spec.name}_{algorithm.replace(':', '_')}_{_stamp()}") as run:
        w(mlflow.set_tags, tags)
        w(mlflow.log_params, params)
        w(mlflow.log_metrics, {k: float(v) for k, v in metrics.items() if v == v})
        w(mlflow.log_dict, info, io.SPEC_ARTIFACT)
        # The model logs are not retried: a retry after a partial success would register a
        # second version.
        if training_set is not None:
            backend.log_model(model, flavor=io.sklearn_flavor(), training_set=training_set,
                              registered_model_name=registered_name)
        else:
            mlflow.sklearn.log_model(model, name="model", registered_model_name=registered_name,
                                     input_example=input_example, serialization_format="cloudpickle",
                                     pip_requirements=io.pip_requirements())
        run_id = run.info.run_id
    return run_id, version_of_run(registered_name, run_id)


def version_of_run(registered_name: str, run_id: str) -> int:
    versions = io.client().search_model_versions(f"name='{registered_name}'")
    mine = [int(v.version) for v in versions if v.run_id == run_id]
    if not mine:
        raise HealthmonError(f"Model {registered_name}: run {run_id} logged no registered version.")
    return max(mine)


def not_worse(new: float, old: float, higher_is_better: bool) -> bool:
    if old != old:  # the Champion cannot be measured: the new version takes over
        return True
    if new != new:
        return False
    tol = 1e-9 * max(1.0, abs(old))
    return new >= old - tol if higher_is_better else new <= old + tol


def promote_if_not_worse(registered_name: str, version: int, *, metric: str, value: float, higher_is_better: bool,
                         score_champion: Callable[[Any, dict], float]) -> tuple[bool, str]:
    """Moves ``Champion`` to ``version`` unless the current Champion is better on THIS
    validation period: ``score_champion(estimator, recorded info)`` scores the Champion by
    ``metric`` on the rows the new version was just scored on. An unreadable Champion is
    replaced, and the reason says why. Returns (promoted, reason)."""
    champ = io.champion_version(registered_name)
    if champ is None:
        io.set_champion(registered_name, version)
        return True, "first version with a usable validation period"
    try:
        champion = io.load_estimator(f"models:/{registered_name}/{champ.version}")
        old_value = score_champion(champion, io.model_info(champ.run_id))
    except Exception as exc:  # noqa: BLE001 - an unreadable Champion is replaced, and we say why
        io.set_champion(registered_name, version)
        why = f"{type(exc).__name__}: {exc}"
        return True, f"Champion v{champ.version} could not be scored on the validation period ({why})"
    if not_worse(value, old_value, higher_is_better):
        io.set_champion(registered_name, version)
        return True, f"validation {metric} {value:.4g} vs Champion v{champ.version} {old_value:.4g}"
    return False, f"kept Champion v{champ.version}: validation {metric} {old_value:.4g} beats {value:.4g}"


def _stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d_%H%M%S")
