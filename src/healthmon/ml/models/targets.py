"""Honest targets: labels that lie strictly in the future of the row that predicts them.

Every feature table is keyed by (entity, date). A target for the row (e, d) is computed only
from rows of the same entity with a date AFTER d, so no label can be rebuilt from the row's own
features. Two shapes cover the 25 models:

- ``next_row``: the entity's next observation (next run day of a job, next active day of a
  warehouse), accepted only if it lies within ``max_gap_days``;
- ``forward_window``: an aggregate over the calendar window (d, d + days], defined only when
  the data extends to d + days (an incomplete horizon would bias the last labels low).

Each also has a seasonal-naive baseline (the same quantity one week earlier, known at d) that
evaluation compares forecasters with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

SEASON_DAYS = 7


def _dates(frame: pd.DataFrame, date_key: str) -> pd.Series:
    return pd.to_datetime(frame[date_key]).dt.normalize()


def _wide(frame: pd.DataFrame, keys: Sequence[str], values: pd.Series) -> pd.DataFrame:
    """dates x entities matrix over the full daily calendar of the frame."""
    entity, date_key = keys
    dates = _dates(frame, date_key)
    tmp = pd.DataFrame(
        {"e": frame[entity].astype(str).to_numpy(), "d": dates.to_numpy(), "v": values.to_numpy(dtype=float)}
    )
    wide = tmp.pivot_table(index="d", columns="e", values="v", aggfunc="sum", dropna=False)
    full = pd.date_range(dates.min(), dates.max(), freq="D")
    return wide.reindex(full)


def _back_to_rows(frame: pd.DataFrame, keys: Sequence[str], wide: pd.DataFrame) -> pd.Series:
    entity, date_key = keys
    stacked = wide.stack(future_stack=True)
    idx = pd.MultiIndex.from_arrays([_dates(frame, date_key), frame[entity].astype(str)])
    return pd.Series(stacked.reindex(idx).to_numpy(dtype=float), index=frame.index)


def forward_window(frame: pd.DataFrame, keys: Sequence[str], values: pd.Series, days: int, agg: str) -> pd.Series:
    """agg(values) over the entity's rows dated in (d, d + days]; NaN when the data ends before
    d + days or when the window holds no row."""
    wide = _wide(frame, keys, values)
    rev = wide.iloc[::-1].rolling(days, min_periods=1)
    out = getattr(rev, agg)().iloc[::-1].shift(-1)
    last = wide.index.max()
    out.loc[out.index + pd.Timedelta(days=days) > last] = np.nan
    return _back_to_rows(frame, keys, out)


def backward_window(
    frame: pd.DataFrame, keys: Sequence[str], values: pd.Series, days: int, agg: str, lag_days: int = 0
) -> pd.Series:
    """agg(values) over (d - lag - days, d - lag]: the same window one season earlier."""
    wide = _wide(frame, keys, values)
    out = getattr(wide.rolling(days, min_periods=1), agg)().shift(lag_days)
    return _back_to_rows(frame, keys, out)


def _ordered(frame: pd.DataFrame, keys: Sequence[str]) -> tuple[pd.DataFrame, pd.core.groupby.DataFrameGroupBy]:
    entity, date_key = keys
    ordered = frame.assign(_d=_dates(frame, date_key)).sort_values([entity, "_d"], kind="stable")
    return ordered, ordered.groupby(entity, sort=False)


def next_row(frame: pd.DataFrame, keys: Sequence[str], values: pd.Series, max_gap_days: int = SEASON_DAYS) -> pd.Series:
    """The entity's next observation of ``values`` if it is at most ``max_gap_days`` later."""
    ordered, groups = _ordered(frame.assign(_v=values), keys)
    nxt = groups["_v"].shift(-1)
    gap = (groups["_d"].shift(-1) - ordered["_d"]).dt.days
    return nxt.where(gap <= max_gap_days).reindex(frame.index).astype(float)


def row_lag(frame: pd.DataFrame, keys: Sequence[str], values: pd.Series, rows: int) -> pd.Series:
    """``values`` ``rows`` observations earlier for the same entity (known at d)."""
    ordered, groups = _ordered(frame.assign(_v=values), keys)
    return groups["_v"].shift(rows).reindex(frame.index).astype(float)


@dataclass(frozen=True)
class Target:
    """How a model's label is derived from its feature table.

    ``derive(frame, keys)`` returns one float per row (NaN = no label for that row).
    ``baseline(frame, keys)`` is the seasonal-naive forecast of the same quantity (forecasters).
    ``source_columns`` are the columns whose FUTURE values define the label.
    ``horizon_days`` is how far ahead the label looks (the purge gap between split periods).
    ``scale`` is 100 when a rate is reported as a 0-100 score.
    """

    name: str
    description: str
    source_columns: tuple[str, ...]
    derive: Callable[[pd.DataFrame, Sequence[str]], pd.Series]
    horizon_days: int
    baseline: Callable[[pd.DataFrame, Sequence[str]], pd.Series] | None = None
    row_filter: str = ""  # human description of rows that get no label by design
    # Columns of the row itself that the label may read: thresholds known at d (an SLA set from
    # history) or the row filter. Never the columns whose future values define the label.
    reference_columns: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(frame[name], errors="coerce").astype(float)


def next_day_value(column: str, *, description: str, max_gap_days: int = SEASON_DAYS, scale: float = 1.0) -> Target:
    """Forecast the entity's next observation of ``column``; baseline = the observation that
    followed the row one week of rows earlier (same weekday for daily entities)."""

    def derive(frame, keys):
        return next_row(frame, keys, _col(frame, column) * scale, max_gap_days)

    def baseline(frame, keys):
        return row_lag(frame, keys, _col(frame, column) * scale, SEASON_DAYS - 1)

    return Target(f"next_{column}", description, (column,), derive, max_gap_days, baseline)


def next_window(column: str, days: int, agg: str, *, description: str, scale: float = 1.0) -> Target:
    """Forecast agg(column) over the next ``days`` days; baseline = the same aggregate over the
    ``days`` days ending at d shifted to the season (for a 7-day window: the last 7 days)."""

    def derive(frame, keys):
        return forward_window(frame, keys, _col(frame, column) * scale, days, agg)

    def baseline(frame, keys):
        lag = max(SEASON_DAYS - days, 0)
        return backward_window(frame, keys, _col(frame, column) * scale, days, agg, lag_days=lag)

    return Target(f"{column}_{agg}_next_{days}d", description, (column,), derive, days, baseline)


def next_event(
    name: str,
    columns: Sequence[str],
    rule: Callable[[pd.DataFrame, pd.DataFrame], pd.Series],
    *,
    description: str,
    max_gap_days: int = SEASON_DAYS,
    row_condition: Callable[[pd.DataFrame], pd.Series] | None = None,
    row_filter: str = "",
    reference_columns: Sequence[str] = (),
) -> Target:
    """A 0/1 label from the entity's next observation: ``rule(next_rows, current_rows)``.
    ``current_rows`` may be used only for thresholds KNOWN at d (e.g. an SLA set from history)."""

    def derive(frame, keys):
        nxt = pd.DataFrame({c: next_row(frame, keys, _col(frame, c), max_gap_days) for c in columns}, index=frame.index)
        label = rule(nxt, frame).astype(float)
        label[nxt.isna().any(axis=1)] = np.nan
        if row_condition is not None:
            label[~row_condition(frame).fillna(False).astype(bool)] = np.nan
        return label

    return Target(
        name,
        description,
        tuple(columns),
        derive,
        max_gap_days,
        row_filter=row_filter,
        reference_columns=tuple(reference_columns),
    )


def window_event(
    name: str,
    columns: Sequence[str],
    days: int,
    rule: Callable[[pd.DataFrame], pd.Series],
    *,
    description: str,
    aggs: dict[str, str],
) -> Target:
    """A label from aggregates over the next ``days`` days: ``rule(window_aggregates)``."""

    def derive(frame, keys):
        win = pd.DataFrame(
            {c: forward_window(frame, keys, _col(frame, c), days, aggs[c]) for c in columns}, index=frame.index
        )
        label = rule(win).astype(float)
        label[win.isna().any(axis=1)] = np.nan
        return label

    return Target(name, description, tuple(columns), derive, days)
