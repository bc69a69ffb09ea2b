"""Measure the MLflow store under concurrent training processes.

One *round* starts N processes at once; each configures MLflow on the workspace store, logs a
run (params, metrics, tags, a scikit-learn model with signature and input example), registers
it under a three-level name and sets an alias. A round reports how many processes failed and how
many "database is locked" errors were seen (retried or not).

    python -m healthmon.lakehouse.registry_stress --processes 25 --rounds 20 [--raw]

``--raw`` uses plain MLflow calls (no healthmon retries) to show what the retries buy.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

MODEL = "stress.models.classifier"


def _worker(index: int, raw: bool) -> None:
    import logging

    import mlflow
    import numpy as np
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    from healthmon.lakehouse import registry

    lock_errors = 0
    original = registry._is_lock_error

    def counting(exc):
        nonlocal lock_errors
        hit = original(exc)
        lock_errors += hit
        return hit

    registry._is_lock_error = counting
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    registry.configure_mlflow()
    X = np.random.default_rng(index).normal(size=(50, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = LogisticRegression().fit(X, y)
    if raw:
        mlflow.set_experiment("/Shared/registry_stress")
    else:
        registry.set_experiment("/Shared/registry_stress")
    with mlflow.start_run(run_name=f"worker-{index}") as run:
        mlflow.log_params({"C": 1.0, "worker": index})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.set_tag("stress", "yes")
        info = mlflow.sklearn.log_model(
            clf, name="model", signature=infer_signature(X, clf.predict(X)), input_example=X[:2],
            pip_requirements=["scikit-learn"],  # skip requirement inference (a subprocess per model)
        )
    if raw:
        mv = mlflow.register_model(info.model_uri, MODEL)
        mlflow.MlflowClient().set_registered_model_alias(MODEL, "Challenger", mv.version)
    else:
        mv = registry.register_model(info.model_uri, MODEL)
        registry.set_alias(MODEL, "Challenger", mv.version)
    print(
        json.dumps(
            {"worker": index, "run_id": run.info.run_id, "version": int(mv.version), "lock_errors_retried": lock_errors}
        )
    )


def run_round(processes: int, raw: bool = False, env: dict | None = None) -> dict:
    """Start ``processes`` workers at once; wait; count failures and lock errors."""
    env = dict(env or os.environ)
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "healthmon.lakehouse.registry_stress", "--worker", str(i)]
            + (["--raw"] if raw else []),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for i in range(processes)
    ]
    failures, locked, retried, versions, errors = 0, 0, 0, [], []
    for p in procs:
        out, err = p.communicate(timeout=900)
        text = out.decode() + err.decode()
        locked += text.lower().count("database is locked") if p.returncode != 0 else 0
        if p.returncode != 0:
            failures += 1
            errors.append(err.decode().strip().splitlines()[-1] if err.strip() else f"exit {p.returncode}")
            continue
        line = json.loads(out.decode().strip().splitlines()[-1])
        versions.append(line["version"])
        retried += line["lock_errors_retried"]
    return {
        "processes": processes,
        "failures": failures,
        "lock_failures": locked,
        "lock_errors_retried": retried,
        "distinct_versions": len(set(versions)),
        "seconds": time.perf_counter() - t0,
        "errors": errors[:5],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", type=int)
    parser.add_argument("--raw", action="store_true")
    parser.add_argument("--processes", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    if args.worker is not None:
        _worker(args.worker, args.raw)
        return 0
    total_fail = 0
    for r in range(args.rounds):
        res = run_round(args.processes, args.raw)
        total_fail += res["failures"]
        print(json.dumps({"round": r, **res}), flush=True)
    return 1 if total_fail else 0


if __name__ == "__main__":
    sys.exit(main())
