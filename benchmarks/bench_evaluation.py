"""Multi-seed model evaluation: wall time of `healthmon evaluate --seeds N` (target: 10 medium
accounts within 30 minutes on 2 cores), against the serial sum of its accounts' own times
measured in the same run (the ratio is what the two worker processes save).

    python -m benchmarks.run evaluation          # 10 medium accounts (~30 min): the real figure
    python -m benchmarks.run evaluation --quick  # 2 small accounts, a smoke check
    python -m benchmarks.bench_evaluation --from EVALUATION.json
        # the figures of a finished `make eval` run, without running it again
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from benchmarks.run import RESULTS_DIR, Result

TARGET_SECONDS = 30 * 60


def results_from_report(report: dict) -> list[Result]:
    seeds = report["per_seed"]
    n, scale = len(seeds), report["scale"]
    serial = sum(r.get("seconds") or 0.0 for r in seeds)
    phases: dict[str, float] = {}
    for r in seeds:
        for k, v in (r.get("times") or {}).items():
            phases[k] = phases.get(k, 0.0) + v
    ok = sum(r.get("status") == "SUCCESS" for r in seeds)
    full = n >= 10 and scale == "medium"
    budget = TARGET_SECONDS * n / 10  # the target's rate: 10 medium accounts per 30 minutes
    out = [Result(
        name=f"evaluate --seeds {n} ({scale}), {report['workers']} workers", value=round(report["wall_seconds"], 1), unit="s",
        baseline_name="sum of the accounts' own times (serial)", baseline_value=round(serial, 1),
        target=f"<= {budget:.0f} s ({TARGET_SECONDS} s per 10 medium accounts)" if full else None,
        passed=(report["wall_seconds"] <= budget and ok == n) if full else None,
        notes=(f"INCOMPLETE: {len(report['not_finished'])} of {len(report.get('drawn', []))} drawn accounts did not finish; "
               if report.get("not_finished") else "")
              + f"{ok} of {n} accounts succeeded; 5-min load average before/after {report.get('load_average_5min')}; "
              "per-account phases (mean s): "
              + ", ".join(f"{k} {v / max(n, 1):.0f}" for k, v in phases.items()),
        extra={"seeds": report["seeds"]},
    )]
    return out


def run(quick: bool = False) -> list[Result]:
    from healthmon.ml.evaluation_seeds import draw_seeds, evaluate_seeds

    n, scale = (2, "small") if quick else (10, "medium")
    with tempfile.TemporaryDirectory() as tmp:
        report = evaluate_seeds(draw_seeds(n), scale=scale, workers=2, output=Path(tmp) / "EVALUATION.md",
                                json_path=Path(tmp) / "evaluation.json", workdir=tmp)
    return results_from_report(report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--from", dest="source", required=True, help="JSON written by `healthmon evaluate --seeds`")
    args = parser.parse_args(argv)
    import datetime as dt
    import os
    import platform

    report = json.loads(Path(args.source).read_text())
    results = results_from_report(report)
    results[0].extra["_meta"] = {"when": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                                 "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"}
    (RESULTS_DIR / "evaluation.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    print(f"wrote {RESULTS_DIR / 'evaluation.json'}: {results[0].value:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
