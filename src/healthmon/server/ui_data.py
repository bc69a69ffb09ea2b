"""Data for the UI pages that do not come from the Jobs API: schedules, the MLflow registry,
and the Health Monitor's prediction tables. Heavy libraries are imported inside functions."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("healthmon.server.ui")


# -- schedules ------------------------------------------------------------------------------
def schedule_info(settings: dict[str, Any], now: dt.datetime | None = None) -> dict[str, str] | None:
    """Quartz expression, its description and next fire time (None when unscheduled)."""
    schedule = settings.get("schedule") or {}
    expression = schedule.get("quartz_cron_expression")
    if not expression:
        return None
    info = {"expression": expression, "timezone": schedule.get("timezone_id") or "UTC",
            "pause_status": schedule.get("pause_status") or "UNPAUSED", "description": "", "next": ""}
    try:
        from healthmon.schedule import quartz

        info["description"] = quartz.describe(expression)
        if info["pause_status"] != "PAUSED":
            tz = quartz.validate_timezone(info["timezone"])
            nxt = quartz.parse_quartz(expression).next_fire(now or dt.datetime.now(dt.timezone.utc), tz)
            info["next"] = nxt.strftime("%Y-%m-%d %H:%M %Z") if nxt else "never"
    except ModuleNotFoundError:
        pass
    except Exception as exc:  # an invalid schedule is shown, not fatal to the page
        info["description"] = f"invalid schedule: {exc}"
    return info


# -- MLflow registry ------------------------------------------------------------------------
@dataclass
class ModelVersionView:
    version: str
    status: str
    run_id: str
    created: str
    aliases: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class ModelView:
    name: str
    description: str
    aliases: dict[str, str]
    versions: list[ModelVersionView]


def registered_models(limit: int = 200) -> list[ModelView]:
    from mlflow.tracking import MlflowClient

    try:
        from healthmon.lakehouse.registry import configure_mlflow

        configure_mlflow()
    except ModuleNotFoundError:
        import mlflow

        from healthmon.settings import Settings

        uri = Settings.from_env().mlflow_tracking_uri
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
    client = MlflowClient()
    out: list[ModelView] = []
    for model in client.search_registered_models(max_results=limit):
        aliases = dict(getattr(model, "aliases", {}) or {})
        by_version: dict[str, list[str]] = {}
        for alias, version in aliases.items():
            by_version.setdefault(str(version), []).append(alias)
        versions = []
        for mv in sorted(client.search_model_versions(f"name='{model.name}'"), key=lambda v: -int(v.version))[:10]:
            metrics: dict[str, float] = {}
            if mv.run_id:
                try:
                    metrics = dict(client.get_run(mv.run_id).data.metrics)
                except Exception:  # run deleted or in another store: show the version anyway
                    metrics = {}
            versions.append(ModelVersionView(
                version=str(mv.version), status=str(mv.status), run_id=mv.run_id or "",
                created=_fmt_ms(mv.creation_timestamp), aliases=sorted(by_version.get(str(mv.version), [])),
                metrics=dict(sorted(metrics.items())[:12]),
            ))
        out.append(ModelView(model.name, model.description or "", aliases, versions))
    return sorted(out, key=lambda m: m.name)


# -- prediction tables ------------------------------------------------------------------------
KEY_COLUMNS = ("workspace_id", "usage_date", "job_id", "run_date", "user_identity", "user_name", "event_date",
               "warehouse_id", "query_date", "cluster_id", "catalog_name", "schema_name", "table_name", "snapshot_date")

# (section title, table, condition on prediction, what the flag means)
ALERT_SECTIONS = [
    ("Cost anomalies", "cost_anomaly_predictions", lambda p: p == -1, "Isolation forest flagged the day's cost"),
    ("Jobs most likely to fail", "job_failure_predictions", lambda p: p == 1, "Predicted failure rate above 20%"),
    ("Security alerts: threats", "security_threat_predictions", lambda p: p == -1, "Anomalous security activity"),
    ("Security alerts: exfiltration", "exfiltration_predictions", lambda p: p == -1, "Possible data exfiltration"),
    ("Security alerts: privilege escalation", "privilege_escalation_predictions", lambda p: p == 1, "Possible privilege escalation"),
    ("Stale tables", "freshness_predictions", lambda p: p < 0.5, "Predicted freshness below 0.5"),
]


def _delta_tables(schema_dir: Path) -> dict[str, Path]:
    return {p.name: p for p in schema_dir.iterdir() if (p / "_delta_log").is_dir()} if schema_dir.is_dir() else {}


def prediction_schemas(lakehouse_root: Path) -> dict[str, Path]:
    """``catalog.schema`` → directory, for every schema holding a ``*_predictions`` table,
    most recently written first."""
    found: list[tuple[float, str, Path]] = []
    if not lakehouse_root.is_dir():
        return {}
    for catalog in sorted(p for p in lakehouse_root.iterdir() if p.is_dir()):
        for schema in sorted(p for p in catalog.iterdir() if p.is_dir()):
            tables = [t for t in _delta_tables(schema) if t.endswith("_predictions")]
            if tables:
                newest = max((schema / t / "_delta_log").stat().st_mtime for t in tables)
                found.append((newest, f"{catalog.name}.{schema.name}", schema))
    return {name: path for _, name, path in sorted(found, reverse=True)}


def _read(path: Path):
    from deltalake import DeltaTable

    return DeltaTable(str(path)).to_pandas()


def _rows(df, limit: int = 25) -> tuple[list[str], list[list[str]]]:
    keys = [c for c in KEY_COLUMNS if c in df.columns]
    cols = keys + [c for c in ("prediction", "model_name", "scored_at") if c in df.columns]
    rows = [[_fmt(v) for v in rec] for rec in df[cols].head(limit).itertuples(index=False)]
    return cols, rows


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}"
    return "" if value is None else str(value)


@dataclass
class HealthSection:
    title: str
    table: str
    meaning: str
    flagged: int = 0
    total: int = 0
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    missing: bool = False


@dataclass
class HealthView:
    schema: str | None
    schemas: list[str]
    sections: list[HealthSection]
    forecast: dict[str, list[tuple[str, float]]]


def health_view(lakehouse_root: Path, schema: str | None = None) -> HealthView:
    schemas = prediction_schemas(lakehouse_root)
    if not schemas:
        return HealthView(None, [], [], {})
    chosen = schema if schema in schemas else next(iter(schemas))
    tables = _delta_tables(schemas[chosen])
    sections = []
    for title, table, condition, meaning in ALERT_SECTIONS:
        section = HealthSection(title, table, meaning)
        if table not in tables:
            section.missing = True
            sections.append(section)
            continue
        try:
            df = _read(tables[table])
        except Exception as exc:
            log.warning("cannot read %s.%s: %s", chosen, table, exc)
            section.missing = True
            sections.append(section)
            continue
        section.total = len(df)
        if "prediction" in df.columns:
            flagged = df[df["prediction"].map(lambda p: p is not None and condition(p))]
            if "scored_at" in flagged.columns:
                flagged = flagged.sort_values("scored_at", ascending=False)
            section.flagged = len(flagged)
            section.columns, section.rows = _rows(flagged)
        sections.append(section)
    return HealthView(chosen, list(schemas), sections, _forecast(tables))


def _forecast(tables: dict[str, Path]) -> dict[str, list[tuple[str, float]]]:
    """Daily totals: forecast (budget_forecast_predictions) vs actual (cost_features.daily_cost)."""
    if "budget_forecast_predictions" not in tables:
        return {}
    try:
        pred = _read(tables["budget_forecast_predictions"])
        series: dict[str, list[tuple[str, float]]] = {}
        if {"usage_date", "prediction"} <= set(pred.columns):
            daily = pred.groupby(pred["usage_date"].astype(str))["prediction"].sum().sort_index().tail(90)
            series["forecast"] = [(d, float(v)) for d, v in daily.items()]
        if "cost_features" in tables:
            actual = _read(tables["cost_features"])
            if {"usage_date", "daily_cost"} <= set(actual.columns):
                daily = actual.groupby(actual["usage_date"].astype(str))["daily_cost"].sum().sort_index()
                wanted = {d for d, _ in series.get("forecast", [])}
                series["actual"] = [(d, float(v)) for d, v in daily.items() if d in wanted]
        return series
    except Exception as exc:
        log.warning("cannot build the forecast chart: %s", exc)
        return {}


def _fmt_ms(ms: int | None) -> str:
    if not ms:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
