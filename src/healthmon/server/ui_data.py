"""Data for the UI pages that do not come from the Jobs API: schedules, the MLflow registry,
and the Health Monitor's prediction tables. Heavy libraries are imported inside functions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healthmon.errors import HealthmonError


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


# -- Models page ----------------------------------------------------------------------------
@dataclass
class ModelVersionView:
    version: str
    status: str
    run_id: str
    created: str
    aliases: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class ModelRow:
    """One model: what it is, its Champion, its evaluation figure against its baseline."""

    name: str
    registered_name: str
    domain: str = ""
    kind: str = ""
    description: str = ""
    champion: str | None = None  # version
    trained_at: str = ""
    figure: Any = None  # healthmon.ml.model_figures.ModelFigure
    versions: list[ModelVersionView] = field(default_factory=list)

    @property
    def registered(self) -> bool:
        return bool(self.versions)


@dataclass
class ModelsView:
    prefix: str | None  # catalog.schema of the registered names shown
    prefixes: list[str]
    rows: list[ModelRow]
    evaluation_source: str = ""
    evaluation_finished: str = ""


def _mlflow_client():
    from mlflow.tracking import MlflowClient

    from healthmon.lakehouse.registry import configure_mlflow

    configure_mlflow()
    return MlflowClient()


def models_view(prefix: str | None = None, limit: int = 500) -> ModelsView:
    """Every model of the Health Monitor (``healthmon.ml.models.MODELS``) registered under one
    ``catalog.schema`` (the most populated one unless chosen), plus any other model registered
    there; the Champion is the version holding the alias (case-insensitive, as MLflow's)."""
    from healthmon.ml.model_figures import load_evaluation
    from healthmon.ml.models import MODELS

    client = _mlflow_client()
    registered = client.search_registered_models(max_results=limit)
    by_prefix: dict[str, dict[str, Any]] = {}
    for model in registered:
        head, _, short = model.name.rpartition(".")
        by_prefix.setdefault(head, {})[short] = model
    prefixes = sorted(by_prefix, key=lambda p: (-len(by_prefix[p]), p))
    chosen = prefix if prefix in by_prefix else (prefixes[0] if prefixes else None)
    models = by_prefix.get(chosen, {}) if chosen is not None else {}
    evaluation = load_evaluation()
    rows = []
    for name in list(MODELS) + sorted(set(models) - set(MODELS)):
        spec = MODELS.get(name)
        row = ModelRow(name, f"{chosen}.{name}" if chosen else name, spec.domain if spec else "",
                       spec.kind if spec else "", f"Use case: {spec.use_case.replace('_', ' ')}." if spec else "",
                       figure=evaluation.figure(name))
        model = models.get(name)
        if model is not None:
            row.description = model.description or row.description
            _fill_versions(client, model, row)
        rows.append(row)
    return ModelsView(chosen, prefixes, rows, evaluation.source, evaluation.finished_at)


def _fill_versions(client, model, row: ModelRow) -> None:
    aliases = {a.lower(): str(v) for a, v in (getattr(model, "aliases", {}) or {}).items()}
    by_version: dict[str, list[str]] = {}
    for alias, version in (getattr(model, "aliases", {}) or {}).items():
        by_version.setdefault(str(version), []).append(alias)
    row.champion = aliases.get("champion")
    for mv in sorted(client.search_model_versions(f"name='{model.name}'"), key=lambda v: -int(v.version))[:10]:
        metrics: dict[str, float] = {}
        if mv.run_id and (str(mv.version) == row.champion or not row.versions):
            try:
                metrics = dict(client.get_run(mv.run_id).data.metrics)
            except Exception:  # run deleted or in another store: show the version anyway
                metrics = {}
        view = ModelVersionView(
            version=str(mv.version), status=str(mv.status), run_id=mv.run_id or "",
            created=_fmt_ms(mv.creation_timestamp), aliases=sorted(by_version.get(str(mv.version), [])),
            metrics=dict(sorted(metrics.items())))
        row.versions.append(view)
        if view.version == row.champion:
            row.trained_at = view.created


# -- Health page ------------------------------------------------------------------------------
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


GOLD_MARKERS = ("fact_table_snapshots", "dim_job", "fact_usage")


def gold_schema_of(lakehouse_root: Path, catalog: str) -> str:
    """The schema of ``catalog`` holding the gold tables (the report's context), else "gold"."""
    root = lakehouse_root / catalog
    if root.is_dir():
        for schema in sorted(p for p in root.iterdir() if p.is_dir()):
            if any((schema / m / "_delta_log").is_dir() for m in GOLD_MARKERS):
                return schema.name
    return "gold"


class _TableCache:
    """Tables as pandas frames, kept while their Delta log is unchanged (a new commit adds a
    file to ``_delta_log``, which changes its mtime): the Health page re-reads a table only
    after a write, not on every load."""

    def __init__(self, lakehouse, frames: dict):
        self.lh, self.frames = lakehouse, frames

    def _key(self, fqn: str):
        try:
            return self.lh.table_path(fqn).joinpath("_delta_log").stat().st_mtime_ns
        except (OSError, ValueError, HealthmonError):  # no such table, or not a valid name
            return None

    def table_exists(self, fqn: str) -> bool:
        return self._key(fqn) is not None and self.lh.table_exists(fqn)

    def read_table(self, fqn: str):
        key = self._key(fqn)
        hit = self.frames.get(fqn)
        if hit is None or hit[0] != key:
            hit = (key, self.lh.read_table(fqn).to_pandas())
            self.frames[fqn] = hit
        return _Frame(hit[1])


class _Frame:
    def __init__(self, df):
        self.df = df

    def to_pandas(self):
        return self.df.copy(deep=False)  # readers add columns; the cached frame stays as read


_FRAMES: dict[str, tuple[Any, Any]] = {}


@dataclass
class HealthView:
    schema: str | None  # catalog.feature_schema shown
    schemas: list[str]
    gold_schema: str = ""
    filters: Any = None  # healthmon.ml.report.Filters
    body: str = ""  # the report's HTML (healthmon.ml.report.render_body)
    problem: str = ""  # a bad filter or schema, said on the page


def health_view(lakehouse_root: Path, params: dict[str, str | None]) -> HealthView:
    """The Health page: the report (same builder and renderer as ``healthmon report``) for the
    chosen ``schema`` (``catalog.feature_schema``, default the most recently scored) and filters."""
    from healthmon.errors import HealthmonError
    from healthmon.lakehouse import Lakehouse
    from healthmon.ml import report
    from healthmon.ml.model_figures import load_evaluation

    schemas = prediction_schemas(lakehouse_root)
    view = HealthView(None, list(schemas))
    try:
        view.filters = report.Filters.parse(params)
    except HealthmonError as exc:
        view.filters, view.problem = report.Filters(), exc.message
        return view
    wanted = (params.get("schema") or "").strip()
    if wanted and wanted not in schemas:
        view.problem = (f"{wanted} has no prediction tables. "
                        + (f"Schemas with predictions: {', '.join(schemas)}." if schemas else ""))
        return view
    if not schemas:
        return view
    view.schema = wanted or next(iter(schemas))
    catalog, feature_schema = view.schema.split(".", 1)
    view.gold_schema = gold_schema_of(lakehouse_root, catalog)
    evaluation = load_evaluation()
    key = (view.schema, view.gold_schema, view.filters, evaluation,
           _tables_signature(schemas[view.schema], lakehouse_root / catalog / view.gold_schema))
    if _BODIES.get("key") != key:
        lh = _TableCache(Lakehouse(lakehouse_root), _FRAMES)
        result = report.build_report(catalog, view.gold_schema, feature_schema, lakehouse=lh, filters=view.filters,
                                     evaluation=evaluation)
        body = report.render_body(result, report.Links("", view.schema, view.filters, paginate=True))
        _BODIES.clear()
        _BODIES.update(key=key, body=body)
    view.body = _BODIES["body"]
    return view


# The last rendered report: a reload with the same filters, before any table gets a new commit,
# shows it again instead of recomputing every section and chart.
_BODIES: dict[str, Any] = {}


def _tables_signature(*schema_dirs: Path) -> tuple:
    return tuple(sorted((str(log), log.stat().st_mtime_ns) for d in schema_dirs if d.is_dir()
                        for log in d.glob("*/_delta_log")))


def _fmt_ms(ms: int | None) -> str:
    if not ms:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
