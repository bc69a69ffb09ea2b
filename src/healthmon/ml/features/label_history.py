"""Each supervised model's own label history, known at d, as feature-table columns.

The strongest simple baseline of most classifiers and forecasters is the entity's own history:
the share of a job's past run days that were followed by a failure, a warehouse's usual next-day
duration. A model that cannot see that history has to rebuild it from trailing aggregates and
loses to it. So every feature table carries, per supervised model on it, the entity's labels
that had **resolved by d** (row date + the target's horizon <= d — exactly what a running system
knows at d, and what the ``entity_label_rate`` / ``entity_mean`` / ``last_label`` baselines read):

- ``hist_<target>_mean``: mean of those labels (a label rate for a binary target); where the
  entity has none yet, the mean over every entity's resolved labels (0 before any resolved);
- ``hist_<target>_last``: the most recent resolved label (``NO_LAST_LABEL`` = -1: none; labels
  are never negative);
- ``hist_<target>_count``: how many there are (0: none — tells "no history" from a rate of 0);
- forecasters only, ``hist_<target>_median``: the constant with the least MAPE over those labels,
  their 1/y-weighted median (``baselines.mape_optimal_levels``) — a robust long-run level, the
  ``entity_median`` baseline; where the entity has no positive label yet, its ``_mean``.

Like every feature-table column they are finite, non-NULL DOUBLEs (features.cleaning).

A target-encoding without leakage: a row's own label, and every label whose window is still open
at d, never enters its features. Computed after the table's SQL from the table itself (the
labels are functions of the table's later rows, ``healthmon.ml.models.targets``); models whose
labels need gold tables (``enrich``) get none. A model sees only its own target's columns
(``ModelSpec.select_features``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from healthmon.ml.models.spec import HISTORY_PREFIX

NO_LAST_LABEL = -1.0


def history_column(target_name: str, stat: str) -> str:
    return f"{HISTORY_PREFIX}{target_name}_{stat}"


def history_specs(table_name: str) -> list:
    """The supervised specs whose label history lives in ``table_name``."""
    from healthmon.ml.models import MODELS

    return [s for s in MODELS.values()
            if s.feature_table == table_name and s.target is not None and not s.custom and s.enrich is None]


def label_history(frame: pd.DataFrame, spec) -> pd.DataFrame:
    """The history columns of ``spec``'s target (three; four for a forecaster) for every row
    of ``frame``."""
    from healthmon.ml.models.baselines import entity_label_history
    from healthmon.ml.models.frames import derive_labels

    labels = derive_labels(spec, frame).to_numpy(dtype=float)
    name = spec.target.name
    mean = entity_label_history(frame, spec, labels, "mean")
    pooled = entity_label_history(frame.assign(**{spec.entity_key: ""}), spec, labels, "mean")
    count = entity_label_history(frame, spec, labels, "count")
    last = entity_label_history(frame, spec, labels, "last")
    mean = np.nan_to_num(np.where(np.isnan(mean), pooled, mean), nan=0.0)
    columns = {
        history_column(name, "mean"): mean,
        history_column(name, "last"): np.where(np.isnan(last), NO_LAST_LABEL, last),
        history_column(name, "count"): np.nan_to_num(count, nan=0.0),
    }
    if spec.kind == "regression":
        median = entity_label_history(frame, spec, labels, "median")
        columns[history_column(name, "median")] = np.where(np.isnan(median), mean, median)
    return pd.DataFrame(columns, index=frame.index)


def append_label_history(data: pa.Table, table_name: str) -> pa.Table:
    """``data`` (a cleaned feature table) with the history columns of its supervised models."""
    specs = history_specs(table_name)
    if not specs or data.num_rows == 0:
        return data
    frame = data.to_pandas()
    for spec in specs:
        for column, values in label_history(frame, spec).items():
            if column not in data.column_names:
                data = data.append_column(pa.field(column, pa.float64(), nullable=False),
                                          pa.array(values.to_numpy(float), pa.float64()))
    return data
