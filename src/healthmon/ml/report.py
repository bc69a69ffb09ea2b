"""The health report: what the ML layer found, as one self-contained HTML page.

Sections (issue 6 item 7): top cost anomalies; forecast vs actual daily cost with the anomalies
marked; jobs most likely to fail and SLA risks; security alerts per user; stale tables and drift.
Each reads the prediction tables batch inference writes (``<catalog>.<feature_schema>.<table>``,
names from ``healthmon.ml.models``) plus the feature and gold tables for context. A section whose
tables do not exist yet says so ("no predictions yet") instead of failing, so the report works
at every stage of a fresh workspace.

Charts are rendered server-side with matplotlib (Agg) into PNGs embedded as base64 data URIs:
the file has no external references and opens anywhere. Every chart has a title, labelled axes,
a legend and a caption, so it reads without the code.

"As of" dates come from the data (the latest date in each table), not the wall clock, so a
report on an exported or synthetic account that ended weeks ago still shows its last 30 days.

Prediction tables are read, and their flags and risks interpreted, by
``healthmon.ml.predictions`` (the one sign convention: a detector's flag means "anomaly").
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from healthmon.ml.predictions import (
    SECURITY_DETECTORS, PredictionReader, flagged_cost_days, latest_per_job, security_flags, table_staleness,
    to_dates,
)
from healthmon.ml.predictions import flagged as is_flagged  # `flagged` names frames below

RECENT_DAYS = 30
TOP_N = 10
STALE_DAYS = 7

@dataclass
class Section:
    key: str
    title: str
    intro: str
    status: str = "ok"  # ok | empty | missing
    message: str = ""
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    chart: str | None = None  # data URI
    chart_alt: str = ""
    caption: str = ""
    summary: str = ""  # one line for the terminal


@dataclass
class HealthReport:
    catalog: str
    gold_schema: str
    feature_schema: str
    generated_at: dt.datetime
    sections: list[Section]

    @property
    def summary_lines(self) -> list[str]:
        return [f"{s.title}: {s.summary or s.message}" for s in self.sections]


# -- reading ---------------------------------------------------------------------------------


def _missing(section: Section, what: str) -> Section:
    section.status = "missing"
    section.message = f"No predictions yet: {what} does not exist. Run the ML orchestrator (bundle run ml_orchestrator_job)."
    return section


def _anomaly_strength(df: pd.DataFrame) -> pd.Series | None:
    if "anomaly_score" in df.columns:
        return pd.to_numeric(df["anomaly_score"], errors="coerce")
    return None


# -- charts ----------------------------------------------------------------------------------


def _figure_to_uri(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# -- sections --------------------------------------------------------------------------------


def _cost_anomalies(t: PredictionReader) -> tuple[Section, pd.DataFrame | None]:
    s = Section("cost_anomalies", "Top cost anomalies",
                f"Workspace-days the cost anomaly detector flagged in the last {RECENT_DAYS} days of data, "
                "largest excess over the workspace's typical cost first.")
    preds = t.predictions("cost_anomaly_detector")
    if preds is None:
        return _missing(s, t.prediction_fqn("cost_anomaly_detector")), None
    costs = t.feature_table("cost_features")
    flagged = flagged_cost_days(preds, costs)
    if flagged.empty:
        s.status, s.message = "empty", "The detector flagged no workspace-day in the latest scoring."
        s.summary = "0 flagged"
        return s, flagged
    as_of = flagged["usage_date"].max()
    if costs is not None and not costs.empty:
        as_of = max(as_of, to_dates(costs["usage_date"]).max())
    recent = flagged[flagged["usage_date"] > as_of - pd.Timedelta(days=RECENT_DAYS)].copy()
    recent = recent.sort_values("excess_cost", ascending=False, na_position="last")
    top = recent.head(TOP_N)
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
    s.tables.append(("", table))
    s.summary = f"{len(recent)} flagged in the last {RECENT_DAYS} days"
    if len(top):
        first = top.iloc[0]
        s.summary += f"; largest: workspace {first['workspace_id']} on {first['usage_date'].date()}"
        if pd.notna(first["excess_cost"]):
            s.summary += f" (+${first['excess_cost']:,.0f})"
    return s, flagged


def _forecast(t: PredictionReader, flagged_costs: pd.DataFrame | None) -> Section:
    s = Section("forecast", "Forecast vs actual daily cost",
                "Account-wide list cost per day: actual, the budget forecaster's next-day forecast, "
                "and the days with a flagged cost anomaly.")
    costs = t.feature_table("cost_features")
    if costs is None or costs.empty:
        s.status = "missing"
        s.message = f"No cost features yet: {t.catalog}.{t.features}.cost_features does not exist."
        return s
    costs = costs.assign(usage_date=to_dates(costs["usage_date"]))
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
    end = actual.index.max()
    start = end - pd.Timedelta(days=90)
    actual = actual[actual.index > start]
    preds = t.predictions("budget_forecaster")
    forecast = None
    if preds is not None and not preds.empty:
        p = preds.assign(usage_date=to_dates(preds["usage_date"]))
        # A row keyed (workspace, d) forecasts the workspace's cost on d + 1.
        p["target_date"] = p["usage_date"] + pd.Timedelta(days=1)
        forecast = p.groupby("target_date")["prediction"].sum().sort_index()
        forecast = forecast[(forecast.index > start) & (forecast.index <= end)]
    anomaly_days = pd.DatetimeIndex([])
    if flagged_costs is not None and not flagged_costs.empty:
        anomaly_days = pd.DatetimeIndex(sorted(set(flagged_costs["usage_date"]) & set(actual.index)))

    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 4.2))
    ax.plot(actual.index, actual.values, color="#1f4e79", linewidth=1.8, label="Actual daily cost")
    if forecast is not None and len(forecast):
        ax.plot(forecast.index, forecast.values, color="#e69f00", linewidth=1.5, linestyle="--",
                label="Forecast (budget_forecaster, one day ahead)")
    if len(anomaly_days):
        ax.scatter(anomaly_days, actual.reindex(anomaly_days).values, color="#c00000", zorder=5, s=36,
                   label="Day with a flagged cost anomaly")
    ax.set_title("Daily list cost, all workspaces: actual vs forecast")
    ax.set_xlabel("Date")
    ax.set_ylabel("List cost per day ($)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    s.chart = _figure_to_uri(fig)
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
    s.caption = f"Last 90 days of data up to {end.date()}; " + "; ".join(notes) + "."
    if not s.summary:
        s.summary = s.caption
    return s


def _jobs(t: PredictionReader) -> Section:
    s = Section("jobs", "Jobs most likely to fail, and SLA risks",
                "For each job, the latest prediction: the probability (or 0/1 prediction) that its next run "
                "day has a failed run, and that a run exceeds its SLA (1.5x its 30-run average duration).")
    fail = t.predictions("job_failure_predictor")
    sla = t.predictions("sla_breach_predictor")
    if fail is None and sla is None:
        return _missing(s, f"{t.prediction_fqn('job_failure_predictor')} (and the SLA predictions)")

    f, b = latest_per_job(fail, "failure_risk"), latest_per_job(sla, "sla_risk")
    if f is not None and b is not None:
        merged = f.merge(b.drop(columns="run_date"), on="job_id", how="outer")
    else:
        merged = f if f is not None else b
    for col in ("failure_risk", "sla_risk"):
        if col not in merged.columns:
            merged[col] = float("nan")
    names = t.gold_table("dim_job")
    if names is not None and not names.empty:
        merged = merged.merge(names[["job_id", "name"]].drop_duplicates("job_id"), on="job_id", how="left")
    else:
        merged["name"] = ""
    rel = t.feature_table("reliability_features")
    if rel is not None and not rel.empty:
        rel = rel.assign(run_date=to_dates(rel["run_date"])).sort_values("run_date").groupby("job_id").last()
        merged = merged.merge(rel[["total_failures_30d", "rolling_failure_rate_30d"]], left_on="job_id",
                              right_index=True, how="left")
    else:
        merged["total_failures_30d"] = float("nan")
    merged = merged.sort_values(["failure_risk", "sla_risk"], ascending=False, na_position="last")
    top = merged.head(TOP_N)
    s.tables.append(("", pd.DataFrame({
        "Job": top["job_id"], "Name": top["name"].fillna(""),
        "Last run day": pd.to_datetime(top["run_date"]).dt.date,
        "Failure risk": top["failure_risk"].round(3), "SLA breach risk": top["sla_risk"].round(3),
        "Failed runs (last 30 run days)": top["total_failures_30d"],
    })))
    at_risk = int((merged["failure_risk"] >= 0.5).sum())
    sla_risk = int((merged["sla_risk"] >= 0.5).sum())
    s.summary = f"{at_risk} jobs with failure risk >= 0.5, {sla_risk} with SLA breach risk >= 0.5 (of {len(merged)})"
    if fail is None or sla is None:
        s.message = "Only one of the two models has predictions so far."
    return s


def _security(t: PredictionReader) -> Section:
    s = Section("security", "Security alerts per user",
                f"Users the four security detectors flagged in the last {RECENT_DAYS} days of data, "
                "counted per detector (one alert = one user-day flagged by one detector).")
    alerts = security_flags(t)
    if alerts is None:
        return _missing(s, "any security predictions table (e.g. " + t.prediction_fqn("security_threat_detector") + ")")
    if alerts.empty:
        s.status, s.message, s.summary = "empty", "No user-day was flagged.", "0 alerts"
        return s
    as_of = alerts["event_date"].max()
    sec = t.feature_table("security_features")
    if sec is not None and not sec.empty:
        as_of = max(as_of, to_dates(sec["event_date"]).max())
    alerts = alerts[alerts["event_date"] > as_of - pd.Timedelta(days=RECENT_DAYS)]
    per_user = alerts.pivot_table(index="user_id", columns="detector", values="event_date", aggfunc="count",
                                  fill_value=0)
    per_user["total"] = per_user.sum(axis=1)
    per_user = per_user.sort_values("total", ascending=False)
    top = per_user.head(15)
    if not top.empty:
        plt = _plt()
        fig, ax = plt.subplots(figsize=(10, 0.35 * len(top) + 1.6))
        left = pd.Series(0.0, index=top.index)
        colors = ["#c00000", "#e69f00", "#7030a0", "#1f4e79"]
        for color, det in zip(colors, [d for d in SECURITY_DETECTORS if d in top.columns]):
            ax.barh(top.index, top[det], left=left, color=color, label=det.replace("_", " "))
            left += top[det]
        ax.invert_yaxis()
        ax.set_xlabel(f"Alerts (flagged user-days) in the last {RECENT_DAYS} days")
        ax.set_title("Security alerts per user, by detector")
        ax.legend(fontsize=8, loc="lower right")
        ax.grid(axis="x", alpha=0.3)
        s.chart = _figure_to_uri(fig)
        s.chart_alt = "Horizontal stacked bar chart of alerts per user and detector"
        s.caption = f"Top {len(top)} of {len(per_user)} users with alerts, up to {as_of.date()}."
    table = top.reset_index().rename(columns={"user_id": "User", "total": "Total"})
    table.columns = [str(c).replace("_", " ") if c not in ("User", "Total") else c for c in table.columns]
    s.tables.append(("", table))
    s.summary = f"{int(per_user['total'].sum())} alerts for {len(per_user)} users in the last {RECENT_DAYS} days"
    return s


def _quality(t: PredictionReader) -> Section:
    s = Section("quality", "Stale tables and drift",
                f"Tables whose latest data commit is {STALE_DAYS} or more days old at the latest snapshot, and the "
                "catalog-days the drift detector flagged.")
    snaps = t.gold_table("fact_table_snapshots")
    parts, summary = [], []
    if snaps is not None and not snaps.empty:
        oldest = table_staleness(snaps)
        last = oldest
        stale = oldest[oldest["days_since_commit"] >= STALE_DAYS]
        shown = oldest.head(TOP_N)
        parts.append((f"Least recently written tables at the {last['snapshot_date'].max().date()} snapshot", pd.DataFrame({
            "Table": shown["table"],
            "Days since last commit": shown["days_since_commit"],
            "Last commit": pd.to_datetime(shown["last_commit_time"]).dt.strftime("%Y-%m-%d %H:%M"),
            "Rows": shown["row_count"],
            "Stale": ["yes" if d >= STALE_DAYS else "no" for d in shown["days_since_commit"]],
        })))
        summary.append(f"{len(stale)} stale tables of {len(last)}")
    else:
        summary.append("no table snapshots")
        s.message = f"{t.catalog}.{t.gold}.fact_table_snapshots does not exist."
    drift = t.predictions("data_drift_detector")
    if drift is not None and not drift.empty:
        flagged = drift[is_flagged(drift)].copy()
        flagged["snapshot_date"] = to_dates(flagged["snapshot_date"])
        as_of = to_dates(drift["snapshot_date"]).max()
        flagged = flagged[flagged["snapshot_date"] > as_of - pd.Timedelta(days=RECENT_DAYS)]
        feats = t.feature_table("quality_features")
        cols = ["catalog_name", "snapshot_date"]
        if feats is not None and not feats.empty:
            feats = feats.assign(snapshot_date=to_dates(feats["snapshot_date"]))
            keep = [c for c in ("schema_changes_1d", "stale_tables_7d", "total_rows_change_pct_1d") if c in feats.columns]
            flagged = flagged[cols].merge(feats[cols + keep], on=cols, how="left")
        flagged = flagged.sort_values("snapshot_date", ascending=False)
        table = flagged.rename(columns={"catalog_name": "Catalog", "snapshot_date": "Day",
                                        "schema_changes_1d": "Schema changes", "stale_tables_7d": "Stale tables",
                                        "total_rows_change_pct_1d": "Row count change (%)"})
        if "Day" in table.columns:
            table["Day"] = pd.to_datetime(table["Day"]).dt.date
        parts.append((f"Drift detector: flagged catalog-days in the last {RECENT_DAYS} days", table.head(15).round(2)))
        summary.append(f"{len(flagged)} catalog-days flagged for drift")
    else:
        summary.append("no drift predictions yet")
        if s.status == "ok" and snaps is None:
            s.status = "missing"
    s.tables.extend(parts)
    s.summary = ", ".join(summary)
    return s


def build_report(catalog: str, gold_schema: str, feature_schema: str, *, lakehouse=None,
                 now: dt.datetime | None = None) -> HealthReport:
    from healthmon.lakehouse import Lakehouse
    from healthmon.lakehouse.paths import check_identifier

    for value, what in ((catalog, "catalog"), (gold_schema, "gold schema"), (feature_schema, "feature schema")):
        check_identifier(value, what)
    t = PredictionReader(lakehouse or Lakehouse.from_env(), catalog, gold_schema, feature_schema)
    cost, flagged = _cost_anomalies(t)
    sections = [cost, _forecast(t, flagged), _jobs(t), _security(t), _quality(t)]
    return HealthReport(catalog, gold_schema, feature_schema, now or dt.datetime.now(dt.timezone.utc), sections)


# -- HTML ------------------------------------------------------------------------------------

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem} .meta{color:#666;margin-top:0}
section{border-top:1px solid #ddd;padding-top:.6rem;margin-top:1.6rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .6rem;text-align:left} th{background:#f3f5f8}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.status{display:inline-block;padding:.1rem .5rem;border-radius:.6rem;font-size:.8rem;margin-left:.5rem}
.ok{background:#e3f4e6;color:#1b5e20}.empty{background:#eef;color:#334}.missing{background:#fff3cd;color:#7a5c00}
.summary li{margin:.2rem 0} figure{margin:.6rem 0} figcaption{color:#555;font-size:.85rem}
img{max-width:100%}
"""


def _format(v, column: str = "") -> str:
    """Money with two decimals; counts without; small ratios/probabilities with three."""
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    if isinstance(v, (bool, str)) or not isinstance(v, numbers.Number):
        return str(v)
    v = float(v)
    if "($" in column:
        return f"{v:,.2f}"
    if v.is_integer():
        return f"{v:,.0f}"
    return f"{v:,.2f}" if abs(v) >= 1 else f"{v:.3f}"


def _html_table(df: pd.DataFrame) -> str:
    if df is None or df.empty:
        return "<p><em>Nothing to show.</em></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for _, row in df.iterrows():
        cells = []
        for column, v in zip(df.columns, row):
            num = isinstance(v, numbers.Number) and not isinstance(v, bool)
            text = _format(v, str(column))
            cells.append(f"<td{' class=num' if num else ''}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def render_html(report: HealthReport) -> str:
    labels = {"ok": "ok", "empty": "nothing flagged", "missing": "no predictions yet"}
    out = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        "<title>Health Monitor report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Databricks Health Monitor</h1>",
        f"<p class=meta>Catalog <b>{html.escape(report.catalog)}</b> · gold schema "
        f"<b>{html.escape(report.gold_schema)}</b> · ML schema <b>{html.escape(report.feature_schema)}</b> · "
        f"generated {report.generated_at:%Y-%m-%d %H:%M} UTC</p>",
        "<ul class=summary>",
    ]
    out += [f"<li><b>{html.escape(s.title)}</b>: {html.escape(s.summary or s.message)}</li>" for s in report.sections]
    out.append("</ul>")
    for s in report.sections:
        out.append(f"<section id={s.key}><h2>{html.escape(s.title)}"
                   f"<span class='status {s.status}'>{labels[s.status]}</span></h2>")
        out.append(f"<p>{html.escape(s.intro)}</p>")
        if s.message:
            out.append(f"<p><em>{html.escape(s.message)}</em></p>")
        if s.chart:
            out.append(f"<figure><img src='{s.chart}' alt='{html.escape(s.chart_alt)}'>"
                       f"<figcaption>{html.escape(s.caption)}</figcaption></figure>")
        for title, table in s.tables:
            if title:
                out.append(f"<h3>{html.escape(title)}</h3>")
            out.append(_html_table(table))
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out)


def write_report(catalog: str, gold_schema: str, feature_schema: str, output: str | Path, *,
                 lakehouse=None) -> tuple[Path, HealthReport]:
    report = build_report(catalog, gold_schema, feature_schema, lakehouse=lakehouse)
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_html(report), encoding="utf-8")
    tmp.replace(path)  # a reader never sees a half-written report
    return path, report


def report_as_dict(report: HealthReport) -> dict[str, Any]:
    """A JSON-friendly view (for the server's Health page or scripts)."""
    return {
        "catalog": report.catalog, "gold_schema": report.gold_schema, "feature_schema": report.feature_schema,
        "generated_at": report.generated_at.isoformat(),
        "sections": [{"key": s.key, "title": s.title, "status": s.status, "summary": s.summary,
                      "message": s.message} for s in report.sections],
    }
