"""``make demo`` phases before and after the ML backend layer (the local DuckDB path must not slow down).

Issue target: putting training, inference and evaluation behind the narrow ``MLBackend``
interface leaves the local path's ``make demo`` phases unchanged within 5 %. Later commits also
change the models themselves, so the comparison is between the commit just before the backend
layer (``BEFORE_COMMIT``) and the commit that introduced it (``AFTER_COMMIT``), each a git worktree
with its own ``.venv``::

    git worktree add --detach /work/wt/demo-a 51a20bd && make -C /work/wt/demo-a setup
    git worktree add --detach /work/wt/demo-b 85d0344 && make -C /work/wt/demo-b setup
    HEALTHMON_BENCH_BEFORE_TREE=/work/wt/demo-a HEALTHMON_BENCH_AFTER_TREE=/work/wt/demo-b \\
        .venv/bin/python -m benchmarks.run backend

Each round runs each tree's own ``scripts/demo.sh`` (medium scale, a fresh ``HEALTHMON_HOME``)
with the order alternating between rounds (before-after, after-before, ...) so that a slow spell
of the machine hits both; the phases are read from the ``demo.json`` each run writes. A phase's
figure is the median over rounds, and its ratio after/before is the change the layer made.
Without both trees the benchmark reports nothing (and the stored results stay).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.run import Result

BEFORE_COMMIT, AFTER_COMMIT = "51a20bd", "85d0344"
PHASES = ("generate_data", "bundle_deploy", "orchestrator_run", "evaluate", "report")
TOLERANCE = 1.05


def _tree(variable: str) -> Path | None:
    configured = os.environ.get(variable)
    tree = Path(configured) if configured else None
    return tree if tree is not None and (tree / ".venv" / "bin" / "healthmon").exists() else None


def demo_phases(tree: Path, work: Path, scale: str) -> dict[str, float]:
    """Seconds per phase of one ``scripts/demo.sh`` run of ``tree`` in a fresh home under ``work``."""
    home, results = work / "home", work / "results"
    shutil.rmtree(work, ignore_errors=True)
    results.mkdir(parents=True)
    env = {**os.environ, "HEALTHMON_HOME": str(home), "DEMO_SCALE": scale, "DEMO_RESULTS_DIR": str(results)}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(["bash", "scripts/demo.sh"], cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"make demo in {tree} exited {done.returncode}: {done.stderr[-2000:]}")
    rows = json.loads((results / "demo.json").read_text())
    prefix = "demo phase: "
    phases = {r["name"].removeprefix(prefix): float(r["value"]) for r in rows if r["name"].startswith(prefix)}
    phases["total"] = sum(phases[p] for p in PHASES if p in phases)
    return phases


def measure(before: Path, after: Path, rounds: int, scale: str) -> list[Result]:
    samples: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="healthmon-bench-backend-") as tmp:
        for i in range(rounds):
            order = [("before", before), ("after", after)]
            for label, tree in order if i % 2 == 0 else order[::-1]:
                samples[label].append(demo_phases(tree, Path(tmp) / label, scale))
                print(f"  round {i + 1} {label}: total {samples[label][-1]['total']:.1f} s", file=sys.stderr)
    results = []
    for phase in (*PHASES, "total"):
        before_s, after_s = ([round(s[phase], 1) for s in samples[k]] for k in ("before", "after"))
        old = statistics.median(s[phase] for s in samples["before"])
        new = statistics.median(s[phase] for s in samples["after"])
        results.append(
            Result(
                name=f"make demo ({scale}) {phase}: after the ML backend layer ({AFTER_COMMIT})",
                value=round(new, 2),
                unit="s",
                baseline_name=f"before it ({BEFORE_COMMIT})",
                baseline_value=round(old, 2),
                target=f"<= {TOLERANCE:.2f}x" if phase in ("orchestrator_run", "evaluate", "total") else None,
                passed=(new <= TOLERANCE * old) if phase in ("orchestrator_run", "evaluate", "total") else None,
                notes=f"median of {rounds} rounds, alternating order; before {before_s}, after {after_s}",
            )
        )
    return results


def run(quick: bool) -> list[Result]:
    before, after = _tree("HEALTHMON_BENCH_BEFORE_TREE"), _tree("HEALTHMON_BENCH_AFTER_TREE")
    if before is None or after is None:
        print(
            "  skipped: set HEALTHMON_BENCH_BEFORE_TREE / HEALTHMON_BENCH_AFTER_TREE to worktrees of "
            f"{BEFORE_COMMIT} / {AFTER_COMMIT} with their .venv",
            file=sys.stderr,
        )
        return []
    rounds = int(os.environ.get("HEALTHMON_BENCH_ROUNDS") or (1 if quick else 3))
    return measure(before, after, rounds, os.environ.get("DEMO_SCALE", "medium"))


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(r)
