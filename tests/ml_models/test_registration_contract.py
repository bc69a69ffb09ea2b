"""One registration module and one trainer dispatch for every model (issue 17, item 4)."""

from __future__ import annotations

import ast
from pathlib import Path

from healthmon.ml import registration, training
from healthmon.ml.models import MODELS, tags

SRC = Path(__file__).resolve().parents[2] / "src" / "healthmon" / "ml"


def _imports(path: Path) -> set[str]:
    """Every module and ``module.name`` the file imports from."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return found


def test_every_spec_names_a_trainer_that_training_dispatches():
    for spec in MODELS.values():
        assert spec.trainer in training.TRAINERS, spec.name
    assert training.TRAINERS[MODELS["tag_recommender"].trainer] is tags.train


def test_tags_uses_the_registration_module_not_trainings_helpers():
    assert not any(m.startswith("healthmon.ml.training") for m in _imports(SRC / "models" / "tags.py"))
    assert "healthmon.ml.registration" in _imports(SRC / "models" / "tags.py")


def test_the_mlflow_tag_dict_has_one_definition():
    # Every module that starts a run takes its tags (or the project tag) from registration.
    for path in SRC.rglob("*.py"):
        if path.name == "registration.py":
            continue
        text = path.read_text()
        assert '"project": "databricks_health_monitor"' not in text, path
        assert "mlflow.set_tags" not in text or "registration.PROJECT" in text, path


def test_run_tags_name_the_model_and_add_run_specific_tags():
    spec = MODELS["budget_forecaster"]
    got = registration.run_tags(spec, training_data="c.f.cost_features", algorithm="gradient_boosting")
    assert got == {"project": "databricks_health_monitor", "domain": "cost", "model_name": "budget_forecaster",
                   "model_type": "regression", "use_case": spec.use_case, "training_data": "c.f.cost_features",
                   "algorithm": "gradient_boosting"}


def test_not_worse_respects_direction_and_unmeasurable_champions():
    assert registration.not_worse(0.8, 0.8, True) and not registration.not_worse(0.7, 0.8, True)
    assert registration.not_worse(1.0, 2.0, False) and not registration.not_worse(3.0, 2.0, False)
    assert registration.not_worse(0.1, float("nan"), True)
    assert not registration.not_worse(float("nan"), 0.5, True)
