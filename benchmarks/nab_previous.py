"""Frozen copy of the previous ``anomalies score`` method (pooled Isolation Forest over trailing
features), kept only as a baseline for ``benchmarks/nab.py``; not used by the product."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

FEATURES = ("dev_short", "dev_long", "dev_season", "dev_prev", "z_short", "z_long")


@dataclass(frozen=True)
class Windows:
    short: int
    long: int
    season: int


def windows_for(step: pd.Timedelta) -> Windows:
    step = step if step > pd.Timedelta(0) else pd.Timedelta(days=1)
    per = lambda span: max(1, int(round(span / step)))  # noqa: E731
    if step >= pd.Timedelta(days=1):
        return Windows(short=max(2, per(pd.Timedelta(days=7))), long=max(3, per(pd.Timedelta(days=30))), season=per(pd.Timedelta(days=7)))
    return Windows(short=max(2, per(pd.Timedelta(days=1))), long=max(3, per(pd.Timedelta(days=7))), season=per(pd.Timedelta(days=1)))


def _slog(x):
    x = np.asarray(x, dtype=float)
    return np.sign(x) * np.log1p(np.abs(x))


def entity_features(values: pd.Series, w: Windows) -> pd.DataFrame:
    """Trailing-window features of one entity's series (ordered by time); row i uses rows <= i."""
    v = values.astype(float)
    mean_s = v.rolling(w.short, min_periods=1).mean()
    mean_l = v.rolling(w.long, min_periods=1).mean()
    std_s = v.rolling(w.short, min_periods=2).std()
    std_l = v.rolling(w.long, min_periods=2).std()
    lv = _slog(v)
    out = pd.DataFrame(index=values.index)
    out["dev_short"] = lv - _slog(mean_s)
    out["dev_long"] = lv - _slog(mean_l)
    # Median of the last three seasons: one anomalous week (or day) does not become the reference.
    seasonal = pd.concat([v.shift(w.season * k) for k in (1, 2, 3)], axis=1).median(axis=1, skipna=True)
    out["dev_season"] = lv - _slog(seasonal)
    out["dev_prev"] = lv - _slog(v.shift(1))
    out["z_short"] = np.where(std_s > 0, (v - mean_s) / std_s, 0.0)
    out["z_long"] = np.where(std_l > 0, (v - mean_l) / std_l, 0.0)
    out["expected"] = mean_l.shift(1)
    out["history"] = np.arange(len(v))
    return out.replace([np.inf, -np.inf], np.nan)


def score_series_previous(
    frame: pd.DataFrame,
    *,
    time_column: str,
    value_column: str,
    entity_column: str | None = None,
    contamination: float = 0.05,
    min_deviation: float = 0.5,
    min_history: int = 7,
    growth: float = 1.5,
    n_estimators: int = 60,
    random_state: int = 42,
) -> pd.DataFrame:
    """Adds ``anomaly_score`` (higher = more anomalous; NaN during warm-up), ``is_anomaly`` and
    ``expected_value`` (trailing mean before t) to ``frame``; row order is preserved."""
    from sklearn.ensemble import IsolationForest

    original_index = frame.index
    df = frame.reset_index(drop=True)
    times = pd.to_datetime(df[time_column], utc=True, errors="coerce")
    vals = pd.to_numeric(df[value_column], errors="coerce")
    ent = df[entity_column].astype(str) if entity_column else pd.Series("_all", index=df.index)
    work = pd.DataFrame({"t": times, "v": vals, "e": ent}, index=df.index).dropna(subset=["t", "v"])
    feats = []
    for _, g in work.sort_values(["e", "t"], kind="stable").groupby("e", sort=False):
        step = g["t"].diff().median() if len(g) > 1 else pd.Timedelta(days=1)
        feats.append(entity_features(g["v"], windows_for(step if step == step else pd.Timedelta(days=1))))
    fdf = pd.concat(feats) if feats else pd.DataFrame(columns=[*FEATURES, "expected", "history"])
    work = work.join(fdf)
    work = work.sort_values("t", kind="stable")
    eligible = (work["history"] >= min_history).to_numpy()
    X = np.nan_to_num(work[list(FEATURES)].to_numpy(dtype=float), nan=0.0)
    t = work["t"].to_numpy()
    scores = np.full(len(work), np.nan)
    flags = np.zeros(len(work), dtype=bool)
    # first row index of each distinct time: a model fitted on rows [0, start) is causal for time t.
    starts = np.flatnonzero(np.r_[True, t[1:] != t[:-1]])
    fit_at = []
    need = None
    for s in starts:
        n_hist = int(eligible[:s].sum())
        if n_hist >= max(min_history, 8) and (need is None or n_hist >= need):
            fit_at.append(s)
            need = max(int(np.ceil(n_hist * growth)), n_hist + 1)
    bounds = fit_at + [len(work)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        hist = X[:a][eligible[:a]]
        model = IsolationForest(n_estimators=n_estimators, contamination=contamination, random_state=random_state, n_jobs=1).fit(hist)
        block = slice(a, b)
        sc = -model.score_samples(X[block])
        scores[block] = sc
        flags[block] = model.predict(X[block]) == -1
    # Deviation from BOTH the trailing mean and the same point one season earlier, so regular
    # weekly (or daily) cycles are not flagged.
    dev = np.minimum(np.abs(work["dev_long"].to_numpy(dtype=float)), np.abs(np.nan_to_num(work["dev_season"].to_numpy(dtype=float), nan=np.inf)))
    flags &= eligible & (np.nan_to_num(dev) >= np.log1p(min_deviation))
    scores[~eligible] = np.nan
    out_score = pd.Series(scores, index=work.index)
    out_flag = pd.Series(flags, index=work.index)
    df["anomaly_score"] = out_score.reindex(df.index)
    df["is_anomaly"] = out_flag.reindex(df.index).fillna(False).astype(bool)
    df["expected_value"] = work["expected"].reindex(df.index)
    df.index = original_index
    return df
