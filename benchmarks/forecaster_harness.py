"""Development harness for the eight forecasters: compare designs on several development seeds
in a minute or two, without training the other 17 models.

    python -m benchmarks.forecaster_harness prepare --seeds 11 13 21 42 --scale medium   # once
    python -m benchmarks.forecaster_harness run --seeds 11 13 21 42                       # per design

``prepare`` is the detector harness's (``benchmarks.detector_harness``: one generated account
per seed under ``benchmarks/.work/detectors/``, its feature tables kept as parquet), plus the
reliability table the detectors do not read. ``run`` recomputes each table's label-history
columns with the current code (a change to ``label_history`` needs no new account), then does
what training and evaluation do for a forecaster — fit on the training rows, the Champion
contest with the servable baselines (``training.choose_scorer``), the test-period evaluation
with every baseline (``evaluation._evaluate_forecaster``) — and prints per forecaster the test
MAPE of the ML model, of the shipped scorer and of the strongest baseline, and the ML margin
over that baseline (1 − MAPE_ml / MAPE_baseline), with mean and minimum over seeds.

Development seeds only (docs/models.md): never point it at an evaluation seed.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import pandas as pd

from benchmarks import detector_harness as dh

FORECASTERS = (
    "budget_forecaster",
    "job_cost_optimizer",
    "chargeback_attribution",
    "query_performance_forecaster",
    "cluster_capacity_planner",
    "job_duration_forecaster",
    "pipeline_health_scorer",
    "data_freshness_predictor",
)
EXTRA_TABLES = ("reliability_features",)


def prepare(seed: int, scale: str) -> None:
    dh.prepare(seed, scale)  # sets HEALTHMON_HOME to the account's workspace
    from healthmon.ml.models import io

    lh = io.backend()
    for t in EXTRA_TABLES:
        lh.read_table(f"{dh.CATALOG}.{dh.FEATURES}.{t}").to_parquet(dh._dir(seed, scale) / f"{t}.parquet")


def _table(seed: int, scale: str, name: str, cache: dict) -> pd.DataFrame:
    """The kept feature table with its label history recomputed by the current code."""
    if (seed, name) not in cache:
        import pyarrow as pa

        from healthmon.ml.features.label_history import append_label_history
        from healthmon.ml.models.spec import HISTORY_PREFIX

        frame = pd.read_parquet(dh._dir(seed, scale) / f"{name}.parquet")
        frame = frame[[c for c in frame.columns if not c.startswith(HISTORY_PREFIX)]]
        cache[(seed, name)] = append_label_history(pa.Table.from_pandas(frame, preserve_index=False), name).to_pandas()
    return cache[(seed, name)]


def evaluate(seed: int, scale: str, name: str, cache: dict) -> dict:
    """Train ``name`` on this account's kept table as training does; evaluate it on the test
    period as the evaluation does (shipped scorer, ML model alone, every baseline)."""
    from healthmon.ml.evaluation import _evaluate_forecaster
    from healthmon.ml.models import MODELS, baselines as bl, frames as fr
    from healthmon.ml.training import choose_scorer, prepare as prepare_rows

    spec = MODELS[name]
    frame = _table(seed, scale, spec.feature_table, cache)
    keys = [k for k in spec.keys if k in frame.columns]
    frame = frame.sort_values(keys, kind="stable").reset_index(drop=True)
    frame = frame[frame[spec.entity_key].notna() & frame[spec.date_key].notna()].reset_index(drop=True)
    data = prepare_rows(spec, frame, spec.feature_table)
    features, rows, y, periods, split = data["features"], data["rows"], data["y"], data["periods"], data["split"]
    train = periods == "train"
    if train.sum() > spec.max_train_rows:  # as training subsamples
        keep = np.random.default_rng(42).choice(np.flatnonzero(train), spec.max_train_rows, replace=False)
        train = np.zeros(len(periods), bool)
        train[keep] = True
    X_train = fr.clean_features(rows.loc[train], features)
    model = spec.build(features).fit(X_train, y[train].astype(float))
    shipped, algorithm, contest = choose_scorer(spec, model, rows, y, periods, features, X_train)

    all_periods = split.period(frame[spec.date_key]).to_numpy()
    labels = fr.derive_labels(spec, frame).to_numpy(dtype=float)
    fitted = [b.fit(bl.Context(spec, frame, labels, all_periods, list(features))) for b in spec.baselines]
    keep = (all_periods == "test") & ~np.isnan(labels)
    X = fr.clean_features(frame.loc[keep], features)
    res = _evaluate_forecaster(spec, shipped, frame, labels, keep, X, fitted)
    alone = res if shipped is model else _evaluate_forecaster(spec, model, frame, labels, keep, X, fitted)
    return {
        "ml": alone.get("value"),
        "shipped": res.get("value"),
        "algorithm": algorithm,
        "baseline": res.get("best_baseline_value"),
        "baseline_name": res.get("best_baseline"),
        "ml_margin": alone.get("margin"),
        "validation_margin": contest.get("selection_ml_margin_over_baseline"),
        "validation_se": contest.get("selection_ml_margin_standard_error"),
        "baselines": {k: v["value"] for k, v in res.get("baselines", {}).items()},
    }


def run(seeds, scale: str, names, out: str | None = None) -> dict:
    cache: dict = {}
    results: dict = {}
    for name in names:
        per = {s: evaluate(s, scale, name, cache) for s in seeds}
        results[name] = per
        print(f"\n== {name}")
        for s, r in per.items():
            print(
                f"  seed {s:>4}: ml {_f(r['ml'])} shipped {_f(r['shipped'])} [{r['algorithm']}]"
                f" best baseline {_f(r['baseline'])} {r['baseline_name']}; ml margin {_p(r['ml_margin'])}"
                f" (validation {_p(r['validation_margin'])} ± {_p(r['validation_se'])})"
            )
        for key in ("ml", "shipped", "baseline", "ml_margin"):
            v = np.array([np.nan if r[key] is None else r[key] for r in per.values()], float)
            fmt = _p if key == "ml_margin" else _f
            print(f"  {key:>9}: mean {fmt(np.nanmean(v))} min {fmt(np.nanmin(v))} max {fmt(np.nanmax(v))}")
        print(f"  ships ML on {sum(not r['algorithm'].startswith('baseline:') for r in per.values())}/{len(per)}")
    if out:
        with open(out, "w") as fh:
            json.dump(results, fh, indent=1, default=float)
    return results


def _f(v) -> str:
    return "  n/a" if v is None or v != v else f"{v:6.2f}"


def _p(v) -> str:
    return "  n/a" if v is None or v != v else f"{100 * v:+.1f} %"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=("prepare", "run"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[11, 13, 21, 42])
    ap.add_argument("--scale", default="medium")
    ap.add_argument("--models", nargs="+", default=list(FORECASTERS))
    ap.add_argument("--out", help="write the per-seed figures as JSON here")
    args = ap.parse_args()
    if args.command == "prepare":
        for s in args.seeds:
            prepare(s, args.scale)
    else:
        os.environ.setdefault("HEALTHMON_HOME", str(dh.WORK / "home"))
        run(args.seeds, args.scale, args.models, args.out)


if __name__ == "__main__":
    main()
