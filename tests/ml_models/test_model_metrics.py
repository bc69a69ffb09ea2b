"""Metric functions on small cases whose answers are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from healthmon.ml.models.metrics import classifier_scores, event_scores, flagged_events, mae, mape


def _d(s):
    return pd.Timestamp(s)


def test_mape_skips_zero_actuals_and_mae_does_not():
    actual = [100.0, 0.0, 50.0]
    pred = [110.0, 5.0, 25.0]
    assert math.isclose(mape(actual, pred), (10 / 100 + 25 / 50) / 2 * 100)
    assert math.isclose(mae(actual, pred), (10 + 5 + 25) / 3)
    assert math.isnan(mape([0.0], [1.0]))


def test_flagged_days_merge_into_events():
    flags = pd.DataFrame({"entity": ["a", "a", "a", "a", "b"],
                          "date": [_d("2025-01-01"), _d("2025-01-02"), _d("2025-01-03"), _d("2025-01-10"), _d("2025-01-02")]})
    ev = flagged_events(flags)
    assert len(ev) == 3
    first = ev[(ev.entity == "a")].sort_values("start").iloc[0]
    assert first.start == _d("2025-01-01") and first.end == _d("2025-01-03")


def test_event_level_precision_recall_f1():
    incidents = pd.DataFrame({"entity": ["a", "b", "c"], "start": [_d("2025-01-05"), _d("2025-01-10"), _d("2025-01-20")],
                              "end": [_d("2025-01-06"), _d("2025-01-10"), _d("2025-01-21")]})
    flags = pd.DataFrame({
        "entity": ["a", "a", "b", "a"],
        # a: one event overlapping incident a (2 days); b: one day after its incident (within
        # the 1-day tolerance); a again on 01-15: a false event. Incident c is missed.
        "date": [_d("2025-01-05"), _d("2025-01-06"), _d("2025-01-11"), _d("2025-01-15")],
    })
    score = event_scores(flags, incidents)
    assert score.flagged_events == 3 and score.true_flagged_events == 2
    assert score.incidents == 3 and score.detected_incidents == 2
    # precision in flagged days: 3 of the 4 lie on an incident (or its tolerance)
    assert (score.flagged_days, score.true_flagged_days) == (4, 3)
    assert math.isclose(score.precision, 3 / 4) and math.isclose(score.recall, 2 / 3)
    assert math.isclose(score.f1, 2 * (3 / 4) * (2 / 3) / (3 / 4 + 2 / 3))
    strict = event_scores(flags, incidents, tolerance_days=0)
    assert strict.detected_incidents == 1


def test_flagging_every_day_does_not_look_like_a_detector():
    """A scorer that flags every day of every entity makes one long run per entity: counted in
    runs it would be "true" for every entity with an incident (event precision 1/2 and recall 1
    here, F1 0.67); counted in days its precision is the incidents' share of the days."""
    days = pd.date_range("2025-01-01", periods=30)
    incidents = pd.DataFrame({"entity": ["a"], "start": [_d("2025-01-10")], "end": [_d("2025-01-10")]})
    everything = pd.DataFrame({"entity": ["a"] * 30 + ["b"] * 30, "date": list(days) * 2})
    s = event_scores(everything, incidents)
    assert (s.flagged_events, s.true_flagged_events, s.recall) == (2, 1, 1.0)
    assert math.isclose(s.precision, 3 / 60)  # 01-09..01-11 of entity a
    assert s.f1 < 0.1


def test_event_scores_without_flags_or_incidents():
    none = pd.DataFrame(columns=["entity", "date"])
    inc = pd.DataFrame({"entity": ["a"], "start": [_d("2025-01-01")], "end": [_d("2025-01-01")]})
    s = event_scores(none, inc)
    assert s.recall == 0 and s.precision == 0 and s.f1 == 0
    empty = event_scores(pd.DataFrame({"entity": ["a"], "date": [_d("2025-01-01")]}), inc.iloc[0:0])
    assert math.isnan(empty.f1) and empty.precision == 0


def test_classifier_scores_binary_and_multiclass():
    y = np.array([0, 0, 1, 1])
    perfect = classifier_scores(y, np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9]]), [0, 1])
    assert perfect["roc_auc"] == 1.0 and perfect["pr_auc"] == 1.0
    inverted = classifier_scores(y, np.array([0.9, 0.8, 0.2, 0.1]))
    assert inverted["roc_auc"] == 0.0
    single = classifier_scores(np.array([1, 1]), np.array([0.2, 0.9]))
    assert math.isnan(single["roc_auc"])
    multi = classifier_scores(np.array([0, 1, 2, 2]), np.eye(3)[[0, 1, 2, 2]], [0, 1, 2])
    assert multi["roc_auc"] == 1.0


def test_events_match_incidents_of_their_own_entity_only():
    """Duplicate flags count once; an event may cover two incidents of its entity (both
    detected, one true event); an incident of another entity on the same days does not make an
    event true; recall_incidents restricts recall, not precision."""
    incidents = pd.DataFrame({
        "entity": ["a", "a", "b", "z"],
        "start": [_d("2025-01-02"), _d("2025-01-05"), _d("2025-01-20"), _d("2025-01-10")],
        "end": [_d("2025-01-02"), _d("2025-01-05"), _d("2025-01-20"), _d("2025-01-10")],
        "kind": ["x", "y", "x", "x"],
    })
    flags = pd.DataFrame({
        "entity": ["a", "a", "a", "a", "a", "b", "b"],
        # a: consecutive days 01-02..01-05 are ONE event over both of a's incidents;
        # b on 01-10: same day as z's incident, another entity: false; b on 01-19 is within the
        # tolerance of its incident on 01-20.
        "date": [_d("2025-01-02"), _d("2025-01-03"), _d("2025-01-03"), _d("2025-01-04"), _d("2025-01-05"),
                 _d("2025-01-10"), _d("2025-01-19")],
    })
    ev = flagged_events(flags)
    assert sorted(zip(ev.entity, ev.start, ev.end)) == [
        ("a", _d("2025-01-02"), _d("2025-01-05")), ("b", _d("2025-01-10"), _d("2025-01-10")),
        ("b", _d("2025-01-19"), _d("2025-01-19"))]
    s = event_scores(flags, incidents)
    assert (s.flagged_events, s.true_flagged_events, s.incidents, s.detected_incidents) == (3, 2, 4, 3)
    only_y = event_scores(flags, incidents, recall_incidents=incidents[incidents.kind == "y"])
    assert (only_y.true_flagged_events, only_y.incidents, only_y.detected_incidents) == (2, 1, 1)
