"""The exfiltration detector's query-result signal (healthmon.ml.models.detectors.RESULT_ROWS): the
rows a user's statements returned today against the median of its own previous days. Whole tables
pulled out through query results are surprising for a user whose statements return aggregates;
the same rows from a user who always pulls that much are not."""

from __future__ import annotations

import math

import numpy as np
import pytest

from healthmon.ml.models import detectors as det
from healthmon.ml.models.calibrated import statistic


def test_result_rows_are_read_as_a_log_ratio_to_the_users_median():
    s = det.RESULT_ROWS
    assert s.columns() == ("produced_rows", "median_produced_rows_prev28")
    out = statistic(s, [1_000_000.0, 99.0, 50.0], [999.0, 99.0, 0.0])
    assert out == pytest.approx([math.log(1_000_001 / 1_000), 0.0, math.log(51)])
    assert statistic(s, [10.0], [1_000.0])[0] == 0.0  # fewer rows than usual: no surprise


def test_exfiltration_detector_flags_a_bulk_pull_by_a_user_of_aggregates_not_by_a_bulk_reader():
    rng = np.random.default_rng(13)
    cols = det.columns("exfiltration_detector")
    col = {c: i for i, c in enumerate(cols)}
    n = 20_000
    X = np.zeros((n, len(cols)))
    for metric, base, mean in (("data_export_events", "data_export", 0.3), ("tables_accessed", "tables_accessed", 5.0),
                               ("event_count", "event_count", 25.0)):
        X[:, col[metric]] = rng.poisson(mean, n)
        X[:, col[f"avg_{base}_prev28"]] = mean
        X[:, col[f"std_{base}_prev28"]] = np.sqrt(mean)
        X[:, col[f"max_{base}_prev35"]] = mean * 2
    # users whose statements return a few hundred to a few million rows a day, each around its own median
    median = np.exp(rng.uniform(np.log(200), np.log(2e6), n))
    X[:, col["median_produced_rows_prev28"]] = median
    X[:, col["produced_rows"]] = median * rng.lognormal(0, 0.8, n)
    model = det.factory("exfiltration_detector")(cols).fit(X)
    model.set_threshold(float(np.quantile(model.score(X), 0.999)))
    row = X[:1].copy()
    for metric, base in (("data_export_events", "data_export"), ("tables_accessed", "tables_accessed"),
                         ("event_count", "event_count")):
        row[0, col[metric]] = row[0, col[f"avg_{base}_prev28"]]  # exports, tables and events as usual
    row[0, col["median_produced_rows_prev28"]], row[0, col["produced_rows"]] = 300.0, 3e6
    assert model.predict(row)[0] == -1
    ev = model.evidence(row)
    assert ev["evidence_metric"][0] == "produced_rows"
    assert (ev["observed_value"][0], ev["expected_value"][0]) == (3e6, 300.0)
    bulk_reader = row.copy()
    bulk_reader[0, col["median_produced_rows_prev28"]] = 2e6  # pulls millions of rows every day
    assert model.predict(bulk_reader)[0] == 1
