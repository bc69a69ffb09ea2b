"""A model trained once, whose next training finds too little data (the feature table was
rebuilt from a shorter export): the earlier Champion keeps serving, and the evaluation says that
the latest training was skipped and why."""

from __future__ import annotations

from tests.ml_models.synthetic_features import feature_frame
from tests.ml_models.test_model_training import CAT, FEAT, GOLD, champion, train, write_features


def test_an_earlier_champion_serves_and_the_evaluation_names_the_skip():
    from healthmon.ml.evaluation import evaluate_all
    from healthmon.ml.inference import batch_inference_all_models

    write_features("cost_features", feature_frame("cost_features", entities=4, days=120, seed=1))
    assert train("budget_forecaster")["status"] == "SUCCESS"
    assert champion("budget_forecaster") == 1

    # 20 days of one workspace: too few to train on, inside the Champion's recorded test period.
    write_features("cost_features", feature_frame("cost_features", entities=1, days=20, seed=1, start="2025-04-11"))
    skipped = train("budget_forecaster")
    assert skipped["status"] == "SKIPPED" and skipped["reason"].startswith("not enough data: ")
    assert champion("budget_forecaster") == 1

    scored = batch_inference_all_models(catalog=CAT, gold_schema=GOLD, feature_schema=FEAT)
    assert scored["models"]["budget_forecaster"]["status"] == "SUCCESS"
    result = evaluate_all(catalog=CAT, gold_schema=GOLD, feature_schema=FEAT, output=None,
                          models=["budget_forecaster"])["models"]["budget_forecaster"]
    assert result["status"] == "EVALUATED" and result["version"] == 1
    assert result["note"] == (f"the latest training was skipped ({skipped['reason']}); this is an earlier version")
