"""The security detectors' population signal (healthmon.ml.models.detectors.SHARED_FAILURES): failed
actions shared by many users from an IP that usually sees none are surprising; the same number
from an office address that sees it every day is not."""

from __future__ import annotations

import numpy as np

from healthmon.ml.models import detectors as det
from healthmon.ml.models.calibrated import CalibratedDetector, statistic


def test_failures_from_an_unusual_ip_are_surprising_from_an_office_ip_not():
    s = det.SHARED_FAILURES
    spray, office, alone = statistic(s, [6.0, 6.0, 1.0], [0.0, 6.5, 0.0])
    assert spray > 3 > 1 > office  # P <= 0.001 against P > 0.1
    assert alone < spray and alone < 1


def test_security_threat_detector_flags_a_spray_its_one_day_counts_do_not_and_explains_it():
    rng = np.random.default_rng(11)
    cols = det.columns("security_threat_detector")
    n = 20_000
    X = np.zeros((n, len(cols)))
    col = {c: i for i, c in enumerate(cols)}
    # ordinary user-days: a few failed actions against a similar own mean; failures from shared
    # office IPs with their usual number of failed actions
    for metric, mean in (("failed_login_count", 0.3), ("failed_auth_count", 1.0), ("unique_source_ips", 2.0),
                         ("data_export_events", 1.0), ("grant_change_events", 0.2), ("tables_accessed", 5.0)):
        base = {"failed_login_count": "failed_login", "failed_auth_count": "failed_auth",
                "unique_source_ips": "source_ips", "data_export_events": "data_export",
                "grant_change_events": "grant_changes", "tables_accessed": "tables_accessed"}[metric]
        X[:, col[metric]] = rng.poisson(mean, n)
        X[:, col[f"avg_{base}_prev28"]] = mean
        X[:, col[f"std_{base}_prev28"]] = np.sqrt(mean)
        X[:, col[f"max_{base}_prev35"]] = mean * 4
    usual = rng.uniform(0, 5, n)
    X[:, col["usual_failed_events_same_ip"]] = usual
    X[:, col["failed_events_same_ip"]] = np.where(X[:, col["failed_auth_count"]] > 0, rng.poisson(usual + 1), 0)
    model = det.factory("security_threat_detector")(cols).fit(X)
    assert isinstance(model, CalibratedDetector)
    model.set_threshold(float(np.quantile(model.score(X), 0.999)))
    # a sprayed user: one failed login (ordinary for it), from an IP with 9 failed actions of several users today
    row = X[:1].copy()
    row[0, col["failed_login_count"]], row[0, col["failed_auth_count"]] = 1.0, 1.0
    row[0, col["failed_events_same_ip"]], row[0, col["usual_failed_events_same_ip"]] = 9.0, 0.1
    assert model.predict(row)[0] == -1
    ev = model.evidence(row)
    assert ev["evidence_metric"][0] == "failed_events_same_ip" and ev["observed_value"][0] == 9.0
    same_without_peers = row.copy()
    same_without_peers[0, col["failed_events_same_ip"]] = 1.0
    assert model.predict(same_without_peers)[0] == 1
