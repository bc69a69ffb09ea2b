"""The notebooks and the training job are produced by the spec table; a 26th model is one spec
entry and one command (docs/models.md "Adding a model")."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from healthmon.ml.models import MODELS
from healthmon.ml.models import generate as gen
from tests.ml_models.synthetic_features import feature_frame
from tests.ml_models.test_model_training import CAT, FEAT, GOLD, train, write_features

NEW = "budget_forecaster_copy"


def with_new_model() -> dict:
    """The spec table plus a throwaway 26th model: a copy of an existing forecaster, renamed."""
    spec = replace(MODELS["budget_forecaster"], name=NEW, prediction_table=f"{NEW}_predictions",
                   task_key=f"train_{NEW}", notebook=f"cost/train_{NEW}")
    return {**MODELS, NEW: spec}


def test_committed_files_are_what_the_specs_produce():
    problems = gen.drift(gen.REPO, MODELS)
    assert not problems, f"run `{gen.COMMAND}`: " + "; ".join(problems)
    assert gen.main(["--check"]) == 0


def test_the_training_job_is_one_task_per_spec_running_its_notebook():
    job = yaml.safe_load(gen.training_job_text(MODELS))["resources"]["jobs"]["ml_training_pipeline_job"]
    tasks = {t["task_key"]: t["notebook_task"]["notebook_path"] for t in job["tasks"]}
    assert tasks == {s.task_key: f"../../src/ml/{s.notebook}.py" for s in MODELS.values()}
    assert all((gen.REPO / "resources/ml" / path).resolve().is_file() for path in tasks.values())


def test_a_26th_spec_is_generated_and_drift_names_the_command(tmp_path, capsys):
    models = with_new_model()
    assert gen.drift(gen.REPO, models) == [f"src/ml/cost/train_{NEW}.py: missing",
                                           "resources/ml/ml_training_pipeline_job.yml: differs from what the specs produce"]
    (tmp_path / "src/ml").mkdir(parents=True)
    written = gen.write(tmp_path, models)
    assert len(written) == len(models) + 1 and gen.drift(tmp_path, models) == []
    notebook = (tmp_path / f"src/ml/cost/train_{NEW}.py").read_text()
    assert f'train_model(\n    "{NEW}",' in notebook and notebook.startswith("# Databricks notebook source\n")
    job = yaml.safe_load((tmp_path / gen.TRAINING_JOB).read_text())["resources"]["jobs"]["ml_training_pipeline_job"]
    assert len(job["tasks"]) == 26 and job["description"] == "Trains all 26 ML models using Feature Engineering"
    assert {"task_key": f"train_{NEW}", "notebook_path": f"../../src/ml/cost/train_{NEW}.py"} in [
        {"task_key": t["task_key"], "notebook_path": t["notebook_task"]["notebook_path"]} for t in job["tasks"]]
    # A spec removed again: its notebook is stale, and regeneration removes it.
    assert gen.drift(tmp_path, MODELS)[-1] == f"src/ml/cost/train_{NEW}.py: no spec names this notebook"
    assert gen.main(["--check", "--root", str(tmp_path)]) == 1
    assert gen.COMMAND in capsys.readouterr().err


def test_generate_refuses_a_root_that_is_not_the_repository(tmp_path, capsys):
    assert gen.main(["--root", str(tmp_path)]) == 2
    assert "pass --root" in capsys.readouterr().err


@pytest.mark.slow
def test_a_26th_spec_is_trained_and_scored_without_other_edits(monkeypatch):
    from healthmon.ml.inference import batch_inference_all_models

    monkeypatch.setitem(MODELS, NEW, with_new_model()[NEW])
    write_features("cost_features", feature_frame("cost_features", entities=4, days=120, seed=1))
    trained = train(NEW)
    assert trained["status"] == "SUCCESS" and trained["registered_as"] == f"{CAT}.{FEAT}.{NEW}", trained
    scored = batch_inference_all_models(catalog=CAT, gold_schema=GOLD, feature_schema=FEAT)
    assert scored["models"][NEW]["status"] == "SUCCESS" and scored["models"][NEW]["records"] > 0
    assert scored["models"][NEW]["table"] == f"{CAT}.{FEAT}.{NEW}_predictions"
