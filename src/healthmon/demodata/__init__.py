"""healthmon.demodata: gold tables of a synthetic Databricks account, and an importer for real
system-table exports (``healthmon.demodata.importer``). Heavy modules load lazily, so
``import healthmon.demodata`` is cheap."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable


def generate(catalog: str, schema: str = "gold", *, workspaces: int = 20, days: int = 180, seed: int = 7,
             scale: str = "small", end_date: dt.date | None = None,
             progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Write every gold table of a synthetic account to ``<catalog>.<schema>``; rows per table.

    ``scale``: small (CI), medium (demo), large (>= 50M fact rows, batched). Incidents
    (``ground_truth_incidents``) happen throughout, after a warm-up, each kind at least once in
    the evaluation's test period (the last 20 % of days); harmless look-alikes
    (``ground_truth_benign_events``) happen throughout too.
    """
    from healthmon.demodata.generator import generate as _generate

    return _generate(catalog, schema, workspaces=workspaces, days=days, seed=seed, scale=scale,
                     end_date=end_date, progress=progress)


__all__ = ["generate"]
