"""End to end in headless Chromium (Debian's, driven by Playwright): log in with a token, walk
Jobs → Job → Run (DAG, Gantt, child run and back), Run now, Models and Health; a screenshot of
each page goes to test-output/ (not committed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from healthmon.jobs import service
from tests.server.conftest import LiveServer, workspace_file

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "ui"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _register_model(settings) -> None:
    from mlflow.tracking import MlflowClient

    from healthmon.lakehouse.registry import configure_mlflow

    configure_mlflow(settings)
    import mlflow

    mlflow.set_experiment("/healthmon/ui-test")
    with mlflow.start_run() as run:
        mlflow.log_metric("roc_auc", 0.91)
        mlflow.log_metric("f1", 0.77)
    client = MlflowClient()
    client.create_registered_model("main.system_gold_ml.job_failure_predictor", description="XGB failure classifier")
    version = client.create_model_version("main.system_gold_ml.job_failure_predictor", f"runs:/{run.info.run_id}/model", run.info.run_id)
    client.set_registered_model_alias("main.system_gold_ml.job_failure_predictor", "champion", version.version)


def _write_predictions(settings) -> None:
    import pandas as pd
    from deltalake import write_deltalake

    schema = settings.lakehouse_root / "main" / "system_gold_ml"
    days = [f"2026-01-{d:02d}" for d in range(1, 21)]
    write_deltalake(str(schema / "budget_forecast_predictions"), pd.DataFrame(
        {"workspace_id": ["w1"] * 20, "usage_date": days, "prediction": [100.0 + 3 * i for i in range(20)]}))
    write_deltalake(str(schema / "cost_features"), pd.DataFrame(
        {"workspace_id": ["w1"] * 20, "usage_date": days, "daily_cost": [95.0 + 4 * i + (15 if i == 12 else 0) for i in range(20)]}))
    write_deltalake(str(schema / "cost_anomaly_predictions"), pd.DataFrame(
        {"workspace_id": ["w1", "w1"], "usage_date": ["2026-01-13", "2026-01-14"], "prediction": [-1, 1],
         "model_name": ["cost_anomaly_detector"] * 2, "scored_at": pd.to_datetime(["2026-01-21"] * 2)}))
    write_deltalake(str(schema / "job_failure_predictions"), pd.DataFrame(
        {"workspace_id": ["w1", "w2"], "job_id": ["42", "43"], "run_date": ["2026-01-20"] * 2, "prediction": [1, 0]}))


def test_walk_every_page(app, tokens, settings, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    ok = workspace_file(settings, "tester@example.com", "ok.py", "print('child task output line')\n")
    fail = workspace_file(settings, "tester@example.com", "fail.py", "raise ValueError('bad input row 7')\n")
    child_id = service.create_job({"name": "child job", "tasks": [{"task_key": "child_step", "spark_python_task": {"python_file": ok}}]},
                                  user_name="tester@example.com")
    parent_id = service.create_job({
        "name": "parent job", "tags": {"domain": "reliability"},
        "schedule": {"quartz_cron_expression": "0 30 2 * * ?", "timezone_id": "UTC"},
        "tasks": [
            {"task_key": "prepare", "spark_python_task": {"python_file": ok}},
            {"task_key": "call_child", "depends_on": [{"task_key": "prepare"}], "run_job_task": {"job_id": child_id}},
            {"task_key": "score", "depends_on": [{"task_key": "prepare"}], "spark_python_task": {"python_file": fail}},
        ]}, user_name="tester@example.com")
    run_id = service.run_now(parent_id, user_name="tester@example.com")
    service.wait_for_run(run_id, timeout=120)
    _register_model(settings)
    _write_predictions(settings)

    with LiveServer(app) as srv:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{srv.url}/jobs/{parent_id}")
        assert "/login" in page.url
        page.screenshot(path=str(SHOTS / "login.png"))
        page.fill("#token", "dapi" + "0" * 32)
        page.click("button[type=submit]")
        assert page.is_visible("#login-error")
        page.fill("#token", tokens.admin)
        page.click("button[type=submit]")
        page.wait_for_url(f"{srv.url}/jobs/{parent_id}")
        assert page.inner_text("#current-user") == "tester@example.com"
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert cookies["healthmon_session"]["httpOnly"] and cookies["healthmon_session"]["sameSite"] == "Strict"
        assert tokens.admin not in cookies["healthmon_session"]["value"]  # a session id, not the token
        assert page.evaluate("document.cookie") == ""  # invisible to scripts
        page.screenshot(path=str(SHOTS / "job.png"), full_page=True)
        assert page.locator("#task-graph g.task").count() == 3

        page.goto(f"{srv.url}/jobs")
        row = page.locator(f"tr[data-job-id='{parent_id}']")
        assert "domain: reliability" in row.inner_text() and "0 30 2 * * ?" in row.inner_text()
        assert row.locator(".dot[data-state='FAILED']").count() == 1
        page.screenshot(path=str(SHOTS / "jobs.png"), full_page=True)

        row.locator(".dot").first.click()
        page.wait_for_url(f"{srv.url}/jobs/{parent_id}/runs/{run_id}")
        assert page.inner_text("#run-state") == "FAILED"
        states = {g.get_attribute("data-task"): g.get_attribute("data-state") for g in page.locator("#run-dag g.task").all()}
        assert states == {"prepare": "SUCCESS", "call_child": "SUCCESS", "score": "FAILED"}
        assert page.locator("#gantt g.attempt").count() == 3
        score = page.locator(".task-output[data-task='score']")
        assert "bad input row 7" in score.inner_text()
        assert page.is_visible("#repair-run")
        page.screenshot(path=str(SHOTS / "run.png"), full_page=True)

        page.click(".child-run")
        page.wait_for_url(f"{srv.url}/jobs/{child_id}/runs/*")
        assert "child task output line" in page.inner_text(".task-output[data-task='child_step']")
        page.screenshot(path=str(SHOTS / "child_run.png"), full_page=True)
        page.click("#parent-run")
        page.wait_for_url(f"{srv.url}/jobs/{parent_id}/runs/{run_id}")

        # Repair from the UI (CSRF-protected POST) after fixing the failing script.
        workspace_file(settings, "tester@example.com", "fail.py", "print('fixed now')\n")
        page.click("#repair-run")
        page.wait_for_url(f"{srv.url}/jobs/{parent_id}/runs/{run_id}")
        service.wait_for_run(run_id, timeout=120)
        page.reload()
        assert page.inner_text("#run-state") == "SUCCESS"
        page.screenshot(path=str(SHOTS / "run_repaired.png"), full_page=True)

        # Run now on the child job: lands on the new run page, which refreshes while active.
        page.goto(f"{srv.url}/jobs/{child_id}")
        page.click("#run-now")
        page.wait_for_url(f"{srv.url}/jobs/{child_id}/runs/*")
        new_run = int(page.url.rsplit("/", 1)[1])
        service.wait_for_run(new_run, timeout=120)
        page.reload()
        assert page.inner_text("#run-state") == "SUCCESS"
        assert service.get_run(new_run)["creator_user_name"] == "tester@example.com"

        page.goto(f"{srv.url}/models")
        model = page.locator("tr.model[data-model='job_failure_predictor']")
        assert model.locator("td.champion").inner_text() == "v1"
        assert not page.is_visible("text=roc_auc = 0.91")
        model.locator("summary").click()  # metrics detail on click
        assert page.is_visible("text=roc_auc = 0.91")
        assert page.locator("tr.model").count() == 25
        page.screenshot(path=str(SHOTS / "models.png"), full_page=True)

        page.goto(f"{srv.url}/health")
        assert page.input_value("select[name=schema]") == "main.system_gold_ml"
        assert page.locator("#forecast svg.chart").count() == 1
        anomalies = page.locator("#cost_anomalies table tbody tr")
        assert anomalies.count() == 1 and "2026-01-13" in anomalies.inner_text()
        page.screenshot(path=str(SHOTS / "health.png"), full_page=True)

        page.click("text=Log out")
        page.wait_for_url(f"{srv.url}/login")
        page.goto(f"{srv.url}/jobs")
        assert "/login" in page.url
    for name in ("login", "jobs", "job", "run", "child_run", "run_repaired", "models", "health"):
        assert (SHOTS / f"{name}.png").stat().st_size > 5000
