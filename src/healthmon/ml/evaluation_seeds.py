"""Evaluation over fresh accounts: ``healthmon evaluate --seeds N`` (``make eval``).

Each seed is a new synthetic account generated in its own temporary workspace, run through the
pipeline the bundle runs (the same library functions its notebooks call: feature tables ->
train all 25 models -> batch inference -> evaluation on the test period), in at most two worker
processes. Per model the seeds' figures are summarised as mean, standard deviation, minimum and
a bootstrap 95 % confidence interval of the mean, next to the strongest baseline and the paired
difference (model − baseline per seed) with its own bootstrap interval.

Seeds are drawn at run time (``secrets``) and printed; the demo's seed and the development seeds
(``DEVELOPMENT_SEEDS``, also listed in docs/models.md) are never drawn, so no reported figure
comes from an account a design was tuned on.

A SIGTERM or SIGINT to the evaluating process stops the run cleanly: every worker runs in its own
session and is killed with its whole process group, the temporary workspaces are removed, the
finished accounts stay in ``<json>.seeds.jsonl`` and ``EvaluationInterrupted`` says how many
finished. A worker whose parent disappears (a SIGKILL) removes its workspace and kills its group.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import re
import secrets
import shutil
import signal
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from healthmon.ml.evaluation import PRIMARY, fmt_margin, margin

DEMO_SEED = 7
# Accounts the model designs were chosen on (validation periods) and looked at while developing.
# Listed once here and in docs/models.md ("Development seeds"); never drawn for an evaluation.
DEVELOPMENT_SEEDS = (11, 13, 21, 42, 99, 555, 1234)
SEED_RANGE = 1_000_000
CATALOG, GOLD_SCHEMA, FEATURE_SCHEMA = "eval_catalog", "gold", "gold_ml"
BOOTSTRAP_RESAMPLES = 10_000
MIN_SEEDS = 3  # fewer seeds with a figure: "n/a (k seeds)"


def draw_seeds(
    n: int, *, exclude: Sequence[int] = (), randbelow: Callable[[int], int] = secrets.randbelow
) -> list[int]:
    """``n`` distinct fresh seeds, never the demo's nor a development seed."""
    banned = {DEMO_SEED, *DEVELOPMENT_SEEDS, *exclude}
    out: list[int] = []
    while len(out) < n:
        s = randbelow(SEED_RANGE)
        if s not in banned and s not in out:
            out.append(s)
    return out


class EvaluationInterrupted(Exception):
    """A SIGINT or SIGTERM stopped ``run_seeds`` / ``evaluate_seeds`` after its workers were
    killed and their workspaces removed. ``finished`` accounts are in ``log`` (when one is kept)."""

    def __init__(self, signum: int, finished: int, drawn: int, log: Path | None = None) -> None:
        self.signum, self.finished, self.drawn, self.log = signum, finished, drawn, log
        super().__init__(f"{signal.Signals(signum).name}: {finished} of {drawn} accounts finished")

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


# --------------------------------------------------------------------------- worker processes
PARENT_POLL_SECONDS = 1.0
_current_home: str | None = None  # the workspace the worker process is evaluating in


def _start_worker(parent: int, then: Callable[..., object] | None, args: tuple) -> None:
    """Pool initializer: this worker leads its own session, so the parent can kill it with all
    it started as one process group (and a Ctrl-C on the terminal reaches the parent only, which
    decides); a watchdog ends the group when the parent is gone. ``then`` is the pool's other
    initializer (routing library output). ``parent`` is the pool's process, passed in: a worker
    that starts after it is gone (already re-parented) must see that at once."""
    os.setsid()
    threading.Thread(target=_die_with_parent, args=(parent,), name="parent-watchdog", daemon=True).start()
    if then is not None:
        then(*args)


def _die_with_parent(parent: int) -> None:
    """Polling rather than ``PR_SET_PDEATHSIG``: that signal fires when the parent *thread* that
    spawned the worker exits (the pool spawns replacements from its manager thread), and it is
    Linux-only."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    if _current_home is not None:
        shutil.rmtree(_current_home, ignore_errors=True)
        with contextlib.suppress(OSError):  # the run's directory, once the last worker's workspace is gone
            os.rmdir(os.path.dirname(_current_home))
    os.killpg(os.getpgrp(), signal.SIGKILL)


def _kill_group(pid: int) -> None:
    """SIGKILL a worker's process group (and the worker itself, in case it has not called
    ``setsid()`` yet)."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue


class _SignalStop(BaseException):
    """Raised in the main thread by a SIGINT or SIGTERM while accounts are evaluated (a
    BaseException, like KeyboardInterrupt, so no ``except Exception`` swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _StopOnSignal:
    """While active (main thread only), SIGINT and SIGTERM raise ``_SignalStop``; inside
    ``deferred()`` a signal waits until the block is done (a finished account's log line is
    written whole); ``ignore()`` lets a cleanup run to its end."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.previous: dict = {}
        self.deferring = False
        self.pending: int | None = None

    def __enter__(self) -> _StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            self.previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: object) -> None:
        if self.deferring:
            self.pending = self.pending or signum
        else:
            raise _SignalStop(signum)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.pending is not None:
            raise _SignalStop(self.pending)

    def ignore(self) -> None:
        for sig in self.previous:
            signal.signal(sig, signal.SIG_IGN)


# --------------------------------------------------------------------------- one account
def run_seed(seed: int, scale: str = "medium", workdir: str | None = None, keep: bool = False) -> dict:
    """Generate the account of ``seed`` in a fresh workspace and evaluate every model on it.
    Runs in a worker process: the workspace (HEALTHMON_HOME) is this process's own."""
    global _current_home
    home = tempfile.mkdtemp(prefix=f"healthmon_eval_{seed}_", dir=workdir)
    _current_home = home
    os.environ["HEALTHMON_HOME"] = home
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    times: dict[str, float] = {}
    out: dict = {"seed": seed, "scale": scale, "status": "SUCCESS", "times": times}
    try:
        t = time.perf_counter()
        from healthmon.demodata.generator import generate

        generate(CATALOG, GOLD_SCHEMA, seed=seed, scale=scale)
        times["generate"] = time.perf_counter() - t
        t = time.perf_counter()
        from healthmon.ml.features import create_feature_tables

        create_feature_tables(CATALOG, GOLD_SCHEMA, FEATURE_SCHEMA)
        times["features"] = time.perf_counter() - t
        t = time.perf_counter()
        from healthmon.ml.training import train_all

        trained = train_all(catalog=CATALOG, gold_schema=GOLD_SCHEMA, feature_schema=FEATURE_SCHEMA)
        times["train"] = time.perf_counter() - t
        t = time.perf_counter()
        from healthmon.ml.inference import batch_inference_all_models

        try:
            batch_inference_all_models(catalog=CATALOG, gold_schema=GOLD_SCHEMA, feature_schema=FEATURE_SCHEMA)
        except Exception as exc:  # noqa: BLE001 - reported; evaluation still runs
            out["inference_error"] = str(exc)[:2000]
        times["inference"] = time.perf_counter() - t
        t = time.perf_counter()
        from healthmon.ml.evaluation import evaluate_all

        summary = evaluate_all(catalog=CATALOG, gold_schema=GOLD_SCHEMA, feature_schema=FEATURE_SCHEMA, output=None)
        times["evaluate"] = time.perf_counter() - t
        models = summary["models"]
        for name, r in trained.items():
            if r.get("status") != "SUCCESS" and name in models:
                models[name].setdefault("training", {k: r.get(k) for k in ("status", "reason", "error") if r.get(k)})
        out["models"] = models
    except Exception as exc:  # noqa: BLE001 - one broken account is reported, the others still count
        out.update(status="FAILED", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc(limit=8))
        out.setdefault("models", {})
    finally:
        if not keep:
            shutil.rmtree(home, ignore_errors=True)
        else:
            out["workspace"] = home
        _current_home = None
    out["seconds"] = sum(times.values())
    return _plain(out)


def _plain(obj):
    """JSON-safe copy (numpy scalars to Python, NaN kept as NaN)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    return obj


def run_seeds(
    seeds: Sequence[int],
    *,
    scale: str = "medium",
    workers: int = 2,
    workdir: str | None = None,
    progress: Callable[[str], None] = print,
    sink: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Every seed in its own fresh worker process (at most ``workers`` at a time). ``sink``
    receives each account's result as soon as it is done (so an interrupted run keeps them).

    A SIGINT or SIGTERM (in the main thread) kills the workers' process groups, removes their
    workspaces and raises ``EvaluationInterrupted``."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from healthmon.logsetup import worker_pool_options

    results: list[dict] = []
    ctx = mp.get_context("spawn")
    route = worker_pool_options()  # a worker's library logs go where this process sends its own
    run_dir = tempfile.mkdtemp(prefix="healthmon_eval_", dir=workdir)
    pool = ProcessPoolExecutor(
        max_workers=max(1, min(workers, 2)),
        mp_context=ctx,
        max_tasks_per_child=1,
        initializer=_start_worker,
        initargs=(os.getpid(), route.get("initializer"), route.get("initargs", ())),
    )
    futures: dict = {}
    with _StopOnSignal() as stopper:
        try:
            for seed in seeds:
                futures[pool.submit(run_seed, seed, scale, run_dir)] = seed
            for fut in as_completed(futures):
                seed = futures[fut]
                try:
                    r = fut.result()
                except Exception as exc:  # noqa: BLE001 - a crashed worker is one failed seed
                    r = {
                        "seed": seed,
                        "status": "FAILED",
                        "error": f"{type(exc).__name__}: {exc}",
                        "models": {},
                        "seconds": float("nan"),
                    }
                with stopper.deferred():
                    results.append(r)
                    if sink is not None:
                        sink(r)
                progress(f"seed {seed}: {r['status']} in {r.get('seconds', float('nan')):.0f} s")
        except (_SignalStop, KeyboardInterrupt) as stop:
            stopper.ignore()
            _stop_pool(pool, futures)
            signum = stop.signum if isinstance(stop, _SignalStop) else signal.SIGINT
            raise EvaluationInterrupted(signum, len(results), len(seeds)) from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            shutil.rmtree(run_dir, ignore_errors=True)
    return sorted(results, key=lambda r: list(seeds).index(r["seed"]))


def _stop_pool(pool, futures) -> None:
    """Cancel the accounts not started and kill every worker's process group. The pool's manager
    thread then finds it broken and spawns no more workers; one it spawned just before (a
    finished worker's replacement) is killed on the next pass."""
    for fut in futures:
        fut.cancel()
    while True:
        # The pool's own table of its worker processes (``shutdown`` sets it to None).
        table = pool._processes or {}
        alive = [pid for pid, proc in list(table.items()) if proc.is_alive()]
        if not alive:
            return
        for pid in alive:
            _kill_group(pid)
        time.sleep(0.05)


# --------------------------------------------------------------------------- statistics
def bootstrap_ci(
    values: Sequence[float], *, resamples: int = BOOTSTRAP_RESAMPLES, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (resampling seeds with replacement)."""
    v = np.asarray([x for x in values if x is not None and x == x], float)
    if len(v) == 0:
        return (math.nan, math.nan)
    if len(v) == 1:
        return (float(v[0]), float(v[0]))
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(resamples, len(v)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def describe(values: Sequence[float]) -> dict:
    v = [float(x) for x in values if x is not None and x == x]
    if not v:
        return {"n": 0, "mean": None, "std": None, "min": None, "ci95": [None, None]}
    lo, hi = bootstrap_ci(v)
    return {
        "n": len(v),
        "mean": float(np.mean(v)),
        "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
        "min": float(np.min(v)),
        "max": float(np.max(v)),
        "ci95": [lo, hi],
    }


def aggregate(per_seed: Sequence[dict], model_kinds: dict[str, str]) -> dict:
    """Per model over the seeds: the model's figure, every baseline's, the strongest baseline
    (best mean over the seeds where both have a figure) and the paired margin with its CI; the
    verdict. Seeds where the model failed, was skipped or had too few cases are listed, never
    averaged in."""
    out: dict[str, dict] = {}
    for name, kind in model_kinds.items():
        metric, higher = PRIMARY[kind]
        rows = [(r["seed"], r.get("models", {}).get(name)) for r in per_seed]
        figures: dict[int, float] = {}
        missing: list[str] = []
        algorithms: dict[str, int] = {}
        baselines: dict[str, dict[int, float]] = {}
        for seed, m in rows:
            if not m:
                missing.append(f"seed {seed}: not run")
                continue
            if m.get("metric"):
                metric = m["metric"]
            if m.get("status") != "EVALUATED":
                missing.append(f"seed {seed}: {m.get('status')} ({str(m.get('note', ''))[:300]})")
                continue
            algorithms[m.get("algorithm", "?")] = algorithms.get(m.get("algorithm", "?"), 0) + 1
            if m.get("value") is None:
                missing.append(f"seed {seed}: {m.get('na') or 'no figure'}")
                continue
            figures[seed] = float(m["value"])
            for b, br in (m.get("baselines") or {}).items():
                # The chosen column differs per account: one row for "the best single feature".
                key = re.sub(r"^best_single_feature:[^@]*", "best_single_feature", b)
                if br.get("value") is not None and br["value"] == br["value"]:
                    baselines.setdefault(key, {})[seed] = float(br["value"])
        entry = {
            "kind": kind,
            "metric": metric,
            "higher_is_better": higher,
            "model": describe(list(figures.values())),
            "seeds_with_figure": sorted(figures),
            "missing": missing,
            "scorers": algorithms,
            "baselines": {b: describe(list(v.values())) for b, v in baselines.items()},
        }
        if kind == "anomaly":
            entry["detector"] = _detector_details([r.get("models", {}).get(name) for r in per_seed])
        best, best_mean = None, None
        for b, v in baselines.items():
            common = [s for s in figures if s in v]
            if len(common) < MIN_SEEDS:
                continue
            mean = float(np.mean([v[s] for s in common]))
            if best_mean is None or (mean > best_mean if higher else mean < best_mean):
                best, best_mean = b, mean
        entry["best_baseline"] = best
        if best is not None:
            common = [s for s in figures if s in baselines[best]]
            diffs = [margin(figures[s], baselines[best][s], not higher) for s in common]
            entry["margin"] = describe(diffs)
        else:
            entry["margin"] = describe([])
        entry["verdict"] = seed_verdict(entry)
        out[name] = entry
    return out


def _detector_details(results: Sequence[dict | None]) -> dict:
    """Per-kind recall pooled over seeds (detected / incidents), false events per entity-week."""
    kinds: dict[str, list[int]] = {}
    fepw = []
    for r in results:
        if not r or r.get("status") != "EVALUATED":
            continue
        if r.get("false_events_per_entity_week") is not None:
            fepw.append(r["false_events_per_entity_week"])
        for k, v in (r.get("recall_by_kind") or {}).items():
            acc = kinds.setdefault(k, [0, 0])
            acc[0] += int(v.get("detected", 0))
            acc[1] += int(v.get("incidents", 0))
    return {
        "recall_by_kind": {k: {"detected": d, "incidents": n} for k, (d, n) in sorted(kinds.items())},
        "false_events_per_entity_week": describe(fepw),
    }


def seed_verdict(entry: dict) -> str:
    n = entry["model"]["n"]
    if n < MIN_SEEDS:
        return f"n/a ({n} seeds with a figure)"
    if entry.get("best_baseline") is None:
        return "n/a (no baseline figure)"
    shipped = sum(c for a, c in entry["scorers"].items() if str(a).startswith("baseline:"))
    lo = entry["margin"]["ci95"][0]
    beats = lo is not None and lo > 0
    if shipped * 2 > sum(entry["scorers"].values()):
        top = max((a for a in entry["scorers"] if str(a).startswith("baseline:")), key=lambda a: entry["scorers"][a])
        seeds = sum(entry["scorers"].values())
        return (f"ships baseline ({top.removeprefix('baseline:')}, chosen before the test period in {shipped} "
                f"of {seeds} seeds)")
    if beats:
        return "beats baseline"
    return "does not beat baseline"


# --------------------------------------------------------------------------- reporting
def _f(v, digits: int = 3) -> str:
    return "n/a" if v is None or v != v else f"{v:.{digits}f}"


def _ci(d: dict, lower_better: bool | None = None) -> str:
    lo, hi = d.get("ci95", [None, None])
    if lo is None:
        return "n/a"
    if lower_better is not None:
        return f"[{fmt_margin(lo, lower_better)}, {fmt_margin(hi, lower_better)}]"
    return f"[{_f(lo)}, {_f(hi)}]"


def render_markdown(report: dict, nab_section: str | None = None) -> str:
    from healthmon.ml.models import MODELS

    agg = report["models"]
    seeds = report["seeds"]
    verdicts = [e["verdict"] for e in agg.values()]
    failed = ", ".join(str(r["seed"]) for r in report["per_seed"] if r["status"] != "SUCCESS")
    lines = [
        "# Model evaluation over fresh accounts",
        "",
        f"Written by `healthmon evaluate --seeds` (`make eval`) at {report['finished_at']}: **{len(seeds)} accounts**, "
        f"scale `{report['scale']}`, seeds drawn at run time: {', '.join(str(s) for s in seeds)} "
        f"(never the demo's seed {DEMO_SEED} nor a development seed, docs/models.md). "
        f"Accounts that failed: {failed or 'none'}. "
        + (
            f"**Incomplete run: {len(report['not_finished'])} of {len(report['drawn'])} drawn accounts did not finish "
            f"({', '.join(map(str, report['not_finished']))}) and are not counted.** "
            if report.get("not_finished")
            else ""
        )
        + f"Wall time {report['wall_seconds'] / 60:.1f} min with {report['workers']} worker processes "
        f"(5-minute load average {report.get('load_average_5min', ['?', '?'])[0]} before, "
        f"{report.get('load_average_5min', ['?', '?'])[1]} after, on {os.cpu_count()} cores).",
        "",
        "Each account: generate → feature tables → train all 25 models → batch inference → evaluation on the test "
        "period (the last 20 % of dates, never used for fitting, thresholds or Champion selection). Every model is "
        "measured next to its baselines on the same test rows (docs/models.md, \"Baselines\"). Figures: mean ± "
        "standard deviation (minimum) over accounts, bootstrap 95 % CI of the mean; margin = model − strongest "
        "baseline per account (forecasters: relative MAPE reduction), with its bootstrap 95 % CI. "
        "Verdict \"beats baseline\" needs the margin's CI above zero. Detectors' f1 is the detection F1: incident "
        "recall and flagged-day precision (docs/models.md, \"Evaluation\").",
        "",
        f"**Beats its strongest baseline: {sum(v == 'beats baseline' for v in verdicts)} of {len(agg)}; "
        f"ships a baseline: {sum(v.startswith('ships baseline') for v in verdicts)}; "
        f"does not beat it: {sum(v == 'does not beat baseline' for v in verdicts)}; "
        f"n/a: {sum(v.startswith('n/a') for v in verdicts)}.**",
        "",
        "| model | kind | metric | model: mean ± std (min) | 95 % CI | best baseline | baseline mean "
        "| margin (95 % CI) | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in MODELS:
        e = agg.get(name)
        if e is None:
            continue
        m = e["model"]
        lower = not e["higher_is_better"]
        fig = f"{_f(m['mean'])} ± {_f(m['std'])} ({_f(m['min'])})" if m["n"] else "n/a"
        b = e.get("best_baseline")
        bmean = _f(e["baselines"][b]["mean"]) if b else "-"
        mg = e["margin"]
        mtxt = f"{fmt_margin(mg['mean'], lower)} {_ci(mg, lower)}" if mg["n"] else "n/a"
        lines.append(
            f"| {name} | {e['kind']} | {e['metric']} | {fig} | {_ci(m)} | {b or '-'} | {bmean} | {mtxt} "
            f"| {e['verdict']} |"
        )
    lines += [
        "",
        "## Detectors: recall per incident kind (pooled over accounts), false events",
        "",
        "| detector | F1 mean (min) | false events / entity-week | recall by kind (detected / incidents) |",
        "|---|---|---|---|",
    ]
    for name, e in agg.items():
        if e["kind"] != "anomaly":
            continue
        d = e.get("detector", {})
        kinds = (
            "; ".join(
                f"{k} {v['detected']}/{v['incidents']}" + ("" if v["incidents"] >= 3 else " (n/a: < 3 cases)")
                for k, v in d.get("recall_by_kind", {}).items()
            )
            or "no incidents"
        )
        lines.append(
            f"| {name} | {_f(e['model']['mean'])} ({_f(e['model']['min'])}) | "
            f"{_f(d.get('false_events_per_entity_week', {}).get('mean'))} | {kinds} |"
        )
    lines += ["", "## All baselines (mean over accounts)", ""]
    for name, e in agg.items():
        if e["baselines"]:
            parts = ", ".join(f"{b} {_f(v['mean'])}" for b, v in sorted(e["baselines"].items()))
            lines.append(f"- `{name}` ({e['metric']}): {parts}")
    gaps = [(n, e) for n, e in agg.items() if e["missing"]]
    if gaps:
        lines += ["", "## Seeds without a figure", ""]
        for n, e in gaps:
            lines.append(f"- `{n}`: " + "; ".join(e["missing"]))
    if nab_section:
        lines += ["", nab_section.strip()]
    lines += [
        "",
        "Targets, baselines and methods: docs/models.md. Per-seed figures: "
        f"`{report.get('json_path', 'the JSON written next to this file')}`.",
        "",
    ]
    return "\n".join(lines)


def nab_markdown() -> str | None:
    """The section on ``healthmon anomalies score`` over real series, when its benchmark ran."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "benchmarks" / "nab.py").exists():
        return None
    import sys

    if str(root) not in sys.path:  # the repository's benchmarks package, from the installed CLI too
        sys.path.insert(0, str(root))
    from benchmarks.nab import RESULTS, markdown_section

    if not RESULTS.exists():
        return None
    return markdown_section(json.loads(RESULTS.read_text()))


def seeds_log_path(json_path: str | Path) -> Path:
    """Where each account's result is appended as it finishes (JSON lines; the first line
    says what was drawn)."""
    return Path(json_path).with_suffix(".seeds.jsonl")


def build_report(
    per_seed: Sequence[dict],
    *,
    drawn: Sequence[int],
    scale: str,
    workers: int,
    wall_seconds: float,
    load_average: Sequence[float] | None = None,
) -> dict:
    from healthmon.ml.models import MODELS

    done = {r["seed"] for r in per_seed}
    return {
        "seeds": [s for s in drawn if s in done],
        "drawn": list(drawn),
        "not_finished": [s for s in drawn if s not in done],
        "scale": scale,
        "workers": workers,
        "load_average_5min": list(load_average or []),
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": wall_seconds,
        "development_seeds": list(DEVELOPMENT_SEEDS),
        "demo_seed": DEMO_SEED,
        "models": aggregate(per_seed, {n: s.kind for n, s in MODELS.items()}),
        "per_seed": list(per_seed),
    }


def write_report(report: dict, output: str | Path | None, json_path: str | Path | None) -> dict:
    if json_path:
        report["json_path"] = str(json_path)
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(_plain(report), indent=1, default=str))
    if output:
        Path(output).write_text(render_markdown(report, nab_markdown()))
        report["output"] = str(output)
    return report


def report_from_log(log: str | Path, *, output: str | Path | None, json_path: str | Path | None) -> dict:
    """EVALUATION.md and the JSON from the accounts an interrupted run finished
    (``seeds_log_path``): the accounts not finished are named, never guessed."""
    from healthmon.errors import InvalidParameterError

    expected = "expected the JSON lines of `healthmon evaluate --seeds` (first line: the drawn seeds)"
    lines: list[Any] = []
    for number, text in enumerate(Path(log).read_text(errors="replace").splitlines(), 1):
        if not text.strip():
            continue
        try:
            lines.append(json.loads(text))
        except json.JSONDecodeError as exc:
            raise InvalidParameterError(f"{log}:{number}:{exc.colno}: not JSON ({exc.msg}); {expected}.") from None
    if not lines or not isinstance(lines[0], dict) or "drawn" not in lines[0]:
        raise InvalidParameterError(f"{log}: {expected}.")
    head: Any = lines[0]
    per_seed = lines[1:]
    started = dt.datetime.fromisoformat(head["started_at"])
    wall = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
    report = build_report(
        per_seed,
        drawn=head["drawn"],
        scale=head["scale"],
        workers=head["workers"],
        wall_seconds=wall,
        load_average=[head.get("load_average_5min"), round(os.getloadavg()[1], 1)],
    )
    return write_report(report, output, json_path)


def evaluate_seeds(
    seeds: Sequence[int],
    *,
    scale: str = "medium",
    workers: int = 2,
    output: str | Path | None = "EVALUATION.md",
    json_path: str | Path | None = None,
    workdir: str | None = None,
    progress: Callable[[str], None] = print,
) -> dict:

    start = time.perf_counter()
    load_before = round(os.getloadavg()[1], 1)
    sink = None
    if json_path:
        log = seeds_log_path(json_path)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(
            json.dumps(
                {
                    "drawn": list(seeds),
                    "scale": scale,
                    "workers": workers,
                    "load_average_5min": load_before,
                    "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                }
            )
            + "\n"
        )

        def sink(result: dict) -> None:
            with open(log, "a") as fh:
                fh.write(json.dumps(_plain(result), default=str) + "\n")

    try:
        per_seed = run_seeds(seeds, scale=scale, workers=workers, workdir=workdir, progress=progress, sink=sink)
    except EvaluationInterrupted as stop:
        stop.log = seeds_log_path(json_path) if json_path else None
        raise
    report = build_report(
        per_seed,
        drawn=seeds,
        scale=scale,
        workers=workers,
        wall_seconds=time.perf_counter() - start,
        load_average=[load_before, round(os.getloadavg()[1], 1)],
    )
    return write_report(report, output, json_path)
