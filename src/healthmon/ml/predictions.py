"""Reading what batch inference wrote, with one meaning for every reader (report, Health page,
alerts).

Sign convention: a detector's flag means "anomaly". Detectors (scikit-learn's IsolationForest
convention) write ``prediction = -1`` for an anomaly and ``+1`` for a normal row, and batch
inference adds ``is_anomaly`` (true = anomaly); ``flagged`` reads ``is_anomaly`` when present,
else ``prediction == -1`` — never ``prediction != 0`` or ``prediction > 0``. A classifier's risk
is its ``probability`` when present, else its 0/1 ``prediction`` (``risk``).

Prediction tables keep one scoring per day; ``PredictionReader.predictions`` returns the latest.
The derived figures the report and the alerts both show (a workspace-day's typical cost, a job's
latest risk, days since a table's last commit, flagged security user-days) are computed here once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd

from healthmon.ml.models import MODELS

T = TypeVar("T")

# The security section and alerts read every security detector the spec table has.
SECURITY_DETECTORS = tuple(n for n, s in MODELS.items() if s.domain == "security" and s.kind == "anomaly")
TYPICAL_COST_DAYS = 7


def flagged(df: pd.DataFrame) -> pd.Series:
    """True where a detector flagged the row as an anomaly (see the module's sign convention)."""
    if "is_anomaly" in df.columns:
        return df["is_anomaly"].fillna(0).astype(float) > 0
    return pd.to_numeric(df["prediction"], errors="coerce") == -1


def risk(df: pd.DataFrame) -> pd.Series:
    """A classifier's risk in [0, 1]: ``probability`` when scored, else the 0/1 prediction."""
    col = "probability" if "probability" in df.columns else "prediction"
    return pd.to_numeric(df[col], errors="coerce").fillna(0.0)


def to_dates(series: pd.Series) -> pd.Series:
    """Dates/timestamps as naive pandas timestamps (tz-aware ones in their own wall time)."""
    return pd.to_datetime(series).dt.tz_localize(None) if getattr(series.dtype, "tz", None) else pd.to_datetime(series)


def recorded_skip_reason(model: str) -> str | None:
    """The reason training recorded when it last skipped ``model`` (its MLflow skip run), or None.
    Never creates a tracking store: a workspace that trained nothing has no reason to show."""
    from pathlib import Path

    from healthmon.lakehouse.registry import _sqlite_path, configure_mlflow
    from healthmon.ml.registration import last_skip_reason
    from healthmon.settings import Settings

    path = _sqlite_path(Settings.from_env().mlflow_tracking_uri)
    if path is not None and not Path(path).exists():
        return None
    try:
        configure_mlflow()
    except Exception:  # noqa: BLE001 - without a tracking store there is no reason to show
        return None
    return last_skip_reason(model)


class PredictionReader:
    """Reads the tables of one catalog through the lakehouse API, each once; a missing table is None.

    Frames it returns, and the derived frames kept by ``memo``, are shared between callers:
    read them, derive new frames (``assign``, filters, merges), never modify them in place. A
    caller may keep a reader across reports while none of its tables gets a new Delta version
    (the Health page does), so each derivation runs once per version, not once per load."""

    def __init__(self, lh, catalog: str, gold_schema: str, feature_schema: str):
        self.lh, self.catalog, self.gold, self.features = lh, catalog, gold_schema, feature_schema
        self._cache: dict[str, pd.DataFrame | None] = {}
        self._memo: dict[Any, Any] = {}
        self.prediction_tables = {n: s.prediction_table for n, s in MODELS.items()}

    def memo(self, key: Any, compute: Callable[[], T]) -> T:
        """``compute()`` once per reader: a derivation of its tables that no filter changes."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def read(self, fqn: str) -> pd.DataFrame | None:
        if fqn not in self._cache:
            self._cache[fqn] = self.lh.read_table(fqn).to_pandas() if self.lh.table_exists(fqn) else None
        return self._cache[fqn]

    def gold_table(self, name: str) -> pd.DataFrame | None:
        return self.read(f"{self.catalog}.{self.gold}.{name}")

    def gold_fqn(self, name: str) -> str:
        return f"{self.catalog}.{self.gold}.{name}"

    def feature_table(self, name: str) -> pd.DataFrame | None:
        return self.read(f"{self.catalog}.{self.features}.{name}")

    def prediction_fqn(self, model: str) -> str:
        return f"{self.catalog}.{self.features}.{self.prediction_tables[model]}"

    def skip_reason(self, model: str) -> str | None:
        """Why the model's latest training was skipped (``recorded_skip_reason``); ask it only
        for a model without predictions."""
        return self.memo(("skipped", model), lambda: recorded_skip_reason(model))

    def predictions(self, model: str) -> pd.DataFrame | None:
        """The latest scoring of a model (prediction tables keep one scoring per day)."""
        return self.memo(("predictions", model), lambda: self._latest_scoring(model))

    def _latest_scoring(self, model: str) -> pd.DataFrame | None:
        df = self.read(self.prediction_fqn(model))
        if df is None or df.empty:
            return df
        if "scored_date" in df.columns:
            day = pd.to_datetime(df["scored_date"])
        elif "scored_at" in df.columns:
            day = pd.to_datetime(df["scored_at"], utc=True).dt.tz_localize(None).dt.normalize()
        else:
            return df
        return df[day == day.max()].copy()


def flagged_cost_days(preds: pd.DataFrame, costs: pd.DataFrame | None) -> pd.DataFrame:
    """The workspace-days the cost detector flagged, with ``daily_cost``, ``typical_cost`` (mean
    of the workspace's previous 7 days, known before the day itself) and ``excess_cost``."""
    out = preds[flagged(preds)].copy()
    out["usage_date"] = to_dates(out["usage_date"])
    if costs is not None and not costs.empty:
        costs = costs[["workspace_id", "usage_date", "daily_cost"]].copy()
        costs["usage_date"] = to_dates(costs["usage_date"])
        costs = costs.sort_values(["workspace_id", "usage_date"])
        costs["typical_cost"] = costs.groupby("workspace_id")["daily_cost"].transform(
            lambda x: x.shift(1).rolling(TYPICAL_COST_DAYS, min_periods=1).mean())
        out = out.drop(columns=[c for c in ("daily_cost",) if c in out.columns]).merge(
            costs, on=["workspace_id", "usage_date"], how="left")
    else:
        out["daily_cost"] = out.get("daily_cost", float("nan"))
        out["typical_cost"] = float("nan")
    out["excess_cost"] = out["daily_cost"] - out["typical_cost"]
    return out


def latest_per_job(df: pd.DataFrame | None, column: str) -> pd.DataFrame | None:
    """Each job's latest row: ``job_id``, ``run_date`` and its risk as ``column``."""
    if df is None or df.empty:
        return None
    df = df.assign(run_date=to_dates(df["run_date"]), **{column: risk(df)})
    df = df.sort_values("run_date").groupby("job_id", as_index=False).last()
    return df[["job_id", "run_date", column]]


def table_staleness(snapshots: pd.DataFrame) -> pd.DataFrame:
    """The latest snapshot's rows with ``days_since_commit``, least recently written first."""
    snaps = snapshots.assign(snapshot_date=to_dates(snapshots["snapshot_date"]))
    last = snaps[snaps["snapshot_date"] == snaps["snapshot_date"].max()].copy()
    commit = pd.to_datetime(last["last_commit_time"], utc=True).dt.tz_localize(None).dt.normalize()
    last["days_since_commit"] = (last["snapshot_date"] - commit).dt.days
    last["table"] = last["table_catalog"] + "." + last["table_schema"] + "." + last["table_name"]
    return last.sort_values("days_since_commit", ascending=False)


def security_flags(reader: PredictionReader, detectors=SECURITY_DETECTORS) -> pd.DataFrame | None:
    """Flagged user-days (``user_id``, ``event_date``, ``detector``) of the latest scoring of
    each detector; None when no detector has predictions."""
    return reader.memo(("security_flags", tuple(detectors)), lambda: _security_flags(reader, detectors))


def _security_flags(reader: PredictionReader, detectors) -> pd.DataFrame | None:
    frames = []
    for model in detectors:
        p = reader.predictions(model)
        if p is None or p.empty:
            continue
        p = p[flagged(p)]
        frames.append(pd.DataFrame({"user_id": p["user_id"], "event_date": to_dates(p["event_date"]),
                                    "detector": model}))
    return pd.concat(frames, ignore_index=True) if frames else None
