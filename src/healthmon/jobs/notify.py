"""Run notifications: email (SMTP) and webhooks, for on_start / on_success / on_failure /
on_duration_warning_threshold_exceeded, at job and task level.

SMTP settings come from the environment: ``HEALTHMON_SMTP_HOST`` (default localhost),
``HEALTHMON_SMTP_PORT`` (25), ``HEALTHMON_SMTP_STARTTLS`` (1 to upgrade), ``HEALTHMON_SMTP_USER`` /
``HEALTHMON_SMTP_PASSWORD`` (login when set), ``HEALTHMON_SMTP_FROM``. Webhook destinations are
``webhook_notifications.<event>[].id``: an ``http(s)://`` URL used as is, or an id looked up in
``$HEALTHMON_HOME/notification_destinations.json`` (``{"<id>": "<url>"}``).

``notification_settings.no_alert_for_skipped_runs`` / ``no_alert_for_canceled_runs`` are honoured.
A notification failure is appended to ``<runs_root>/<run_id>/notifications.log`` and never
changes the run's result.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from healthmon.settings import Settings, env_number
from healthmon.store.db import Database
from healthmon.store.runs import RunRecord, get_run

EVENTS = ("on_start", "on_success", "on_failure", "on_duration_warning_threshold_exceeded")


def _log(run_id: int, text: str) -> None:
    path = Settings.from_env().runs_root / str(run_id) / "notifications.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {text}\n")


def _skip(notification_settings: dict, row: RunRecord) -> bool:
    if notification_settings.get("no_alert_for_skipped_runs") and row.result_state in (
        "UPSTREAM_FAILED", "UPSTREAM_CANCELED", "EXCLUDED", "MAXIMUM_CONCURRENT_RUNS_REACHED"
    ):
        return True
    if notification_settings.get("no_alert_for_canceled_runs") and row.result_state in (
        "CANCELED",
        "UPSTREAM_CANCELED",
    ):
        return True
    return False


def send_email(to: list[str], subject: str, body: str) -> None:
    import smtplib
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = os.environ.get("HEALTHMON_SMTP_FROM", "healthmon@localhost")
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg.set_content(body)
    host = os.environ.get("HEALTHMON_SMTP_HOST", "localhost")
    port = int(env_number("HEALTHMON_SMTP_PORT") or 25)
    with smtplib.SMTP(host, port, timeout=10) as smtp:
        if os.environ.get("HEALTHMON_SMTP_STARTTLS", "0") in ("1", "true", "yes"):
            smtp.starttls()
        user = os.environ.get("HEALTHMON_SMTP_USER")
        if user:
            smtp.login(user, os.environ.get("HEALTHMON_SMTP_PASSWORD", ""))
        smtp.send_message(msg)


def _webhook_url(dest_id: str) -> str:
    if dest_id.startswith(("http://", "https://")):
        return dest_id
    path = Settings.from_env().home / "notification_destinations.json"
    try:
        table = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        table = {}
    if dest_id not in table:
        raise LookupError(f"webhook destination {dest_id!r} is not defined in {path}")
    return table[dest_id]


def post_webhook(url: str, payload: dict[str, Any]) -> None:
    import httpx

    resp = httpx.post(url, json=payload, timeout=10)
    resp.raise_for_status()


def _describe(row: RunRecord, job_name: str, event: str, task_key: str | None) -> tuple[str, str, dict]:
    what = f"task {task_key} of job {job_name}" if task_key else f"job {job_name}"
    label = {"on_start": "started", "on_success": "succeeded", "on_failure": "failed",
             "on_duration_warning_threshold_exceeded": "is running longer than expected"}[event]
    run_id = row.job_run_id if task_key else row.run_id
    subject = f"[healthmon] Run {run_id} of {what} {label}"
    body = (f"Run {run_id} of {what} {label}.\n\nState: {row.life_cycle_state} {row.result_state or ''}\n"
            f"Message: {row.state_message or ''}\n")
    payload = {
        "event_type": {
            "on_start": "jobs.on_start",
            "on_success": "jobs.on_success",
            "on_failure": "jobs.on_failure",
            "on_duration_warning_threshold_exceeded": "jobs.on_duration_warning_threshold_exceeded",
        }[event],
        "run": {
            "run_id": run_id,
            "task_key": task_key,
            "result_state": row.result_state,
            "life_cycle_state": row.life_cycle_state,
            "state_message": row.state_message,
        },
        "job": {"job_id": row.job_id, "name": job_name},
    }
    return subject, body, payload


def dispatch(row: RunRecord, holder: dict, job_name: str, event: str, task_key: str | None, log_run_id: int) -> None:
    """Send the notifications ``holder`` (job settings or a task's settings) asks for ``event``."""
    emails = (holder.get("email_notifications") or {}).get(event) or []
    hooks = (holder.get("webhook_notifications") or {}).get(event) or []
    if not emails and not hooks:
        return
    if event != "on_start" and _skip(holder.get("notification_settings") or {}, row):
        return
    subject, body, payload = _describe(row, job_name, event, task_key)
    if emails:
        try:
            send_email(list(emails), subject, body)
            _log(log_run_id, f"email {event} sent to {', '.join(emails)}")
        except Exception as exc:
            _log(log_run_id, f"email {event} to {', '.join(emails)} FAILED: {type(exc).__name__}: {exc}")
    for hook in hooks:
        dest = hook.get("id", "") if isinstance(hook, dict) else str(hook)
        try:
            post_webhook(_webhook_url(dest), payload)
            _log(log_run_id, f"webhook {event} posted to {dest}")
        except Exception as exc:
            _log(log_run_id, f"webhook {event} to {dest} FAILED: {type(exc).__name__}: {exc}")


def run_event(run_id: int, event: str) -> None:
    try:
        db = Database.from_settings(Settings.from_env())
        with db.session() as s:
            row = get_run(s, run_id)
            settings = row.j("settings")
        dispatch(row, settings, settings.get("name") or f"job {row.job_id}", event, None, run_id)
    except Exception as exc:  # never fail a run because of a notification
        _log(run_id, f"{event} notifications FAILED: {type(exc).__name__}: {exc}")


def task_event(task_run_id: int, job_run_id: int, job_name: str, task: dict, event: str) -> None:
    if not task.get("email_notifications") and not task.get("webhook_notifications"):
        return
    try:
        db = Database.from_settings(Settings.from_env())
        with db.session() as s:
            row = get_run(s, task_run_id)
        dispatch(row, task, job_name, event, task.get("task_key"), job_run_id)
    except Exception as exc:
        _log(job_run_id, f"task {task.get('task_key')} {event} notifications FAILED: {type(exc).__name__}: {exc}")


def duration_threshold(holder: dict) -> float | None:
    for rule in (holder.get("health") or {}).get("rules") or []:
        if rule.get("metric") == "RUN_DURATION_SECONDS" and rule.get("op", "GREATER_THAN") == "GREATER_THAN":
            return float(rule.get("value"))
    return None
