"""``healthmon anomalies score``: the cost anomaly detector's causal method on any CSV series."""

from __future__ import annotations

from pathlib import Path

import typer

from healthmon.errors import HealthmonError, InvalidParameterError

app = typer.Typer(no_args_is_help=True, help="Score any exported time series with the cost anomaly method.")


@app.command("score")
def score(
    input: Path = typer.Option(..., "--input", help="CSV file with one row per entity and time."),
    time_column: str = typer.Option(..., "--time-column", help="Column holding the timestamp or date."),
    value_column: str = typer.Option(..., "--value-column", help="Numeric column to score (e.g. daily cost)."),
    entity_column: str | None = typer.Option(None, "--entity-column", help="Column naming the series (e.g. workspace_id)."),
    output: Path | None = typer.Option(None, "--output", help="Where to write the scored CSV (default: <input>_scored.csv)."),
    contamination: float = typer.Option(0.05, "--contamination", help="Share of outliers the forest expects (0-0.5)."),
    min_deviation: float = typer.Option(0.5, "--min-deviation", help="Minimum relative deviation from the trailing mean and from one season earlier to flag."),
) -> None:
    """Write anomaly_score, is_anomaly and expected_value per row; the score at time t uses rows up to t only."""
    import pandas as pd

    from healthmon.ml.anomaly_method import score_series

    if not input.is_file():
        raise HealthmonError(f"{input}: input file not found.")
    if not 0 < contamination <= 0.5:
        raise InvalidParameterError(f"--contamination {contamination}: expected a value in (0, 0.5].")
    try:
        frame = pd.read_csv(input)
    except Exception as exc:  # noqa: BLE001 - parser errors become a user message
        raise HealthmonError(f"{input}: cannot read CSV ({exc}).") from exc
    for option, col in (("--time-column", time_column), ("--value-column", value_column), ("--entity-column", entity_column)):
        if col is not None and col not in frame.columns:
            raise InvalidParameterError(f"{input}: {option} {col!r} is not a column; columns are {', '.join(map(str, frame.columns))}.")
    times = pd.to_datetime(frame[time_column], utc=True, errors="coerce")
    bad = int(times.isna().sum())
    if bad == len(frame) and len(frame):
        raise InvalidParameterError(f"{input}: column {time_column!r} holds no parseable timestamp (e.g. {frame[time_column].iloc[0]!r}).")
    values = pd.to_numeric(frame[value_column], errors="coerce")
    if values.notna().sum() == 0 and len(frame):
        raise InvalidParameterError(f"{input}: column {value_column!r} holds no number.")
    scored = score_series(frame, time_column=time_column, value_column=value_column, entity_column=entity_column,
                          contamination=contamination, min_deviation=min_deviation)
    out = output or input.with_name(f"{input.stem}_scored.csv")
    scored.to_csv(out, index=False)
    flagged = int(scored["is_anomaly"].sum())
    typer.echo(f"Scored {len(scored)} rows ({int(scored['anomaly_score'].notna().sum())} past warm-up); {flagged} flagged. Wrote {out}")
    if bad:
        typer.echo(f"Skipped {bad} rows with an unparseable {time_column!r}.", err=True)
