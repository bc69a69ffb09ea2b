"""Spark SQL snippets shared by the feature definitions.

Everything here is written in the Spark dialect and only uses constructs that mean the same on
Spark and on DuckDB after sqlglot's transpilation (checked by tests/ml_features): in particular
``dayofweek`` is NOT used, because DuckDB's DAYOFWEEK counts from 0 and sqlglot does not adjust
it; the day of the week is derived from a day count instead.
"""

from __future__ import annotations

# 1970-01-04 was a Sunday, so this is Spark's dayofweek (1 = Sunday ... 7 = Saturday) for any
# date, before or after 1970 (the double modulo keeps negative day counts in 0..6).
_SUNDAY = "DATE'1970-01-04'"


def day_of_week(date_col: str) -> str:
    return f"(((datediff({date_col}, {_SUNDAY}) % 7) + 7) % 7) + 1"


def flag(condition: str) -> str:
    """A 0.0/1.0 DOUBLE flag, as every flag in the feature tables. (Spark reads a literal like
    1.0 as DECIMAL, so numeric literals that feed arithmetic are cast to DOUBLE.)"""
    return f"CASE WHEN {condition} THEN CAST(1.0 AS DOUBLE) ELSE CAST(0.0 AS DOUBLE) END"


def ratio(numerator: str, denominator: str) -> str:
    """numerator / denominator, 0 when the denominator is not positive (never NULL or inf)."""
    return f"CASE WHEN {denominator} > 0 THEN CAST({numerator} AS DOUBLE) / {denominator} ELSE 0.0 END"


def change_pct(current: str, previous: str) -> str:
    return f"CASE WHEN {previous} > 0 THEN ({current} - {previous}) / {previous} * 100.0 ELSE 0.0 END"


def z_score(value: str, mean: str, std: str) -> str:
    return f"CASE WHEN {std} > 0 THEN ({value} - {mean}) / {std} ELSE 0.0 END"


def rows_window(name: str, partition: str, order: str, rows: int | None = None) -> str:
    """A named window. ``rows=7`` is the spec's "7d": the current row and the 6 before it, per
    key, ordered by date (row-based, as ml-layer.md §2.1 specifies)."""
    frame = f" ROWS BETWEEN {rows - 1} PRECEDING AND CURRENT ROW" if rows else ""
    return f"{name} AS (PARTITION BY {partition} ORDER BY {order}{frame})"


def percentile(column: str, p: float, engine: str = "duckdb") -> str:
    """Exact, linearly interpolated percentile (the original's percentile_approx is neither
    exact nor reproducible across engines). The spelling depends on the engine because sqlglot
    maps each one lossily: Spark's ``percentile`` becomes DuckDB's discrete QUANTILE, and
    ``percentile_cont ... WITHIN GROUP`` becomes PERCENTILE_APPROX when regenerated for Spark."""
    if engine == "spark":
        return f"percentile(CAST({column} AS DOUBLE), {p})"
    return f"percentile_cont({p}) WITHIN GROUP (ORDER BY {column})"


def window_median(column: str, window: str, engine: str = "duckdb") -> str:
    """Exact, interpolated median over a named window frame. Spark refuses a frame for its
    ``median`` and DuckDB's ``percentile_cont ... WITHIN GROUP`` is no window function, so each
    engine gets the spelling that means the same there (``percentile`` would become DuckDB's
    discrete QUANTILE, see ``percentile``)."""
    if engine == "spark":
        return f"percentile(CAST({column} AS DOUBLE), 0.5) OVER {window}"
    return f"median({column}) OVER {window}"
