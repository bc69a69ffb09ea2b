"""Data for the UI pages that do not come from the Jobs API: schedules, the MLflow registry,
and the Health Monitor's prediction tables. Heavy libraries are imported inside functions."""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healthmon.errors import HealthmonError

log = logging.getLogger(__name__)


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


def delta_version(table_dir: Path) -> tuple[int, int] | None:
    """A Delta table's latest version and its commit file's modification time; None when the
    directory holds no Delta table. Every commit writes ``_delta_log/<version>.json``, so a new
    version means new data; the commit file's mtime tells a table dropped and re-created (its
    versions restart at 0) from the one it replaced."""
    try:
        names = [e.name for e in os.scandir(table_dir / "_delta_log") if e.name.endswith(".json")]
    except OSError:
        return None
    versions = [int(n[:-5]) for n in names if n[:-5].isdigit()]
    if not versions:
        return None
    latest = max(versions)
    try:
        return latest, (table_dir / "_delta_log" / f"{latest:020d}.json").stat().st_mtime_ns
    except OSError:  # the name is not zero-padded as Delta writes it: the version alone
        return latest, 0


def delta_versions(*schema_dirs: Path) -> tuple:
    """(table directory, version) of every Delta table under the schema directories: the Health
    page's cache key (its report depends on these tables only)."""
    out = []
    for d in schema_dirs:
        if d.is_dir():
            for table in sorted(d.iterdir()):
                version = delta_version(table)
                if version is not None:
                    out.append((str(table), version))
    return tuple(out)


class _TableCache:
    """The lakehouse's table reads, as pandas frames kept per Delta version: after new
    predictions land only the tables with a new version are read again."""

    def __init__(self, lakehouse, frames: dict):
        self.lh, self.frames = lakehouse, frames

    def _key(self, fqn: str):
        try:
            return delta_version(self.lh.table_path(fqn))
        except (ValueError, HealthmonError):  # not a valid name
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
        return self.df  # PredictionReader's frames are read-only by contract


# Process-wide caches of the Health page, all keyed by Delta versions: table frames (per table),
# the reader with its derived frames (per set of versions of the schemas shown), the last
# rendered body (per versions, filters and evaluation).
_FRAMES: dict[str, tuple[Any, Any]] = {}
_READERS: dict[tuple, Any] = {}


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
    from healthmon.ml.predictions import PredictionReader

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
    versions = delta_versions(schemas[view.schema], lakehouse_root / catalog / view.gold_schema)
    # The evaluation (a dict of figures, not hashable) by identity: load_evaluation returns the
    # same object until EVALUATION.json changes, and the entry keeps it alive (its id stays its own).
    key = (view.schema, view.gold_schema, view.filters, id(evaluation), versions)
    # One build at a time: concurrent loads of one view build it once, and the caches below are
    # only changed under the lock.
    with _BUILD_LOCK:
        hit = _BODIES.get(key)
        if hit is not None:
            _BODIES.move_to_end(key)
            body = hit[1]
        else:
            reader_key = (view.schema, view.gold_schema, versions)
            if reader_key not in _READERS:
                # New versions: the previous reader and the bodies built from it are out of date.
                _READERS.clear()
                _BODIES.clear()
                _READERS[reader_key] = PredictionReader(_TableCache(Lakehouse(lakehouse_root), _FRAMES), catalog,
                                                        view.gold_schema, feature_schema)
            result = report.build_report(catalog, view.gold_schema, feature_schema, reader=_READERS[reader_key],
                                         filters=view.filters, evaluation=evaluation)
            body = report.render_body(result, report.Links("", view.schema, view.filters, paginate=True))
            _BODIES[key] = (evaluation, body)
            while len(_BODIES) > BODIES_KEPT:
                _BODIES.popitem(last=False)
    view.body = body
    return view


def warm_up(lakehouse_root: Path) -> None:
    """Import the report's libraries (pandas, the model specs and scikit-learn they import: most
    of a first load) and build the default Health page, so the first person to open it after
    the server starts does not wait for either. Run in a background thread at the start."""
    try:
        health_view(lakehouse_root, {})
    except Exception:  # a table being written, or none yet: the page says so when opened
        log.debug("Health page warm-up failed", exc_info=True)


# Rendered reports by (schema, filters, evaluation, Delta versions): a reload, or a filter
# combination seen since the tables' last new version, is served without recomputing anything.
BODIES_KEPT = 32
_BODIES: OrderedDict[tuple, tuple[Any, str]] = OrderedDict()
_BUILD_LOCK = threading.Lock()


def _fmt_ms(ms: int | None) -> str:
    if not ms:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
