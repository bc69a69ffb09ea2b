"""tag_recommender's split: by job, 50/20/30, and no training job shares a test job's name."""

from __future__ import annotations

import pandas as pd

from healthmon.ml.models.tags import job_period, name_key, without_test_names


def test_job_split_is_deterministic_and_about_50_20_30():
    periods = pd.Series([job_period(str(10**14 + 7919 * i)) for i in range(4000)])
    share = periods.value_counts(normalize=True)
    assert abs(share["train"] - 0.5) < 0.03 and abs(share["validation"] - 0.2) < 0.03 and abs(share["test"] - 0.3) < 0.03
    assert [job_period("123456789") for _ in range(3)] == [job_period("123456789")] * 3


def test_name_key_is_what_tfidf_sees():
    assert name_key("finance_ledger_ingest") == name_key("finance_ledger_ingest_2") == name_key("Finance_Ledger_Ingest")
    assert name_key("finance_ledger_ingest") != name_key("finance_ledger_export")


def test_training_jobs_with_a_test_jobs_name_are_dropped_test_jobs_kept():
    data = pd.DataFrame({
        "job_id": ["1", "2", "3", "4", "5"],
        "job_name": ["sales_quota_refresh", "sales_quota_refresh_2", "sales_quota_refresh", "product_nps_score", "sales_bookings_ingest"],
        "period": ["test", "train", "validation", "train", "test"],
    })
    out = without_test_names(data)
    assert list(out["job_id"]) == ["1", "4", "5"]
    # nothing left in train/validation shares a name key with the test jobs
    test_keys = set(out.loc[out["period"] == "test", "job_name"].map(name_key))
    assert not set(out.loc[out["period"] != "test", "job_name"].map(name_key)) & test_keys


def test_a_tag_spec_without_declared_features_is_a_clear_error():
    from dataclasses import replace

    import pytest

    from healthmon.errors import HealthmonError
    from healthmon.ml.models.registry import MODELS
    from healthmon.ml.models.tags import train

    spec = replace(MODELS["tag_recommender"], features=None)
    with pytest.raises(HealthmonError, match="tag_recommender: the job_tags trainer needs the spec's features"):
        train(spec, backend=None, catalog="c", gold_schema="g", feature_schema="f")
