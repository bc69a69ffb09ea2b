"""Runtime-upgrade outcomes per job and run day, for ``dbr_migration_risk_scorer``.

A job run's Databricks Runtime is the ``dbr_version`` of the cluster it ran on (gold
``fact_job_run_timeline.compute_ids`` -> ``dim_cluster``). A run day is an *upgrade day* when the
job runs on a newer runtime than on its previous run day. The label of the day before an
upgrade day is whether the upgrade day had a failed run: the migration risk the model scores.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

FAILED_STATES = {"FAILED", "TIMED_OUT", "ERROR", "INTERNAL_ERROR"}


def runtime_rank(version: object) -> float:
    """'15.4.x-scala2.12' -> 15.004; NaN when no version can be read."""
    m = re.match(r"\s*(\d+)\.(\d+)", str(version or ""))
    return float(m.group(1)) + float(m.group(2)) / 1000.0 if m else np.nan


def _first(ids) -> object:
    if ids is None:
        return None
    if isinstance(ids, str):
        return ids
    try:
        seq = list(ids)
    except TypeError:
        return None
    return seq[0] if seq else None


def upgrade_days(runs: pd.DataFrame, clusters: pd.DataFrame) -> pd.DataFrame:
    """Per (job_id, run_date): ``upgraded`` (newer runtime than the previous run day) and
    ``failed`` (a failed run that day)."""
    if runs.empty or clusters.empty:
        return pd.DataFrame(columns=["job_id", "run_date", "upgraded", "failed"])
    rank = dict(zip(clusters["cluster_id"].astype(str), clusters["dbr_version"].map(runtime_rank)))
    df = pd.DataFrame({
        "job_id": runs["job_id"].astype(str),
        "run_date": pd.to_datetime(runs["run_date"]).dt.normalize(),
        "rank": runs["compute_ids"].map(_first).map(lambda c: rank.get(str(c), np.nan) if c is not None else np.nan),
        "failed": runs["result_state"].astype(str).str.upper().isin(FAILED_STATES),
    })
    daily = df.groupby(["job_id", "run_date"], as_index=False).agg(rank=("rank", "max"), failed=("failed", "max"))
    daily = daily.sort_values(["job_id", "run_date"])
    prev = daily.groupby("job_id")["rank"].transform(lambda s: s.ffill().shift(1))
    daily["upgraded"] = (daily["rank"] > prev).fillna(False)
    return daily[["job_id", "run_date", "upgraded", "failed"]]


def runtime_upgrade_failures(frame: pd.DataFrame, read_gold: Callable[[str], pd.DataFrame]) -> pd.DataFrame:
    """Adds to reliability_features rows: ``failed_after_upgrade`` (this day is an upgrade day
    with a failure) and ``upgrade_before_next`` (the job's next run day is an upgrade day)."""
    runs = read_gold("fact_job_run_timeline")
    clusters = read_gold("dim_cluster")
    days = upgrade_days(runs, clusters)
    out = frame.copy()
    key = pd.DataFrame(
        {"job_id": out["job_id"].astype(str), "run_date": pd.to_datetime(out["run_date"]).dt.normalize()}
    )
    merged = key.merge(days, on=["job_id", "run_date"], how="left")
    upgraded = merged["upgraded"].fillna(False).astype(bool).to_numpy()
    failed = merged["failed"].fillna(False).astype(bool).to_numpy()
    out["failed_after_upgrade"] = (upgraded & failed).astype(float)
    # The next run day's upgrade flag, per job, in date order.
    order = key.assign(_u=upgraded.astype(float)).sort_values(["job_id", "run_date"], kind="stable")
    nxt = order.groupby("job_id")["_u"].shift(-1)
    out["upgrade_before_next"] = nxt.reindex(out.index).fillna(0.0).to_numpy()
    return out
