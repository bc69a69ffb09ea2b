"""``healthmon evaluate``: score every Champion model on its test period next to its baselines.

Two modes: one account (the current workspace, what ``make demo`` runs) or fresh accounts
(``--seeds N`` / ``--seed S``: each generated and run in its own temporary workspace; writes
EVALUATION.md and its JSON)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=False)


def evaluate(
    catalog: str = typer.Option(
        "dev_catalog", "--catalog", help="Catalog of the gold and feature schemas (dev target: dev_catalog)."
    ),
    gold_schema: str = typer.Option(
        "gold", "--gold-schema", help="Schema of the gold tables and ground_truth_incidents."
    ),
    feature_schema: str = typer.Option(
        "dev_gold_ml", "--feature-schema", help="Schema of the feature tables and registered models."
    ),
    output: Path = typer.Option(
        None,
        "--output",
        help="Markdown report to write (one account: $HEALTHMON_HOME/evaluation.md; "
        "with --seeds/--seed: EVALUATION.md).",
    ),
    model: list[str] = typer.Option([], "--model", help="Evaluate only these models (repeatable; one account only)."),
    seeds: int = typer.Option(
        0,
        "--seeds",
        min=0,
        help="Evaluate on N fresh accounts whose seeds are drawn now (never the demo's or a development seed).",
    ),
    seed: list[int] = typer.Option(
        [], "--seed", min=0, help="Evaluate on this account's seed (repeatable), to reproduce a run."
    ),
    scale: str = typer.Option("medium", "--scale", help="Scale of the generated accounts (with --seeds/--seed)."),
    workers: int = typer.Option(
        2, "--workers", min=1, max=2, help="Accounts evaluated at once (worker processes, at most 2)."
    ),
    json_path: Path = typer.Option(
        None, "--json", help="Per-seed and summary figures as JSON (default: the output with .json)."
    ),
    from_log: Path = typer.Option(
        None,
        "--from-log",
        help="Write EVALUATION.md from the accounts an interrupted --seeds run finished (its <json>.seeds.jsonl).",
    ),
) -> None:
    """Evaluate every model on its test period next to its baselines: detectors (detection F1 of
    incident recall and flagged-day precision, per-kind recall, false events), classifiers
    (ROC-AUC, within-entity AUC) and forecasters (MAPE) — on the current workspace, or on
    fresh accounts with --seeds N / --seed S."""
    from healthmon.errors import InvalidParameterError
    from healthmon.lakehouse.paths import check_identifier
    from healthmon.ml.models import MODELS

    for what, value in (("catalog", catalog), ("gold schema", gold_schema), ("feature schema", feature_schema)):
        check_identifier(value, what)
    unknown = [m for m in model if m not in MODELS]
    if unknown:
        raise InvalidParameterError(
            f"--model {', '.join(unknown)}: unknown model; expected one of {', '.join(MODELS)}."
        )
    if from_log is not None:
        from healthmon.cli.checks import input_file
        from healthmon.ml.evaluation_seeds import report_from_log

        input_file(from_log, "--from-log")
        output = output or Path("EVALUATION.md")
        report = report_from_log(from_log, output=output, json_path=json_path or output.with_suffix(".json"))
        typer.echo(f"{len(report['seeds'])} of {len(report['drawn'])} drawn accounts finished. Wrote {output}.")
        return
    if seeds or seed:
        _evaluate_seeds(seeds, seed, scale, workers, output, json_path, model)
        return
    _evaluate_one(catalog, gold_schema, feature_schema, output, model)


def _evaluate_seeds(
    n: int, given: list[int], scale: str, workers: int, output: Path | None, json_path: Path | None, model: list[str]
) -> None:
    from healthmon.cli.checks import one_of
    from healthmon.demodata.world import SCALES
    from healthmon.errors import InvalidParameterError
    from healthmon.ml import evaluation_seeds as es

    if model:
        raise InvalidParameterError("--model applies to one account; --seeds/--seed evaluate all 25 models.")
    one_of(scale, "--scale", SCALES)
    banned = sorted({es.DEMO_SEED, *es.DEVELOPMENT_SEEDS} & set(given))
    if banned:
        raise InvalidParameterError(f"--seed {', '.join(map(str, banned))}: the demo's or a development seed; "
                                    "figures on it are not a test (docs/models.md, Development seeds).")
    chosen = list(dict.fromkeys(given)) + es.draw_seeds(n, exclude=given)
    output = output or Path("EVALUATION.md")
    json_path = json_path or output.with_suffix(".json")
    typer.echo(f"Evaluating {len(chosen)} fresh account(s), scale {scale}, seeds: {' '.join(map(str, chosen))}")
    try:
        report = es.evaluate_seeds(chosen, scale=scale, workers=workers, output=output, json_path=json_path,
                                   progress=lambda line: typer.echo(line))
    except es.EvaluationInterrupted as stop:
        typer.echo(f"Interrupted: {stop.finished} of {stop.drawn} accounts finished; write the report from them with "
                   f"`healthmon evaluate --from-log {stop.log} --output {output}`.", err=True)
        raise typer.Exit(stop.exit_code) from None
    for name, e in report["models"].items():
        typer.echo(f"  {name:<32} {e['verdict']}")
    typer.echo(f"Wrote {output} and {json_path} ({report['wall_seconds'] / 60:.1f} min).")


def _evaluate_one(catalog: str, gold_schema: str, feature_schema: str, output: Path | None, model: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    from healthmon.ml.evaluation import evaluate_all, fmt_margin, verdict
    from healthmon.settings import Settings

    output = output or Settings.from_env().home / "evaluation.md"
    summary = evaluate_all(
        catalog=catalog, gold_schema=gold_schema, feature_schema=feature_schema, output=output, models=model or None
    )
    table = Table(title=f"Evaluation of {catalog}.{feature_schema} (test period, one account)")
    for col in ("model", "metric", "figure", "best baseline", "baseline", "margin", "verdict"):
        table.add_column(col)
    for name, r in summary["models"].items():
        value, base = r.get("value"), r.get("best_baseline_value")
        shown = r.get("na") or ("n/a" if value is None or value != value else f"{value:.3f}")
        table.add_row(
            name,
            r.get("metric", "-"),
            shown,
            r.get("best_baseline") or "-",
            "-" if base is None else f"{base:.3f}",
            fmt_margin(r.get("margin"), not r.get("higher_is_better", True)),
            verdict(r),
        )
    Console(width=160).print(table)
    typer.echo(f"{summary['met']} of {len(summary['models'])} models beat their strongest baseline on this account "
               f"(one account; `make eval` reports fresh accounts). Wrote {summary.get('output')}")


app.command("evaluate")(evaluate)
