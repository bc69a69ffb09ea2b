"""A detector's signal: which feature-table columns describe one behaviour of an entity and the
statistic that reads them (``calibrated`` scores them). Plain data, no scikit-learn: the model
specs declare their detectors' signals, and reading the specs must stay cheap."""

from __future__ import annotations

from dataclasses import dataclass

FAMILIES = ("count", "level", "log_ratio", "ratio", "value")


@dataclass(frozen=True)
class Signal:
    """One behaviour of the entity: today's ``metric`` against the entity's ``expected`` value
    (and ``spread``) known at d, read with the statistic of ``family``. ``label`` names it in
    the evidence (defaults to the metric)."""

    metric: str
    family: str
    expected: str | None = None
    spread: str | None = None
    peak: str | None = None
    label: str | None = None

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"signal {self.metric}: unknown family {self.family!r} (one of {', '.join(FAMILIES)})")
        if self.family in ("count", "level", "log_ratio") and self.expected is None:
            raise ValueError(f"signal {self.metric}: family {self.family} needs an expected-value column")

    @property
    def name(self) -> str:
        return self.label or self.metric

    def columns(self) -> tuple[str, ...]:
        return tuple(c for c in (self.metric, self.expected, self.spread, self.peak) if c)
