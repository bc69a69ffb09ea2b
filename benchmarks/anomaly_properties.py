"""General properties of ``healthmon anomalies score`` on seeded synthetic series.

The scorer was designed on nab-dev (5-minute tweet counts, artificial series); it is meant for
any series. This harness checks what must hold whatever the series, on families that nab-dev
does not contain (it fetches no data; every series is generated from a fixed seed):

- **spacing**: 1 min, 5 min, 30 min, 1 h, 1 day, and irregular (5-minute jittered steps, gaps of
  hours to days, a few duplicated timestamps);
- **length**: 800, 1,500, 4,000, 20,000 points;
- **values**: Gaussian noise around a level, AR(1) with φ 0.9 / 0.99 (slowly wandering, like CPU
  utilisation), daily and weekly seasonality, a slow trend, values around 0.001 and around 1e6,
  few distinct levels (a quantised sensor), constant then noisy, non-negative bursty counts,
  negative values.

**Null series** (nothing injected): flags per 1,000 scored points (after the warm-up, i.e. the
points with a score). The method's budget is about one false alarm per 1,000 points; a family
above ``FLOOD`` floods. A crash, or a NaN / infinite score or expected value after the warm-up,
is reported as such.

**Injected series**: one anomaly at 70 % of the series — a spike, a level shift up or down, a
variance change, a flat line (the sensor stuck at its last value) or a slow ramp — sized in units
of the family's spread (``VALUES``): a spike of 8, a lasting shift of ±4, added noise of 4, a ramp to
+8 over 2 % of the series (at least 20 points) that stays there; the flat line and the added noise
last as long as the ramp. A hit is a flag inside the injected window (from the anomaly's
start to its end plus a grace of 2 % of the series, at least 5 points); beside detection, the
flags a found change raised inside that window (one change should raise one alert; a lasting
shift's window runs to the end of the series). The rolling z-score
baseline of ``benchmarks/nab.py`` (window one day of points, at least 50; z > 4; one flag a day)
scores the same series.

**Shapes** (``SHAPES``, ``run_shapes``): series as server, sensor and demand metrics have them
and artificial series with nothing in them — linear trends up and down at 0.5, 2 and 8 spreads a
day, a random walk, a trend under a daily cycle, values on a grid of 0.1, 0.5 and 2.5, integer CPU
percentages, a value that sits on one grid value (0.5 in steps of 0.25; and a count on 2), a
constant, square waves of one day and of 6 hours, noise-free and noisy daily cycles, taxi-like
demand (two daily peaks, quieter weekends, Poisson counts) — each at 5 min, 30 min, 1 h and
irregular spacing, 4,000 points, three development seeds; null (flags per 1,000 scored points),
and with the kinds realistic on the shape (a spike on a quantised series, a shift on a trend).

**Short series** (``short_cases``): every value family at hourly spacing and 1,500 / 2,000 points
(two to three months), null and injected as above; beside the rate, the null flags in the three
weeks after NAB's 15 % probation (``early_flags``), while the weekly profile and the score's own
tail are young. The main grid's 5-minute rows of 4,000 points are the short 5-minute series.

    python -m benchmarks.anomaly_properties [--quick] [--json PATH] [--shapes-only | --lasting-only | --short-only]

Prints the families that flood, crash or return NaN, and detection per family and anomaly
type beside the baseline's; writes ``benchmarks/results/details/anomaly_properties.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DAY = 86_400.0
WEEK = 7 * DAY
FLOOD = 5.0  # null flags per 1,000 scored points above which a family floods
RESULTS = Path(__file__).resolve().parent / "results" / "details" / "anomaly_properties.json"
SPACINGS: dict[str, float | None] = {"1min": 60.0, "5min": 300.0, "30min": 1800.0, "1h": 3600.0, "1day": DAY,
                                     "irregular": None}
LENGTHS = (800, 1500, 4000, 20000)
START = 1_704_067_200.0  # 2024-01-01T00:00:00Z, a Monday


def _rng(*key: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32("/".join(map(str, key)).encode()))


def times(spacing: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Seconds since the epoch: a regular grid, or jittered 5-minute steps with gaps of hours to
    days and a few duplicated timestamps."""
    step = SPACINGS[spacing]
    if step is not None:
        return START + step * np.arange(n)
    steps = 300.0 * rng.uniform(0.6, 1.4, n)
    gaps = rng.random(n) < 0.003
    steps[gaps] = rng.uniform(2 * 3600, 3 * DAY, gaps.sum())
    steps[rng.random(n) < 0.005] = 0.0  # duplicated timestamps
    steps[0] = 0.0
    return START + np.round(np.cumsum(steps))


def _ar1(n: int, phi: float, rng: np.random.Generator, sd: float = 1.0) -> np.ndarray:
    e = rng.normal(0.0, sd, n)
    x = np.empty(n)
    x[0] = e[0] / math.sqrt(1 - phi * phi)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    return x


def _daily(t: np.ndarray) -> np.ndarray:
    return np.sin(2 * np.pi * (t % DAY) / DAY)


def _weekend(t: np.ndarray) -> np.ndarray:
    return ((((t - START) % WEEK) // DAY) >= 5).astype(float)


# value families: f(t, rng) -> the null series, and its unit: the spread of its random part (the
# marginal standard deviation of the noise or of the AR process, not of the cycles or the trend),
# what a person looking at a few days of the series would call its normal wobble
VALUES: dict[str, tuple[Callable[[np.ndarray, np.random.Generator], np.ndarray], float]] = {
    "gaussian": (lambda t, r: 100 + r.normal(0, 5, len(t)), 5.0),
    "ar1_0.9": (lambda t, r: 50 + _ar1(len(t), 0.9, r), 1 / math.sqrt(1 - 0.9**2)),
    "ar1_0.99": (lambda t, r: 40 + _ar1(len(t), 0.99, r, 0.5), 0.5 / math.sqrt(1 - 0.99**2)),
    "daily": (lambda t, r: 100 + 30 * _daily(t) + r.normal(0, 3, len(t)), 3.0),
    "weekly": (lambda t, r: 100 + 10 * _daily(t) - 25 * _weekend(t) + r.normal(0, 3, len(t)), 3.0),
    "trend": (lambda t, r: 100 + 60 * np.linspace(0, 1, len(t)) + r.normal(0, 3, len(t)), 3.0),
    "tiny": (lambda t, r: 0.001 + r.normal(0, 0.0001, len(t)), 0.0001),
    "huge": (lambda t, r: 1e6 + r.normal(0, 100, len(t)), 100.0),
    "quantised": (lambda t, r: 20 + np.round(_ar1(len(t), 0.9, r, 0.3)), 0.3 / math.sqrt(1 - 0.9**2)),
    "constant_then_noisy": (lambda t, r: 5 + np.where(np.arange(len(t)) < 0.4 * len(t), 0.0,
                                                      r.normal(0, 1, len(t))), 1.0),
    "bursty_counts": (lambda t, r: r.poisson(3 * np.exp(0.8 * _ar1(len(t), 0.95, r, math.sqrt(1 - 0.95**2)))),
                      3.0),
    "negative": (lambda t, r: _ar1(len(t), 0.9, r, 2.0) - 3.0, 2 / math.sqrt(1 - 0.9**2)),
}

ANOMALIES = ("spike", "shift_up", "shift_down", "variance", "flatline", "ramp")


def _walk(n: int, rng: np.random.Generator, sd: float) -> np.ndarray:
    return np.cumsum(rng.normal(0.0, sd, n))


def _square(t: np.ndarray, period: float) -> np.ndarray:
    return np.where((t % period) < period / 2, 1.0, 0.0)


def _taxi(t: np.ndarray) -> np.ndarray:
    """Demand with a morning and an evening peak, a quiet night and quieter weekends."""
    h = (t % DAY) / 3600
    day = np.exp(-((h - 8.5) ** 2) / 4) + 1.3 * np.exp(-((h - 18.5) ** 2) / 6) + 0.15
    return day * (1 - 0.35 * _weekend(t))


def _trend(slope: float) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """Noise of spread 2 around a line rising ``slope`` spreads a day."""
    return lambda t, r: 100 + slope * 2.0 * (t - t[0]) / DAY + r.normal(0, 2.0, len(t))


def _quantised(q: float) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """AR(0.95) of spread 3.2 around 30, rounded to a grid of ``q``."""
    return lambda t, r: q * np.round((30 + _ar1(len(t), 0.95, r, 1.0)) / q)


def _mostly_one(t: np.ndarray, r: np.random.Generator) -> np.ndarray:
    """A metric that sits on one value, now and then one step off (a load average of 0.5 in steps of
    0.25, a latency bucket)."""
    off = r.random(len(t)) < 0.03
    return 0.5 + 0.25 * off * r.choice([-1.0, 1.0], len(t))


# shapes the scorer must not alarm on, as real server, sensor and demand series have them, and
# artificial series with nothing in them: name -> (f(t, rng), unit, the anomaly kinds realistic on
# it). The unit is the spread of the random part, at least one step of a quantised series (a spike
# is 8 units, a shift 4); every flag on the null series is a false alarm.
SHAPES: dict[str, tuple[Callable[[np.ndarray, np.random.Generator], np.ndarray], float, tuple[str, ...]]] = {
    **{f"trend_{way}_{slope:g}_per_day": (_trend(sign * slope), 2.0, ("shift_up", "shift_down", "spike"))
       for way, sign in (("up", 1), ("down", -1)) for slope in (0.5, 2.0, 8.0)},
    "random_walk": (lambda t, r: 50 + _walk(len(t), r, 0.2) + r.normal(0, 1.0, len(t)), 1.0, ("spike",)),
    "trend_daily_cycle": (lambda t, r: 20 + 3 * (t - t[0]) / DAY + 5 * _daily(t) + r.normal(0, 1.0, len(t)), 1.0,
                          ("shift_up", "spike")),
    # AR(0.95) of spread 3.2 rounded to a grid of q; the unit is the spread rounded up to the grid
    **{f"quantised_step_{q:g}": (
        _quantised(q), q * math.ceil(1 / math.sqrt(1 - 0.95**2) / q), ("spike",))
       for q in (0.1, 0.5, 2.5)},
    "quantised_cpu_percent": (lambda t, r: np.clip(np.round(8 + 3 * _daily(t) + _ar1(len(t), 0.8, r, 0.6)), 0, 100),
                              1.0, ("spike", "shift_up")),
    "mostly_one_value": (_mostly_one, 0.25, ("spike", "shift_up")),
    "mostly_one_count": (lambda t, r: 2.0 + (r.random(len(t)) < 0.03), 1.0, ("spike",)),
    "constant": (lambda t, r: np.full(len(t), 7.25), 1.0, ()),
    "square_wave_day": (lambda t, r: 10 + 40 * _square(t - 6 * 3600, DAY), 40.0, ()),
    "square_wave_6h": (lambda t, r: 10 + 40 * _square(t, DAY / 4), 40.0, ()),
    "cycle_noise_free": (lambda t, r: 100 + 30 * _daily(t), 1.0, ()),
    "cycle_noisy": (lambda t, r: 100 + 30 * _daily(t) + r.normal(0, 3.0, len(t)), 3.0, ("spike",)),
    "taxi_demand": (lambda t, r: r.poisson(400 * _taxi(t)).astype(float), 20.0, ("spike", "shift_up")),
}
SHAPE_SPACINGS = ("5min", "30min", "1h", "irregular")
SHAPE_SEEDS = (11, 13, 21)  # development seeds
SHAPE_LENGTH = 4000


def inject(kind: str, x: np.ndarray, unit: float, rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
    """``x`` with one anomaly of ``kind`` at 70 % of its length, sized in ``unit`` (the family's
    spread), and the anomaly's [start, end)."""
    n = len(x)
    y = x.astype(float).copy()
    start = int(0.7 * n)
    span = max(20, n // 50)
    if kind == "spike":
        y[start] += 8 * unit
        return y, start, start + 1
    if kind in ("shift_up", "shift_down"):
        end = n  # a lasting change
        y[start:] += (4 if kind == "shift_up" else -4) * unit
        return y, start, end
    end = min(n, start + span)
    if kind == "variance":
        y[start:end] += rng.normal(0, 4 * unit, end - start)
    elif kind == "flatline":
        y[start:end] = y[start - 1]
    elif kind == "ramp":
        y[start:end] += np.linspace(0, 8 * unit, end - start)
        y[end:] += 8 * unit
        end = n
    return y, start, end


@dataclass
class Scored:
    flags: np.ndarray
    scored: np.ndarray  # points with a score (after warm-up)
    bad: int  # NaN / infinite score or expected value after warm-up
    error: str = ""


def score(t: np.ndarray, x: np.ndarray) -> Scored:
    """The CLI's method with its defaults, point by point (one entity)."""
    from healthmon.ml.anomaly_method import EntityScorer

    s = EntityScorer()
    flags = np.zeros(len(x), dtype=bool)
    scored = np.zeros(len(x), dtype=bool)
    bad = 0
    try:
        for i in range(len(x)):
            out = s.update(float(t[i]), float(x[i]))
            if out.season:  # warm-up points have no season
                scored[i] = True
                flags[i] = out.is_anomaly
                bad += not (math.isfinite(out.anomaly_score) and math.isfinite(out.expected_value)
                            and math.isfinite(out.z))
    except Exception as exc:  # a crash is a finding, reported with the family
        return Scored(flags, scored, bad, f"{type(exc).__name__}: {exc}")
    return Scored(flags, scored, bad)


def baseline(t: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Rolling z-score (``benchmarks.nab.rolling_zscore_detector``), window one day of points."""
    import pandas as pd

    from benchmarks.nab import rolling_zscore_detector

    gaps = np.diff(t)
    step = float(np.median(gaps[gaps > 0])) if (gaps > 0).any() else DAY
    per_day = int(min(2016, max(50, round(DAY / step))))
    frame = pd.DataFrame({"series": "s", "timestamp": t, "value": x})
    with np.errstate(divide="ignore", invalid="ignore"):  # a flat window has no z-score: not flagged
        return rolling_zscore_detector(frame, window=per_day, threshold=4.0, refractory=per_day)


def cases(quick: bool = False) -> list[tuple[str, str, int]]:
    """(values, spacing, length): every value family at every spacing (4,000 points), and the
    lengths on a few families at 5-minute spacing. ``quick``: fewer, for the test."""
    if quick:
        families = list(VALUES)
        out = [(v, s, 1500) for v in families for s in ("5min", "1day")]
        out += [(v, "irregular", 1500) for v in ("gaussian", "ar1_0.99", "daily", "quantised", "bursty_counts")]
        out += [(v, s, 1500) for v in ("daily", "ar1_0.99") for s in ("1min", "30min", "1h")]
        return out
    out = [(v, s, 4000) for v in VALUES for s in SPACINGS]
    out += [(v, "5min", n) for v in ("gaussian", "ar1_0.99", "daily", "bursty_counts") for n in LENGTHS if n != 4000]
    return out


# short series: two to three months of hourly points (an ad exchange's rates), beside the main grid's
# 4,000 points of 5-minute data (two weeks): few points for the weekly profile and for the channels'
# own history (the level-shift and spread channels count from 1,800 points on)
SHORT_LENGTHS = (1500, 2000)
PROBATION = 0.15  # NAB's share of each series' rows whose flags are not counted
EARLY = 3 * WEEK  # the weeks after the probation in which a young weekly profile and tail show


def short_cases() -> list[tuple[str, str, int]]:
    """Every value family at hourly spacing and 1,500 / 2,000 points."""
    return [(v, "1h", n) for v in VALUES for n in SHORT_LENGTHS]


def run(quick: bool = False, anomalies: tuple[str, ...] = ANOMALIES,
        grid: list[tuple[str, str, int]] | None = None) -> dict:
    null_rows, hits = [], []
    for values, spacing, n in grid if grid is not None else cases(quick):
        rng = _rng(values, spacing, n)
        t = times(spacing, n, rng)
        make, unit = VALUES[values]
        x = make(t, rng)
        res = score(t, x)
        base = baseline(t, x)
        scored = max(int(res.scored.sum()), 1)
        # flags in the first weeks after NAB's probation, when the weekly profile and the score's tail are young
        after = int(PROBATION * n)
        early = res.flags[after:] & (t[after:] < t[after] + EARLY)
        null_rows.append({
            "values": values, "spacing": spacing, "length": n, "scored": int(res.scored.sum()),
            "flags_per_1000": round(1000 * int(res.flags[res.scored].sum()) / scored, 2),
            "early_flags": int(early.sum()),
            "baseline_flags_per_1000": round(1000 * int(base[res.scored].sum()) / scored, 2),
            "nan": res.bad, "error": res.error,
        })
        for kind in anomalies:
            y, a, b = inject(kind, x, unit, _rng(values, spacing, n, kind))
            r = score(t, y)
            grace = max(5, n // 50)
            lo, hi = a, min(n, b + grace)
            hits.append({
                "values": values, "spacing": spacing, "length": n, "anomaly": kind,
                "hit": bool(r.flags[lo:hi].any()), "baseline_hit": bool(baseline(t, y)[lo:hi].any()),
                "flags": int(r.flags[lo:hi].sum()), "error": r.error,
            })
    return {"flood_above_per_1000": FLOOD, "null": null_rows, "injected": hits, "summary": summarise(null_rows, hits)}


def run_shapes(shapes: tuple[str, ...] | None = None, spacings: tuple[str, ...] = SHAPE_SPACINGS,
               seeds: tuple[int, ...] = SHAPE_SEEDS, n: int = SHAPE_LENGTH, injected: bool = True) -> dict:
    """The ``SHAPES`` grid: every shape at every spacing and seed, null and with its realistic kinds."""
    null_rows, hits = [], []
    for name in shapes or tuple(SHAPES):
        make, unit, kinds = SHAPES[name]
        for spacing in spacings:
            for seed in seeds:
                rng = _rng(name, spacing, seed)
                t = times(spacing, n, rng)
                x = make(t, rng)
                res = score(t, x)
                scored = max(int(res.scored.sum()), 1)
                null_rows.append({"values": name, "spacing": spacing, "seed": seed, "scored": int(res.scored.sum()),
                                  "flags_per_1000": round(1000 * int(res.flags[res.scored].sum()) / scored, 2),
                                  "nan": res.bad, "error": res.error})
                for kind in kinds if injected else ():
                    y, a, b = inject(kind, x, unit, _rng(name, spacing, seed, kind))
                    r = score(t, y)
                    lo, hi = a, min(n, b + max(5, n // 50))
                    hits.append({"values": name, "spacing": spacing, "seed": seed, "anomaly": kind,
                                 "hit": bool(r.flags[lo:hi].any()), "flags": int(r.flags[lo:hi].sum()),
                                 "error": r.error})
    return {"null": null_rows, "injected": hits, "summary": summarise_shapes(null_rows, hits)}


# lasting changes: the level or the spread changes at 70 % of the series and stays changed to its end
LASTING_FAMILIES = ("gaussian", "ar1_0.9", "daily", "weekly", "bursty_counts")
LASTING_SPACINGS = ("5min", "30min", "1h", "irregular")
LASTING_KINDS = ("shift_up", "shift_down", "spread_up")


def inject_lasting(kind: str, x: np.ndarray, unit: float, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """``x`` with a change of ``kind`` from 70 % of its length to its end (a level ±4 units, or noise of 3
    units added), and the change's start."""
    start = int(0.7 * len(x))
    y = x.astype(float).copy()
    if kind == "spread_up":
        y[start:] += rng.normal(0, 3 * unit, len(y) - start)
    else:
        y[start:] += (4 if kind == "shift_up" else -4) * unit
    return y, start


def run_lasting(families: tuple[str, ...] = LASTING_FAMILIES, spacings: tuple[str, ...] = LASTING_SPACINGS,
                kinds: tuple[str, ...] = LASTING_KINDS, n: int = 4000) -> dict:
    """Flags per lasting change: one change is one alert, so every flag after the first from the
    change's start to the end of the series (over a day of 5-minute points up to 50 days of hourly
    ones) is a repeated alert, a false alarm on real data whose labelled window is short."""
    rows = []
    for values in families:
        make, unit = VALUES[values]
        for spacing in spacings:
            rng = _rng(values, spacing, n)
            t = times(spacing, n, rng)
            x = make(t, rng)
            for kind in kinds:
                y, a = inject_lasting(kind, x, unit, _rng(values, spacing, n, "lasting", kind))
                r = score(t, y)
                at = np.flatnonzero(r.flags[a:]) + a
                late = int((t[at] > t[at[0]] + DAY).sum()) if len(at) else 0
                rows.append({"values": values, "spacing": spacing, "anomaly": kind, "flags": len(at), "late": late,
                             "error": r.error})
    by_kind = {}
    for kind in dict.fromkeys(r["anomaly"] for r in rows):
        found = [r["flags"] for r in rows if r["anomaly"] == kind and r["flags"]]
        by_kind[kind] = {"cases": sum(r["anomaly"] == kind for r in rows), "found": len(found),
                         "flags_per_found": round(float(np.mean(found)), 2) if found else None,
                         "found_with_repeats": sum(f > 1 for f in found),
                         "late_flags": sum(r["late"] for r in rows if r["anomaly"] == kind)}
    found = [r["flags"] for r in rows if r["flags"]]
    summary = {"found": len(found), "cases": len(rows),
               "flags_per_found": round(float(np.mean(found)), 2) if found else None,
               "repeated_flags": sum(f - 1 for f in found), "late_flags": sum(r["late"] for r in rows),
               "by_anomaly": by_kind}
    return {"rows": rows, "summary": summary}


def markdown_lasting(results: dict) -> str:
    s = results["summary"]
    lines = [f"Lasting changes: {s['found']} of {s['cases']} found, {s['flags_per_found']} flags per found change "
             f"({s['repeated_flags']} repeated flags, {s['late_flags']} of them over a day after the first).", "",
             "| change | cases | found | flags per found | found with repeats | flags over a day after the first |",
             "|---|---|---|---|---|---|"]
    for kind, k in s["by_anomaly"].items():
        per = "–" if k["flags_per_found"] is None else f"{k['flags_per_found']:.2f}"
        lines.append(f"| {kind} | {k['cases']} | {k['found']} | {per} | {k['found_with_repeats']} "
                     f"| {k['late_flags']} |")
    return "\n".join(lines) + "\n"


def summarise_shapes(null_rows: list[dict], hits: list[dict]) -> dict:
    by_shape = {}
    for name in dict.fromkeys(r["values"] for r in null_rows):
        rates = {sp: float(np.mean([r["flags_per_1000"] for r in null_rows
                                    if r["values"] == name and r["spacing"] == sp]))
                 for sp in dict.fromkeys(r["spacing"] for r in null_rows)}
        found = {k: round(float(np.mean([h["hit"] for h in hits if h["values"] == name and h["anomaly"] == k])), 3)
                 for k in dict.fromkeys(h["anomaly"] for h in hits if h["values"] == name)}
        by_shape[name] = {"null_flags_per_1000_mean": round(float(np.mean(list(rates.values()))), 2),
                          "null_flags_per_1000_by_spacing": {k: round(v, 2) for k, v in rates.items()},
                          "detected": found}
    kinds = {k: round(float(np.mean([h["hit"] for h in hits if h["anomaly"] == k])), 3)
             for k in dict.fromkeys(h["anomaly"] for h in hits)}
    nulls = [r["flags_per_1000"] for r in null_rows]
    return {"null_flags_per_1000_mean": round(float(np.mean(nulls)), 2) if nulls else 0.0,
            "null_series_with_a_flag": sum(r["flags_per_1000"] > 0 for r in null_rows), "null_series": len(nulls),
            "broken": [f"{r['values']} @ {r['spacing']} seed {r['seed']}: {r['error'] or str(r['nan']) + ' NaN'}"
                       for r in null_rows if r["nan"] or r["error"]],
            "detected_by_anomaly": kinds, "by_shape": by_shape}


def markdown_shapes(results: dict) -> str:
    s = results["summary"]
    spacings = list(next(iter(s["by_shape"].values()))["null_flags_per_1000_by_spacing"]) if s["by_shape"] else []
    lines = [f"Shapes: null mean {s['null_flags_per_1000_mean']:.2f} flags per 1,000; "
             f"{s['null_series_with_a_flag']} of {s['null_series']} null series flagged at least once; "
             f"crash / NaN: {'; '.join(s['broken']) or 'none'}; detected: "
             + ", ".join(f"{k} {v:.2f}" for k, v in s["detected_by_anomaly"].items()) + ".", "",
             "| shape | null /1,000 (mean) | " + " | ".join(spacings) + " | detected |",
             "|---|---|" + "---|" * len(spacings) + "---|"]
    for name, f in s["by_shape"].items():
        per = " | ".join(f"{f['null_flags_per_1000_by_spacing'][sp]:.2f}" for sp in spacings)
        found = ", ".join(f"{k} {v:.2f}" for k, v in f["detected"].items()) or "–"
        lines.append(f"| {name} | {f['null_flags_per_1000_mean']:.2f} | {per} | {found} |")
    return "\n".join(lines) + "\n"


def summarise(null_rows: list[dict], hits: list[dict]) -> dict:
    floods = [r for r in null_rows if r["flags_per_1000"] > FLOOD]
    broken = [r for r in null_rows if r["nan"] or r["error"]] + [h for h in hits if h["error"]]
    by_kind = {}
    for kind in sorted({h["anomaly"] for h in hits}):
        rows = [h for h in hits if h["anomaly"] == kind]
        found = [h["flags"] for h in rows if h["hit"]]
        by_kind[kind] = {"cases": len(rows), "detected": round(float(np.mean([h["hit"] for h in rows])), 3),
                         "baseline_detected": round(float(np.mean([h["baseline_hit"] for h in rows])), 3),
                         "flags_per_found": round(float(np.mean(found)), 2) if found else None}
    by_family = {}
    for values in dict.fromkeys(r["values"] for r in null_rows):
        rows = [h for h in hits if h["values"] == values]
        nulls = [r["flags_per_1000"] for r in null_rows if r["values"] == values]
        base_nulls = [r["baseline_flags_per_1000"] for r in null_rows if r["values"] == values]
        by_family[values] = {
            "null_flags_per_1000_median": float(np.median(nulls)), "null_flags_per_1000_max": float(max(nulls)),
            "baseline_null_flags_per_1000_median": float(np.median(base_nulls)),
            "detected": round(float(np.mean([h["hit"] for h in rows])), 3) if rows else None,
            "baseline_detected": round(float(np.mean([h["baseline_hit"] for h in rows])), 3) if rows else None,
        }
    by_spacing = {}
    for spacing in dict.fromkeys(r["spacing"] for r in null_rows):
        for n in dict.fromkeys(r["length"] for r in null_rows if r["spacing"] == spacing):
            rows = [h for h in hits if h["spacing"] == spacing and h["length"] == n]
            if rows:
                by_spacing[f"{spacing} × {n}"] = {
                    "cases": len(rows), "detected": round(float(np.mean([h["hit"] for h in rows])), 3),
                    "baseline_detected": round(float(np.mean([h["baseline_hit"] for h in rows])), 3)}
    nulls = [r["flags_per_1000"] for r in null_rows]
    return {
        "null_flags_per_1000_median": float(np.median(nulls)),
        "null_flags_per_1000_mean": round(float(np.mean(nulls)), 2),
        "early_flags": sum(r.get("early_flags", 0) for r in null_rows),
        "floods": [f"{r['values']} @ {r['spacing']} × {r['length']}: {r['flags_per_1000']}" for r in floods],
        "broken": [f"{r['values']} @ {r['spacing']} × {r['length']}: {r.get('anomaly', 'null')}: "
                   f"{r['error'] or str(r['nan']) + ' NaN'}" for r in broken],
        "by_anomaly": by_kind,
        "by_family": by_family,
        "by_spacing": by_spacing,
    }


def markdown(results: dict) -> str:
    s = results["summary"]
    lines = [f"Null series: median {s['null_flags_per_1000_median']:.2f} flags per 1,000 scored points "
             f"(mean {s['null_flags_per_1000_mean']:.2f}; {s['early_flags']} flags in the "
             f"{EARLY / WEEK:g} weeks after the {PROBATION:.0%} probation); flooding (> {FLOOD:g}): "
             + ("; ".join(s["floods"]) or "none") + "; crash / NaN: " + ("; ".join(s["broken"]) or "none") + ".",
             "", "| values | null flags /1,000 (median, max) | baseline null /1,000 | detected | baseline detected |",
             "|---|---|---|---|---|"]
    for name, f in s["by_family"].items():
        lines.append(f"| {name} | {f['null_flags_per_1000_median']:.2f}, {f['null_flags_per_1000_max']:.2f} | "
                     f"{f['baseline_null_flags_per_1000_median']:.2f} | {f['detected']:.2f} | "
                     f"{f['baseline_detected']:.2f} |")
    lines += ["", "| anomaly | cases | detected | baseline detected | flags per found change |",
              "|---|---|---|---|---|"]
    for kind, k in s["by_anomaly"].items():
        per = "–" if k.get("flags_per_found") is None else f"{k['flags_per_found']:.2f}"
        lines.append(f"| {kind} | {k['cases']} | {k['detected']:.2f} | {k['baseline_detected']:.2f} | {per} |")
    lines += ["", "| spacing × points | cases | detected | baseline detected |", "|---|---|---|---|"]
    for name, k in s["by_spacing"].items():
        lines.append(f"| {name} | {k['cases']} | {k['detected']:.2f} | {k['baseline_detected']:.2f} |")
    return "\n".join(lines) + "\n"


def to_json(results: dict) -> str:
    """The summary indented, the per-series rows one a line (a diff then shows which changed)."""
    parts = []
    for key, value in results.items():
        if isinstance(value, list):
            rows = ",\n  ".join(json.dumps(row) for row in value)
            parts.append(f"{json.dumps(key)}: [\n  {rows}\n ]")
        else:
            parts.append(f"{json.dumps(key)}: " + json.dumps(value, indent=1).replace("\n", "\n "))
    return "{\n " + ",\n ".join(parts) + "\n}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the test's smaller grid")
    parser.add_argument("--json", default=None, help=f"where to write the results (default {RESULTS})")
    parser.add_argument("--shapes-only", action="store_true", help="only the SHAPES grid (printed, not written)")
    parser.add_argument("--lasting-only", action="store_true", help="only the lasting changes (printed, not written)")
    parser.add_argument("--short-only", action="store_true", help="only the short hourly series (printed, not written)")
    args = parser.parse_args(argv)
    if args.short_only:
        print(markdown(run(grid=short_cases())))
        return 0
    if args.shapes_only:
        print(markdown_shapes(run_shapes()))
        return 0
    if args.lasting_only:
        print(markdown_lasting(run_lasting()))
        return 0
    results = run(args.quick)
    results["shapes"] = run_shapes()
    results["lasting"] = run_lasting()
    results["short"] = run(grid=short_cases())
    Path(args.json or RESULTS).write_text(to_json(results))
    print(markdown(results))
    print(markdown_shapes(results["shapes"]))
    print(markdown_lasting(results["lasting"]))
    print(markdown(results["short"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
