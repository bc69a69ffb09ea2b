"""Alerts: after each batch inference, new findings above the configured thresholds go out
through the jobs runtime's notification channels (email over SMTP, Slack-compatible webhooks).

Flow (one way): rules file → ``load_rules`` (located YAML; unknown metric/model/field is an
error naming file:line and what is known) → ``evaluate`` (each rule's metric over the latest
scoring, read through the lakehouse API by ``healthmon.ml.predictions``) → ``plan`` (compared with
the open incidents) → ``deliver`` (send, then record). ``run_alerts`` does all of it; the
``alerts`` task of the inference job and ``healthmon alerts test --send`` call it, and
``healthmon alerts test`` stops after ``plan`` (a dry run: nothing sent, nothing recorded).

Deduplication: an incident is (rule, entity). It alerts once when it opens (NEW), again only
when its value reaches ``worsen_ratio`` times the value last alerted (WORSENED), and once when
a scoring no longer shows it above the threshold (RESOLVED). State is the Delta table
``<catalog>.<feature_schema>.alert_incidents`` (one row per incident key), so it travels with the
lakehouse and works the same on Databricks. A rule whose predictions are missing is skipped and
its open incidents are left alone (a skipped model is not a recovery).

An incident is recorded only after at least one channel accepted its message, so a failed
delivery is retried at the next run. As with the jobs runtime's run notifications, a failed
delivery never fails the task (it is listed in the run's ``failures``, which the task prints);
``healthmon alerts test --send`` exits 1 on it.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, Protocol
from urllib.parse import urlencode

import pandas as pd

from healthmon.errors import HealthmonError, Location
from healthmon.ml.predictions import (
    SECURITY_DETECTORS,
    PredictionReader,
    flagged,
    flagged_cost_days,
    latest_per_job,
    security_flags,
    table_staleness,
    to_dates,
)

STATE_TABLE = "alert_incidents"
DEFAULT_SERVER_URL = "http://127.0.0.1:8080"
# Integers except worsen_ratio (load_rules checks each value's kind).
DEFAULTS: dict[str, Any] = {"window_days": 3, "worsen_ratio": 1.5, "max_messages": 25}


class AlertRulesError(HealthmonError):
    pass


class SourceMissing(Exception):
    """A rule's input table does not exist or is empty; the rule is skipped."""


# -- metrics ---------------------------------------------------------------------------------


@dataclass
class Finding:
    """One entity's value for a rule's metric in the latest scoring."""

    entity: str  # stable id, part of the incident key, e.g. "workspace 1001"
    value: float
    observed: str  # evidence, in words: what the data shows ...
    expected: str  # ... and what was expected
    model: str | None = None
    model_version: Any = None
    scored_at: Any = None
    link: dict[str, str] = field(default_factory=dict)  # Health page query parameters


@dataclass(frozen=True)
class Metric:
    name: str
    models: tuple[str, ...]  # models it reads; () = no model (gold tables)
    unit: str  # "$", "risk", "days", "count"
    section: str  # the report / Health page section it belongs to
    describe: str
    compute: Callable[["PredictionReader", "Rule"], list[Finding]]


def _model_meta(df: pd.DataFrame, model: str) -> dict:
    version = df["model_version"].iloc[0] if "model_version" in df.columns and len(df) else None
    scored = df["scored_at"].max() if "scored_at" in df.columns and len(df) else None
    return {"model": model, "model_version": version, "scored_at": scored}


def _window(dates: pd.Series, days: int) -> pd.Series:
    return dates > dates.max() - pd.Timedelta(days=days)


def _require(reader: PredictionReader, model: str) -> pd.DataFrame:
    df = reader.predictions(model)
    if df is None or df.empty:
        why = reader.skip_reason(model)
        raise SourceMissing(f"no predictions: {reader.prediction_fqn(model)} does not exist or is empty"
                            + (f" ({model} not trained: {why})" if why else ""))
    return df


def _cost_excess(reader: PredictionReader, rule: "Rule") -> list[Finding]:
    preds = _require(reader, "cost_anomaly_detector")
    days = flagged_cost_days(preds, reader.feature_table("cost_features"))
    days = days[_window(days["usage_date"], rule.window_days)].dropna(subset=["excess_cost"])
    out = []
    for ws, rows in days.groupby("workspace_id"):
        worst = rows.loc[rows["excess_cost"].idxmax()]
        out.append(Finding(
            f"workspace {ws}", float(worst["excess_cost"]),
            f"daily cost ${worst['daily_cost']:,.2f} on {worst['usage_date'].date()} (flagged by the detector)",
            f"${worst['typical_cost']:,.2f} (mean of the previous 7 days); excess ${worst['excess_cost']:,.2f}",
            link={"workspace_id": str(ws), "date": str(worst["usage_date"].date())},
            **_model_meta(preds, "cost_anomaly_detector")))
    return out


def _job_risk(model: str, label: str) -> Callable[[PredictionReader, "Rule"], list[Finding]]:
    def compute(reader: PredictionReader, rule: "Rule") -> list[Finding]:
        preds = _require(reader, model)
        latest = latest_per_job(preds, "risk")
        assert latest is not None  # _require returned a non-empty frame
        latest = latest[_window(latest["run_date"], rule.window_days)]
        names = reader.gold_table("dim_job")
        if names is not None and not names.empty and "name" in names.columns:
            latest = latest.merge(names[["job_id", "name"]].drop_duplicates("job_id"), on="job_id", how="left")
        out = []
        for row in latest.itertuples(index=False):
            name = getattr(row, "name", None)
            entity = f"job {row.job_id}"
            out.append(Finding(
                entity, float(row.risk),
                f"{label} {row.risk:.2f} for {entity}" + (f" ({name})" if isinstance(name, str) and name else "")
                + f", run day {row.run_date.date()}",
                f"below {rule.threshold:.2f} (the rule's threshold)",
                link={"job_id": str(row.job_id)}, **_model_meta(preds, model)))
        return out
    return compute


def _security_alerts(reader: PredictionReader, rule: "Rule") -> list[Finding]:
    detectors = rule.models or SECURITY_DETECTORS
    flags = security_flags(reader, detectors)
    if flags is None:
        why = [f"{m} not trained: {reason}" for m in detectors if (reason := reader.skip_reason(m))]
        raise SourceMissing("no predictions from " + ", ".join(reader.prediction_fqn(m) for m in detectors)
                            + (f" ({'; '.join(why)})" if why else ""))
    if flags.empty:
        return []
    flags = flags[_window(flags["event_date"], rule.window_days)]
    out = []
    for user, rows in flags.groupby("user_id"):
        per = rows["detector"].value_counts()
        detail = ", ".join(f"{n} by {d}" for d, n in per.items())
        out.append(Finding(
            f"user {user}", float(len(rows)),
            f"{len(rows)} flagged user-days in the last {rule.window_days} days ({detail}), "
            f"latest {rows['event_date'].max().date()}",
            "0 flagged user-days",
            model=", ".join(per.index), link={"user_id": str(user)}))
    return out


def _stale_tables(reader: PredictionReader, rule: "Rule") -> list[Finding]:
    snaps = reader.gold_table("fact_table_snapshots")
    if snaps is None or snaps.empty:
        raise SourceMissing(f"no table snapshots: {reader.gold_fqn('fact_table_snapshots')} does not exist or is empty")
    last = table_staleness(snaps)
    return [Finding(
        f"table {row.table}", float(row.days_since_commit),
        f"last commit {pd.Timestamp(row.last_commit_time):%Y-%m-%d %H:%M}, {row.days_since_commit} days before "
        f"the {row.snapshot_date.date()} snapshot",
        f"a commit within {rule.threshold:g} days", link={"table": row.table})
        for row in last.itertuples(index=False) if pd.notna(row.days_since_commit)]


def _drift_days(reader: PredictionReader, rule: "Rule") -> list[Finding]:
    preds = _require(reader, "data_drift_detector")
    preds = preds.assign(snapshot_date=to_dates(preds["snapshot_date"]))
    days = preds[flagged(preds) & _window(preds["snapshot_date"], rule.window_days)]
    feats = reader.feature_table("quality_features")
    out = []
    for catalog, rows in days.groupby("catalog_name"):
        latest = rows["snapshot_date"].max()
        evidence = ""
        if feats is not None and not feats.empty and "total_rows_change_pct_1d" in feats.columns:
            f = feats[(feats["catalog_name"] == catalog) & (to_dates(feats["snapshot_date"]) == latest)]
            if len(f):
                row = f.iloc[0]
                evidence = f"; on {latest.date()}: row count change {row['total_rows_change_pct_1d']:.1f}%" + (
                    f", {int(row['schema_changes_1d'])} schema changes" if "schema_changes_1d" in f.columns else "")
        out.append(Finding(
            f"catalog {catalog}", float(len(rows)),
            f"{len(rows)} catalog-days flagged for drift in the last {rule.window_days} days{evidence}",
            "no day flagged by the drift detector",
            link={"catalog": str(catalog)}, **_model_meta(preds, "data_drift_detector")))
    return out


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("cost_excess", ("cost_anomaly_detector",), "$", "cost_anomalies",
           "dollars above the workspace's typical day, on a day the cost anomaly detector flagged", _cost_excess),
    Metric("failure_risk", ("job_failure_predictor",), "risk", "jobs",
           "probability that the job's next run day has a failed run",
           _job_risk("job_failure_predictor", "failure risk")),
    Metric("sla_risk", ("sla_breach_predictor",), "risk", "jobs",
           "probability that a run of the job breaches its SLA", _job_risk("sla_breach_predictor", "SLA breach risk")),
    Metric("security_alerts", SECURITY_DETECTORS, "count", "security",
           "user-days flagged by the security detectors within the window, per user", _security_alerts),
    Metric("stale_days", (), "days", "quality",
           "days since a table's last commit at the latest table snapshot (gold fact_table_snapshots)", _stale_tables),
    Metric("drift_days", ("data_drift_detector",), "count", "quality",
           "catalog-days flagged by the drift detector within the window, per catalog", _drift_days),
)}


# -- rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    name: str
    metric: str
    threshold: float
    models: tuple[str, ...] = ()  # () = the metric's own models
    window_days: int = DEFAULTS["window_days"]
    worsen_ratio: float = DEFAULTS["worsen_ratio"]
    location: Location | None = None

    def describe(self) -> str:
        unit = METRICS[self.metric].unit
        limit = f"${self.threshold:,.0f}" if unit == "$" else f"{self.threshold:g}"
        return f"{self.metric} >= {limit}"


@dataclass(frozen=True)
class Channels:
    emails: tuple[str, ...] = ()
    webhooks: tuple[str, ...] = ()  # URLs or destination ids (notification_destinations.json)


@dataclass(frozen=True)
class AlertConfig:
    path: str
    rules: tuple[Rule, ...]
    channels: Channels
    server_url: str
    max_messages: int = DEFAULTS["max_messages"]


_TOP_KEYS = {"server_url", "notify", "defaults", "rules"}
_RULE_KEYS = {"name", "metric", "model", "models", "threshold", "window_days", "worsen_ratio"}
_NOTIFY_KEYS = {"email", "webhooks"}


def _known_models() -> list[str]:
    from healthmon.ml.models import MODELS

    return sorted(MODELS)


def load_rules(path: str | os.PathLike, display: str | None = None) -> AlertConfig:
    """Parse and check an alert-rules YAML file; every mistake names file:line and what is allowed."""
    from healthmon.bundle.yamlparse import YamlError, parse_file

    display = display or str(path)
    key_of: dict[Location, Location] = {}  # a mapping value's location -> its key's
    try:
        root = parse_file(Path(path), display, key_of)
    except YamlError as exc:
        raise AlertRulesError(exc.message, location=exc.location, hint=exc.hint) from None

    def fail(message: str, node, hint: str | None = None) -> NoReturn:
        # Point at the offending key (`model:`), which is what a reader looks for, rather than
        # where its value starts; a list item has no key and is located itself.
        location = key_of.get(node.loc, node.loc) if node is not None else Location(display)
        raise AlertRulesError(message, location=location, hint=hint)

    def check_keys(node, allowed: set[str], what: str):
        if not node.is_map:
            fail(f"{what} must be a mapping, not {type(node.v).__name__}", node)
        for key, value in node.v.items():
            if key not in allowed:
                fail(f"unknown field {key!r} in {what}", value, hint="known fields: " + ", ".join(sorted(allowed)))

    def number(node, what: str, *, positive: bool = False, integer: bool = False) -> float:
        v = node.v
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v)):
            fail(f"{what} must be a number, got {v!r}", node)
        if integer and not float(v).is_integer():
            fail(f"{what} must be a whole number, got {v!r}", node)
        if positive and v <= 0:
            fail(f"{what} must be greater than 0, got {v!r}", node)
        return int(v) if integer else float(v)

    def strings(node, what: str) -> tuple[str, ...]:
        items = node.v if node.is_list else [node]
        out = []
        for item in items:
            if item.is_map:
                check_keys(item, {"id"}, f"an entry of {what}")
            value = item.get("id") if item.is_map else item
            if value is None or not isinstance(value.v, str) or not value.v.strip():
                fail(f"{what} entries must be non-empty strings (or {{id: ...}} for webhooks)", item)
            out.append(value.v.strip())
        return tuple(out)

    check_keys(root, _TOP_KEYS, "the alert rules file")
    defaults = dict(DEFAULTS)
    if (node := root.get("defaults")) is not None:
        check_keys(node, set(DEFAULTS), "defaults")
        for key, value in node.v.items():
            defaults[key] = number(value, f"defaults.{key}", positive=True, integer=key != "worsen_ratio")
    channels = Channels()
    if (node := root.get("notify")) is not None:
        check_keys(node, _NOTIFY_KEYS, "notify")
        channels = Channels(
            emails=strings(node.get("email"), "notify.email") if node.get("email") is not None else (),
            webhooks=strings(node.get("webhooks"), "notify.webhooks") if node.get("webhooks") is not None else ())
    server_url = os.environ.get("HEALTHMON_SERVER_URL") or DEFAULT_SERVER_URL
    if (node := root.get("server_url")) is not None:
        if not isinstance(node.v, str) or not node.v.startswith(("http://", "https://")):
            fail(f"server_url must be an http(s):// URL, got {node.v!r}", node)
        server_url = node.v
    rules_node = root.get("rules")
    if rules_node is None or not rules_node.is_list or not rules_node.v:
        fail("the alert rules file needs a non-empty list `rules:`", rules_node if rules_node is not None else root,
             hint="e.g. rules: [{metric: cost_excess, threshold: 500}]")
    rules, names = [], set()
    known_models = _known_models()
    for item in rules_node.v:
        check_keys(item, _RULE_KEYS, "a rule")
        metric_node = item.get("metric")
        if metric_node is None:
            fail("a rule needs `metric`", item, hint="known metrics: " + ", ".join(METRICS))
        metric = METRICS.get(metric_node.v) if isinstance(metric_node.v, str) else None
        if metric is None:
            fail(f"unknown metric {metric_node.v!r}", metric_node,
                 hint="known metrics: " + "; ".join(f"{m.name} ({m.describe})" for m in METRICS.values()))
        models: tuple[str, ...] = ()
        for key in ("model", "models"):
            if (node := item.get(key)) is None:
                continue
            models = strings(node, key)
            for name, sub in zip(models, node.v if node.is_list else [node]):
                if name not in known_models:
                    fail(f"unknown model {name!r}", sub, hint="known models: " + ", ".join(known_models))
                if name not in metric.models:
                    fail(f"model {name!r} does not produce metric {metric.name!r}", sub,
                         hint=(f"{metric.name} reads " + ", ".join(metric.models)) if metric.models else
                         f"{metric.name} is computed from table snapshots, not a model: remove `{key}`")
        threshold_node = item.get("threshold")
        if threshold_node is None:
            fail(f"rule for {metric.name} needs `threshold` ({metric.unit})", item)
        threshold = number(threshold_node, "threshold")
        name_node = item.get("name")
        name = name_node.v if name_node is not None else metric.name + ("" if not models else "_" + "_".join(models))
        if not isinstance(name, str) or not name.strip():
            fail("rule name must be a non-empty string", name_node)
        if name in names:
            fail(f"duplicate rule name {name!r} (the name keys its incidents)", name_node or item,
                 hint="give each rule a distinct `name`")
        names.add(name)
        opts: dict[str, Any] = {}
        for key in ("window_days", "worsen_ratio"):
            node = item.get(key)
            opts[key] = (number(node, key, positive=True, integer=key == "window_days") if node is not None
                         else defaults[key])
        if opts["worsen_ratio"] < 1:
            fail(f"worsen_ratio must be at least 1, got {opts['worsen_ratio']:g}", item.get("worsen_ratio") or item)
        rules.append(Rule(name, metric.name, threshold, models, location=item.loc, **opts))
    return AlertConfig(display, tuple(rules), channels, server_url.rstrip("/"), int(defaults["max_messages"]))


# -- evaluation and planning -------------------------------------------------------------------


@dataclass
class RuleResult:
    rule: Rule
    findings: list[Finding] = field(default_factory=list)  # above the threshold
    skipped: str | None = None


@dataclass
class Event:
    kind: str  # NEW | WORSENED | RESOLVED
    rule: Rule
    entity: str
    value: float | None
    previous: float | None  # the value last alerted
    finding: Finding | None
    link: str


def evaluate(config: AlertConfig, reader: PredictionReader) -> list[RuleResult]:
    results = []
    for rule in config.rules:
        try:
            found = METRICS[rule.metric].compute(reader, rule)
        except SourceMissing as exc:
            results.append(RuleResult(rule, skipped=str(exc)))
            continue
        above = [f for f in found if f.value >= rule.threshold]
        results.append(RuleResult(rule, sorted(above, key=lambda f: -f.value)))
    return results


def incident_key(rule: Rule, entity: str) -> str:
    return f"{rule.name}|{entity}"


def health_link(config: AlertConfig, reader: PredictionReader, rule: Rule, params: dict[str, str]) -> str:
    query = {"schema": f"{reader.catalog}.{reader.features}", "section": METRICS[rule.metric].section, **params}
    return f"{config.server_url}/health?{urlencode(query)}"


def plan(config: AlertConfig, results: list[RuleResult], state: pd.DataFrame, reader: PredictionReader) -> list[Event]:
    """The messages this scoring calls for, given the open incidents in ``state``."""
    open_rows = {r.incident_key: r for r in state.itertuples(index=False) if r.status == "OPEN"}
    events = []
    for result in results:
        rule = result.rule
        if result.skipped:
            continue
        seen = set()
        for f in result.findings:
            key = incident_key(rule, f.entity)
            seen.add(key)
            link = health_link(config, reader, rule, f.link)
            row = open_rows.get(key)
            if row is None:
                events.append(Event("NEW", rule, f.entity, f.value, None, f, link))
            elif f.value >= row.alerted_value * rule.worsen_ratio and f.value > row.alerted_value:
                events.append(Event("WORSENED", rule, f.entity, f.value, row.alerted_value, f, link))
        for key, row in open_rows.items():
            if row.rule == rule.name and key not in seen:
                events.append(Event("RESOLVED", rule, row.entity, None, row.alerted_value, None,
                                    health_link(config, reader, rule, {})))
    return events


# -- messages --------------------------------------------------------------------------------


def _fmt(rule: Rule, value: float | None) -> str:
    if value is None:
        return "-"
    unit = METRICS[rule.metric].unit
    return f"${value:,.2f}" if unit == "$" else f"{value:.2f}" if unit == "risk" else f"{value:g}"


@dataclass(frozen=True)
class AlertMessage:
    subject: str
    text: str  # plain text, for email and Slack's fallback
    payload: dict  # Slack-compatible JSON (text + blocks) with the structured event under "healthmon"


def compose(event: Event) -> AlertMessage:
    rule, f = event.rule, event.finding
    head = {"NEW": "new", "WORSENED": "worse", "RESOLVED": "resolved"}[event.kind]
    if event.kind == "RESOLVED":
        title = f"{rule.metric} {head}: {event.entity}"
        lines = [f"RESOLVED: {event.entity} is no longer above the threshold of rule {rule.name} ({rule.describe()}).",
                 "Evidence: observed below the threshold in the latest scoring; "
                 f"last alerted at {_fmt(rule, event.previous)}."]
    else:
        assert f is not None  # only a RESOLVED event has no finding
        title = f"{rule.metric} {head}: {event.entity} at {_fmt(rule, event.value)}"
        what = "worsened" if event.kind == "WORSENED" else "opened"
        lines = [f"{event.kind}: {event.entity} — rule {rule.name} ({rule.describe()}) {what} "
                 f"at {_fmt(rule, event.value)}"
                 + (f" (alerted before at {_fmt(rule, event.previous)})" if event.previous is not None else "") + ".",
                 f"Evidence: observed {f.observed}; expected {f.expected}."]
        if f.model:
            scored = f", scored at {pd.Timestamp(f.scored_at):%Y-%m-%d %H:%M} UTC" if f.scored_at is not None else ""
            version = f" version {f.model_version}" if f.model_version is not None else ""
            lines.append(f"Model: {f.model}{version}{scored}.")
    lines.append(f"Health page: {event.link}")
    text = "\n".join(lines)
    payload = {
        "text": f"[healthmon] {title} — <{event.link}|Health page>",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        "healthmon": {
            "event": event.kind, "rule": rule.name, "metric": rule.metric, "threshold": rule.threshold,
            "entity": event.entity, "value": event.value, "previous_value": event.previous,
            "observed": f.observed if f else None, "expected": f.expected if f else None,
            "model": f.model if f else None, "link": event.link,
        },
    }
    return AlertMessage(f"[healthmon] {title}", text, payload)


def compose_overflow(events: list[Event], link: str) -> AlertMessage:
    lines = [f"{len(events)} more alert(s) this run, not sent one by one (max_messages):"]
    lines += [f"- {e.kind} {e.entity}: rule {e.rule.name}, "
              f"{_fmt(e.rule, e.value if e.value is not None else e.previous)}"
              for e in events]
    lines.append(f"Health page: {link}")
    text = "\n".join(lines)
    return AlertMessage(f"[healthmon] {len(events)} more alerts", text, {
        "text": f"[healthmon] {len(events)} more alerts — <{link}|Health page>",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        "healthmon": {"event": "DIGEST", "entities": [e.entity for e in events], "link": link}})


# -- channels --------------------------------------------------------------------------------


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, message: AlertMessage) -> None: ...


@dataclass(frozen=True)
class EmailChannel:
    recipients: tuple[str, ...]

    @property
    def name(self) -> str:
        return "email to " + ", ".join(self.recipients)

    def send(self, message: AlertMessage) -> None:
        from healthmon.jobs.notify import send_email

        send_email(list(self.recipients), message.subject, message.text)


@dataclass(frozen=True)
class WebhookChannel:
    destination: str  # a URL or a destination id

    @property
    def name(self) -> str:
        return f"webhook {self.destination}"

    def send(self, message: AlertMessage) -> None:
        from healthmon.jobs import notify

        notify.post_webhook(notify._webhook_url(self.destination), message.payload)


def channels_of(config: AlertConfig) -> list[Channel]:
    out: list[Channel] = [EmailChannel(config.channels.emails)] if config.channels.emails else []
    return out + [WebhookChannel(d) for d in config.channels.webhooks]


# -- state -----------------------------------------------------------------------------------

_STATE_COLUMNS = {
    "incident_key": "string", "rule": "string", "metric": "string", "entity": "string", "status": "string",
    "value": "float64", "alerted_value": "float64", "opened_at": "datetime64[us, UTC]",
    "last_alerted_at": "datetime64[us, UTC]", "resolved_at": "datetime64[us, UTC]",
}


def state_table(catalog: str, feature_schema: str) -> str:
    return f"{catalog}.{feature_schema}.{STATE_TABLE}"


def read_state(lh, table: str) -> pd.DataFrame:
    if not lh.table_exists(table):
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _STATE_COLUMNS.items()})
    return lh.read_table(table).to_pandas()


def _state_rows(events: list[Event], state: pd.DataFrame, now: dt.datetime) -> pd.DataFrame:
    current = {r.incident_key: r for r in state.itertuples(index=False)}
    rows = []
    for e in events:
        key = incident_key(e.rule, e.entity)
        old = current.get(key)
        if e.kind == "RESOLVED":
            rows.append({"incident_key": key, "rule": e.rule.name, "metric": e.rule.metric, "entity": e.entity,
                         "status": "RESOLVED", "value": None, "alerted_value": e.previous,
                         "opened_at": old.opened_at if old is not None else now, "last_alerted_at": now,
                         "resolved_at": now})
        else:
            opened = old.opened_at if e.kind == "WORSENED" and old is not None else now
            rows.append({"incident_key": key, "rule": e.rule.name, "metric": e.rule.metric, "entity": e.entity,
                         "status": "OPEN", "value": e.value, "alerted_value": e.value, "opened_at": opened,
                         "last_alerted_at": now, "resolved_at": None})
    frame = pd.DataFrame(rows, columns=list(_STATE_COLUMNS))
    for column, dtype in _STATE_COLUMNS.items():
        frame[column] = pd.to_datetime(frame[column], utc=True).astype(dtype) if dtype.startswith("datetime") \
            else frame[column].astype(dtype)
    return frame


def record(lh, table: str, events: list[Event], state: pd.DataFrame, now: dt.datetime) -> None:
    if events:
        lh.write_table(table, _state_rows(events, state, now), mode="merge", primary_keys=["incident_key"],
                       comment="Alert incidents (one row per rule and entity): what was alerted and when.")


# -- the run ---------------------------------------------------------------------------------


@dataclass
class AlertRun:
    results: list[RuleResult]
    events: list[Event]
    messages: list[tuple[AlertMessage, list[Event]]]  # each message and the events it carries
    sent: dict[str, list[str]] = field(default_factory=dict)  # channel name -> subjects
    failures: list[str] = field(default_factory=list)
    dry_run: bool = True

    def summary(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "rules": [{"rule": r.rule.name, "metric": r.rule.metric, "above_threshold": len(r.findings),
                       **({"skipped": r.skipped} if r.skipped else {})} for r in self.results],
            "events": {k: sum(e.kind == k for e in self.events) for k in ("NEW", "WORSENED", "RESOLVED")},
            "messages": len(self.messages), "sent": self.sent, "failures": self.failures,
        }


def run_alerts(config: AlertConfig, *, catalog: str, gold_schema: str, feature_schema: str, send: bool,
               lakehouse=None, now: dt.datetime | None = None, channels: list[Channel] | None = None) -> AlertRun:
    """Evaluate the rules on the latest scoring; with ``send``, deliver and record the events."""
    from healthmon.lakehouse import Lakehouse
    from healthmon.lakehouse.paths import check_identifier

    for value, what in ((catalog, "catalog"), (gold_schema, "gold schema"), (feature_schema, "feature schema")):
        check_identifier(value, what)
    lh = lakehouse or Lakehouse.from_env()
    now = now or dt.datetime.now(dt.timezone.utc)
    reader = PredictionReader(lh, catalog, gold_schema, feature_schema)
    table = state_table(catalog, feature_schema)
    state = read_state(lh, table)
    results = evaluate(config, reader)
    events = plan(config, results, state, reader)
    individual, overflow = events[:config.max_messages], events[config.max_messages:]
    messages = [(compose(e), [e]) for e in individual]
    if overflow:
        messages.append((compose_overflow(overflow, health_link(config, reader, overflow[0].rule, {})), overflow))
    run = AlertRun(results, events, messages, dry_run=not send)
    if not send:
        return run
    channels = channels_of(config) if channels is None else channels
    if events and not channels:
        run.failures.append(f"{config.path}: {len(events)} alert(s) to send but no channel is configured "
                            "(notify.email / notify.webhooks)")
        return run
    delivered: list[Event] = []
    for message, carried in messages:
        ok = False
        for channel in channels:
            try:
                channel.send(message)
                run.sent.setdefault(channel.name, []).append(message.subject)
                ok = True
            except Exception as exc:  # noqa: BLE001 - one failing channel must not stop the others
                run.failures.append(f"{channel.name}: {message.subject}: {type(exc).__name__}: {exc}")
        if ok:
            delivered.extend(carried)
    record(lh, table, delivered, state, now)
    return run


def run_alerts_task(rules_path: str, *, catalog: str, gold_schema: str, feature_schema: str) -> dict:
    """The ``alerts`` task: load the rules (a ``/Workspace/...`` path is read from the local
    workspace when it is not mounted, as on Databricks), evaluate, send, record; the summary."""
    path = Path(rules_path)
    if not path.exists() and rules_path.startswith("/Workspace/"):
        from healthmon.workspace_files import to_local

        path = to_local(rules_path)
    config = load_rules(path, display=rules_path)
    run = run_alerts(config, catalog=catalog, gold_schema=gold_schema, feature_schema=feature_schema, send=True)
    return run.summary()
