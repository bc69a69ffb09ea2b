"""Notifications: a real SMTP server (aiosmtpd) and a real HTTP server receive them."""

from __future__ import annotations


from aiosmtpd.controller import Controller

from jobs_helpers import nb_task
from mail_helpers import Mailbox
from healthmon.jobs import service
from healthmon.settings import Settings


def wait_for(predicate, timeout: float = 10.0) -> None:
    import time

    deadline = time.time() + timeout
    while not predicate() and time.time() < deadline:
        time.sleep(0.05)


def test_email_and_webhook_notifications(ws, mailbox, hook):
    url, received, _ = hook
    ok = ws.notebook("ok", "print(1)")
    bad = ws.notebook("bad", "1/0")
    settings = {
        "name": "notified",
        "email_notifications": {"on_start": ["ops@example.com"], "on_failure": ["ops@example.com", "lead@example.com"],
                                "on_success": ["never@example.com"]},
        "webhook_notifications": {"on_failure": [{"id": url}]},
        "tasks": [nb_task("ok", ok, email_notifications={"on_success": ["task-owner@example.com"]}), nb_task("bad", bad)],
    }
    job = service.create_job(settings)
    run = service.wait_for_run(service.run_now(job), timeout=60)
    assert run["state"]["result_state"] == "FAILED"
    # Notifications are sent after the run is terminal, as on Databricks: give them a moment.
    wait_for(lambda: received and len(mailbox.messages) >= 3)
    subjects = {}
    for rcpts, content in mailbox.messages:
        subject = [l for l in content.splitlines() if l.startswith("Subject:")][0]
        for r in rcpts:
            subjects.setdefault(r, []).append(subject)
    assert any("started" in s for s in subjects["ops@example.com"])
    assert any("failed" in s for s in subjects["ops@example.com"]) and any("failed" in s for s in subjects["lead@example.com"])
    assert "never@example.com" not in subjects
    assert any("task ok" in s and "succeeded" in s for s in subjects["task-owner@example.com"])
    assert [p["event_type"] for p in received] == ["jobs.on_failure"]
    assert received[0]["run"]["run_id"] == run["run_id"] and received[0]["job"]["job_id"] == job


def test_notification_failure_is_logged_and_never_fails_the_run(ws, monkeypatch):
    monkeypatch.setenv("HEALTHMON_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("HEALTHMON_SMTP_PORT", "1")  # nothing listens there
    nb = ws.notebook("ok", "print(1)")
    job = service.create_job({"name": "n", "email_notifications": {"on_success": ["a@example.com"]},
                              "webhook_notifications": {"on_success": [{"id": "unknown-destination"}]},
                              "tasks": [nb_task("ok", nb)]})
    run = service.wait_for_run(service.run_now(job), timeout=60)
    assert run["state"]["result_state"] == "SUCCESS"
    path = Settings.from_env().runs_root / str(run["run_id"]) / "notifications.log"
    wait_for(lambda: path.exists() and "webhook" in path.read_text())
    log = path.read_text()
    assert "email on_success to a@example.com FAILED" in log
    assert "webhook on_success to unknown-destination FAILED" in log and "is not defined" in log


def test_no_alert_for_canceled_runs(ws, mailbox):
    import time

    nb = ws.notebook("slow", "import time\ntime.sleep(30)")
    job = service.create_job({"name": "quiet", "email_notifications": {"on_failure": ["x@example.com"]},
                              "notification_settings": {"no_alert_for_canceled_runs": True},
                              "tasks": [nb_task("slow", nb)]})
    run_id = service.run_now(job)
    time.sleep(0.5)
    service.cancel_run(run_id)
    assert service.wait_for_run(run_id, timeout=30)["state"]["result_state"] == "CANCELED"
    import time

    time.sleep(1.0)  # notifications would go out right after the terminal state
    assert mailbox.messages == []


def test_duration_warning_for_job_and_task(ws, mailbox):
    nb = ws.notebook("slowish", "import time\ntime.sleep(1.5)")
    job = service.create_job({
        "name": "warned",
        "health": {"rules": [{"metric": "RUN_DURATION_SECONDS", "op": "GREATER_THAN", "value": 1}]},
        "email_notifications": {"on_duration_warning_threshold_exceeded": ["job-owner@example.com"]},
        "tasks": [nb_task("slowish", nb,
                          health={"rules": [{"metric": "RUN_DURATION_SECONDS", "op": "GREATER_THAN", "value": 1}]},
                          email_notifications={"on_duration_warning_threshold_exceeded": ["task-owner@example.com"]})],
    })
    run = service.wait_for_run(service.run_now(job), timeout=60)
    assert run["state"]["result_state"] == "SUCCESS"
    wait_for(lambda: len(mailbox.messages) >= 2)
    got = {r: c for rcpts, c in mailbox.messages for r in rcpts}
    assert "running longer than expected" in got["job-owner@example.com"]
    assert "task slowish" in got["task-owner@example.com"]


def _self_signed(tmp_path):
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    return tmp_path / "cert.pem", tmp_path / "key.pem"


def test_smtp_starttls_and_login(ws, tmp_path, monkeypatch):
    import socket
    import ssl

    from aiosmtpd.smtp import AuthResult

    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"mailer" and auth_data.password == b"pw"
        logins.append((auth_data.login, ok))
        return AuthResult(success=ok)

    inbox = Mailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                            authenticator=authenticator, auth_require_tls=True)
    controller.start()
    try:
        monkeypatch.setenv("HEALTHMON_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("HEALTHMON_SMTP_PORT", str(port))
        monkeypatch.setenv("HEALTHMON_SMTP_STARTTLS", "1")
        monkeypatch.setenv("HEALTHMON_SMTP_USER", "mailer")
        monkeypatch.setenv("HEALTHMON_SMTP_PASSWORD", "pw")
        nb = ws.notebook("ok", "pass")
        job = service.create_job({"name": "tls", "email_notifications": {"on_success": ["ops@example.com"]},
                                  "tasks": [nb_task("ok", nb)]})
        service.wait_for_run(service.run_now(job), timeout=60)
        wait_for(lambda: inbox.messages)
    finally:
        controller.stop()
    assert logins == [(b"mailer", True)]
    assert inbox.messages and inbox.messages[0][0] == ["ops@example.com"]
