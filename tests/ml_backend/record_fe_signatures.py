"""Records the signatures of the Databricks Feature Engineering client that healthmon calls, from
the real package, into ``fe_signatures.json`` (the package is too heavy to be a dependency:
boto3, azure-cosmos, dbl-tempo). Re-run after upgrading it:

    .venv/bin/pip install databricks-feature-engineering azure-cosmos==4.3.1 boto3 dbl-tempo
    .venv/bin/python tests/ml_backend/record_fe_signatures.py
"""

from __future__ import annotations

import importlib.metadata as md
import inspect
import json
import re
from pathlib import Path

OUT = Path(__file__).with_name("fe_signatures.json")
CALLED = {
    "FeatureEngineeringClient": ["create_training_set", "log_model", "score_batch", "write_table", "create_table"],
    "FeatureLookup": ["__init__"],
    "TrainingSet": ["load_df"],
}


def describe(fn) -> list[dict]:
    return [{"name": p.name, "kind": p.kind.name, "has_default": p.default is not inspect.Parameter.empty}
            for p in inspect.signature(fn).parameters.values()]


def record() -> dict:
    from databricks.feature_engineering import FeatureEngineeringClient, FeatureLookup
    from databricks.feature_engineering.training_set import TrainingSet

    classes = {"FeatureEngineeringClient": FeatureEngineeringClient, "FeatureLookup": FeatureLookup,
               "TrainingSet": TrainingSet}
    from databricks.ml_features._training_scoring_client._training_scoring_client import TrainingScoringClient
    from databricks.ml_features_common import mlflow_model_constants as constants

    # log_model hands the model to ``flavor``: the attributes it reads, from its source.
    source = inspect.getsource(TrainingScoringClient.log_model)
    return {
        "package": "databricks-feature-engineering",
        "version": md.version("databricks-feature-engineering"),
        "signatures": {f"{cls}.{m}": describe(getattr(classes[cls], m)) for cls, ms in CALLED.items() for m in ms},
        "flavor_attributes": sorted(set(re.findall(r"\bflavor\.(\w+)", source))),
        "flavor_save_model_passes": sorted(set(re.findall(r"\b(mlflow_model)=", source))),
        "model_layout": {"loader_module": constants.MLFLOW_MODEL_NAME, "raw_model_folder": constants.RAW_MODEL_FOLDER},
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(record(), indent=1) + "\n")
    print(f"wrote {OUT}")
