"""Wall time of one account of `healthmon evaluate --seeds` (issue 13: 10 medium accounts within
30 minutes on 2 cores), stage by stage, against the pre-change code measured in the same run.

The pre-change code is the pandas ``event_scores`` (a groupby and two merges per call), kept
here as ``event_scores_pandas``: the detectors' false-alarm budget walks up to 200 thresholds
per detector and baseline, so it ran ~950 times per account. Both variants run the same
development-seed account in a fresh process each (``run_seed``), twice, interleaved; their
per-model figures must be identical, or the benchmark fails.

    python -m benchmarks.run eval          # dev seed 42, medium (four accounts, ~20 min)
    python -m benchmarks.run eval --quick  # dev seed 42, small
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.run import Result

SEED = 42  # a development seed: a timing account, never a reported model figure
REPO = Path(__file__).resolve().parent.parent
WORKLOAD_THRESHOLDS = 200  # budget_threshold's grid


# --------------------------------------------------------------------------- pre-change code
def flagged_events_pandas(flags: pd.DataFrame, max_gap_days: int = 1) -> pd.DataFrame:
    if flags.empty:
        return pd.DataFrame(columns=["entity", "start", "end"])
    f = flags.assign(date=pd.to_datetime(flags["date"]).dt.normalize(), entity=flags["entity"].astype(str))
    f = f.drop_duplicates(["entity", "date"]).sort_values(["entity", "date"])
    new_event = (f["entity"] != f["entity"].shift()) | ((f["date"] - f["date"].shift()).dt.days > max_gap_days)
    f["event"] = new_event.cumsum()
    ev = f.groupby("event").agg(entity=("entity", "first"), start=("date", "min"), end=("date", "max"))
    return ev.reset_index(drop=True)


def event_scores_pandas(flags, incidents, *, recall_incidents=None, tolerance_days: int = 1):
    from healthmon.ml.models.metrics import DetectionScore

    events = flagged_events_pandas(flags)
    recall_set = incidents if recall_incidents is None else recall_incidents
    tol = pd.Timedelta(days=tolerance_days)

    def overlapping(inc):
        if events.empty or inc.empty:
            return np.zeros(0, int), np.zeros(0, int)
        ev = pd.DataFrame({"entity": events["entity"].astype(str).to_numpy(), "ev": np.arange(len(events)),
                           "ev_start": pd.to_datetime(events["start"]).to_numpy(),
                           "ev_end": pd.to_datetime(events["end"]).to_numpy()})
        ic = pd.DataFrame({"entity": inc["entity"].astype(str).to_numpy(), "inc": np.arange(len(inc)),
                           "inc_start": pd.to_datetime(inc["start"]).to_numpy() - tol,
                           "inc_end": pd.to_datetime(inc["end"]).to_numpy() + tol})
        pairs = ev.merge(ic, on="entity")
        hit = (pairs["inc_start"] <= pairs["ev_end"]) & (pairs["inc_end"] >= pairs["ev_start"])
        return pairs.loc[hit, "ev"].to_numpy(), pairs.loc[hit, "inc"].to_numpy()

    true_events = len(np.unique(overlapping(incidents)[0]))
    detected = np.zeros(len(recall_set), bool)
    detected[overlapping(recall_set)[1]] = True
    n_events, n_inc = len(events), len(recall_set)
    precision = true_events / n_events if n_events else 0.0
    recall = detected.sum() / n_inc if n_inc else float("nan")
    f1 = (2 * precision * recall / (precision + recall) if n_inc and (precision + recall) > 0
          else (float("nan") if not n_inc else 0.0))
    return DetectionScore(precision, recall, f1, n_inc, int(detected.sum()), n_events, true_events)


# --------------------------------------------------------------------------- one account
def _account(pre_change: bool, scale: str, workdir: str) -> dict:
    """One account in this (fresh) process, with the pre-change event_scores patched in or not."""
    if pre_change:
        import healthmon.ml.evaluation as evaluation
        import healthmon.ml.models.metrics as metrics

        metrics.event_scores = evaluation.event_scores = event_scores_pandas  # type: ignore[assignment]
        metrics.flagged_events = flagged_events_pandas  # type: ignore[assignment]
    from healthmon.ml.evaluation_seeds import run_seed

    return run_seed(SEED, scale, workdir=workdir)


# Current code first, then the pre-change code twice, then the current code: the machine is
# shared, so each variant runs early and late and each stage keeps its fastest time.
ORDER = (False, True, True, False)


def _fastest(results: list[dict]) -> dict:
    """The first result with every stage's fastest time over ``results``."""
    times = {k: min(r["times"][k] for r in results) for k in results[0]["times"]}
    return {**results[0], "times": times, "seconds": sum(times.values())}


def _in_fresh_process(pre_change: bool, scale: str, workdir: str) -> dict:
    with mp.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(_account, (pre_change, scale, workdir))


def _same_figures(a, b, path: str = "") -> list[str]:
    """Paths where two results differ (floats by more than 1e-9)."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = (set(a) | set(b)) - {"evaluated_at"}
        return [d for k in sorted(keys) for d in _same_figures(a.get(k), b.get(k), f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _same_figures(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float):
        return [] if a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 else [path]
    return [] if a == b else [path]


# --------------------------------------------------------------------------- threshold walk
def _threshold_walk(entities: int, days: int, incidents: int) -> tuple[float, float, bool]:
    """Seconds of one budget walk (``WORKLOAD_THRESHOLDS`` thresholds over an entity x day
    validation period) with each event_scores, and whether all their scores were equal."""
    from healthmon.ml.models.metrics import event_scores

    rng = np.random.default_rng(SEED)
    ent = np.repeat([f"e{i}" for i in range(entities)], days)
    date = np.tile(pd.date_range("2025-01-01", periods=days).to_numpy(), entities)
    scores = rng.standard_normal(len(ent))
    start = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, days, incidents), "D")
    inc = pd.DataFrame({"entity": rng.choice(np.unique(ent), incidents), "start": start,
                        "end": start + pd.to_timedelta(rng.integers(0, 4, incidents), "D")})
    grid = np.quantile(scores, np.linspace(1, 0.9, WORKLOAD_THRESHOLDS))
    out, seconds = [], []
    for fn in (event_scores_pandas, event_scores):
        t = time.perf_counter()
        out.append([fn(pd.DataFrame({"entity": ent[scores >= thr], "date": date[scores >= thr]}), inc)
                    for thr in grid])
        seconds.append(time.perf_counter() - t)
    return seconds[0], seconds[1], out[0] == out[1]


def run(quick: bool = False) -> list[Result]:
    scale = "small" if quick else "medium"
    before_s, after_s, same = _threshold_walk(*((60, 60, 15) if quick else (150, 60, 40)))
    results = [Result(
        name=f"event_scores, budget walk of {WORKLOAD_THRESHOLDS} thresholds", value=round(after_s, 3), unit="s",
        baseline_name="pre-change pandas event_scores", baseline_value=round(before_s, 3), passed=same,
        target="identical scores", notes="" if same else "SCORES DIFFER from the pre-change code",
    )]
    runs: dict[bool, list[dict]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        for pre_change in ORDER:
            runs[pre_change].append(_in_fresh_process(pre_change, scale, tmp))
    before, after = _fastest(runs[True]), _fastest(runs[False])
    differ = [d for b in runs[True] for a in runs[False] for d in _same_figures(b.get("models"), a.get("models"))]
    ok = all(r["status"] == "SUCCESS" for rs in runs.values() for r in rs) and not differ
    for stage in after["times"]:
        results.append(Result(name=f"one {scale} account (dev seed {SEED}): {stage}",
                              value=round(after["times"][stage], 1), unit="s", baseline_name="pre-change code",
                              baseline_value=round(before["times"][stage], 1)))
    total = Result(
        name=f"one {scale} account (dev seed {SEED}): all stages", value=round(after["seconds"], 1), unit="s",
        baseline_name="pre-change code", baseline_value=round(before["seconds"], 1),
        target="every model's figures identical to the pre-change code's", passed=ok,
        notes=("" if ok else f"DIFFERENT FIGURES at {differ[:5]}; ")
        + _projection(after["seconds"] / before["seconds"]),
    )
    results.append(total)
    return results


def _projection(ratio: float) -> str:
    """10 medium accounts: the last `make eval` wall time (EVALUATION.json) scaled by this run's
    all-stage ratio (the stages' shares under two contending workers are assumed unchanged)."""
    report = REPO / "EVALUATION.json"
    if not report.exists():
        return ""
    last = json.loads(report.read_text())
    wall = last["wall_seconds"] * ratio
    return (f"projected `evaluate --seeds {len(last['per_seed'])}` ({last['scale']}): "
            f"{last['wall_seconds'] / 60:.0f} min (last make eval) x {ratio:.2f} = {wall / 60:.0f} min "
            f"(target 30 min)")
