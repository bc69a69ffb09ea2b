"""Run every benchmark and write BENCHMARKS.md.

Each ``benchmarks/bench_<area>.py`` exposes ``run(quick: bool) -> list[Result]``. A result
compares a measurement with a baseline measured in the same run (a ratio) and/or a target.

    python -m benchmarks.run              # all areas
    python -m benchmarks.run bundle jobs  # some areas
    python -m benchmarks.run --quick      # smaller sizes, for a smoke check
    python -m benchmarks.run --render-only  # BENCHMARKS.md from benchmarks/results/*.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent
OUT = ROOT.parent / "BENCHMARKS.md"
RESULTS_DIR = ROOT / "results"


@dataclass
class Result:
    name: str
    value: float
    unit: str
    baseline_name: str | None = None
    baseline_value: float | None = None
    target: str | None = None  # human-readable, e.g. "<= 0.5 s"
    passed: bool | None = None
    notes: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline_value:
            return self.value / self.baseline_value
        return None


def discover() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in ROOT.glob("bench_*.py"))


def render(area_results: dict[str, list[Result]]) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m benchmarks.run`). Each figure is measured in one run, on the",
        "machine named below, next to a baseline measured in the same run where one applies.",
        "Areas not re-run keep their last results (from `benchmarks/results/<area>.json`).",
        "",
    ]
    for area, results in sorted(area_results.items()):
        meta = results[0].extra.get("_meta", {}) if results else {}
        lines += [f"## {area}", ""]
        if meta:
            lines += [f"_Measured {meta.get('when', '?')} on {meta.get('machine', '?')}._", ""]
        lines += ["| benchmark | value | baseline | ratio | target | met |", "|---|---|---|---|---|---|"]
        for r in results:
            base = f"{r.baseline_name}: {r.baseline_value:.4g} {r.unit}" if r.baseline_value is not None else ""
            ratio = f"{r.ratio:.2f}×" if r.ratio is not None else ""
            met = {True: "yes", False: "**no**", None: ""}[r.passed]
            lines.append(f"| {r.name} | {r.value:.4g} {r.unit} | {base} | {ratio} | {r.target or ''} | {met} |")
        notes = [f"- {r.name}: {r.notes}" for r in results if r.notes]
        if notes:
            lines += [""] + notes
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("areas", nargs="*")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--render-only", action="store_true", help="rewrite BENCHMARKS.md from the stored results")
    args = parser.parse_args(argv)
    areas = [] if args.render_only else args.areas or discover()
    RESULTS_DIR.mkdir(exist_ok=True)
    meta = {
        "when": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    for area in areas:
        module = importlib.import_module(f"benchmarks.bench_{area}")
        print(f"== {area}", flush=True)
        results = module.run(quick=args.quick)
        for r in results:
            ratio = f"  ratio {r.ratio:.2f}x vs {r.baseline_name}" if r.ratio is not None else ""
            print(f"  {r.name}: {r.value:.4g} {r.unit}{ratio}  target {r.target or '-'}  met={r.passed}", flush=True)
        if not results:
            continue  # skipped (e.g. what it compares against is not installed): the stored results stay
        results[0].extra["_meta"] = meta
        (RESULTS_DIR / f"{area}.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    all_results = {}
    for path in sorted(RESULTS_DIR.glob("*.json")):
        all_results[path.stem] = [Result(**d) for d in json.loads(path.read_text())]
    OUT.write_text(render(all_results))
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
