"""The health report: what the ML layer found. One builder and one renderer for both the HTML file
``healthmon report`` writes and the server's Health page (``/health``), so the two never disagree.

Sections: top cost anomalies; forecast vs actual daily cost with the anomalies marked; jobs most
likely to fail and SLA risks; security alerts per user; stale tables and drift. Each reads the
prediction tables batch inference writes (``<catalog>.<feature_schema>.<table>``) plus the feature
and gold tables for context, and states its model(s): version, when scored, and the evaluation
figure against the strongest baseline (``healthmon.ml.model_figures``). A section whose tables do
not exist says so ("no predictions yet") instead of failing, so the report works at every stage of
a fresh workspace.

Filters (``Filters``): a date range (default: the last 30 days of data), and one entity — a
workspace (its cost history), a job (its risk per run day), a user (their alert history), a table
or a monitored catalog. An entity filter shows the sections that concern it. The query parameters
are the ones the alerts' links use (``healthmon.ml.alerts.health_link``): ``schema``, ``section``,
``workspace_id``, ``job_id``, ``user_id``, ``table``, ``catalog``, plus ``start``/``end``. Every
row links to the filtered view of what it concerns.

Charts are inline SVG written by ``healthmon.ml.report_charts`` (text kept as text): readable in
any browser, allowed by the server's Content-Security-Policy (no image source), no external
reference, and cheap enough to redraw on every filter change.

"As of" dates come from the data (the latest date in each table), not the wall clock, so a
report on an exported or synthetic account that ended weeks ago still shows its last 30 days.

Prediction tables are read, and their flags and risks interpreted, by
``healthmon.ml.predictions`` (the one sign convention: a detector's flag means "anomaly").
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import numbers
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, SupportsFloat, cast
from urllib.parse import urlencode

import pandas as pd

from healthmon.errors import InvalidParameterError
from healthmon.ml import report_charts
from healthmon.ml.model_figures import NOT_EVALUATED, Evaluation, ModelFigure, load_evaluation
from healthmon.ml.predictions import (
    SECURITY_DETECTORS,
    PredictionReader,
    flagged as is_flagged,  # `flagged` names frames below
    flagged_cost_days,
    latest_per_job,
    risk,
    security_flags,
    table_staleness,
    to_dates,
)

RECENT_DAYS = 30
TOP_N = 10
PAGE_ROWS = 25  # rows per table page on the Health page (the file shows every row of a table)
FILE_MAX_ROWS = 500
STALE_DAYS = 7

SECTION_MODELS = {
    "cost_anomalies": ("cost_anomaly_detector",),
    "forecast": ("budget_forecaster",),
    "jobs": ("job_failure_predictor", "sla_breach_predictor"),
    "security": SECURITY_DETECTORS,
    "quality": ("data_drift_detector",),
}
# The sections an entity filter concerns (the others say nothing about a workspace, job, ...).
ENTITY_SECTIONS = {
    "workspace_id": ("cost_anomalies", "forecast"),
    "job_id": ("jobs",),
    "user_id": ("security",),
    "table": ("quality",),
    "catalog": ("quality",),
}


@dataclass(frozen=True)
class Filters:
    """What the report shows; every field is optional (None = no filter)."""

    start: dt.date | None = None
    end: dt.date | None = None
    workspace_id: str | None = None
    job_id: str | None = None
    user_id: str | None = None
    table: str | None = None
    catalog: str | None = None  # a catalog of the monitored account (stale tables, drift)
    section: str | None = None
    page: int = 0

    @classmethod
    def parse(cls, params: dict[str, str | None]) -> "Filters":
        """From query parameters; a malformed date or an unknown section is a clear error."""
        def date(name: str) -> dt.date | None:
            value = (params.get(name) or "").strip()
            if not value:
                return None
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                raise InvalidParameterError(f"{name}={value!r}: expected a date as YYYY-MM-DD.") from None

        start, end = date("start"), date("end")
        if start and end and start > end:
            raise InvalidParameterError(f"The date range is empty: start {start} is after end {end}.")
        section = (params.get("section") or "").strip() or None
        if section and section not in SECTION_MODELS:
            raise InvalidParameterError(f"section={section!r}: expected one of {', '.join(SECTION_MODELS)}.")
        try:
            page = max(0, int(params.get("page") or 0))
        except ValueError:
            raise InvalidParameterError(f"page={params.get('page')!r}: expected a number.") from None
        text = {k: (str(params.get(k) or "").strip()[:256] or None) for k in ENTITY_SECTIONS}
        return cls(start, end, section=section, page=page, **text)

    @property
    def entity(self) -> tuple[str, str] | None:
        for name in ENTITY_SECTIONS:
            if getattr(self, name):
                return name, getattr(self, name)
        return None

    def shows(self, key: str) -> bool:
        if self.section and self.section != key:
            return False
        entity = self.entity
        return entity is None or key in ENTITY_SECTIONS[entity[0]]

    def params(self) -> dict[str, str]:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if v not in (None, "", 0):
                out[f.name] = v.isoformat() if isinstance(v, dt.date) else str(v)
        return out

    def window(self, dates: pd.Series) -> pd.Series:
        """Rows within the date range; without one, the last RECENT_DAYS days of the data."""
        dates = to_dates(dates)
        if self.start is None and self.end is None:
            return dates > dates.max() - pd.Timedelta(days=RECENT_DAYS) if len(dates) else dates.notna()
        keep = dates.notna()
        if self.start is not None:
            keep &= dates >= pd.Timestamp(self.start)
        if self.end is not None:
            keep &= dates <= pd.Timestamp(self.end)
        return keep

    def describe_window(self) -> str:
        if self.start is None and self.end is None:
            return f"the last {RECENT_DAYS} days of data"
        if self.start and self.end:
            return f"{self.start} to {self.end}"
        return f"from {self.start}" if self.start else f"up to {self.end}"


@dataclass
class Table:
    title: str
    frame: pd.DataFrame
    links: dict[str, str] = field(default_factory=dict)  # column -> filter parameter its values link to


@dataclass
class ModelNote:
    """What a section's model is: version and time of the scoring shown, its evaluation figure."""

    model: str
    version: Any = None
    scored_at: Any = None
    figure: ModelFigure | None = None
    present: bool = True  # predictions exist
    skipped: str | None = None  # why its latest training was skipped (e.g. "not enough data: ...")

    def text(self) -> str:
        if not self.present and self.skipped:
            head = f"{self.model}: not trained, {self.skipped}"
        elif not self.present:
            head = f"{self.model}: no predictions (model skipped, without a Champion, or not scored yet)"
        else:
            version = f" v{self.version}" if self.version is not None and self.version == self.version else ""
            scored = f", scored {pd.Timestamp(self.scored_at):%Y-%m-%d %H:%M} UTC" if self.scored_at is not None else ""
            head = f"{self.model}{version}{scored}"
        return head + (f" · evaluation: {self.figure.text()}" if self.figure else "")


@dataclass
class Section:
    key: str
    title: str
    intro: str
    status: str = "ok"  # ok | empty | missing
    message: str = ""
    tables: list[Table] = field(default_factory=list)
    chart: str | None = None  # inline SVG
    chart_alt: str = ""
    caption: str = ""
    summary: str = ""  # one line for the terminal
    models: list[ModelNote] = field(default_factory=list)


@dataclass
class HealthReport:
    catalog: str
    gold_schema: str
    feature_schema: str
    generated_at: dt.datetime
    sections: list[Section]
    filters: Filters = field(default_factory=Filters)
    evaluation: Evaluation = NOT_EVALUATED

    @property
    def summary_lines(self) -> list[str]:
        return [f"{s.title}: {s.summary or s.message}" for s in self.sections]


# -- reading ---------------------------------------------------------------------------------


def _missing(section: Section, what: str) -> Section:
    section.status = "missing"
    section.message = (f"No predictions yet: {what} does not exist. "
                       "Run the ML orchestrator (bundle run ml_orchestrator_job).")
    return section


def _empty(section: Section, message: str, summary: str) -> Section:
    section.status, section.message, section.summary = "empty", message, summary
    return section


def _anomaly_strength(df: pd.DataFrame) -> pd.Series | None:
    if "anomaly_score" in df.columns:
        return pd.to_numeric(df["anomaly_score"], errors="coerce")
    return None


def _model_notes(t: PredictionReader, key: str, evaluation: Evaluation) -> list[ModelNote]:
    notes = []
    for model in SECTION_MODELS[key]:
        scoring = t.memo(("scoring", model), functools.partial(_scoring, t, model))
        figure = evaluation.figure(model)
        if scoring is None:
            skipped = t.skip_reason(model)
            notes.append(ModelNote(model, figure=figure, present=False, skipped=skipped))
        else:
            notes.append(ModelNote(model, *scoring, figure))
    return notes


def _say_why_missing(s: Section) -> None:
    """A section without predictions whose model(s) training skipped names the reason instead
    of asking for a run of the orchestrator that already ran."""
    skipped = [n for n in s.models if not n.present and n.skipped]
    if s.status == "missing" and skipped:
        by_reason: dict[str, list[str]] = {}
        for n in skipped:  # the security detectors share one table, and so one reason
            by_reason.setdefault(str(n.skipped), []).append(n.model)
        why = "; ".join(f"{', '.join(models)}: {reason}" for reason, models in by_reason.items())
        s.message = f"No predictions: not trained on this account ({why})."
        s.summary = f"not trained ({why})"


def _scoring(t: PredictionReader, model: str) -> tuple[Any, Any] | None:
    """(model version, scored at) of the model's latest scoring; None without predictions."""
    preds = t.predictions(model)
    if preds is None or preds.empty:
        return None
    version = preds["model_version"].max() if "model_version" in preds.columns else None
    scored = pd.to_datetime(preds["scored_at"], utc=True).max() if "scored_at" in preds.columns else None
    return version, scored


# -- charts ----------------------------------------------------------------------------------


def _days(index) -> list[dt.date]:
    return [pd.Timestamp(d).date() for d in index]


# -- sections --------------------------------------------------------------------------------


def _cost_anomalies(t: PredictionReader, f: Filters) -> tuple[Section, pd.DataFrame | None]:
    ws = f.workspace_id
    s = Section("cost_anomalies", f"Cost anomalies of workspace {ws}" if ws else "Top cost anomalies",
                f"Workspace-days the cost anomaly detector flagged in {f.describe_window()}, "
                + ("latest first." if ws else "largest excess over the workspace's typical cost first."))
    preds = t.predictions("cost_anomaly_detector")
    if preds is None:
        return _missing(s, t.prediction_fqn("cost_anomaly_detector")), None
    costs = t.feature_table("cost_features")
    flagged = t.memo("flagged_cost_days", lambda: flagged_cost_days(preds, costs))
    if flagged.empty:
        return _empty(s, "The detector flagged no workspace-day in the latest scoring.", "0 flagged"), flagged
    recent = flagged
    if ws:
        recent = recent[recent["workspace_id"].astype(str) == ws]
    if f.start is None and f.end is None:
        as_of = flagged["usage_date"].max()
        if costs is not None and not costs.empty:
            as_of = max(as_of, to_dates(costs["usage_date"]).max())
        recent = recent[recent["usage_date"] > as_of - pd.Timedelta(days=RECENT_DAYS)]
    else:
        recent = recent[f.window(recent["usage_date"])] if len(recent) else recent
    if recent.empty:
        return _empty(s, f"No flagged workspace-day{' for workspace ' + ws if ws else ''} in {f.describe_window()}.",
                      "0 flagged"), flagged
    if ws:
        top = recent.sort_values("usage_date", ascending=False)
    else:
        top = recent.sort_values("excess_cost", ascending=False, na_position="last").head(TOP_N)
    table = pd.DataFrame({
        "Workspace": top["workspace_id"],
        "Date": top["usage_date"].dt.date,
        "Daily cost ($)": top["daily_cost"].round(2),
        "Typical (prior 7 days, $)": top["typical_cost"].round(2),
        "Excess ($)": top["excess_cost"].round(2),
    })
    strength = _anomaly_strength(top)
    if strength is not None:
        table["Anomaly score"] = strength.round(3).to_numpy()
    s.tables.append(Table("", table, {"Workspace": "workspace_id"}))
    s.summary = f"{len(recent)} flagged in {f.describe_window()}"
    first = recent.sort_values("excess_cost", ascending=False, na_position="last").iloc[0]
    s.summary += f"; largest: workspace {first['workspace_id']} on {first['usage_date'].date()}"
    if pd.notna(first["excess_cost"]):
        s.summary += f" (+${first['excess_cost']:,.0f})"
    return s, flagged


def _forecast(t: PredictionReader, flagged_costs: pd.DataFrame | None, f: Filters) -> Section:
    ws = f.workspace_id
    who = f"workspace {ws}" if ws else "all workspaces"
    s = Section("forecast", "Forecast vs actual daily cost" + (f" of workspace {ws}" if ws else ""),
                f"List cost per day ({who}): actual, the budget forecaster's next-day forecast, "
                "and the days with a flagged cost anomaly.")
    costs = t.feature_table("cost_features")
    if costs is None or costs.empty:
        s.status = "missing"
        s.message = f"No cost features yet: {t.catalog}.{t.features}.cost_features does not exist."
        return s
    costs = costs.assign(usage_date=to_dates(costs["usage_date"]))
    if ws:
        costs = costs[costs["workspace_id"].astype(str) == ws]
        if costs.empty:
            return _empty(s, f"Workspace {ws} has no cost data.", f"no cost data for workspace {ws}")
    per_day = costs.groupby("usage_date")["daily_cost"].sum().sort_index()
    # The first and last day of an export are often partial (a usage slice crossing midnight):
    # an edge day under a quarter of the median daily cost would show a fake collapse. Interior
    # days are always kept, however low.
    complete = pd.Series(True, index=per_day.index)
    floor = 0.25 * per_day.median()
    for edge in {per_day.index[0], per_day.index[-1]}:
        if len(per_day) > 2 and per_day[edge] < floor:
            complete[edge] = False
    incomplete = int((~complete).sum())
    actual = per_day[complete]
    if f.start is None and f.end is None:
        end = actual.index.max()
        start = end - pd.Timedelta(days=90)
        actual = actual[actual.index > start]
    else:
        actual = actual[f.window(actual.index.to_series()).to_numpy()]
        if actual.empty:
            return _empty(s, f"No cost data in {f.describe_window()}.", "no cost data in the range")
        start, end = actual.index.min() - pd.Timedelta(days=1), actual.index.max()
    preds = t.predictions("budget_forecaster")
    forecast = None
    if preds is not None and not preds.empty:
        p = preds.assign(usage_date=to_dates(preds["usage_date"]))
        if ws:
            p = p[p["workspace_id"].astype(str) == ws]
        # A row keyed (workspace, d) forecasts the workspace's cost on d + 1.
        p["target_date"] = p["usage_date"] + pd.Timedelta(days=1)
        forecast = p.groupby("target_date")["prediction"].sum().sort_index()
        forecast = forecast[(forecast.index > start) & (forecast.index <= end)]
    anomaly_days = pd.DatetimeIndex([])
    if flagged_costs is not None and not flagged_costs.empty:
        mine = flagged_costs if not ws else flagged_costs[flagged_costs["workspace_id"].astype(str) == ws]
        anomaly_days = pd.DatetimeIndex(sorted(set(mine["usage_date"]) & set(actual.index)))

    series = [report_charts.Series("Actual daily cost", _days(actual.index), actual.to_list(), "#1f4e79")]
    if forecast is not None and len(forecast):
        series.append(report_charts.Series("Forecast (budget_forecaster, one day ahead)", _days(forecast.index),
                                           forecast.to_list(), "#e69f00", "dashed"))
    if len(anomaly_days):
        series.append(report_charts.Series("Day with a flagged cost anomaly", _days(anomaly_days),
                                           actual.reindex(anomaly_days).to_list(), "#c00000", "dots"))
    s.chart = report_charts.time_series_chart(f"Daily list cost, {who}: actual vs forecast", "List cost per day ($)",
                                              series)
    s.chart_alt = "Line chart of actual and forecast daily cost with anomaly days marked"
    notes = []
    if forecast is None:
        notes.append("no forecasts yet (budget_forecast_predictions does not exist)")
        s.status = "missing"
    else:
        both = pd.concat([actual.rename("a"), forecast.rename("f")], axis=1).dropna()
        if len(both) and both["a"].sum() > 0:
            # Weighted (sum of errors / sum of actuals): robust to near-zero days, unlike MAPE.
            wape = float((both["f"] - both["a"]).abs().sum() / both["a"].sum() * 100)
            notes.append(f"weighted absolute percentage error over the {len(both)} days shown: {wape:.1f}%")
            s.summary = f"forecast error (WAPE) {wape:.1f}% over {len(both)} days"
    if flagged_costs is None:
        notes.append("no anomaly predictions yet")
    else:
        notes.append(f"{len(anomaly_days)} days with a flagged anomaly in the window")
    if incomplete:
        notes.append(f"{incomplete} incomplete day(s) at the edge of the data omitted")
    shown = "Last 90 days of data" if f.start is None and f.end is None else f"Days from {f.describe_window()}"
    s.caption = f"{shown} up to {end.date()}; " + "; ".join(notes) + "."
    if not s.summary:
        s.summary = s.caption
    return s


def _jobs(t: PredictionReader, f: Filters) -> Section:
    job = f.job_id
    s = Section("jobs", f"Failure and SLA risk of job {job}" if job else "Jobs most likely to fail, and SLA risks",
                ("The job's predictions per run day" if job else "For each job, the latest prediction")
                + ": the probability (or 0/1 prediction) that its next run day has a failed run, and that a run "
                "exceeds its SLA (1.5x its 30-run average duration).")
    fail = t.predictions("job_failure_predictor")
    sla = t.predictions("sla_breach_predictor")
    if fail is None and sla is None:
        return _missing(s, f"{t.prediction_fqn('job_failure_predictor')} (and the SLA predictions)")
    names = t.gold_table("dim_job")
    if job:
        return _job_history(s, job, fail, sla, names, f)

    latest_f = t.memo("latest_failure_risk", lambda: latest_per_job(fail, "failure_risk"))
    latest_b = t.memo("latest_sla_risk", lambda: latest_per_job(sla, "sla_risk"))
    if latest_f is not None and latest_b is not None:
        merged = latest_f.merge(latest_b.drop(columns="run_date"), on="job_id", how="outer")
    else:
        merged = latest_f if latest_f is not None else latest_b
    if merged is None:
        return _empty(s, "The latest scorings have no rows.", "no rows")
    if f.start is not None or f.end is not None:
        merged = merged[f.window(merged["run_date"])]
        if merged.empty:
            return _empty(s, f"No job has a prediction in {f.describe_window()}.", "no jobs in the range")
    merged = _with_names(_both_risks(merged), names)
    rel = t.memo("latest_reliability", lambda: _latest_reliability(t))
    if rel is not None:
        merged = merged.merge(rel[["total_failures_30d"]], left_on="job_id", right_index=True, how="left")
    else:
        merged["total_failures_30d"] = float("nan")
    merged = merged.sort_values(["failure_risk", "sla_risk"], ascending=False, na_position="last")
    top = merged.head(TOP_N)
    s.tables.append(Table("", pd.DataFrame({
        "Job": top["job_id"], "Name": top["name"].fillna(""),
        "Last run day": pd.to_datetime(top["run_date"]).dt.date,
        "Failure risk": top["failure_risk"].round(3), "SLA breach risk": top["sla_risk"].round(3),
        "Failed runs (last 30 run days)": top["total_failures_30d"],
    }), {"Job": "job_id"}))
    at_risk = int((merged["failure_risk"] >= 0.5).sum())
    sla_risk = int((merged["sla_risk"] >= 0.5).sum())
    s.summary = f"{at_risk} jobs with failure risk >= 0.5, {sla_risk} with SLA breach risk >= 0.5 (of {len(merged)})"
    if fail is None or sla is None:
        s.message = "Only one of the two models has predictions so far."
    return s


def _latest_reliability(t: PredictionReader) -> pd.DataFrame | None:
    rel = t.feature_table("reliability_features")
    if rel is None or rel.empty:
        return None
    return rel.assign(run_date=to_dates(rel["run_date"])).sort_values("run_date").groupby("job_id").last()


def _both_risks(df: pd.DataFrame) -> pd.DataFrame:
    """Failure and SLA risk columns, empty where that model has no predictions."""
    missing = {c: float("nan") for c in ("failure_risk", "sla_risk") if c not in df.columns}
    return df.assign(**missing) if missing else df


def _with_names(df: pd.DataFrame, names: pd.DataFrame | None) -> pd.DataFrame:
    if names is not None and not names.empty and "name" in names.columns:
        return df.merge(names[["job_id", "name"]].drop_duplicates("job_id"), on="job_id", how="left")
    return df.assign(name="")


def _job_history(s: Section, job: str, fail, sla, names, f: Filters) -> Section:
    frames = []
    for df, col in ((fail, "failure_risk"), (sla, "sla_risk")):
        if df is not None and not df.empty:
            mine = df[df["job_id"].astype(str) == job]
            frames.append(pd.DataFrame({"job_id": mine["job_id"], "run_date": to_dates(mine["run_date"]),
                                        col: risk(mine)}))
    rows = (frames[0] if len(frames) == 1
            else frames[0].merge(frames[1], on=["job_id", "run_date"], how="outer") if frames else None)
    if rows is None or rows.empty:
        return _empty(s, f"Job {job} has no predictions in the latest scorings.", f"no predictions for job {job}")
    rows = rows[f.window(rows["run_date"])]
    if rows.empty:
        return _empty(s, f"Job {job} has no prediction in {f.describe_window()}.", "no predictions in the range")
    rows = _with_names(_both_risks(rows), names).sort_values("run_date", ascending=False)
    name = rows["name"].dropna().iloc[0] if rows["name"].notna().any() else ""
    if name:
        s.title += f" ({name})"
    s.tables.append(Table("", pd.DataFrame({
        "Run day": rows["run_date"].dt.date, "Failure risk": rows["failure_risk"].round(3),
        "SLA breach risk": rows["sla_risk"].round(3)})))
    s.summary = f"job {job}: latest failure risk {_format(rows['failure_risk'].iloc[0]) or 'n/a'}, " \
                f"SLA breach risk {_format(rows['sla_risk'].iloc[0]) or 'n/a'} ({len(rows)} run days)"
    return s


def _security(t: PredictionReader, f: Filters) -> Section:
    user = f.user_id
    s = Section("security", f"Security alerts of {user}" if user else "Security alerts per user",
                f"User-days the four security detectors flagged in {f.describe_window()}, "
                + ("per day and detector." if user
                   else "counted per detector (one alert = one user-day flagged by one detector)."))
    alerts = security_flags(t)
    if alerts is None:
        return _missing(s, "any security predictions table (e.g. " + t.prediction_fqn("security_threat_detector") + ")")
    if alerts.empty:
        return _empty(s, "No user-day was flagged.", "0 alerts")
    if f.start is None and f.end is None:
        as_of = alerts["event_date"].max()
        sec = t.feature_table("security_features")
        if sec is not None and not sec.empty:
            as_of = max(as_of, to_dates(sec["event_date"]).max())
        alerts = alerts[alerts["event_date"] > as_of - pd.Timedelta(days=RECENT_DAYS)]
    else:
        alerts = alerts[f.window(alerts["event_date"])]
        as_of = alerts["event_date"].max() if len(alerts) else None
    if user:
        alerts = alerts[alerts["user_id"].astype(str) == user]
    if alerts.empty:
        return _empty(s, f"No alert{' for ' + user if user else ''} in {f.describe_window()}.", "0 alerts")
    if user:
        per_day = (alerts.groupby("event_date")["detector"].apply(lambda d: ", ".join(sorted(set(d))))
                   .sort_index(ascending=False))
        s.tables.append(Table("", pd.DataFrame({"Day": per_day.index.date, "Flagged by": per_day.to_numpy()})))
        s.summary = f"{len(alerts)} alerts on {len(per_day)} days for {user}"
        return s
    per_user = alerts.pivot_table(index="user_id", columns="detector", values="event_date", aggfunc="count",
                                  fill_value=0)
    per_user["total"] = per_user.sum(axis=1)
    per_user = per_user.sort_values("total", ascending=False)
    top = per_user.head(15)
    colors = ["#c00000", "#e69f00", "#7030a0", "#1f4e79"]
    detectors = [d for d in SECURITY_DETECTORS if d in top.columns]
    s.chart = report_charts.stacked_bar_chart(
        "Security alerts per user, by detector", f"Alerts (flagged user-days) in {f.describe_window()}",
        [str(u) for u in top.index],
        [report_charts.Stack(det.replace("_", " "), top[det].to_list(), color)
         for color, det in zip(colors, detectors)])
    s.chart_alt = "Horizontal stacked bar chart of alerts per user and detector"
    s.caption = f"Top {len(top)} of {len(per_user)} users with alerts, up to {as_of.date()}."
    table = top.reset_index().rename(columns={"user_id": "User", "total": "Total"})
    table.columns = [str(c).replace("_", " ") if c not in ("User", "Total") else c for c in table.columns]
    s.tables.append(Table("", table, {"User": "user_id"}))
    s.summary = f"{int(per_user['total'].sum())} alerts for {len(per_user)} users in {f.describe_window()}"
    return s


def _quality(t: PredictionReader, f: Filters) -> Section:
    s = Section("quality", "Stale tables and drift",
                f"Tables whose latest data commit is {STALE_DAYS} or more days old at the latest snapshot, and the "
                f"catalog-days the drift detector flagged in {f.describe_window()}.")
    if f.table:
        s.title = f"Freshness of {f.table}"
    elif f.catalog:
        s.title = f"Stale tables and drift of catalog {f.catalog}"
    snaps = t.gold_table("fact_table_snapshots")
    summary = []
    if snaps is not None and not snaps.empty:
        oldest = t.memo("table_staleness", lambda: table_staleness(snaps))
        if f.table:
            oldest = oldest[oldest["table"] == f.table]
        elif f.catalog:
            oldest = oldest[oldest["table_catalog"].astype(str) == f.catalog]
        stale = oldest[oldest["days_since_commit"] >= STALE_DAYS]
        shown = oldest if f.table or f.catalog else oldest.head(TOP_N)
        at = f" at the {oldest['snapshot_date'].max().date()} snapshot" if len(oldest) else ""
        s.tables.append(Table(f"Least recently written tables{at}", pd.DataFrame({
            "Table": shown["table"],
            "Days since last commit": shown["days_since_commit"],
            "Last commit": pd.to_datetime(shown["last_commit_time"]).dt.strftime("%Y-%m-%d %H:%M"),
            "Rows": shown["row_count"],
            "Stale": ["yes" if d >= STALE_DAYS else "no" for d in shown["days_since_commit"]],
        }), {"Table": "table"}))
        summary.append(f"{len(stale)} stale tables of {len(oldest)}")
    else:
        summary.append("no table snapshots")
        s.message = f"{t.catalog}.{t.gold}.fact_table_snapshots does not exist."
    drift = t.predictions("data_drift_detector")
    if f.table:
        pass  # drift is per catalog-day: the table's view shows its freshness only
    elif drift is not None and not drift.empty:
        drift = drift.assign(snapshot_date=to_dates(drift["snapshot_date"]))
        flagged = drift[is_flagged(drift) & f.window(drift["snapshot_date"])].copy()
        if f.catalog:
            flagged = flagged[flagged["catalog_name"].astype(str) == f.catalog]
        feats = t.feature_table("quality_features")
        cols = ["catalog_name", "snapshot_date"]
        if feats is not None and not feats.empty:
            feats = feats.assign(snapshot_date=to_dates(feats["snapshot_date"]))
            keep = [c for c in ("schema_changes_1d", "stale_tables_7d", "total_rows_change_pct_1d")
                    if c in feats.columns]
            flagged = flagged[cols].merge(feats[cols + keep], on=cols, how="left")
        flagged = flagged.sort_values("snapshot_date", ascending=False)
        # total_rows_change_pct_1d is already a percentage (features.sql.change_pct multiplies by 100).
        table = flagged.rename(columns={"catalog_name": "Catalog", "snapshot_date": "Day",
                                        "schema_changes_1d": "Schema changes", "stale_tables_7d": "Stale tables",
                                        "total_rows_change_pct_1d": "Row count change (%)"})
        table = table[[c for c in table.columns if c in ("Catalog", "Day", "Schema changes", "Stale tables",
                                                          "Row count change (%)")]]
        if "Day" in table.columns:
            table["Day"] = pd.to_datetime(table["Day"]).dt.date
        shown = table if f.catalog else table.head(15)
        s.tables.append(Table(f"Drift detector: flagged catalog-days in {f.describe_window()}", shown.round(2),
                              {"Catalog": "catalog"}))
        summary.append(f"{len(flagged)} catalog-days flagged for drift")
    else:
        why = t.skip_reason("data_drift_detector")
        summary.append(f"drift detector not trained ({why})" if why else "no drift predictions yet")
        if s.status == "ok" and snaps is None:
            s.status = "missing"
    s.summary = ", ".join(summary)
    return s


def build_report(catalog: str, gold_schema: str, feature_schema: str, *, lakehouse=None,
                 now: dt.datetime | None = None, filters: Filters | None = None,
                 evaluation: Evaluation | None = None, reader: PredictionReader | None = None) -> HealthReport:
    """The report of one catalog. ``reader``: a PredictionReader kept by the caller while its
    tables' versions are unchanged (its derived frames are reused); by default a fresh one."""
    from healthmon.lakehouse import Lakehouse
    from healthmon.lakehouse.paths import check_identifier

    for value, what in ((catalog, "catalog"), (gold_schema, "gold schema"), (feature_schema, "feature schema")):
        check_identifier(value, what)
    f = filters or Filters()
    evaluation = evaluation if evaluation is not None else load_evaluation()
    t = reader or PredictionReader(lakehouse or Lakehouse.from_env(), catalog, gold_schema, feature_schema)
    sections = []
    flagged = None
    if f.shows("cost_anomalies") or f.shows("forecast"):
        cost, flagged = _cost_anomalies(t, f)
        if f.shows("cost_anomalies"):
            sections.append(cost)
    builders = {"forecast": lambda: _forecast(t, flagged, f), "jobs": lambda: _jobs(t, f),
                "security": lambda: _security(t, f), "quality": lambda: _quality(t, f)}
    for key, build in builders.items():
        if f.shows(key):
            sections.append(build())
    for s in sections:
        s.models = _model_notes(t, s.key, evaluation)
        _say_why_missing(s)
    return HealthReport(catalog, gold_schema, feature_schema, now or dt.datetime.now(dt.timezone.utc), sections, f,
                        evaluation)


# -- HTML ------------------------------------------------------------------------------------

# Shared by the file (inside <style>) and the server (static/healthmon.css imports nothing: the
# page template inlines it too), so both look the same.
CSS = """
.report .meta{color:#666;margin-top:0}
.report section{border-top:1px solid #ddd;padding-top:.6rem;margin-top:1.6rem}
.report table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem;width:auto}
.report th,.report td{border:1px solid #ddd;padding:.25rem .6rem;text-align:left} .report th{background:#f3f5f8}
.report td.num{text-align:right;font-variant-numeric:tabular-nums}
.report .status,.badge{display:inline-block;padding:.1rem .5rem;border-radius:.6rem;font-size:.8rem;margin-left:.5rem;
font-weight:400}
.report .ok{background:#e3f4e6;color:#1b5e20}.report .empty{background:#eef;color:#334}
.report .missing{background:#fff3cd;color:#7a5c00}
.report .summary li{margin:.2rem 0} .report figure{margin:.6rem 0} .report figcaption{color:#555;font-size:.85rem}
.report .models{color:#444;font-size:.85rem;margin:.3rem 0;padding-left:1.2rem}
.report svg.chart{max-width:1000px;height:auto}
.badge.good{background:#e3f4e6;color:#1b5e20}.badge.ships{background:#fff3cd;color:#7a5c00}
.badge.bad{background:#fde0e0;color:#8e1b1b}.badge.na{background:#eceff1;color:#455a64}
.report .pager{font-size:.85rem;color:#555}
"""

_FILE_CSS = ("body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1100px;"
             "color:#222;padding:0 1rem}")
STATUS_LABELS = {"ok": "ok", "empty": "nothing flagged", "missing": "no predictions yet"}


def status_label(s: Section) -> str:
    """The section's badge: a section whose models were trained and skipped says so, not that
    predictions are merely yet to come."""
    if s.status == "missing" and any(not n.present and n.skipped for n in s.models):
        return "not trained"
    return STATUS_LABELS[s.status]


def _format(v, column: str = "") -> str:
    """Money with two decimals; counts without; percentages with a % sign; small ratios and
    probabilities with three decimals."""
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    if isinstance(v, (bool, str)) or not isinstance(v, numbers.Number):
        return str(v)
    # typeshed's numbers.Number declares no __float__, but every Number reaching here (int, float,
    # Decimal, numpy scalars) has one.
    v = float(cast(SupportsFloat, v))
    if "($" in column:
        return f"{v:,.2f}"
    if "(%)" in column:
        return f"{v:,.1f} %"
    if v.is_integer():
        return f"{v:,.0f}"
    return f"{v:,.2f}" if abs(v) >= 1 else f"{v:.3f}"


class Links:
    """Hrefs of the Health page: ``base`` + ``/health?`` + the view's parameters. ``paginate``:
    tables show one page of rows with next/previous links (the server); else every row (a file)."""

    def __init__(self, base: str, schema: str, filters: Filters, paginate: bool):
        self.base, self.schema, self.filters, self.paginate = base.rstrip("/"), schema, filters, paginate

    def view(self, **params: str) -> str:
        return f"{self.base}/health?{urlencode({'schema': self.schema, **params})}"

    def entity(self, param: str, value: Any) -> str:
        keep = {k: v for k, v in self.filters.params().items() if k in ("start", "end")}
        return self.view(**keep, **{param: str(value)})

    def page(self, number: int) -> str:
        return self.view(**{**self.filters.params(), "page": str(number)})


def _html_table(table: Table, links: Links) -> str:
    df = table.frame
    if df is None or df.empty:
        return "<p><em>Nothing to show.</em></p>"
    total = len(df)
    pager = ""
    if links.paginate and total > PAGE_ROWS:
        page = min(links.filters.page, (total - 1) // PAGE_ROWS)
        df = df.iloc[page * PAGE_ROWS:(page + 1) * PAGE_ROWS]
        nav = []
        if page > 0:
            nav.append(f"<a href='{html.escape(links.page(page - 1))}'>previous</a>")
        if (page + 1) * PAGE_ROWS < total:
            nav.append(f"<a href='{html.escape(links.page(page + 1))}'>next</a>")
        pager = (f"<p class=pager>Rows {page * PAGE_ROWS + 1}–{page * PAGE_ROWS + len(df)} of {total} · "
                 + " · ".join(nav) + "</p>")
    elif total > FILE_MAX_ROWS:
        df = df.head(FILE_MAX_ROWS)
        pager = f"<p class=pager>First {FILE_MAX_ROWS} of {total} rows.</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for _, row in df.iterrows():
        cells = []
        for column, v in zip(df.columns, row):
            num = isinstance(v, numbers.Number) and not isinstance(v, bool)
            text = html.escape(_format(v, str(column)))
            param = table.links.get(str(column))
            if param and text:
                text = f"<a href='{html.escape(links.entity(param, v))}'>{text}</a>"
            cells.append(f"<td{' class=num' if num else ''}>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"{pager}<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{pager}"


def _model_list(s: Section) -> str:
    items = []
    for note in s.models:
        badge = (f" <span class='badge {note.figure.badge}'>{html.escape(note.figure.verdict)}</span>"
                 if note.figure else "")
        items.append(f"<li data-model='{note.model}'>{html.escape(note.text())}{badge}</li>")
    if s.key == "quality":
        items.append("<li>Stale tables: a rule on the table snapshots (no model).</li>")
    return f"<ul class=models>{''.join(items)}</ul>" if items else ""


def render_body(report: HealthReport, links: Links) -> str:
    """The report's content (summary and sections), the same in the file and on the Health page."""
    ev = report.evaluation
    source = (f"evaluation figures from {html.escape(Path(ev.source).name)}"
              + (f" ({html.escape(ev.finished_at)})" if ev.finished_at else "")) if ev.source else \
        "no evaluation figures (run <code>make eval</code> to write EVALUATION.json)"
    out = [
        "<div class=report>",
        f"<p class=meta>Catalog <b>{html.escape(report.catalog)}</b> · gold schema "
        f"<b>{html.escape(report.gold_schema)}</b> · ML schema <b>{html.escape(report.feature_schema)}</b> · "
        f"generated {report.generated_at:%Y-%m-%d %H:%M} UTC · {source}</p>",
        "<ul class=summary>",
    ]
    out += [f"<li><a href='#{s.key}'><b>{html.escape(s.title)}</b></a>: {html.escape(s.summary or s.message)}</li>"
            for s in report.sections]
    out.append("</ul>")
    for s in report.sections:
        out.append(f"<section id={s.key} data-status={s.status}><h2>{html.escape(s.title)}"
                   f"<span class='status {s.status}'>{status_label(s)}</span></h2>")
        out.append(f"<p>{html.escape(s.intro)}</p>")
        out.append(_model_list(s))
        if s.message:
            out.append(f"<p class=message><em>{html.escape(s.message)}</em></p>")
        if s.chart:
            out.append(f"<figure role=img aria-label='{html.escape(s.chart_alt)}'>{s.chart}"
                       f"<figcaption>{html.escape(s.caption)}</figcaption></figure>")
        for table in s.tables:
            if table.title:
                out.append(f"<h3>{html.escape(table.title)}</h3>")
            out.append(_html_table(table, links))
        out.append("</section>")
    out.append("</div>")
    return "\n".join(out)


def server_url() -> str:
    """Where the Health page is served, for the file's links (as the alerts' links)."""
    from healthmon.ml.alerts import DEFAULT_SERVER_URL

    return (os.environ.get("HEALTHMON_SERVER_URL") or DEFAULT_SERVER_URL).rstrip("/")


def render_html(report: HealthReport, base_url: str | None = None) -> str:
    """The self-contained HTML file: no loaded resource; rows link to the server's Health page."""
    links = Links(server_url() if base_url is None else base_url, f"{report.catalog}.{report.feature_schema}",
                  report.filters, paginate=False)
    return "\n".join([
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        "<title>Health Monitor report</title>",
        f"<style>{_FILE_CSS}{CSS}</style></head><body>",
        "<h1>Databricks Health Monitor</h1>",
        render_body(report, links),
        "</body></html>",
    ])


def write_report(catalog: str, gold_schema: str, feature_schema: str, output: str | Path, *,
                 lakehouse=None, filters: Filters | None = None) -> tuple[Path, HealthReport]:
    report = build_report(catalog, gold_schema, feature_schema, lakehouse=lakehouse, filters=filters)
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_html(report), encoding="utf-8")
    tmp.replace(path)  # a reader never sees a half-written report
    return path, report


def report_as_dict(report: HealthReport) -> dict[str, Any]:
    """A JSON-friendly view (for scripts)."""
    return {
        "catalog": report.catalog, "gold_schema": report.gold_schema, "feature_schema": report.feature_schema,
        "generated_at": report.generated_at.isoformat(), "filters": report.filters.params(),
        "sections": [{"key": s.key, "title": s.title, "status": s.status, "summary": s.summary,
                      "message": s.message, "models": [n.text() for n in s.models]} for s in report.sections],
    }


__all__ = ["Filters", "HealthReport", "Section", "Table", "build_report", "render_body", "render_html", "write_report",
           "report_as_dict", "Links", "CSS"]
