"""Development harness for the budgeted detectors: compare designs on several development seeds
in about a minute, without training the other 22 models.

    python -m benchmarks.detector_harness prepare --seeds 11 13 21 --scale medium   # once, minutes
    python -m benchmarks.detector_harness run --seeds 11 13 21                        # per design

``prepare`` generates each account in its own workspace under ``benchmarks/.work/detectors/``
(gitignored), builds the feature tables and keeps the detectors' tables and the ground truth as
parquet. ``run`` then does what training and evaluation do for a detector — fit on the training
rows, the false-alarm budget on validation, the Champion contest with the servable baselines
(``training.choose_detector``), and the test-period evaluation with every baseline
(``evaluation._evaluate_detector``) — and prints per detector the test detection F1 of the shipped
scorer, of the detector itself, and of the strongest baseline, with mean and minimum over seeds.

Development seeds only (docs/models.md): never point it at an evaluation seed.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd

DEV_SEEDS = (11, 13, 21, 42, 99, 555, 1234)
WORK = Path(__file__).resolve().parent / ".work" / "detectors"
TABLES = ("cost_features", "security_features", "quality_features", "performance_features")
DETECTORS = (
    "cost_anomaly_detector",
    "data_drift_detector",
    "privilege_escalation_detector",
    "security_threat_detector",
    "exfiltration_detector",
    "user_behavior_baseline",
    "performance_regression_detector",
)
CATALOG, GOLD, FEATURES = "dev_catalog", "gold", "gold_ml"


def _dir(seed: int, scale: str) -> Path:
    return WORK / f"{scale}_{seed}"


def prepare(seed: int, scale: str) -> None:
    if seed not in DEV_SEEDS:
        raise SystemExit(f"seed {seed} is not a development seed ({', '.join(map(str, DEV_SEEDS))})")
    out = _dir(seed, scale)
    home = out / "home"
    home.mkdir(parents=True, exist_ok=True)
    os.environ["HEALTHMON_HOME"] = str(home)
    from healthmon.demodata.generator import generate
    from healthmon.ml.features import create_feature_tables
    from healthmon.ml.models import io

    generate(CATALOG, GOLD, seed=seed, scale=scale)
    create_feature_tables(CATALOG, GOLD, FEATURES)
    lh = io.backend()
    for t in TABLES:
        lh.read_table(f"{CATALOG}.{FEATURES}.{t}").to_parquet(out / f"{t}.parquet")
    lh.read_table(f"{CATALOG}.{GOLD}.ground_truth_incidents").to_parquet(out / "incidents.parquet")


def evaluate(seed: int, scale: str, name: str) -> dict:
    """Train ``name`` on this account's kept tables as training does, evaluate it on the test
    period as the evaluation does (shipped scorer, detector alone, every baseline)."""
    from healthmon.ml.evaluation import _evaluate_detector, incidents_for
    from healthmon.ml.models import MODELS, frames as fr
    from healthmon.ml.training import choose_detector, prepare as prepare_rows

    spec = MODELS[name]
    d = _dir(seed, scale)
    frame = pd.read_parquet(d / f"{spec.feature_table}.parquet")
    keys = [k for k in spec.keys if k in frame.columns]
    frame = frame.sort_values(keys, kind="stable").reset_index(drop=True)
    raw = pd.read_parquet(d / "incidents.parquet")
    data = prepare_rows(spec, frame, spec.feature_table)
    features, rows, periods, split = data["features"], data["rows"], data["periods"], data["split"]
    train = periods == "train"
    X_train = fr.clean_features(rows.loc[train], features)
    model = spec.build(features).fit(X_train)
    dates = pd.to_datetime(rows[spec.date_key]).dt.normalize()
    inc = incidents_for(raw, spec.domain, dates.min(), dates.max())
    known = inc[inc["start"] < split.test_start].reset_index(drop=True)
    shipped, algorithm, contest = choose_detector(spec, model, rows, periods, features, X_train, known)
    res = _evaluate_detector(spec, shipped, rows, periods, features, raw)
    alone = res if shipped is model else _evaluate_detector(spec, model, rows, periods, features, raw)
    base = {k: v.get("value") for k, v in res["baselines"].items()}
    best = max(((v, k) for k, v in base.items() if v is not None), default=(None, None))
    return {
        "shipped": res.get("value"),
        "algorithm": algorithm,
        "detector": alone.get("value"),
        "detector_val": contest.get("candidate_ml_validation_f1"),
        "baseline": best[0],
        "baseline_name": best[1],
        "recall_by_kind": {k: f"{v['detected']}/{v['incidents']}" for k, v in alone.get("recall_by_kind", {}).items()},
        "false_per_entity_week": alone.get("false_events_per_entity_week"),
    }


def run(seeds, scale: str, names) -> None:
    for name in names:
        per = {s: evaluate(s, scale, name) for s in seeds}
        print(f"\n== {name}")
        for s, r in per.items():
            print(
                f"  seed {s:>4}: detector {_f(r['detector'])} (val {_f(r['detector_val'])}), shipped {_f(r['shipped'])}"
                f" [{r['algorithm']}], best baseline {_f(r['baseline'])} {r['baseline_name']},"
                f" false/entity-week {_f(r['false_per_entity_week'])}"
            )
            print(f"        recall {r['recall_by_kind']}")
        for key in ("detector", "shipped", "baseline"):
            v = np.array([np.nan if r[key] is None else r[key] for r in per.values()], float)
            print(f"  {key:>9}: mean {_f(np.nanmean(v))} min {_f(np.nanmin(v))}")


def _f(v) -> str:
    return "  n/a" if v is None or v != v else f"{v:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=("prepare", "run"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[11, 13, 21])
    ap.add_argument("--scale", default="medium")
    ap.add_argument("--models", nargs="+", default=list(DETECTORS))
    ap.add_argument("--combine", help="the combination rule of every detector (default: the design's)")
    ap.add_argument("--budget", type=float, help="false events per entity-month (default: the design's)")
    ap.add_argument("--rule", help="where within the budget the threshold sits (baselines.THRESHOLD_RULES;"
                                   " default: the design's)")
    args = ap.parse_args()
    for key, value in (("false_events_per_entity_month", args.budget), ("threshold_rule", args.rule)):
        if value is not None:
            from healthmon.ml.models import MODELS

            for name in args.models:
                MODELS[name].hyperparameters[key] = value
    if args.combine is not None:
        from healthmon.ml.models import MODELS, detectors

        for name in args.models:
            object.__setattr__(MODELS[name], "factory", detectors.factory(name, combine=args.combine))
    if args.command == "prepare":
        for s in args.seeds:
            prepare(s, args.scale)
    else:
        run(args.seeds, args.scale, args.models)


if __name__ == "__main__":
    main()
