"""Each model's evaluation figure against its strongest baseline, as the report, the Health page
and the Models page show it.

The figures come from the JSON form of the evaluation (``EVALUATION.json``, written by ``make eval``
/ ``healthmon evaluate --seeds N --json``): per model its primary metric over fresh accounts
(mean, spread), the strongest baseline's mean and the verdict. The one-account JSON shape
(``status``/``value``/``best_baseline_value``) is read too. Without a JSON file every model reads
"not evaluated" — the pages say so instead of failing.

Where the file is looked for: ``$HEALTHMON_EVALUATION`` when set (only there); else, first found,
``$HEALTHMON_HOME/EVALUATION.json`` and ``EVALUATION.json`` at the root of the source checkout.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("healthmon.ml.model_figures")

METRIC_LABELS = {"f1": "detection F1", "roc_auc": "ROC-AUC", "pr_auc": "PR-AUC", "mape": "MAPE", "mae": "MAE"}


@dataclass(frozen=True)
class ModelFigure:
    model: str
    metric: str = ""
    higher_is_better: bool = True
    value: float | None = None
    spread: float | None = None  # standard deviation over the accounts
    accounts: int = 0  # accounts (seeds) with a figure; 1 for a one-account evaluation
    baseline: str | None = None
    baseline_value: float | None = None
    verdict: str = "not evaluated"
    note: str = ""

    @property
    def badge(self) -> str:
        """A CSS class for the verdict: good | ships | bad | na."""
        v = self.verdict
        if v == "beats baseline":
            return "good"
        if v.startswith("ships baseline"):
            return "ships"
        if v == "does not beat baseline":
            return "bad"
        return "na"

    def text(self) -> str:
        """One line: the model's figure, the baseline's, the verdict (a miss reads as a miss)."""
        if self.value is None:
            if self.note.startswith(self.verdict):  # "n/a (3 positives)" is already the verdict
                return self.note
            return self.verdict + (f" ({self.note})" if self.note else "")
        label = METRIC_LABELS.get(self.metric, self.metric)
        spread = f" ± {self.spread:.3f}" if self.spread is not None and self.accounts > 1 else ""
        over = f" over {self.accounts} fresh accounts" if self.accounts > 1 else " on one account"
        out = f"{label} {self.value:.3f}{spread}{over}"
        if self.baseline and self.baseline_value is not None:
            out += f" vs {self.baseline} {self.baseline_value:.3f}"
        return f"{out}: {self.verdict}"


@dataclass(frozen=True)
class Evaluation:
    source: str  # file it was read from
    finished_at: str
    figures: dict[str, ModelFigure]

    def figure(self, model: str) -> ModelFigure:
        missing = f"not in {Path(self.source).name}" if self.source else ""
        return self.figures.get(model) or ModelFigure(model, note=missing)


NOT_EVALUATED = Evaluation("", "", {})


def default_path() -> Path | None:
    if os.environ.get("HEALTHMON_EVALUATION"):
        chosen = Path(os.environ["HEALTHMON_EVALUATION"])
        return chosen if chosen.is_file() else None
    candidates = []
    if os.environ.get("HEALTHMON_HOME"):
        candidates.append(Path(os.environ["HEALTHMON_HOME"]) / "EVALUATION.json")
    checkout = Path(__file__).resolve().parents[3]
    if (checkout / "pyproject.toml").is_file():
        candidates.append(checkout / "EVALUATION.json")
    return next((p for p in candidates if p.is_file()), None)


_cache: dict[tuple[str, float], Evaluation] = {}


def load_evaluation(path: str | Path | None = None) -> Evaluation:
    """The evaluation figures (cached per file and modification time); NOT_EVALUATED when there
    is no file or it cannot be read (logged)."""
    path = Path(path) if path else default_path()
    if path is None or not path.is_file():
        return NOT_EVALUATED
    key = (str(path), path.stat().st_mtime)
    if key not in _cache:
        try:
            _cache[key] = parse_evaluation(json.loads(path.read_text()), str(path))
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("cannot read the evaluation %s: %s", path, exc)
            return NOT_EVALUATED
    return _cache[key]


def parse_evaluation(data: dict, source: str = "") -> Evaluation:
    figures = {}
    for name, entry in (data.get("models") or {}).items():
        figures[name] = _multi_seed(name, entry) if isinstance(entry.get("model"), dict) else _one_account(name, entry)
    return Evaluation(source, str(data.get("finished_at") or data.get("evaluated_at") or ""), figures)


def _num(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v else None


def _multi_seed(name: str, e: dict) -> ModelFigure:
    model = e.get("model") or {}
    best = e.get("best_baseline")
    base = (e.get("baselines") or {}).get(best) or {} if best else {}
    missing = e.get("missing") or []
    return ModelFigure(
        name, str(e.get("metric") or ""), bool(e.get("higher_is_better", True)), _num(model.get("mean")),
        _num(model.get("std")), int(model.get("n") or 0), best, _num(base.get("mean")),
        str(e.get("verdict") or "not evaluated"), "; ".join(missing[:2]) if model.get("mean") is None else "")


def _one_account(name: str, e: dict) -> ModelFigure:
    status = e.get("status", "")
    value = _num(e.get("value"))
    if status != "EVALUATED" or value is None:
        note = str(e.get("na") or e.get("note") or status)
        return ModelFigure(name, str(e.get("metric") or ""), verdict="n/a", note=note)
    base = _num(e.get("best_baseline_value"))
    higher = bool(e.get("higher_is_better", True))
    verdict = "n/a (no baseline figure)"
    if base is not None:
        verdict = "beats baseline" if (value > base if higher else value < base) else "does not beat baseline"
    return ModelFigure(name, str(e.get("metric") or ""), higher, value, None, 1, e.get("best_baseline"), base, verdict)
