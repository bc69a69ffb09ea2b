"""Pure data steps shared by training, inference and evaluation: feature cleaning, labels,
and the time-based split (train / validation / test by date, with a purge gap)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from healthmon.ml.models.spec import ModelSpec

LABEL = "label"
SPLIT_FRACTIONS = (0.6, 0.2, 0.2)  # train, validation, test: shares of the date range


def numeric_columns(frame: pd.DataFrame) -> list[str]:
    return [
        c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
    ] + [c for c in frame.columns if pd.api.types.is_bool_dtype(frame[c])]


def clean_features(frame: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """float64 matrix with NaN and +-inf replaced by 0 (as the feature build does, so training
    and scoring see the same values)."""
    block = frame[list(features)].apply(pd.to_numeric, errors="coerce").astype(float).to_numpy()
    return np.nan_to_num(block, nan=0.0, posinf=0.0, neginf=0.0)


def derive_labels(spec: ModelSpec, frame: pd.DataFrame) -> pd.Series:
    """One label per row (NaN = none) from rows strictly after the row's date."""
    if spec.target is None:
        raise ValueError(f"{spec.name} is a detector and has no label")
    return spec.target.derive(frame, spec.keys)


@dataclass(frozen=True)
class Split:
    """Dates (normalized) bounding the three periods, and the purge gap between them."""

    start: pd.Timestamp
    validation_start: pd.Timestamp
    test_start: pd.Timestamp
    end: pd.Timestamp
    gap_days: int

    def period(self, dates: pd.Series) -> pd.Series:
        """'train' | 'validation' | 'test' | '' (purged) per date. A row is purged when its label
        window (date + gap) reaches into the next period, so no label crosses a boundary."""
        d = pd.to_datetime(dates).dt.normalize()
        gap = pd.Timedelta(days=self.gap_days)
        out = pd.Series("", index=dates.index, dtype=object)
        out[(d < self.validation_start) & (d + gap < self.validation_start)] = "train"
        out[(d >= self.validation_start) & (d < self.test_start) & (d + gap < self.test_start)] = "validation"
        out[d >= self.test_start] = "test"
        return out

    def as_dict(self) -> dict[str, str]:
        return {
            "start": self.start.date().isoformat(),
            "validation_start": self.validation_start.date().isoformat(),
            "test_start": self.test_start.date().isoformat(),
            "end": self.end.date().isoformat(),
            "gap_days": str(self.gap_days),
        }


def time_split(dates: pd.Series, gap_days: int = 0, fractions: Sequence[float] = SPLIT_FRACTIONS) -> Split:
    """Split the calendar range of ``dates`` into consecutive train/validation/test periods.
    Never random rows: everything in the test period is later than everything trained on."""
    d = pd.to_datetime(dates).dt.normalize()
    start, end = d.min(), d.max()
    span_days = (end - start).days + 1
    val_start = start + pd.Timedelta(days=int(round(span_days * fractions[0])))
    test_start = start + pd.Timedelta(days=int(round(span_days * (fractions[0] + fractions[1]))))
    return Split(start, val_start, test_start, end, int(gap_days))


def split_for(spec: ModelSpec, frame: pd.DataFrame) -> Split:
    gap = spec.target.horizon_days if spec.target is not None else 0
    return time_split(frame[spec.date_key], gap)
