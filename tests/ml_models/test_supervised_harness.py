"""The supervised harness's replay of selection rules (benchmarks/supervised_harness.py)."""

from benchmarks.supervised_harness import simulate, summary


def _seed(ml_over_a, ml_over_b):
    """Two rules: ``a`` best on validation, ``b`` best on the recent record; the test margins
    over the strongest baseline are ML +0.05, a −0.04, b 0.0."""
    return {"algorithm": "", "candidates": {
        "ml": {"validation": 0.80, "recent13": 0.85, "test_margin": 0.05, "test_margin_se": 0.01},
        "baseline:a": {"validation": 0.78, "recent13": 0.70, "best_over_it": (0.0, 0.0), "ml_over_it": ml_over_a,
                       "test_margin": -0.04, "test_margin_se": 0.01},
        "baseline:b": {"validation": 0.77, "recent13": 0.75, "best_over_it": (0.01, 0.02), "ml_over_it": ml_over_b,
                       "test_margin": 0.0, "test_margin_se": 0.0},
    }}


def test_replay_judges_the_ml_model_against_the_validation_best_and_ships_the_recent_best_rule():
    results = {"commitment_recommender": {"1": _seed((0.02, 0.03), (0.03, 0.01)),  # ML not clear of a
                                          "2": _seed((0.05, 0.01), (0.00, 0.01))}}  # ML clear of a only
    now = simulate(results, "split_recent13")["commitment_recommender"]
    assert [r["algorithm"] for r in now.values()] == ["baseline:b", "ml"]
    before = simulate(results, "validation")["commitment_recommender"]
    assert [r["algorithm"] for r in before.values()] == ["baseline:a", "ml"]
    # Judged against the recent-record rule instead, the ML model would lose seed 2 and win seed 1.
    both = simulate(results, "recent13")["commitment_recommender"]
    assert [r["algorithm"] for r in both.values()] == ["ml", "baseline:b"]
    s = summary(now)
    assert s["mean_margin"] == 0.025 and s["worst_margin"] == 0.0 and s["within_noise"] == 2 and s["ships_ml"] == 1
    assert summary(before)["within_noise"] == 1  # a: 0.04 short, one standard error 0.01
