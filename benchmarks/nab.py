"""NAB window scoring of ``healthmon anomalies score`` (and of baselines) on the nab-dev set.

The data and the rule come from ``nab-dev/README.md``:

- the first 15 % of each series' rows (``int(rows × 0.15)``) is a probation period: flags there
  are not counted at all — neither as hits nor as false alarms;
- window recall = labelled windows with at least one counted flag inside / countable windows;
- flag precision = counted flags inside a window / all counted flags;
- F1 of the two, per corpus and overall.

A window is *countable* when at least one row after the probation period lies inside it
(bounds inclusive). A window that ends inside the probation period (or holds no row at all)
has no position where a counted flag could fall, so it can be neither detected nor missed and
is left out of the recall denominator. A window that straddles the probation boundary is
countable; only its part after the boundary can be hit.

Counts are pooled over the series of a corpus (and over all series for "overall"): a person
reading the alerts of a whole corpus sees every flag of every series, so a series that raises
many false alarms weighs accordingly.

Every detector scores one corpus the way a user would run the CLI on it: one frame with the
columns ``series``, ``timestamp`` and ``value`` (each series' rows in time order), returning a
bool array of flags in row order. ``healthmon_detector`` makes the same library call as the CLI
(``healthmon.ml.anomaly_method.score_series``, entity column ``series``) with its default
parameters; the previous method's Isolation Forest is shared by the entities of the frame, as
it was in the CLI.

    python -m benchmarks.nab [--data DIR]   # prints the table, writes benchmarks/results/details/nab.json

``run`` also makes the 2-fold check (``two_fold``): the series of each corpus are split into two
fixed halves; the method's tuned constants (and the baseline's settings) are chosen on one half and
scored on the other, then the halves swap; the held-out flags of both are pooled per corpus. Beside
each held-out F1, its 95 % interval when the series are resampled (``series_interval``): with ten
series a corpus' figure depends on which series it holds.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
# not beside the bench_<area>.json files: benchmarks.run renders every *.json there as a list of Results
RESULTS = Path(__file__).resolve().parent / "results" / "details" / "nab.json"
CORPORA = ("realTweets", "artificialWithAnomaly")
PROBATION = 0.15
TARGET_F1 = 0.65

Detector = Callable[[pd.DataFrame], np.ndarray]


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """``explicit``, else ``$HEALTHMON_NAB_DIR``, else ``<repo>/../shared/datasets/nab-dev``."""
    if explicit:
        return Path(explicit)
    if os.environ.get("HEALTHMON_NAB_DIR"):
        return Path(os.environ["HEALTHMON_NAB_DIR"])
    return REPO.parent / "shared" / "datasets" / "nab-dev"


def available(directory: Path) -> bool:
    return (directory / "combined_windows.json").is_file() and (directory / "data").is_dir()


@dataclass(frozen=True)
class Series:
    key: str  # "<corpus>/<file>.csv", as in combined_windows.json
    corpus: str
    timestamps: pd.Series
    values: pd.Series
    windows: tuple[tuple[pd.Timestamp, pd.Timestamp], ...]


def load(directory: Path) -> list[Series]:
    windows = json.loads((directory / "combined_windows.json").read_text())
    out = []
    for key in sorted(windows):
        corpus = key.split("/", 1)[0]
        if corpus not in CORPORA:
            continue
        frame = pd.read_csv(directory / "data" / key)
        out.append(Series(
            key=key, corpus=corpus,
            timestamps=pd.to_datetime(frame["timestamp"]), values=frame["value"].astype(float),
            windows=tuple((pd.Timestamp(a), pd.Timestamp(b)) for a, b in windows[key]),
        ))
    return out


@dataclass
class Counts:
    windows: int = 0
    windows_hit: int = 0
    flags: int = 0
    flags_in_window: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(asdict(self).values(), asdict(other).values())))

    @property
    def recall(self) -> float:
        return self.windows_hit / self.windows if self.windows else 0.0

    @property
    def precision(self) -> float:
        return self.flags_in_window / self.flags if self.flags else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def summary(self) -> dict:
        return {"f1": round(self.f1, 4), "recall": round(self.recall, 4), "precision": round(self.precision, 4),
                **asdict(self)}


def count(series: Series, flags: np.ndarray) -> Counts:
    """The README's rule for one series (see the module docstring for countable windows)."""
    flags = np.asarray(flags, dtype=bool)
    if len(flags) != len(series.values):
        raise ValueError(f"{series.key}: {len(flags)} flags for {len(series.values)} rows")
    probation = int(len(flags) * PROBATION)
    times = series.timestamps.to_numpy()
    after = times[probation:]  # the positions where a flag counts
    flagged = after[flags[probation:]]
    inside = np.zeros(len(flagged), dtype=bool)
    windows = hit = 0
    for start, end in series.windows:
        lo, hi = start.to_datetime64(), end.to_datetime64()
        if not ((after >= lo) & (after <= hi)).any():
            continue  # no countable position: cannot be detected or missed
        w = (flagged >= lo) & (flagged <= hi)
        inside |= w
        windows += 1
        hit += bool(w.any())
    return Counts(windows=windows, windows_hit=hit, flags=len(flagged), flags_in_window=int(inside.sum()))


def corpus_frame(series: list[Series]) -> pd.DataFrame:
    """The series of one corpus as one CSV-like frame (``series``, ``timestamp``, ``value``)."""
    return pd.concat([pd.DataFrame({"series": s.key, "timestamp": s.timestamps, "value": s.values}) for s in series],
                     ignore_index=True)


def evaluate(detector: Detector, series: list[Series]) -> dict:
    """Per-series, per-corpus and overall counts of one detector."""
    per_series: dict[str, Counts] = {}
    corpora = {}
    for corpus in CORPORA:
        members = [s for s in series if s.corpus == corpus]
        if not members:
            continue
        flags = np.asarray(detector(corpus_frame(members)), dtype=bool)
        offset = 0
        for s in members:
            per_series[s.key] = count(s, flags[offset: offset + len(s.values)])
            offset += len(s.values)
        corpora[corpus] = sum((per_series[s.key] for s in members), Counts()).summary()
    return {
        "corpora": corpora,
        "overall": sum(per_series.values(), Counts()).summary(),
        "series": {k: c.summary() for k, c in per_series.items()},
    }


# --- detectors --------------------------------------------------------------------------------

def healthmon_detector(frame: pd.DataFrame, **config) -> np.ndarray:
    """The CLI's method with its default parameters (the library call the CLI streams through);
    ``config`` overrides constants of ``ScorerConfig`` (for the 2-fold check only)."""
    from healthmon.ml.anomaly_method import ScorerConfig, score_series

    out = score_series(frame, time_column="timestamp", value_column="value", entity_column="series",
                       config=ScorerConfig(**config))
    return out["is_anomaly"].to_numpy(dtype=bool)


def rolling_zscore_detector(frame: pd.DataFrame, *, window: int = 288, threshold: float = 4.0,
                            refractory: int = 288) -> np.ndarray:
    """Causal baseline, per series: z-score of x_t against the mean/std of the previous
    ``window`` points (one day of 5-minute data), flagged above ``threshold``; one flag per
    ``refractory`` points so that one excursion is one alert, as for the method under test."""
    flags = np.zeros(len(frame), dtype=bool)
    for _, rows in frame.groupby("series", sort=False).indices.items():
        x = frame["value"].to_numpy(dtype=float)[rows]
        prev = pd.Series(x).shift(1).rolling(window, min_periods=window // 4)
        z = np.abs((x - prev.mean().to_numpy()) / prev.std().to_numpy())
        flags[rows] = _refractory(np.nan_to_num(z, nan=0.0) > threshold, refractory)
    return flags


def _refractory(hot: np.ndarray, gap: int) -> np.ndarray:
    flags = np.zeros(len(hot), dtype=bool)
    last = -gap - 1
    for i in np.flatnonzero(hot):
        if i - last > gap:
            flags[i] = True
            last = i
    return flags


def previous_method_detector(frame: pd.DataFrame) -> np.ndarray:
    """The method shipped before, with its defaults: one Isolation Forest shared by the frame's
    entities, over trailing-window features."""
    from benchmarks.nab_previous import score_series_previous

    out = score_series_previous(frame, time_column="timestamp", value_column="value", entity_column="series")
    return out["is_anomaly"].to_numpy(dtype=bool)


DETECTORS: dict[str, Detector] = {
    "healthmon anomalies score": healthmon_detector,
    "rolling z-score (1 day, z above 4, 1 flag a day)": rolling_zscore_detector,
    "previous method (Isolation Forest shared by a corpus' series)": previous_method_detector,
}


def run(directory: Path | None = None, detectors: dict[str, Detector] | None = None) -> dict | None:
    """NAB figures of every detector, or None when the data set is absent."""
    directory = data_dir(directory)
    if not available(directory):
        return None
    series = load(directory)
    return {
        "data": "nab-dev (" + ", ".join(f"{c}: {sum(s.corpus == c for s in series)} series" for c in CORPORA) + ")",
        "scoring": "15 % probation (rows); windows without a row after it not counted; window recall, "
                   "flag precision, F1; counts pooled per corpus",
        "target_f1": TARGET_F1,
        "detectors": {name: evaluate(fn, series) for name, fn in (detectors or DETECTORS).items()},
        "two_fold": two_fold(series, two_fold_grids()),
    }


# --- 2-fold check: design on one half of the series, report the other ---------------------------

# The method's tuned constants and the values they are chosen among on a design half (the defaults
# are one of the points); the baseline gets the same chance over its own settings.
METHOD_GRID = {"budget": (1000, 3000), "min_z": (4.0, 5.0), "tail_memory": (2000, 16000),
               "noise_alpha": (0.01, 0.03), "drift_k": (0.5, 1.0)}
BASELINE_GRID = {"window": (288, 2016), "threshold": (3.0, 4.0, 6.0, 8.0)}
METHOD = "healthmon anomalies score"
BASELINE = "rolling z-score"


def fold_of(series: list[Series]) -> dict[str, int]:
    """The fixed split: within each corpus, the series sorted by name alternate between fold 0
    and fold 1 (realTweets: AAPL, CRM, FB, IBM, PFE | AMZN, CVS, GOOG, KO, UPS)."""
    fold = {}
    for corpus in CORPORA:
        for i, s in enumerate(sorted((s for s in series if s.corpus == corpus), key=lambda s: s.key)):
            fold[s.key] = i % 2
    return fold


def _counts(detector: Detector, series: list[Series]) -> dict[str, Counts]:
    fields = ("windows", "windows_hit", "flags", "flags_in_window")
    return {k: Counts(**{f: v[f] for f in fields}) for k, v in evaluate(detector, series)["series"].items()}


def _pooled(counts: dict[str, Counts], keys) -> dict:
    """F1 (recall, precision) per corpus of the given series' counts."""
    out = {}
    for corpus in CORPORA:
        members = [counts[k] for k in keys if k.startswith(corpus + "/")]
        if members:
            out[corpus] = sum(members, Counts()).summary()
    return out


def _mean_f1(counts: dict[str, Counts], keys) -> float:
    return float(np.mean([c["f1"] for c in _pooled(counts, keys).values()]))


def series_interval(counts: dict[str, Counts], draws: int = 2000, seed: int = 11) -> tuple[float, float]:
    """95 % interval of the pooled F1 when the series themselves are resampled (bootstrap over
    series, with replacement): how much the figure owes to which series happen to be in the set."""
    members = list(counts.values())
    rng = np.random.default_rng(seed)
    f1s = [sum((members[i] for i in rng.integers(0, len(members), len(members))), Counts()).f1 for _ in range(draws)]
    lo, hi = np.percentile(f1s, [2.5, 97.5])
    return round(float(lo), 4), round(float(hi), 4)


def two_fold(series: list[Series], grids: dict[str, tuple[Callable[..., np.ndarray], dict, dict]]) -> dict:
    """For each detector ``name: (function, grid, defaults)``: on each fold, the grid point with
    the best mean F1 over the corpora on the *other* fold scores this fold; the held-out flags of
    both folds are pooled per corpus (the cross-fold figure). Beside it the defaults on every
    series (the full-set figure)."""
    import itertools

    fold = fold_of(series)
    report = {"split": {str(f): sorted(k for k, v in fold.items() if v == f) for f in (0, 1)}, "detectors": {}}
    for name, (fn, grid, defaults) in grids.items():
        points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
        if defaults not in points:
            points.append(defaults)
        per_point = [_counts(lambda frame, p=p, fn=fn: fn(frame, **p), series) for p in points]
        held_out: dict[str, Counts] = {}
        chosen = []
        for test in (0, 1):
            design = [k for k, f in fold.items() if f != test]
            best = max(range(len(points)), key=lambda i: _mean_f1(per_point[i], design))
            tested = [k for k, f in fold.items() if f == test]
            held_out.update({k: per_point[best][k] for k in tested})
            chosen.append({"designed_on_fold": 1 - test, "chosen": points[best],
                           "on_design_fold": _pooled(per_point[best], design),
                           "on_held_out_fold": _pooled(per_point[best], tested)})
        full = per_point[points.index(defaults)]
        report["detectors"][name] = {
            "defaults": defaults, "grid": {k: list(v) for k, v in grid.items()}, "folds": chosen,
            "cross_fold": _pooled(held_out, held_out),
            "cross_fold_interval": {c: series_interval({k: v for k, v in held_out.items() if k.startswith(c + "/")})
                                    for c in CORPORA if any(k.startswith(c + "/") for k in held_out)},
            "full_defaults": _pooled(full, full),
        }
    return report


def two_fold_grids() -> dict[str, tuple[Callable[..., np.ndarray], dict, dict]]:
    from healthmon.ml.anomaly_method import ScorerConfig

    method_defaults = {k: getattr(ScorerConfig(), k) for k in METHOD_GRID}
    return {
        METHOD: (healthmon_detector, METHOD_GRID, method_defaults),
        BASELINE: (rolling_zscore_detector, BASELINE_GRID, {"window": 288, "threshold": 4.0}),
    }


def markdown_section(results: dict) -> str:
    """A short EVALUATION.md section: F1 (recall, precision) per corpus, method next to baselines."""
    lines = [
        "## `healthmon anomalies score` on real series (NAB)",
        "",
        f"Data: {results['data']}. Scoring: {results['scoring']}. Default parameters, no per-series",
        f"settings; target F1 ≥ {results['target_f1']} on each corpus. Scoring code: `benchmarks/nab.py`.",
        "",
        "| detector | " + " | ".join(f"{c} F1 (recall, precision)" for c in CORPORA) + " | overall F1 |",
        "|---|" + "---|" * (len(CORPORA) + 1),
    ]
    for name, res in results["detectors"].items():
        cells = []
        for c in CORPORA:
            m = res["corpora"].get(c)
            cells.append(f"{m['f1']:.2f} ({m['recall']:.2f}, {m['precision']:.2f})" if m else "n/a")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {res['overall']['f1']:.2f} |")
    folds = results.get("two_fold")
    if folds:
        lines += [
            "",
            "**2-fold check** (the figure to trust): the series of each corpus, sorted by name, alternate "
            "between two fixed halves; each detector's tuned settings are chosen on one half "
            "(best mean F1 over the corpora) and scored on the other, then the halves swap; held-out "
            "flags pooled per corpus; in brackets after it, the 95 % interval of that F1 when the series are "
            "resampled (bootstrap over series). Full set = default settings on every series.",
            "",
            "| detector | " + " | ".join(f"{c} 2-fold F1 (recall, precision)" for c in CORPORA)
            + " | " + " | ".join(f"{c} full F1" for c in CORPORA) + " |",
            "|---|" + "---|" * (2 * len(CORPORA)),
        ]
        for name, res in folds["detectors"].items():
            cross = [res["cross_fold"].get(c) for c in CORPORA]
            spread = [res.get("cross_fold_interval", {}).get(c) for c in CORPORA]
            full = [res["full_defaults"].get(c) for c in CORPORA]
            lines.append(f"| {name} | " + " | ".join(
                f"{m['f1']:.2f} ({m['recall']:.2f}, {m['precision']:.2f})" + (f" [{i[0]:.2f}–{i[1]:.2f}]" if i else "")
                if m else "n/a" for m, i in zip(cross, spread))
                + " | " + " | ".join(f"{m['f1']:.2f}" if m else "n/a" for m in full) + " |")
        ours = folds["detectors"].get(METHOD)
        if ours:
            missed = [c for c in CORPORA if ours["cross_fold"].get(c, {}).get("f1", 0.0) < results["target_f1"]]
            verdict = ("target met on every corpus on held-out series" if not missed
                       else "target **missed** on held-out series of " + ", ".join(missed))
            unsure = [c for c in CORPORA if c not in missed
                      and ours.get("cross_fold_interval", {}).get(c, (1.0,))[0] < results["target_f1"]]
            if unsure:
                verdict += ("; the series interval of " + ", ".join(unsure)
                            + " reaches below the target, so the margin is not a safe one")
            lines += ["", f"Verdict: {verdict} (2-fold figures above; docs/models.md, `healthmon anomalies score`)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None,
                        help="nab-dev directory (default: $HEALTHMON_NAB_DIR or <repo>/../shared/datasets/nab-dev)")
    parser.add_argument("--no-write", action="store_true", help="do not write benchmarks/results/details/nab.json")
    args = parser.parse_args(argv)
    results = run(args.data)
    if results is None:
        print(f"nab-dev not found at {data_dir(args.data)}: skipped (set HEALTHMON_NAB_DIR or --data).")
        return 0
    if not args.no_write:
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(markdown_section(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
