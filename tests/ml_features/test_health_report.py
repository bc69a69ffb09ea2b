"""The HTML health report: renders from prediction tables, degrades without them, CLI works."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
from mlf_gold import day, ts, write_gold

from healthmon.lakehouse import Lakehouse
from healthmon.ml.model_figures import NOT_EVALUATED, parse_evaluation
from healthmon.ml.report import Filters, Links, build_report, render_body, render_html, write_report

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


def test_report_sections_from_predictions(populated, monkeypatch):
    monkeypatch.delenv("HEALTHMON_SERVER_URL", raising=False)
    report = build_report(CAT, GOLD, ML, lakehouse=populated, evaluation=NOT_EVALUATED)
    by = {s.key: s for s in report.sections}
    top = by["cost_anomalies"].tables[0].frame
    assert list(top["Workspace"]) == ["w2", "w1"]           # largest excess first
    assert top["Excess ($)"].iloc[0] == pytest.approx(500)
    assert "2 flagged" in by["cost_anomalies"].summary
    chart = by["forecast"].chart  # inline SVG, its text kept as text (readable, searchable)
    assert chart.startswith("<svg") and "Daily list cost, all workspaces: actual vs forecast" in chart
    assert "Day with a flagged cost anomaly" in chart
    assert "2 days with a flagged anomaly" in by["forecast"].caption
    assert "1 incomplete day(s)" in by["forecast"].caption
    # forecasts of 2 x 101 for days 1..39 against actuals of 200 (700 and 250 on the anomaly days)
    assert "forecast error (WAPE) 7.4% over 39 days" in by["forecast"].summary
    jobs = by["jobs"].tables[0].frame
    assert list(jobs["Job"]) == ["j1", "j3", "j2"] and jobs["Name"].iloc[0] == "nightly_etl"
    assert "2 jobs with failure risk >= 0.5" in by["jobs"].summary
    users = by["security"].tables[0].frame
    assert list(users["User"]) == ["mallory@x.com"] and users["Total"].iloc[0] == 9
    stale = by["quality"].tables[0].frame
    assert list(stale["Table"]) == ["main.s.old", "main.s.fresh"] and list(stale["Stale"]) == ["yes", "no"]
    assert stale["Days since last commit"].iloc[0] == 19
    assert "1 stale tables of 2" in by["quality"].summary
    assert "no drift predictions yet" in by["quality"].summary

    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>") and "mallory@x.com" in page
    assert not re.search(r"\ssrc=", page), "the page must be self-contained (nothing loaded)"
    # rows link to the server's Health page, filtered to what they concern
    assert "http://127.0.0.1:8080/health?schema=cat.ml&amp;workspace_id=w2" in page
    assert "http://127.0.0.1:8080/health?schema=cat.ml&amp;user_id=mallory%40x.com" in page


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


def test_report_cli_filters_and_bad_dates(populated, tmp_path, capsys):
    from typer.testing import CliRunner

    from healthmon.cli.main import app, main

    out = tmp_path / "w2.html"
    args = ["report", "--catalog", CAT, "--gold-schema", GOLD, "--feature-schema", ML, "--output", str(out)]
    result = CliRunner().invoke(app, args + ["--workspace-id", "w2"])
    assert result.exit_code == 0, result.output
    assert "Cost anomalies of workspace w2: 1 flagged" in result.output and "Security" not in result.output
    with pytest.raises(SystemExit) as exit_:
        main(args + ["--start", "2024-02-31"])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and err == "Error: start='2024-02-31': expected a date as YYYY-MM-DD.\n"


def test_report_rejects_bad_identifiers():
    from healthmon.errors import HealthmonError

    with pytest.raises(HealthmonError, match="catalog"):
        build_report("bad;name", GOLD, ML, lakehouse=Lakehouse.from_env())


# The JSON `make eval` writes (healthmon.ml.evaluation_seeds.build_report), cut to two models.
EVALUATION = {"finished_at": "2026-01-05T10:00:00+00:00", "seeds": [11, 12, 13], "models": {
    "cost_anomaly_detector": {
        "kind": "anomaly", "metric": "f1", "higher_is_better": True,
        "model": {"n": 3, "mean": 0.61, "std": 0.05, "min": 0.55, "max": 0.66, "ci95": [0.55, 0.66]},
        "baselines": {"rolling_zscore": {"n": 3, "mean": 0.52, "std": 0.04}}, "best_baseline": "rolling_zscore",
        "margin": {"n": 3, "mean": 0.09, "ci95": [0.02, 0.15]}, "verdict": "beats baseline", "missing": [],
        "scorers": {"isolation_forest": 3}},
    "job_failure_predictor": {
        "kind": "binary", "metric": "roc_auc", "higher_is_better": True,
        "model": {"n": 3, "mean": 0.70, "std": 0.02}, "baselines": {"failure_rate_30d": {"n": 3, "mean": 0.74}},
        "best_baseline": "failure_rate_30d", "margin": {"n": 3, "mean": -0.04, "ci95": [-0.07, -0.01]},
        "verdict": "does not beat baseline", "missing": [], "scorers": {"xgboost": 3}},
}}


def test_every_section_states_its_model_version_scoring_and_evaluation(populated):
    report = build_report(CAT, GOLD, ML, lakehouse=populated, evaluation=parse_evaluation(EVALUATION, "/x/EVALUATION.json"))
    by = {s.key: s for s in report.sections}
    cost = by["cost_anomalies"].models[0].text()
    assert cost == ("cost_anomaly_detector v1, scored 2024-03-01 06:00 UTC · evaluation: detection F1 0.610 ± 0.050 "
                    "over 3 fresh accounts vs rolling_zscore 0.520: beats baseline")
    jobs = {n.model: n for n in by["jobs"].models}
    assert "ROC-AUC 0.700" in jobs["job_failure_predictor"].text() and "does not beat baseline" in jobs["job_failure_predictor"].text()
    # a model without predictions says so, and that it was not evaluated either
    sla = jobs["sla_breach_predictor"].text()
    assert sla.startswith("sla_breach_predictor: no predictions") and "not evaluated" in sla
    page = render_html(report)
    assert "badge bad" in page and "badge good" in page and "EVALUATION.json (2026-01-05T10:00:00+00:00)" in page


def test_filters_show_one_entitys_history(populated):
    ws = build_report(CAT, GOLD, ML, lakehouse=populated, filters=Filters(workspace_id="w1"), evaluation=NOT_EVALUATED)
    assert [s.key for s in ws.sections] == ["cost_anomalies", "forecast"]
    assert list(ws.sections[0].tables[0].frame["Workspace"]) == ["w1"]
    assert "workspace w1" in ws.sections[1].chart
    user = build_report(CAT, GOLD, ML, lakehouse=populated, filters=Filters(user_id="mallory@x.com"), evaluation=NOT_EVALUATED)
    (sec,) = user.sections
    days = sec.tables[0].frame
    assert len(days) == 9 and set(days["Flagged by"]) == {"security_threat_detector"}
    job = build_report(CAT, GOLD, ML, lakehouse=populated, filters=Filters(job_id="j1"), evaluation=NOT_EVALUATED)
    (jobs,) = job.sections
    assert jobs.title == "Failure and SLA risk of job j1 (nightly_etl)"
    assert list(jobs.tables[0].frame["Failure risk"]) == [0.9]
    # a date range: mallory's flags are days 31..39; only 31..33 fall in it
    ranged = build_report(CAT, GOLD, ML, lakehouse=populated, evaluation=NOT_EVALUATED,
                          filters=Filters(start=day(0), end=day(33), user_id="mallory@x.com"))
    assert len(ranged.sections[0].tables[0].frame) == 3


def test_empty_range_and_unknown_entity_say_so(populated):
    empty = build_report(CAT, GOLD, ML, lakehouse=populated, evaluation=NOT_EVALUATED,
                         filters=Filters(start=dt.date(2030, 1, 1), end=dt.date(2030, 2, 1)))
    by = {s.key: s for s in empty.sections}
    assert by["cost_anomalies"].status == "empty" and "2030-01-01 to 2030-02-01" in by["cost_anomalies"].message
    assert by["security"].status == "empty" and by["forecast"].status == "empty"
    nobody = build_report(CAT, GOLD, ML, lakehouse=populated, filters=Filters(user_id="nobody"), evaluation=NOT_EVALUATED)
    assert nobody.sections[0].message == "No alert for nobody in the last 30 days of data."


@pytest.mark.parametrize("params, message", [
    ({"start": "2024-13-01"}, "start='2024-13-01': expected a date as YYYY-MM-DD."),
    ({"start": "2024-03-02", "end": "2024-03-01"}, "The date range is empty: start 2024-03-02 is after end 2024-03-01."),
    ({"section": "nope"}, "section='nope': expected one of cost_anomalies, forecast, jobs, security, quality."),
    ({"page": "x"}, "page='x': expected a number."),
])
def test_bad_filters_are_clear_errors(params, message):
    from healthmon.errors import HealthmonError

    with pytest.raises(HealthmonError) as err:
        Filters.parse(params)
    assert err.value.message == message


def test_filters_take_the_alerts_link_parameters():
    f = Filters.parse({"schema": "cat.ml", "section": "jobs", "job_id": "42", "start": "2024-01-01"})
    assert f.section == "jobs" and f.job_id == "42" and f.shows("jobs") and not f.shows("security")
    assert f.params() == {"start": "2024-01-01", "job_id": "42", "section": "jobs"}


def test_long_tables_paginate_on_the_page_and_not_in_the_file(populated):
    report = build_report(CAT, GOLD, ML, lakehouse=populated, filters=Filters(section="security", page=1),
                          evaluation=NOT_EVALUATED)
    table = report.sections[0].tables[0]
    table.frame = pd.concat([table.frame] * 60, ignore_index=True)  # 60 rows
    body = render_body(report, Links("", "cat.ml", report.filters, paginate=True))
    assert "Rows 26–50 of 60" in body and body.count("<tr>") == 1 + 25  # the header and one page of rows
    assert "section=security&amp;page=0'>previous" in body and "section=security&amp;page=2'>next" in body
    assert "Rows" not in render_body(report, Links("", "cat.ml", report.filters, paginate=False))
