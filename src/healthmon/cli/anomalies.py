"""``healthmon anomalies score``: the causal per-entity anomaly scorer on any CSV series, streamed."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import typer

from healthmon.errors import HealthmonError

app = typer.Typer(no_args_is_help=True, help="Score any exported time series with the causal anomaly scorer.")

SHOW_UNUSABLE = 10
OUTPUT_COLUMNS = ("anomaly_score", "is_anomaly", "expected_value", "anomaly_evidence")


@app.command("score")
def score(
    input: Path = typer.Option(..., "--input", help="CSV file with a header row and one row per entity and time."),
    time_column: str = typer.Option(
        ..., "--time-column", help="Column holding the timestamp or date (formats may be mixed)."
    ),
    value_column: str = typer.Option(..., "--value-column", help="Numeric column to score (e.g. daily cost)."),
    entity_column: str | None = typer.Option(
        None, "--entity-column", help="Column naming the series (e.g. workspace_id)."
    ),
    output: Path | None = typer.Option(
        None, "--output", help="Where to write the scored CSV (default: <input>_scored.csv)."
    ),
) -> None:
    """Write every usable row plus anomaly_score, is_anomaly, expected_value and anomaly_evidence.

    The score at time t uses the entity's rows up to t only; rows must be in time order within
    each entity. The file is streamed (memory grows with the number of entities, not rows)."""
    from healthmon.cli.checks import input_file, output_file
    from healthmon.ml.anomaly_csv import AnomalyCsvReader, InputError
    from healthmon.ml.anomaly_method import StreamScorer, evidence

    input_file(input, "--input")
    out = output_file(output or input.with_name(f"{input.stem}_scored.csv"), "--output")
    if out.resolve() == input.resolve():
        raise HealthmonError(f"--output {out}: the same file as --input; choose another path.")
    stream = StreamScorer()
    flagged = scored = 0
    tmp = out.with_name(f".{out.name}.partial")
    try:
        src = input.open(newline="", encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise HealthmonError(f"--input {input}: cannot read ({exc.strerror or exc}).") from None
    with src:
        try:
            reader = AnomalyCsvReader(src, time_column=time_column, value_column=value_column,
                                      entity_column=entity_column, name=str(input))
        except InputError as exc:
            raise HealthmonError(str(exc)) from None
        try:
            dst = tmp.open("w", newline="", encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            raise HealthmonError(f"--output {out}: cannot write ({exc.strerror or exc}).") from None
        try:
            with dst:  # the scored file appears under its name only once complete (tmp.replace below)
                writer = csv.writer(dst)
                writer.writerow([*reader.header, *OUTPUT_COLUMNS])
                for row in reader:
                    s = stream.update(row.entity, row.time, row.value)
                    if not math.isnan(s.anomaly_score):
                        scored += 1
                    flagged += s.is_anomaly
                    writer.writerow([*row.fields, _num(s.anomaly_score), "true" if s.is_anomaly else "false",
                                     _num(s.expected_value), evidence(row.value, s) if s.is_anomaly else ""])
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise HealthmonError(f"--output {out}: cannot write ({exc.strerror or exc}).") from None
        except BaseException:  # an interrupt leaves no partial file behind
            tmp.unlink(missing_ok=True)
            raise
    rep = reader.report
    if rep.used == 0:
        tmp.unlink(missing_ok=True)
        expected = f"expected a timestamp in {time_column!r} and a finite number in {value_column!r}"
        if rep.rows == 0:
            raise HealthmonError(f"{input}: no data row after the header; {expected}.")
        examples = "".join(f"\n  {input}:{line}: {reason}" for line, reason in rep.examples[:SHOW_UNUSABLE])
        raise HealthmonError(f"{input}: no usable row ({_unusable_summary(rep)}); {expected}:{examples}")
    tmp.replace(out)
    formats = ", ".join(f"{name} {n}" for name, n in rep.formats.most_common())
    typer.echo(f"Scored {rep.used} rows ({scored} past warm-up, {len(stream.entities)} "
               f"entit{'y' if len(stream.entities) == 1 else 'ies'}); {flagged} flagged. Wrote {out}")
    typer.echo(f"Timestamp formats: {formats}.")
    if rep.unusable:
        typer.echo(f"Skipped {_unusable_summary(rep)}:", err=True)
        for line, reason in rep.examples:
            typer.echo(f"  {input}:{line}: {reason}", err=True)
        if rep.unusable > len(rep.examples):
            typer.echo(f"  … and {rep.unusable - len(rep.examples)} more.", err=True)


def _num(v: float) -> str:
    return "" if math.isnan(v) else repr(round(v, 6))


def _unusable_summary(rep) -> str:
    return f"{rep.unusable} unusable row{'s' if rep.unusable != 1 else ''} of {rep.rows}"
