"""Alerts after inference: thresholds, deduplication (once, worse, resolved), real SMTP and
webhook delivery, and rule files with mistakes reported by file:line."""

from __future__ import annotations

import datetime as dt
import email
import os
import subprocess
import sys
from email import policy

import pandas as pd
import pytest

from healthmon.lakehouse import Lakehouse
from healthmon.ml.alerts import AlertRulesError, load_rules, run_alerts, state_table
from healthmon.ml.predictions import flagged

CAT, GOLD, ML = "cat", "gold", "ml"
SCORED = dt.datetime(2024, 2, 10, 6, tzinfo=dt.timezone.utc)
START = dt.date(2024, 1, 1)


def day(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


def _predictions(lh, table: str, df: pd.DataFrame, model: str) -> None:
    lh.create_schema(f"{CAT}.{ML}")
    lh.write_table(f"{CAT}.{ML}.{table}", df.assign(model_name=model, model_version=3, run_id="r",
                                                      scored_at=SCORED, scored_date=SCORED.date()), mode="overwrite")


def _costs(lh, spike: float, flagged_days: set) -> None:
    """40 days of 100 $/day per workspace; w2 spends ``spike`` more on day 39, flagged as told."""
    cost = pd.DataFrame([{"workspace_id": ws, "usage_date": day(n),
                          "daily_cost": 100.0 + (spike if (ws, n) == ("w2", 39) else 0.0)}
                         for ws in ("w1", "w2") for n in range(40)])
    lh.create_schema(f"{CAT}.{ML}")
    lh.write_table(f"{CAT}.{ML}.cost_features", cost, mode="overwrite")
    preds = cost[["workspace_id", "usage_date"]].copy()
    preds["is_anomaly"] = [(w, d) in flagged_days for w, d in zip(preds.workspace_id, preds.usage_date)]
    preds["prediction"] = preds["is_anomaly"].map({True: -1.0, False: 1.0})
    _predictions(lh, "cost_anomaly_predictions", preds, "cost_anomaly_detector")


@pytest.fixture
def lh():
    lh = Lakehouse.from_env()
    _costs(lh, spike=1500.0, flagged_days={("w2", day(39))})
    jobs = pd.DataFrame([{"job_id": j, "run_date": day(39), "prediction": float(p > .5), "probability": p}
                         for j, p in (("j1", 0.95), ("j2", 0.2))])
    _predictions(lh, "job_failure_predictions", jobs, "job_failure_predictor")
    sec = pd.DataFrame([{"user_id": u, "event_date": day(n),
                         "prediction": -1.0 if u == "mallory@x.com" and n >= 36 else 1.0}
                        for u in ("mallory@x.com", "alice@x.com") for n in range(40)])
    _predictions(lh, "security_threat_predictions", sec, "security_threat_detector")
    return lh


RULES = """\
server_url: http://health.example:8080
notify:
  email: [oncall@example.com]
  webhooks: [{{id: {hook}}}]
rules:
  - name: cost
    metric: cost_excess
    model: cost_anomaly_detector
    threshold: 1000
  - metric: failure_risk
    threshold: 0.9
  - metric: security_alerts
    threshold: 3
    window_days: 7
  - metric: drift_days
    threshold: 1
"""


def _rules(tmp_path, hook="http://127.0.0.1:9/none", text=RULES):
    path = tmp_path / "alert_rules.yml"
    path.write_text(text.format(hook=hook))
    return load_rules(path)


def _run(config, lh, send=True, **kw):
    return run_alerts(config, catalog=CAT, gold_schema=GOLD, feature_schema=ML, send=send, lakehouse=lh, **kw)


def test_sign_convention_flag_means_anomaly():
    assert flagged(pd.DataFrame({"prediction": [-1.0, 1.0, None]})).tolist() == [True, False, False]
    # is_anomaly wins when both are there
    assert flagged(pd.DataFrame({"prediction": [1.0, -1.0], "is_anomaly": [True, False]})).tolist() == [True, False]


def test_dry_run_shows_what_would_be_sent_and_records_nothing(lh, tmp_path):
    run = _run(_rules(tmp_path), lh, send=False)
    by_rule = {r.rule.name: r for r in run.results}
    assert [f.entity for f in by_rule["cost"].findings] == ["workspace w2"]
    assert [f.entity for f in by_rule["failure_risk"].findings] == ["job j1"]
    assert [f.entity for f in by_rule["security_alerts"].findings] == ["user mallory@x.com"]
    assert by_rule["drift_days"].skipped.startswith("no predictions: cat.ml.data_drift_predictions")
    assert sorted(e.kind for e in run.events) == ["NEW", "NEW", "NEW"]
    cost = next(m for m, _ in run.messages if "workspace w2" in m.subject)
    assert cost.subject == "[healthmon] cost_excess new: workspace w2 at $1,500.00"
    assert "observed daily cost $1,600.00 on 2024-02-09 (flagged by the detector)" in cost.text
    assert "expected $100.00 (mean of the previous 7 days); excess $1,500.00" in cost.text
    assert "Model: cost_anomaly_detector version 3, scored at 2024-02-10 06:00 UTC." in cost.text
    assert ("Health page: http://health.example:8080/health?schema=cat.ml&section=cost_anomalies"
            "&workspace_id=w2&date=2024-02-09") in cost.text
    assert not lh.table_exists(state_table(CAT, ML)) and run.sent == {}


def test_send_by_smtp_and_webhook_once_then_worse_then_resolved(lh, tmp_path, mailbox, hook):
    url, bodies, types = hook
    config = _rules(tmp_path, url)
    run = _run(config, lh)
    assert run.summary()["events"] == {"NEW": 3, "WORSENED": 0, "RESOLVED": 0}
    assert len(mailbox.messages) == 3 and len(bodies) == 3
    rcpts, raw = next(m for m in mailbox.messages if "job j1" in m[1])
    mail = email.message_from_string(raw, policy=policy.default)
    assert rcpts == ["oncall@example.com"]
    assert mail["Subject"] == "[healthmon] failure_risk new: job j1 at 0.95"
    body = mail.get_content()
    assert "observed failure risk 0.95 for job j1, run day 2024-02-09; expected below 0.90" in body
    assert "http://health.example:8080/health?schema=cat.ml&section=jobs&job_id=j1" in body
    slack = next(b for b in bodies if b["healthmon"]["entity"] == "user mallory@x.com")
    assert types[0] == "application/json"
    assert slack["text"].startswith("[healthmon] security_alerts new: user mallory@x.com at 4")
    assert slack["blocks"][0]["type"] == "section" and slack["blocks"][0]["text"]["type"] == "mrkdwn"
    assert "4 flagged user-days in the last 7 days (4 by security_threat_detector)" in slack["blocks"][0]["text"]["text"]
    assert slack["healthmon"]["event"] == "NEW" and slack["healthmon"]["value"] == 4

    # The same scoring again: the incidents are ongoing, nothing is sent.
    again = _run(config, lh)
    assert again.events == [] and len(mailbox.messages) == 3 and len(bodies) == 3

    # Worse by less than the ratio: still quiet; by 1.5x or more: one follow-up.
    _costs(lh, spike=2000.0, flagged_days={("w2", day(39))})
    assert _run(config, lh).events == []
    _costs(lh, spike=2600.0, flagged_days={("w2", day(39))})
    worse = _run(config, lh)
    assert [(e.kind, e.entity) for e in worse.events] == [("WORSENED", "workspace w2")]
    assert "(alerted before at $1,500.00)" in worse.messages[0][0].text
    assert len(mailbox.messages) == 4

    # The detector no longer flags it: one RESOLVED, then quiet.
    _costs(lh, spike=2600.0, flagged_days=set())
    resolved = _run(config, lh)
    assert [(e.kind, e.entity) for e in resolved.events] == [("RESOLVED", "workspace w2")]
    assert mailbox.messages[-1][1].count("RESOLVED: workspace w2 is no longer above the threshold") == 1
    assert _run(config, lh).events == []
    state = lh.read_table(state_table(CAT, ML)).to_pandas().set_index("incident_key")
    assert state.loc["cost|workspace w2", "status"] == "RESOLVED"
    assert state.loc["failure_risk|job j1", "status"] == "OPEN"


def test_missing_predictions_do_not_resolve_open_incidents(lh, tmp_path, mailbox):
    config = _rules(tmp_path)
    _run(config, lh, channels=[_Collect()])
    lh.drop_table(f"{CAT}.{ML}.job_failure_predictions")
    run = _run(config, lh, channels=[_Collect()])
    assert run.events == []
    assert next(r for r in run.results if r.rule.name == "failure_risk").skipped


class _Collect:
    name = "collector"

    def __init__(self):
        self.messages = []

    def send(self, message):
        self.messages.append(message)


def test_failed_delivery_is_retried_next_run(lh, tmp_path, mailbox, monkeypatch):
    config = _rules(tmp_path, text=RULES.replace("  webhooks: [{{id: {hook}}}]\n", ""))
    port = os.environ["HEALTHMON_SMTP_PORT"]
    monkeypatch.setenv("HEALTHMON_SMTP_PORT", "9")  # nothing listens there
    failed = _run(config, lh)  # like run notifications, a failed delivery does not fail the task
    assert len(failed.failures) == 3 and "ConnectionRefusedError" in failed.failures[0]
    assert not lh.table_exists(state_table(CAT, ML))
    monkeypatch.setenv("HEALTHMON_SMTP_PORT", port)
    assert len(_run(config, lh).events) == 3 and len(mailbox.messages) == 3


def test_more_alerts_than_max_messages_go_out_as_one_digest(lh, tmp_path):
    collect = _Collect()
    config = _rules(tmp_path, text="defaults: {{max_messages: 1}}\n" + RULES)
    run = _run(config, lh, channels=[collect])
    assert len(collect.messages) == 2
    assert collect.messages[1].subject == "[healthmon] 2 more alerts"
    assert len(_run(config, lh, channels=[collect]).events) == 0  # the digest's incidents are recorded too
    assert run.summary()["messages"] == 2


@pytest.mark.parametrize("text, where, message, known", [
    ("rules:\n  - metric: cost_excesss\n    threshold: 1\n", ":2:5", "unknown metric 'cost_excesss'",
     "known metrics: cost_excess ("),
    ("rules:\n  - metric: cost_excess\n    model: cost_anomaly_detectr\n    threshold: 1\n", ":3:5",
     "unknown model 'cost_anomaly_detectr'", "known models: budget_forecaster, cache_hit_predictor"),
    ("rules:\n  - metric: failure_risk\n    model: sla_breach_predictor\n    threshold: 1\n", ":3:",
     "model 'sla_breach_predictor' does not produce metric 'failure_risk'", "failure_risk reads job_failure_predictor"),
    ("rules:\n  - metric: stale_days\n    model: data_freshness_predictor\n    threshold: 7\n", ":3:",
     "does not produce metric 'stale_days'", "computed from table snapshots, not a model"),
    ("rules:\n  - metric: sla_risk\n    threshold: high\n", ":3:5", "threshold must be a number, got 'high'", ""),
    ("rules:\n  - metric: sla_risk\n", ":2:", "rule for sla_risk needs `threshold`", ""),
    ("rules:\n  - metric: sla_risk\n    treshold: 1\n", ":3:", "unknown field 'treshold' in a rule",
     "known fields: metric, model"),
    ("notify: {email: oncall@example.com, slack: x}\nrules: [{metric: sla_risk, threshold: 1}]\n", ":1:",
     "unknown field 'slack' in notify", ""),
    ("rules: []\n", ":1:", "needs a non-empty list `rules:`", ""),
    ("rules:\n  - {metric: sla_risk, threshold: 1}\n  - {metric: sla_risk, threshold: 2}\n", ":3:",
     "duplicate rule name 'sla_risk'", ""),
    ("rules: [\n", ":", "invalid YAML", ""),
])
def test_rule_mistakes_name_file_line_and_what_is_known(tmp_path, text, where, message, known):
    path = tmp_path / "rules.yml"
    path.write_text(text)
    with pytest.raises(AlertRulesError) as info:
        load_rules(path, display="rules.yml")
    rendered = str(info.value)
    assert rendered.startswith("rules.yml" + where), rendered
    assert message in rendered and known in rendered


def test_cli_dry_run_send_and_bad_rule(lh, tmp_path, mailbox, hook):
    url, bodies, _ = hook
    rules = tmp_path / "alert_rules.yml"
    rules.write_text(RULES.format(hook=url))
    env = {**os.environ}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "healthmon.cli.main", "alerts", "test", "--rules", str(rules),
                               "--catalog", CAT, "--gold-schema", GOLD, "--feature-schema", ML, *args],
                              capture_output=True, text=True, timeout=300, env=env)

    dry = cli()
    assert dry.returncode == 0, dry.stderr
    assert "(dry run: nothing is sent or recorded)" in dry.stdout
    assert "rule cost (cost_excess >= $1,000): 1 above the threshold" in dry.stdout
    assert "--- [healthmon] cost_excess new: workspace w2 at $1,500.00" in dry.stdout
    assert mailbox.messages == [] and bodies == []
    sent = cli("--send")
    assert sent.returncode == 0, sent.stderr
    assert "Sent 3 message(s) by email to oncall@example.com." in sent.stdout
    assert len(mailbox.messages) == 3 and len(bodies) == 3
    assert "nothing to send" in cli().stdout  # deduplicated now
    rules.write_text("rules:\n  - metric: failure_risk\n    model: job_failure_predictr\n    threshold: 0.5\n")
    bad = cli()
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert f"{rules.name}:3:5: unknown model 'job_failure_predictr'" in bad.stderr or \
        ":3:5: unknown model 'job_failure_predictr'" in bad.stderr
    assert "known models:" in bad.stderr and "job_failure_predictor" in bad.stderr


def test_bundle_rules_file_and_alerts_task(repo_root, healthmon_home):
    from healthmon.bundle import load_bundle

    bundle = load_bundle(repo_root, "dev")
    assert not bundle.diagnostics.has_errors()
    tasks = {t["task_key"]: t for t in bundle.jobs["ml_inference_pipeline_job"]["tasks"]}
    alerts = tasks["alerts"]
    assert alerts["depends_on"] == [{"task_key": "batch_inference_all_models"}]
    rules_path = alerts["notebook_task"]["base_parameters"]["alert_rules"]
    assert rules_path == bundle.workspace["file_path"] + "/src/ml/alerts/alert_rules.yml"
    config = load_rules(repo_root / "src/ml/alerts/alert_rules.yml")
    assert {r.metric for r in config.rules} == {"cost_excess", "failure_risk", "sla_risk", "security_alerts",
                                                "stale_days", "drift_days"}


def test_drift_alerts_and_the_reports_drift_section_read_the_same_flags(lh, tmp_path):
    from healthmon.ml.report import build_report

    drift = pd.DataFrame([{"catalog_name": c, "snapshot_date": day(n), "prediction": -1.0 if c == "sales" and n >= 38 else 1.0}
                          for c in ("sales", "hr") for n in range(40)])
    _predictions(lh, "data_drift_predictions", drift, "data_drift_detector")
    run = _run(_rules(tmp_path), lh, send=False)
    assert [f.entity for f in next(r for r in run.results if r.rule.name == "drift_days").findings] == ["catalog sales"]
    quality = next(s for s in build_report(CAT, GOLD, ML, lakehouse=lh).sections if s.key == "quality")
    assert "2 catalog-days flagged for drift" in quality.summary


def test_cli_names_the_bundle_error_when_the_bundle_is_invalid(tmp_path, healthmon_home):
    # `healthmon alerts test` without --rules reads the bundle: a bundle with errors is a clear error, not a crash.
    (tmp_path / "databricks.yml").write_text(
        "bundle:\n  name: broken\nresources:\n  jobs:\n    j:\n      name: j\n      tasks:\n"
        "        - task_key: a\n          notebook_task:\n            notebook_path: ./missing.py\n"
    )
    out = subprocess.run([sys.executable, "-m", "healthmon.cli.main", "alerts", "test", "--path", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, env={**os.environ})
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert "the bundle has errors (run `healthmon bundle validate`)" in out.stderr and "missing.py" in out.stderr
