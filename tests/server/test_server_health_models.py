"""The Health page (the report, rendered by the same code as `healthmon report`) and the Models
page over HTTP: sections with their models, the one sign convention, filters and links as the
alerts use them, bad input as a message on the page, never a 500."""

from __future__ import annotations

import datetime as dt
import json
import re

import pandas as pd
import pytest

from tests.server.test_server_ui_browser import browser  # noqa: F401 - the Chromium fixture
from tests.server.test_server_ui_http import login

SCORED = pd.Timestamp("2026-01-21 05:00", tz="UTC")
DAYS = [dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(20)]
EVALUATION = {"finished_at": "2026-01-20T08:00:00+00:00", "models": {
    "cost_anomaly_detector": {"kind": "anomaly", "metric": "f1", "higher_is_better": True,
                              "model": {"n": 10, "mean": 0.58, "std": 0.07}, "best_baseline": "rolling_zscore",
                              "baselines": {"rolling_zscore": {"n": 10, "mean": 0.61}},
                              "verdict": "does not beat baseline", "missing": [], "scorers": {"isolation_forest": 10}},
    "job_failure_predictor": {"kind": "binary", "metric": "roc_auc", "higher_is_better": True,
                              "model": {"n": 10, "mean": 0.83, "std": 0.03}, "best_baseline": "failure_rate_30d",
                              "baselines": {"failure_rate_30d": {"n": 10, "mean": 0.78}},
                              "verdict": "beats baseline", "missing": [], "scorers": {"xgboost": 10}},
}}


def _scored(df: pd.DataFrame, model: str) -> pd.DataFrame:
    return df.assign(model_name=model, model_version=3, run_id="r", scored_at=SCORED, scored_date=SCORED.date())


@pytest.fixture
def account(settings, monkeypatch, tmp_path):
    """Predictions of main.system_gold_ml with gold tables in main.gold, and an evaluation file."""
    from healthmon.lakehouse import Lakehouse

    lh = Lakehouse(settings.lakehouse_root)
    for schema in ("main.system_gold_ml", "main.gold"):
        lh.create_schema(schema)

    def write(name, df):
        lh.write_table(name, df, mode="overwrite")

    cost = pd.DataFrame([{"workspace_id": ws, "usage_date": d, "daily_cost": 100.0 + (400.0 if (ws, n) == ("1001", 15) else 0)}
                         for ws in ("1001", "1002") for n, d in enumerate(DAYS)])
    write("main.system_gold_ml.cost_features", cost)
    flags = cost[["workspace_id", "usage_date"]].assign(prediction=[-1.0 if (w, d) == ("1001", DAYS[15]) else 1.0
                                                                    for w, d in zip(cost.workspace_id, cost.usage_date)])
    write("main.system_gold_ml.cost_anomaly_predictions", _scored(flags, "cost_anomaly_detector"))
    write("main.system_gold_ml.budget_forecast_predictions",
          _scored(cost[["workspace_id", "usage_date"]].assign(prediction=101.0), "budget_forecaster"))
    write("main.system_gold_ml.job_failure_predictions", _scored(pd.DataFrame(
        [{"job_id": "42", "run_date": d, "prediction": 0.0, "probability": 0.1 + 0.04 * n} for n, d in enumerate(DAYS)]
        + [{"job_id": "43", "run_date": DAYS[-1], "prediction": 0.0, "probability": 0.05}]), "job_failure_predictor"))
    write("main.gold.dim_job", pd.DataFrame([{"job_id": "42", "name": "nightly_etl"}]))
    # 200 user-days, one flagged: the detector's +1 is "normal" (IsolationForest's convention)
    users = pd.DataFrame([{"user_id": f"user{u}@x.com", "event_date": d,
                           "prediction": -1.0 if (u, n) == (3, 18) else 1.0} for u in range(10) for n, d in enumerate(DAYS)])
    write("main.system_gold_ml.privilege_escalation_predictions", _scored(users, "privilege_escalation_detector"))
    path = tmp_path / "EVALUATION.json"
    path.write_text(json.dumps(EVALUATION))
    monkeypatch.setenv("HEALTHMON_EVALUATION", str(path))
    return lh


def test_health_page_is_the_report_with_models_and_one_sign_convention(client, tokens, account):
    login(client, tokens.alice)
    resp = client.get("/health")
    assert resp.status_code == 200
    page = resp.text
    for title in ("Top cost anomalies", "Forecast vs actual daily cost", "Jobs most likely to fail, and SLA risks",
                  "Security alerts per user", "Stale tables and drift"):
        assert f"<h2>{title}" in page
    # one flagged user-day of 200, not "199 of 200" (a flag means anomaly, whatever the detector)
    assert "1 alerts for 1 users in the last 30 days of data" in page
    assert "user3@x.com" in page and "user4@x.com" not in page
    # each section names its model, version, scoring time and evaluation figure vs the baseline
    assert ("cost_anomaly_detector v3, scored 2026-01-21 05:00 UTC · evaluation: detection F1 0.580 ± 0.070 over 10 fresh "
            "accounts vs rolling_zscore 0.610: does not beat baseline") in page
    assert "sla_breach_predictor: no predictions (model skipped, without a Champion, or not scored yet)" in page
    # charts are inline SVG with their text, allowed by the page's CSP (no image source)
    assert "<svg" in page and "Daily list cost, all workspaces: actual vs forecast" in page
    assert " src=" not in page.split("<main>")[1]
    # rows link to the filtered Health page, with the alerts' parameter names
    assert "href='/health?schema=main.system_gold_ml&amp;workspace_id=1001'" in page
    assert "href='/health?schema=main.system_gold_ml&amp;job_id=42'" in page
    assert "href='/health?schema=main.system_gold_ml&amp;user_id=user3%40x.com'" in page


def test_health_page_cache_follows_delta_versions(client, tokens, account):
    """The page is kept per Delta version of the tables it shows: a reload serves the same body;
    a new scoring (a new Champion's predictions land as a new version of the prediction table)
    shows at the next load; so does a table dropped and re-created, whose versions restart."""
    from healthmon.server import ui_data

    login(client, tokens.alice)
    first = client.get("/health").text
    assert "job_failure_predictor v3, scored 2026-01-21 05:00 UTC" in first
    built = list(ui_data._BODIES.values())
    assert client.get("/health").text == first
    kept = list(ui_data._BODIES.values())
    assert len(kept) == 1 and kept[0] is built[0]  # served, not rebuilt

    rescored = pd.Timestamp("2026-01-22 05:00", tz="UTC")
    fqn = "main.system_gold_ml.job_failure_predictions"
    account.write_table(fqn, pd.DataFrame([{"job_id": "44", "run_date": DAYS[-1], "prediction": 1.0,
                                            "probability": 0.97}]).assign(
        model_name="job_failure_predictor", model_version=4, run_id="r4", scored_at=rescored,
        scored_date=rescored.date()), mode="append")
    page = client.get("/health").text
    assert "job_failure_predictor v4, scored 2026-01-22 05:00 UTC" in page
    assert "href='/health?schema=main.system_gold_ml&amp;job_id=44'" in page  # the new scoring's rows
    assert "1 jobs with failure risk &gt;= 0.5" in page

    # dropped and re-created: version 0 again, with other rows
    account.drop_table(fqn)
    account.write_table(fqn, pd.DataFrame([{"job_id": "45", "run_date": DAYS[-1], "prediction": 0.0,
                                            "probability": 0.2}]).pipe(_scored, "job_failure_predictor"))
    page = client.get("/health").text
    assert "job_id=45'" in page and "job_id=44'" not in page


def test_delta_version_is_the_latest_commit(tmp_path, account, settings):
    from healthmon.server.ui_data import delta_version

    table = settings.lakehouse_root / "main" / "gold" / "dim_job"
    version, _ = delta_version(table)
    assert version == account.delta_table("main.gold.dim_job").version()
    account.write_table("main.gold.dim_job", pd.DataFrame([{"job_id": "43", "name": "hourly"}]), mode="append")
    assert delta_version(table)[0] == version + 1
    assert delta_version(tmp_path / "not_a_table") is None


def test_entity_views_are_histories(client, tokens, account):
    login(client, tokens.alice)
    job = client.get("/health?schema=main.system_gold_ml&section=jobs&job_id=42").text
    assert "Failure and SLA risk of job 42 (nightly_etl)" in job and "Security alerts" not in job
    assert len(re.findall(r"<td>2026-01-\d\d</td>", job)) == 20  # one row per run day
    ws = client.get("/health?schema=main.system_gold_ml&workspace_id=1001").text
    assert "Cost anomalies of workspace 1001" in ws and "Daily list cost, workspace 1001" in ws
    assert "<td>2026-01-16</td>" in ws and "Jobs most likely" not in ws
    # an alert's link (healthmon.ml.alerts.health_link): section and entity, plus the day it names
    alert = client.get("/health?schema=main.system_gold_ml&section=cost_anomalies&workspace_id=1001&date=2026-01-16")
    assert alert.status_code == 200 and alert.text.count("<section id=") == 1 and "<td>2026-01-16</td>" in alert.text
    ranged = client.get("/health?workspace_id=1001&start=2026-01-01&end=2026-01-10").text
    assert "No flagged workspace-day for workspace 1001 in 2026-01-01 to 2026-01-10." in ranged


@pytest.mark.parametrize("query, message", [
    ("start=2026-02-30", "start=&#39;2026-02-30&#39;: expected a date as YYYY-MM-DD."),
    ("start=2026-01-10&end=2026-01-01", "The date range is empty: start 2026-01-10 is after end 2026-01-01."),
    ("schema=nowhere.ml", "nowhere.ml has no prediction tables. Schemas with predictions: main.system_gold_ml."),
])
def test_bad_input_is_a_message_on_the_page(client, tokens, account, query, message):
    login(client, tokens.alice)
    resp = client.get(f"/health?{query}")
    assert resp.status_code == 400 and message in resp.text and 'id="health-filters"' in resp.text


def test_health_without_predictions_says_so(client, tokens):
    login(client, tokens.alice)
    page = client.get("/health").text
    assert "No predictions yet" in page


def _register(settings, short: str, champion: bool, metrics: dict) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    from healthmon.lakehouse.registry import configure_mlflow

    configure_mlflow(settings)
    mlflow.set_experiment("/healthmon/ui-test")
    with mlflow.start_run() as run:
        mlflow.log_metrics(metrics)
    client = MlflowClient()
    name = f"main.system_gold_ml.{short}"
    client.create_registered_model(name)
    version = client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
    if champion:
        client.set_registered_model_alias(name, "Champion", version.version)


def test_models_page_one_row_per_model_with_verdicts(client, tokens, settings, account):
    from healthmon.ml.models import MODELS

    _register(settings, "job_failure_predictor", True, {"roc_auc": 0.91, "pr_auc": 0.4})
    _register(settings, "cost_anomaly_detector", False, {"f1": 0.5})
    login(client, tokens.alice)
    page = client.get("/models").text
    rows = [part.split('">', 1) for part in page.split('<table class="models report">')[1].rsplit("</tbody></table>", 1)[0].split('<tr class="model" data-model="')[1:]]
    assert [name for name, _ in rows] == list(MODELS)
    by = dict(rows)
    job = by["job_failure_predictor"]
    assert "<td>reliability</td><td>binary</td>" in job and '<td class="champion">v1</td>' in job
    assert "ROC-AUC 0.830 ± 0.030 over 10 fresh accounts vs failure_rate_30d 0.780" in job
    assert '<span class="badge good">beats baseline</span>' in job
    assert "roc_auc = 0.91" in job  # metrics detail behind the click (<details>)
    assert "no Champion" in by["cost_anomaly_detector"] and '<span class="badge bad">does not beat baseline</span>' in by["cost_anomaly_detector"]
    assert "not registered" in by["sla_breach_predictor"] and '<span class="badge na">not evaluated</span>' in by["sla_breach_predictor"]


def test_models_page_without_registry_content(client, tokens, monkeypatch, tmp_path):
    monkeypatch.setenv("HEALTHMON_EVALUATION", str(tmp_path / "none.json"))
    login(client, tokens.alice)
    page = client.get("/models").text
    assert 'id="no-models"' in page and "no evaluation yet" in page
    assert page.count('<span class="badge na">not evaluated</span>') == 25


# -- in headless Chromium: what a person sees, screenshots in test-output/ui/ -----------------

@pytest.mark.slow
@pytest.mark.timeout(300)
def test_health_and_models_in_chromium(app, tokens, account, settings, db, browser):
    from healthmon.jobs import service
    from healthmon.store.runs import RunRecord
    from tests.server.conftest import LiveServer
    from tests.server.test_server_ui_browser import SHOTS

    SHOTS.mkdir(parents=True, exist_ok=True)
    # a wide task graph: seven levels do not fit beside the timeline, the card scrolls instead
    tasks = [{"task_key": f"step_{i}_with_a_long_name", **({"depends_on": [{"task_key": f"step_{i - 1}_with_a_long_name"}]} if i else {}),
              "spark_python_task": {"python_file": "/nonexistent.py"}} for i in range(7)]
    job_id = service.create_job({"name": "chain", "tasks": tasks}, user_name="tester@example.com")
    with db.session() as s:
        run = RunRecord(job_id=job_id, run_name="chain", creator_user_name="tester@example.com",
                        life_cycle_state="TERMINATED", result_state="SUCCESS", start_time=1_700_000_000_000,
                        end_time=1_700_000_060_000)
        run.set_j("settings", {"name": "chain", "tasks": tasks})
        s.add(run)
        s.flush()
        run_id = run.run_id
    with LiveServer(app) as srv:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{srv.url}/login?next=/health")
        page.fill("#token", tokens.admin)
        page.click("button[type=submit]")
        page.wait_for_url(f"{srv.url}/health")
        assert "Security alerts per user: 1 alerts for 1 users" in page.inner_text("ul.summary")
        assert page.locator("#security tbody tr").count() == 1
        assert "does not beat baseline" in page.inner_text("#cost_anomalies .models")
        assert page.locator("#forecast svg.chart text", has_text="Actual daily cost").count() == 1
        page.screenshot(path=str(SHOTS / "health_overview.png"), full_page=True)

        page.click("#security a:text('user3@x.com')")  # the user's alert history
        page.wait_for_url("**/health?*user_id=user3%40x.com*")
        assert page.inner_text("#security h2").startswith("Security alerts of user3@x.com")
        assert "privilege_escalation_detector" in page.inner_text("#security table")
        page.screenshot(path=str(SHOTS / "health_user.png"), full_page=True)

        page.goto(f"{srv.url}/health")
        page.click("#cost_anomalies a:text('1001')")  # the workspace's cost history
        page.wait_for_url("**/health?*workspace_id=1001*")
        assert page.locator("section").count() == 2
        page.fill("input[name=start]", "2026-01-01")
        page.fill("input[name=end]", "2026-01-10")
        page.click("#health-filters button[type=submit]")
        page.wait_for_url("**start=2026-01-01*")
        assert "No flagged workspace-day for workspace 1001 in 2026-01-01 to 2026-01-10." in page.inner_text("#cost_anomalies")
        page.screenshot(path=str(SHOTS / "health_workspace_range.png"), full_page=True)
        page.click("#clear-filters")
        assert page.locator("section").count() == 5

        page.goto(f"{srv.url}/health?start=2026-01-10&end=2026-01-01")
        assert "The date range is empty" in page.inner_text("#health-problem")
        page.screenshot(path=str(SHOTS / "health_bad_range.png"), full_page=True)

        page.goto(f"{srv.url}/models")
        assert page.locator("tr.model").count() == 25
        assert page.inner_text("tr.model[data-model='job_failure_predictor'] .badge") == "beats baseline"
        page.screenshot(path=str(SHOTS / "models_verdicts.png"), full_page=True)

        page.goto(f"{srv.url}/jobs/{job_id}/runs/{run_id}")
        card = page.locator("#run-dag")
        last = page.locator("#run-dag g.task[data-task='step_6_with_a_long_name']")
        # the graph never pushes the page wider than the window; the card scrolls to its last node
        assert page.evaluate("document.documentElement.scrollWidth") <= 1400
        assert card.evaluate("el => el.scrollWidth > el.clientWidth")
        last.scroll_into_view_if_needed()
        box, frame = last.bounding_box(), card.bounding_box()
        assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"]
        page.screenshot(path=str(SHOTS / "run_wide_graph.png"), full_page=True)
    for name in ("health_overview", "health_user", "health_workspace_range", "health_bad_range", "models_verdicts",
                 "run_wide_graph"):
        assert (SHOTS / f"{name}.png").stat().st_size > 5000
