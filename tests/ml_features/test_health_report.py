"""The HTML health report: renders from prediction tables, degrades without them, CLI works."""

from __future__ import annotations

import base64
import datetime as dt
import re

import pandas as pd
import pytest
from mlf_gold import day, ts, write_gold

from healthmon.lakehouse import Lakehouse
from healthmon.ml.report import build_report, render_html, write_report

CAT, GOLD, ML = "cat", "gold", "ml"
SCORED = dt.datetime(2024, 3, 1, 6, tzinfo=dt.timezone.utc)


def _meta(df: pd.DataFrame, model: str) -> pd.DataFrame:
    return df.assign(model_name=model, model_version=1, run_id="r1", scored_at=SCORED, scored_date=SCORED.date())


def _write(lh, table: str, df: pd.DataFrame):
    lh.create_schema(f"{CAT}.{ML}")
    lh.write_table(f"{CAT}.{ML}.{table}", df, mode="overwrite")


@pytest.fixture
def populated():
    lh = Lakehouse.from_env()
    days = [day(n) for n in range(40)]
    cost = pd.DataFrame([{"workspace_id": ws, "usage_date": d, "daily_cost": 100.0 + (500 if (ws, n) == ("w2", 35) else 0)
                          + (50 if (ws, n) == ("w1", 36) else 0)}
                         for ws in ("w1", "w2") for n, d in enumerate(days)]
                        # an incomplete last day: one workspace, a few cents (a slice crossing midnight)
                        + [{"workspace_id": "w1", "usage_date": day(40), "daily_cost": 0.5}])
    _write(lh, "cost_features", cost)
    anomalies = cost[["workspace_id", "usage_date"]].copy()
    flagged = {("w2", day(35)), ("w1", day(36))}
    anomalies["is_anomaly"] = [(w, d) in flagged for w, d in zip(anomalies.workspace_id, anomalies.usage_date)]
    anomalies["prediction"] = anomalies["is_anomaly"].map({True: -1.0, False: 1.0})
    anomalies["anomaly_score"] = anomalies["is_anomaly"].astype(float)
    _write(lh, "cost_anomaly_predictions", _meta(anomalies, "cost_anomaly_detector"))
    forecast = cost[["workspace_id", "usage_date"]].assign(prediction=101.0)
    _write(lh, "budget_forecast_predictions", _meta(forecast, "budget_forecaster"))
    jobs = pd.DataFrame([{"job_id": j, "run_date": day(39), "prediction": float(p > .5), "probability": p}
                         for j, p in (("j1", 0.9), ("j2", 0.2), ("j3", 0.6))])
    _write(lh, "job_failure_predictions", _meta(jobs, "job_failure_predictor"))
    write_gold(lh, "dim_job", [{"workspace_id": "w1", "job_id": "j1", "name": "nightly_etl"}], catalog=CAT)
    sec = pd.DataFrame([{"user_id": u, "event_date": day(n), "prediction": -1.0 if u == "mallory@x.com" and n > 30 else 1.0}
                        for u in ("mallory@x.com", "alice@x.com") for n in range(40)])
    _write(lh, "security_threat_predictions", _meta(sec, "security_threat_detector"))
    write_gold(lh, "fact_table_snapshots", [
        {"snapshot_date": day(39), "table_catalog": "main", "table_schema": "s", "table_name": "old",
         "last_commit_time": ts(day(20)), "row_count": 5},
        {"snapshot_date": day(39), "table_catalog": "main", "table_schema": "s", "table_name": "fresh",
         "last_commit_time": ts(day(39)), "row_count": 7},
    ], catalog=CAT)
    return lh


def test_report_sections_from_predictions(populated):
    report = build_report(CAT, GOLD, ML, lakehouse=populated)
    by = {s.key: s for s in report.sections}
    top = by["cost_anomalies"].tables[0][1]
    assert list(top["Workspace"]) == ["w2", "w1"]           # largest excess first
    assert top["Excess ($)"].iloc[0] == pytest.approx(500)
    assert "2 flagged" in by["cost_anomalies"].summary
    assert by["forecast"].chart.startswith("data:image/png;base64,")
    png = base64.b64decode(by["forecast"].chart.split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "2 days with a flagged anomaly" in by["forecast"].caption
    assert "1 incomplete day(s)" in by["forecast"].caption
    # forecasts of 2 x 101 for days 1..39 against actuals of 200 (700 and 250 on the anomaly days)
    assert "forecast error (WAPE) 7.4% over 39 days" in by["forecast"].summary
    jobs = by["jobs"].tables[0][1]
    assert list(jobs["Job"]) == ["j1", "j3", "j2"] and jobs["Name"].iloc[0] == "nightly_etl"
    assert "2 jobs with failure risk >= 0.5" in by["jobs"].summary
    users = by["security"].tables[0][1]
    assert list(users["User"]) == ["mallory@x.com"] and users["Total"].iloc[0] == 9
    stale = by["quality"].tables[0][1]
    assert list(stale["Table"]) == ["main.s.old", "main.s.fresh"] and list(stale["Stale"]) == ["yes", "no"]
    assert stale["Days since last commit"].iloc[0] == 19
    assert "1 stale tables of 2" in by["quality"].summary
    assert "no drift predictions yet" in by["quality"].summary

    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>") and "mallory@x.com" in page
    assert not re.search(r"(src|href)=['\"](?!data:)", page), "the page must be self-contained"


def test_report_without_any_table_says_no_predictions_yet(tmp_path):
    path, report = write_report(CAT, GOLD, ML, tmp_path / "r.html", lakehouse=Lakehouse.from_env())
    assert all(s.status == "missing" for s in report.sections)
    text = path.read_text()
    assert text.count("no predictions yet") >= 4
    assert "cat.ml.cost_anomaly_predictions does not exist" in text


def test_report_cli_prints_summary_and_path(populated, tmp_path):
    from typer.testing import CliRunner

    from healthmon.cli.main import app

    out = tmp_path / "sub" / "health.html"
    result = CliRunner().invoke(app, ["report", "--catalog", CAT, "--gold-schema", GOLD, "--feature-schema", ML,
                                      "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "Top cost anomalies: 2 flagged" in result.output
    assert str(out.resolve()) in result.output and out.read_text().startswith("<!DOCTYPE html>")


def test_report_rejects_bad_identifiers():
    from healthmon.errors import HealthmonError

    with pytest.raises(HealthmonError, match="catalog"):
        build_report("bad;name", GOLD, ML, lakehouse=Lakehouse.from_env())
