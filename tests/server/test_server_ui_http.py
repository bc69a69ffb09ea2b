"""The web UI over HTTP: login cookie flags, redirects, CSRF on every POST, permissions, the
task graph and Gantt SVG (the Health and Models pages: test_server_health_models.py)."""

from __future__ import annotations

import re

import pytest

from healthmon.jobs import service
from healthmon.server import ui_svg
from healthmon.store.runs import RunRecord


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html).group(1)


def login(client, token: str, next_path: str = "/jobs"):
    """Log in through the form, as a browser does: GET /login (its CSRF nonce cookie), then POST."""
    form = client.get("/login")
    return client.post("/login", data={"token": token, "next": next_path, "csrf_token": csrf_of(form.text)},
                       follow_redirects=False)


@pytest.fixture
def job(db):
    settings = {"name": "nightly", "tags": {"team": "ml"}, "tasks": [
        {"task_key": "extract", "spark_python_task": {"python_file": "/nonexistent.py"}},
        {"task_key": "train", "depends_on": [{"task_key": "extract"}], "spark_python_task": {"python_file": "/nonexistent.py"}},
    ], "schedule": {"quartz_cron_expression": "0 0 3 * * ?", "timezone_id": "America/Los_Angeles"},
        "permissions": [{"level": "CAN_VIEW", "user_name": "carol@example.com"}]}
    job_id = service.create_job(settings, user_name="alice@example.com")
    with db.session() as s:
        run = RunRecord(job_id=job_id, run_name="nightly", creator_user_name="alice@example.com",
                        life_cycle_state="TERMINATED", result_state="FAILED", start_time=1_700_000_000_000,
                        end_time=1_700_000_060_000)
        run.set_j("settings", settings)
        s.add(run)
        s.flush()
        return job_id, run.run_id


@pytest.mark.parametrize("path", ["/jobs", "/jobs/1", "/jobs/1/runs/1", "/models", "/health", "/runs/1"])
def test_pages_need_a_session(client, path):
    resp = client.get(path, follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"].startswith("/login?next=")


def test_login_sets_a_strict_httponly_cookie(client, tokens):
    bad = login(client, "dapi" + "1" * 32)
    assert bad.status_code == 401 and "unknown, revoked or expired" in bad.text
    ok = login(client, tokens.alice)
    assert ok.status_code == 303 and ok.headers["location"] == "/jobs"
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert tokens.alice not in client.get("/jobs").text  # the page never shows the token


def test_login_refuses_open_redirects(client, tokens):
    resp = login(client, tokens.alice, "//evil.example/x")
    assert resp.headers["location"] == "/jobs"


def test_posts_need_the_session_csrf_token(client, tokens, job):
    job_id, run_id = job
    login(client, tokens.alice)
    page = client.get(f"/jobs/{job_id}")
    token = csrf_of(page.text)
    for path in (f"/jobs/{job_id}/run-now", f"/jobs/{job_id}/runs/{run_id}/cancel", f"/jobs/{job_id}/runs/{run_id}/repair", "/logout"):
        for bad in ({}, {"csrf_token": "0" * 64}):
            resp = client.post(path, data=bad, follow_redirects=False)
            assert resp.status_code == 400 and "CSRF" in resp.text, (path, bad)
    # Another session's CSRF token does not work in this one.
    other = login(client, tokens.admin)
    assert other.status_code == 303
    resp = client.post(f"/jobs/{job_id}/runs/{run_id}/cancel", data={"csrf_token": token}, follow_redirects=False)
    assert resp.status_code == 400
    fresh = csrf_of(client.get(f"/jobs/{job_id}").text)
    resp = client.post(f"/jobs/{job_id}/runs/{run_id}/cancel", data={"csrf_token": fresh}, follow_redirects=False)
    assert resp.status_code == 303


def test_viewer_sees_but_cannot_run(client, tokens, job):
    job_id, run_id = job
    login(client, tokens.carol)
    listing = client.get("/jobs").text
    assert "nightly" in listing and "Run now" not in listing
    run_page = client.get(f"/jobs/{job_id}/runs/{run_id}").text
    assert "FAILED" in run_page and "repair-run" not in run_page
    token = csrf_of(listing)
    resp = client.post(f"/jobs/{job_id}/run-now", data={"csrf_token": token}, follow_redirects=False)
    assert resp.status_code == 403 and "does not have Manage Run permissions" in resp.text


def test_outsider_cannot_see_the_job(client, tokens, job):
    job_id, run_id = job
    login(client, tokens.bob)
    assert "nightly" not in client.get("/jobs").text
    assert client.get(f"/jobs/{job_id}").status_code == 403
    assert client.get(f"/jobs/{job_id}/runs/{run_id}").status_code == 403


def test_job_and_run_pages(client, tokens, job):
    job_id, run_id = job
    login(client, tokens.alice)
    jobs = client.get("/jobs").text
    assert "0 0 3 * * ?" in jobs and "team: ml" in jobs and 'data-state="FAILED"' in jobs
    page = client.get(f"/jobs/{job_id}").text
    assert 'data-task="extract"' in page and 'data-task="train"' in page and "quartz_cron_expression" in page
    run = client.get(f"/jobs/{job_id}/runs/{run_id}").text
    assert "repair-run" in run and "http-equiv=\"refresh\"" not in run  # finished: no auto-refresh
    assert client.get(f"/runs/{run_id}", follow_redirects=False).headers["location"] == f"/jobs/{job_id}/runs/{run_id}"


def test_dag_levels_and_svg_escape():
    tasks = [{"task_key": "a"}, {"task_key": "b", "depends_on": [{"task_key": "a"}]},
             {"task_key": "c", "depends_on": [{"task_key": "a"}, {"task_key": "b"}]},
             {"task_key": "<x>", "depends_on": [{"task_key": "missing"}]}]
    assert ui_svg.task_levels(tasks) == {"a": 0, "b": 1, "c": 2, "<x>": 0}
    svg = ui_svg.dag_svg(tasks, {"a": "SUCCESS", "b": "FAILED"})
    assert "<x>" not in svg and "&lt;x&gt;" in svg
    assert svg.count("marker-end") == 3  # a→b, a→c, b→c (the missing dependency draws nothing)
    assert f'fill="{ui_svg.STATE_COLOURS["FAILED"]}"' in svg


def test_gantt_scales_attempts():
    svg = ui_svg.gantt_svg([
        {"task_key": "a", "attempt_number": 0, "start_time": 1000, "end_time": 3000, "state": {"result_state": "FAILED"}},
        {"task_key": "a", "attempt_number": 1, "start_time": 3000, "end_time": 5000, "state": {"result_state": "SUCCESS"}},
    ], now_ms=6000)
    bars = [(int(x), int(w)) for x, w in re.findall(r'<rect x="(\d+)" y="\d+" width="(\d+)"', svg)]
    (x0, w0), (x1, w1) = bars
    assert w0 == w1 > 100 and x1 == x0 + w0  # equal halves of the span, back to back
    assert "a #1" in svg and ui_svg.STATE_COLOURS["FAILED"] in svg


def test_pages_refuse_wrong_revoked_and_expired_session_cookies(client, db, tokens, job):
    from sqlalchemy import update

    from healthmon.store import auth

    job_id, run_id = job
    with db.session() as s:
        revoked = auth.create_token(s, "alice@example.com")
        expired = auth.create_token(s, "alice@example.com", lifetime_seconds=60)
    with db.session() as s:
        auth.revoke_token(s, revoked.info["token_id"])
        s.execute(update(auth.TokenRecord).where(auth.TokenRecord.token_id == expired.info["token_id"]).values(expiry_time=1))
    for value in ("dapi" + "2" * 32, revoked.token_value, expired.token_value, tokens.alice + "x"):
        client.cookies.set("healthmon_session", value)
        for path in ("/jobs", f"/jobs/{job_id}", f"/jobs/{job_id}/runs/{run_id}", "/models", "/health"):
            resp = client.get(path, follow_redirects=False)
            assert resp.status_code == 303 and resp.headers["location"].startswith("/login"), (value[:8], path)
        resp = client.post(f"/jobs/{job_id}/run-now", data={"csrf_token": "0" * 64}, follow_redirects=False)
        assert resp.status_code == 303 and resp.headers["location"].startswith("/login")
    client.cookies.clear()


def test_csrf_key_is_shared_by_processes_of_one_workspace(settings, tmp_path):
    from healthmon.server.app import create_app
    from healthmon.server.ui import csrf_token
    from healthmon.settings import Settings

    first, second = create_app(settings), create_app(settings)
    assert csrf_token(first, "dapi" + "a" * 32) == csrf_token(second, "dapi" + "a" * 32)
    assert (settings.home / ".server-secret").stat().st_mode & 0o077 == 0
    other = create_app(Settings.from_env(tmp_path / "other-home"))
    assert csrf_token(other, "dapi" + "a" * 32) != csrf_token(first, "dapi" + "a" * 32)


def test_one_time_run_page_and_cancel_belong_to_its_creator(client, db, tokens):
    """A runs/submit run has no job: its page and buttons live under job 0, for its creator
    (and admins) only; the Cancel button goes through the same run action as a job run's."""
    with db.session() as s:
        run = RunRecord(job_id=0, run_name="adhoc", run_type="SUBMIT_RUN", creator_user_name="alice@example.com",
                        life_cycle_state="RUNNING", start_time=1_700_000_000_000)
        run.set_j("settings", {"name": "adhoc", "tasks": [{"task_key": "a", "spark_python_task": {"python_file": "/x.py"}}]})
        s.add(run)
        s.flush()
        run_id = run.run_id
    login(client, tokens.carol)
    assert client.get(f"/jobs/0/runs/{run_id}").status_code == 403
    assert client.get(f"/jobs/7/runs/{run_id}").status_code == 403  # the same, whatever job the URL names
    assert client.get(f"/runs/{run_id}", follow_redirects=False).status_code == 404
    login(client, tokens.alice)
    assert client.get(f"/runs/{run_id}", follow_redirects=False).headers["location"] == f"/jobs/0/runs/{run_id}"
    page = client.get(f"/jobs/0/runs/{run_id}")
    assert page.status_code == 200 and f'action="/jobs/0/runs/{run_id}/cancel"' in page.text
    wrong_job = client.post(f"/jobs/1/runs/{run_id}/cancel", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert wrong_job.status_code == 404
    resp = client.post(f"/jobs/0/runs/{run_id}/cancel", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == f"/jobs/0/runs/{run_id}"
    with db.session() as s:
        assert s.get(RunRecord, run_id).cancel_requested
