"""Development harness for the supervised models (forecasters, binary and multiclass
classifiers): compare designs of the model or of the Champion contest on several development
seeds without running the whole pipeline.

    python -m benchmarks.supervised_harness prepare --seeds 11 13 21 42 --scale medium   # once
    python -m benchmarks.supervised_harness run --seeds 11 13 21 42                       # per design
    python -m benchmarks.supervised_harness run --records --out r.json ...                # selection rules:
    python -m benchmarks.supervised_harness replay --replay r.json --rules validation split_recent13

``prepare`` keeps what the detector harness (``benchmarks.detector_harness``) does not: the
reliability feature table and the gold tables a gold-enriched label reads (as parquet, beside
the account's other tables under ``benchmarks/.work/detectors/``); an account that the detector
harness has not generated yet is generated first. ``run`` recomputes each table's label-history
columns with the current code (a change to ``label_history`` needs no new account), then does
what training and evaluation do for a supervised model — fit on the training rows, the
Champion contest with the servable baselines (``training.choose_scorer``), the test-period
evaluation with every baseline (``evaluation._evaluate_forecaster`` / ``_evaluate_classifier``)
— and prints per model the test figure of the shipped scorer, of the ML model and of the
strongest baseline, which scorer shipped, and the shipped scorer's margin over the strongest
baseline (1 − MAPE ratio for forecasters, AUC difference for classifiers; negative = a
shortfall) with its entity-bootstrap standard error on the test rows; then per model the
mean and worst margin over seeds and on how many seeds the shipped scorer is within one
standard error of the strongest baseline (``summary``). ``run --records`` also keeps what any selection rule could read
before the test period (every candidate's figures on several records, the paired margins on
validation); ``replay`` then compares selection rules on those same fitted models in seconds
(``split_recent13`` is the rule ``training.choose_scorer`` implements).

Development seeds only (docs/models.md): never point it at an evaluation seed.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

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
CLASSIFIERS = (
    "commitment_recommender",
    "dbr_migration_risk_scorer",
    "cache_hit_predictor",
    "query_optimization_recommender",
    "job_failure_predictor",
    "sla_breach_predictor",
    "retry_success_predictor",
    "schema_change_predictor",
    "warehouse_optimizer",
)
SUPERVISED = FORECASTERS + CLASSIFIERS
EXTRA_TABLES = ("reliability_features",)


def prepare(seed: int, scale: str) -> None:
    """Keep this account's extra tables; generate the account first when it does not exist."""
    out = dh._dir(seed, scale)
    if not (out / "home").is_dir():
        dh.prepare(seed, scale)
    os.environ["HEALTHMON_HOME"] = str(out / "home")
    from healthmon.ml.models import MODELS, io

    lh = io.backend()
    for t in EXTRA_TABLES:
        lh.read_table(f"{dh.CATALOG}.{dh.FEATURES}.{t}").to_parquet(out / f"{t}.parquet")
    read = io.gold_reader(lh, dh.CATALOG, dh.GOLD, model="supervised harness")
    for spec in MODELS.values():
        if spec.enrich is not None and spec.name in SUPERVISED:
            # Run the enrichment once with a reader that keeps every gold table it asks for.
            def keep(table: str) -> pd.DataFrame:
                frame = read(table)
                frame.to_parquet(out / f"gold_{table}.parquet")
                return frame

            spec.enrich(pd.read_parquet(out / f"{spec.feature_table}.parquet"), keep)


def _gold(seed: int, scale: str):
    return lambda table: pd.read_parquet(dh._dir(seed, scale) / f"gold_{table}.parquet")


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


def _test_outputs(spec, scorers: dict, frame, labels, keep, X, fitted) -> tuple[np.ndarray, np.ndarray, dict]:
    """(labels, entities, output per candidate) on the test rows the evaluation compares: for
    forecasters the rows where every baseline has a value, for classifiers every labelled row
    (a missing baseline score is its median; a multiclass rule's class is one-hot)."""
    y = labels[keep]
    entities = frame.loc[keep, spec.entity_key].astype(str).to_numpy()
    out = {}
    for b in fitted:
        out[bl_label(b)] = np.asarray(b.score(frame), float)[keep]
    same = np.ones(len(y), bool)
    if spec.kind == "regression":
        for v in out.values():
            same &= np.isfinite(v)
    for name, scorer in scorers.items():
        out[name] = (np.asarray(scorer.predict(X), float) if spec.kind == "regression"
                     else np.asarray(scorer.predict_proba(X), float))
    classes = list(scorers["ml"].classes_) if spec.kind != "regression" else None
    for name, v in out.items():
        if spec.kind == "binary":
            v = v[:, -1] if v.ndim == 2 else v
            out[name] = np.where(np.isfinite(v), v, np.nanmedian(v) if np.isfinite(v).any() else 0.0)
        elif spec.kind == "multiclass" and v.ndim == 1:
            out[name] = np.column_stack([(v == c).astype(float) for c in classes])
        out[name] = out[name][same]
    return y[same], entities[same], out


def bl_label(b) -> str:
    from healthmon.ml.models import baselines as bl

    return bl.baseline_label(b)


def evaluate(seed: int, scale: str, name: str, cache: dict, records: bool = False) -> dict:
    """Train ``name`` on this account's kept table as training does; evaluate it on the test
    period as the evaluation does (shipped scorer, ML model alone, every baseline)."""
    from healthmon.ml.evaluation import _evaluate_classifier, _evaluate_forecaster, margin
    from healthmon.ml.models import MODELS, baselines as bl, frames as fr
    from healthmon.ml.models.metrics import paired_entity_bootstrap
    from healthmon.ml.training import choose_scorer, prepare as prepare_rows

    spec = MODELS[name]
    forecast = spec.kind == "regression"
    frame = _table(seed, scale, spec.feature_table, cache)
    keys = [k for k in spec.keys if k in frame.columns]
    frame = frame.sort_values(keys, kind="stable").reset_index(drop=True)
    frame = frame[frame[spec.entity_key].notna() & frame[spec.date_key].notna()].reset_index(drop=True)
    read_gold = _gold(seed, scale)
    data = prepare_rows(spec, frame, spec.feature_table, read_gold)
    features, rows, y, periods, split = data["features"], data["rows"], data["y"], data["periods"], data["split"]
    if not forecast:
        y = y.astype(int)
    train = periods == "train"
    if train.sum() > spec.max_train_rows:  # as training subsamples
        keep = np.random.default_rng(42).choice(np.flatnonzero(train), spec.max_train_rows, replace=False)
        train = np.zeros(len(periods), bool)
        train[keep] = True
    X_train = fr.clean_features(rows.loc[train], features)
    model = spec.build(features).fit(X_train, y[train])
    shipped, algorithm, contest = choose_scorer(spec, model, rows, y, periods, features, X_train)

    all_periods = split.period(frame[spec.date_key]).to_numpy()
    labelled = spec.enrich(frame, read_gold) if spec.enrich else frame
    labels = fr.derive_labels(spec, labelled).to_numpy(dtype=float)
    fitted = [b.fit(bl.Context(spec, frame, labels, all_periods, list(features))) for b in spec.baselines]
    keep = (all_periods == "test") & ~np.isnan(labels)
    X = fr.clean_features(frame.loc[keep], features)
    evaluate_kind = _evaluate_forecaster if forecast else _evaluate_classifier
    res = evaluate_kind(spec, shipped, frame, labels, keep, X, fitted)
    alone = res if shipped is model else evaluate_kind(spec, model, frame, labels, keep, X, fitted)
    result = {
        "ml": alone.get("value"),
        "shipped": res.get("value"),
        "algorithm": algorithm,
        "baseline": res.get("best_baseline_value"),
        "baseline_name": res.get("best_baseline"),
        "ml_margin": alone.get("margin"),
        "shipped_margin": None,
        "shipped_margin_se": None,
        "validation_margin": contest.get("selection_ml_margin_over_baseline"),
        "validation_se": contest.get("selection_ml_margin_standard_error"),
        "baselines": {k: v["value"] for k, v in res.get("baselines", {}).items()},
        "contest": contest,
    }
    if res.get("value") is not None and res.get("best_baseline") is not None:
        yt, entities, out = _test_outputs(spec, {"ml": model, "shipped": shipped}, frame, labels, keep, X, fitted)
        classes = list(model.classes_) if not forecast else None
        result["shipped_margin"] = margin(res["value"], res["best_baseline_value"], forecast)
        result["shipped_margin_se"] = paired_entity_bootstrap(
            spec.kind, yt, out["shipped"], out[res["best_baseline"]], entities, classes=classes
        )[1]
        if records:
            result["candidates"] = candidate_records(spec, model, rows, y, periods, features, X_train)
            for label, rec in result["candidates"].items():
                name = "ml" if label == "ml" else label.removeprefix("baseline:")
                value = alone.get("value") if name == "ml" else result["baselines"].get(name)
                rec["test"] = value
                rec["test_margin"] = None if value is None else margin(value, res["best_baseline_value"], forecast)
                rec["test_margin_se"] = paired_entity_bootstrap(
                    spec.kind, yt, out[name], out[res["best_baseline"]], entities, classes=classes
                )[1] if name in out else None
    return result


RECORD_WEEKS = (4, 8, 13)


def candidate_records(spec, model, rows, y, periods, features, X_train) -> dict:
    """What any selection rule could read before the test period, per candidate (the ML model
    and each servable baseline): its figure on the validation period, on the validation period
    plus the last N weeks of training (N in ``RECORD_WEEKS``) and on the whole record; for the
    baselines, the paired margin and standard error of the validation-best baseline over it and
    of the ML model over it (validation). ``simulate`` replays selection rules on these."""
    from healthmon.ml.models import baselines as bl
    from healthmon.ml.models.baseline_estimator import BaselineEstimator
    from healthmon.ml.models.metrics import paired_entity_bootstrap
    from healthmon.ml.training import _scorer_output, matrix, period_metrics, recent_record, selection_metric

    forecast = spec.kind == "regression"
    classes = tuple(getattr(model, "classes_", (0, 1)))
    train, val = periods == "train", periods == "validation"
    masks = {"validation": val, "history": train | val}
    for w in RECORD_WEEKS:
        masks[f"recent{w}"] = recent_record(rows[spec.date_key], periods, w)

    def figure(est, mask) -> float:
        scores = period_metrics(spec, est, matrix(rows.loc[mask], features), y[mask])
        return scores.get("mape", np.nan) if forecast else selection_metric(spec, scores)[1]

    ests = {"ml": model}
    ctx = bl.Context(spec, rows, np.asarray(y, float), periods, features)
    for b in bl.servable([b.fit(ctx) for b in spec.baselines], features):
        ests[f"baseline:{bl.baseline_label(b)}"] = BaselineEstimator(b, features, spec.kind, classes).fit(X_train)
    recs = {k: {m: figure(e, mask) for m, mask in masks.items()} for k, e in ests.items()}
    X_val, ents = matrix(rows.loc[val], features), rows.loc[val, spec.entity_key].to_numpy()
    outs = {k: _scorer_output(spec, e, X_val) for k, e in ests.items()}
    finite = [k for k in recs if k != "ml" and recs[k]["validation"] == recs[k]["validation"]]
    if not finite:
        return recs
    best = (min if forecast else max)(finite, key=lambda k: recs[k]["validation"])
    for k in finite:
        recs[k]["best_over_it"] = paired_entity_bootstrap(spec.kind, y[val], outs[best], outs[k], ents, classes=classes)
        recs[k]["ml_over_it"] = paired_entity_bootstrap(spec.kind, y[val], outs["ml"], outs[k], ents, classes=classes)
    return recs


def run(seeds, scale: str, names, out: str | None = None, records: bool = False) -> dict:
    cache: dict = {}
    results: dict = {}
    for name in names:
        per = {}
        print(f"\n== {name}", flush=True)
        for s in seeds:
            r = per[s] = evaluate(s, scale, name, cache, records)
            print(
                f"  seed {s:>4}: shipped {_f(r['shipped'])} [{r['algorithm']}] ml {_f(r['ml'])}"
                f" best baseline {_f(r['baseline'])} {r['baseline_name']}; margin {_p(r['shipped_margin'])}"
                f" ± {_p(r['shipped_margin_se'])}", flush=True,
            )
        results[name] = per
        _print_summary(name, per)
    if out:
        with open(out, "w") as fh:
            json.dump({n: {str(s): r for s, r in per.items()} for n, per in results.items()}, fh, indent=1,
                      default=float)
    return results


def _challenger(recs: dict, rule: str, forecast: bool) -> str | None:
    """The baseline a selection rule sets against the ML model. ``<record>``: the best figure on
    that record; ``se_<record>``: among the baselines within one validation standard error of
    the validation-best one, the best figure on that record."""
    from healthmon.ml.models.metrics import clearly_better

    pick = min if forecast else max
    contenders = [k for k in recs if "best_over_it" in recs[k]]
    record = rule.removeprefix("se_")
    if rule.startswith("se_"):
        contenders = [k for k in contenders if not clearly_better(*recs[k]["best_over_it"])]
    contenders = [k for k in contenders if recs[k][record] == recs[k][record]] or contenders
    return pick(contenders, key=lambda k: recs[k][record]) if contenders else None


def simulate(results: dict, rule: str) -> dict:
    """Replay a selection rule on recorded candidates (``run --records``): per model and seed,
    the shipped candidate and its test margin over the strongest baseline, as ``run`` reports."""
    from healthmon.ml.models import MODELS
    from healthmon.ml.models.metrics import clearly_better

    out: dict = {}
    for name, per in results.items():
        forecast = MODELS[name].kind == "regression"
        out[name] = {}
        for seed, r in per.items():
            recs = r.get("candidates") or {}
            # ``<rule>``: the ML model must clearly beat the rule's pick; ``split_<rule>``: it must
            # clearly beat the validation-best rule, and when it does not, the rule's pick ships.
            pick = _challenger(recs, rule.removeprefix("split_"), forecast)
            judge = _challenger(recs, "validation", forecast) if rule.startswith("split_") else pick
            shipped = "ml" if judge is None or clearly_better(*recs[judge]["ml_over_it"]) else pick
            rec = recs.get(shipped, {})
            out[name][seed] = {"algorithm": "ml" if shipped == "ml" else shipped,
                               "shipped_margin": rec.get("test_margin"), "shipped_margin_se": rec.get("test_margin_se")}
    return out


def summary(per: dict) -> dict:
    """Mean and worst margin of the shipped scorer against the strongest baseline over
    seeds, and on how many seeds it is within one test standard error of it (or better)."""
    v = np.array([np.nan if r["shipped_margin"] is None else r["shipped_margin"] for r in per.values()], float)
    se = np.array([np.nan if r["shipped_margin_se"] is None else r["shipped_margin_se"] for r in per.values()], float)
    ok = np.isfinite(v)
    return {
        "mean_margin": float(np.mean(v[ok])) if ok.any() else None,
        "worst_margin": float(np.min(v[ok])) if ok.any() else None,
        "within_noise": int(np.sum(v[ok] >= -np.nan_to_num(se[ok]))),
        "seeds": int(ok.sum()),
        "ships_ml": sum(not r["algorithm"].startswith("baseline:") for r in per.values()),
    }


def replay(path: Path, rules: list[str]) -> None:
    """Print per model, for each rule, the mean and worst margin of the scorer it would ship
    (over the strongest baseline on test), on how many seeds that is within noise, and the mean
    shortfall (the margin's negative part), from a ``run --records`` file."""
    from healthmon.ml.models import MODELS

    results = json.loads(path.read_text())
    replays = {rule: simulate(results, rule) for rule in rules}
    print(f"{'model':32}" + "".join(f"{rule:>34}" for rule in rules))
    for name in results:
        line = f"{name:32}"
        for rule in rules:
            s = summary(replays[rule][name])
            noise = f"{s['within_noise']}/{s['seeds']}"
            line += f"{_p(s['mean_margin']):>9} {_p(s['worst_margin']):>9} {noise} ml {s['ships_ml']}"
        print(line)
    for rule in rules:
        for kind, kinds in (("forecasters", ("regression",)), ("classifiers", ("binary", "multiclass"))):
            per_model = [replays[rule][n] for n in results if MODELS[n].kind in kinds]
            sums = [summary(p) for p in per_model]
            shortfall = [np.mean([max(0.0, -r["shipped_margin"]) for r in p.values() if r["shipped_margin"] is not None]
                                 or [0.0]) for p in per_model]
            print(f"{rule:>20} {kind}: mean margin {_p(np.mean([s['mean_margin'] or 0.0 for s in sums]))},"
                  f" mean shortfall {_p(np.mean(shortfall))}, within noise on"
                  f" {sum(s['within_noise'] for s in sums)}/{sum(s['seeds'] for s in sums)}")


def _print_summary(name: str, per: dict) -> None:
    s = summary(per)
    print(
        f"  {name}: margin mean {_p(s['mean_margin'])} worst {_p(s['worst_margin'])};"
        f" within noise of the strongest baseline on {s['within_noise']}/{s['seeds']}; ships ML on"
        f" {s['ships_ml']}/{len(per)}", flush=True,
    )


def _f(v) -> str:
    return "  n/a" if v is None or v != v else f"{v:6.3f}"


def _p(v) -> str:
    return "  n/a" if v is None or v != v else f"{100 * v:+.1f} %"


def main(default_models=SUPERVISED, doc: str | None = None) -> None:
    ap = argparse.ArgumentParser(description=(doc or __doc__).splitlines()[0])
    ap.add_argument("command", choices=("prepare", "run", "replay"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[11, 13, 21, 42])
    ap.add_argument("--scale", default="medium")
    ap.add_argument("--models", nargs="+", default=list(default_models))
    ap.add_argument("--out", type=Path, help="write the per-seed figures as JSON here")
    ap.add_argument("--records", action="store_true", help="also record every candidate's pre-test figures")
    ap.add_argument("--replay", type=Path, help="replay: the JSON of a `run --records`")
    ap.add_argument("--rules", nargs="+", default=["validation", "split_recent13"],
                    help="replay: selection rules (validation, recentN, history, se_<record>, split_<rule>)")
    args = ap.parse_args()
    if args.command == "prepare":
        for s in args.seeds:
            prepare(s, args.scale)
    elif args.command == "replay":
        replay(args.replay, args.rules)
    else:
        os.environ.setdefault("HEALTHMON_HOME", str(dh.WORK / "home"))
        run(args.seeds, args.scale, args.models, args.out, args.records)


if __name__ == "__main__":
    main()
