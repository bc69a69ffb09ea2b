"""``healthmon evaluate``: score every Champion model on its test period and write EVALUATION.md."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=False)


def evaluate(
    catalog: str = typer.Option("dev_catalog", "--catalog", help="Catalog of the gold and feature schemas (dev target: dev_catalog)."),
    gold_schema: str = typer.Option("gold", "--gold-schema", help="Schema of the gold tables and ground_truth_incidents."),
    feature_schema: str = typer.Option("dev_gold_ml", "--feature-schema", help="Schema of the feature tables and registered models."),
    output: Path = typer.Option(Path("EVALUATION.md"), "--output", help="Markdown report to write."),
    model: list[str] = typer.Option([], "--model", help="Evaluate only these models (repeatable)."),
) -> None:
    """Evaluate detectors (event-level F1 vs ground_truth_incidents), classifiers (ROC-AUC, PR-AUC)
    and forecasters (MAPE/MAE vs seasonal naive) on the test period; log to MLflow."""
    from rich.console import Console
    from rich.table import Table

    from healthmon.errors import InvalidParameterError
    from healthmon.lakehouse.paths import check_identifier
    from healthmon.ml.evaluation import evaluate_all
    from healthmon.ml.models import MODELS

    for what, value in (("catalog", catalog), ("gold schema", gold_schema), ("feature schema", feature_schema)):
        check_identifier(value, what)
    unknown = [m for m in model if m not in MODELS]
    if unknown:
        raise InvalidParameterError(f"--model {', '.join(unknown)}: unknown model; expected one of {', '.join(MODELS)}.")
    summary = evaluate_all(catalog=catalog, gold_schema=gold_schema, feature_schema=feature_schema, output=output, models=model or None)
    table = Table(title=f"Evaluation of {catalog}.{feature_schema} (test period)")
    for col in ("model", "kind", "metric", "value", "target", "met"):
        table.add_column(col)
    for name, r in summary["models"].items():
        kind = MODELS[name].kind
        metric, value = {"anomaly": ("F1", r.get("f1")), "regression": ("MAPE improvement", r.get("mape_improvement"))}.get(kind, ("ROC-AUC", r.get("roc_auc")))
        shown = "n/a" if value is None or value != value else f"{value:.3f}"
        met = r.get("status") if r.get("status") != "EVALUATED" else ("yes" if r.get("met") else "no")
        table.add_row(name, kind, metric, shown, r.get("target", ""), met)
    Console().print(table)
    typer.echo(f"{summary['met']} of {len(summary['models'])} targets met. Wrote {summary.get('output')}")


app.command("evaluate")(evaluate)
