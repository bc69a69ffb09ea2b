"""Synthetic feature tables with the columns of healthmon.ml.features (shared by the ml_models tests)."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd

from healthmon.ml.models.spec import TABLE_KEYS


def feature_columns(table: str) -> tuple[str, ...]:
    domain = table.removesuffix("_features")
    return tuple(importlib.import_module(f"healthmon.ml.features.{domain}").FEATURES)


def feature_frame(table: str, *, entities: int = 6, days: int = 120, seed: int = 0, start: str = "2025-01-01") -> pd.DataFrame:
    """Plausible, non-negative random features with an entity level, a weekly cycle and a
    day-to-day persistence, so future labels are partly predictable from the present."""
    rng = np.random.default_rng(seed)
    entity_key, date_key = TABLE_KEYS[table]
    dates = pd.date_range(start, periods=days, freq="D")
    frames = []
    for e in range(entities):
        level = rng.uniform(0.5, 3.0)
        ar = np.zeros(days)
        for i in range(1, days):
            ar[i] = 0.8 * ar[i - 1] + rng.normal(0, 0.3)
        weekly = 1 + 0.3 * (dates.day_of_week < 5)
        base = level * weekly * np.exp(ar)
        data = {entity_key: f"{entity_key[:-3]}_{e}", date_key: dates.date}
        for j, col in enumerate(feature_columns(table)):
            noise = rng.lognormal(0, 0.2, days)
            if col.endswith(("_rate", "_ratio", "coverage")) or col.startswith(("is_", "prev_day_failed")):
                val = np.clip(0.15 * base * noise / 2, 0, 1)
            else:
                val = base * noise * (10 ** (j % 4))
            data[col] = val
        frames.append(pd.DataFrame(data))
    frame = pd.concat(frames, ignore_index=True)
    if "failed_runs" in frame:
        frame["total_runs"] = np.round(frame["total_runs"]) + 1
        frame["failed_runs"] = (rng.random(len(frame)) < 0.3 * frame["failure_rate"] / frame["failure_rate"].mean()).astype(float)
        frame["successful_runs"] = frame["total_runs"] - frame["failed_runs"]
    if "schema_changes_7d" in frame:
        frame["schema_changes_7d"] = (rng.random(len(frame)) < 0.3).astype(float)
    # The label-history columns the feature pipeline appends (healthmon.ml.features.label_history).
    from healthmon.ml.features.label_history import history_specs, label_history

    for spec in history_specs(table):
        history = label_history(frame, spec)
        frame = frame.assign(**{c: history[c] for c in history.columns if c not in frame.columns})
    return frame
