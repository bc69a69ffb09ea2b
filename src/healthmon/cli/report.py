"""``healthmon report``: write the HTML health report and print its summary."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="The Health Monitor HTML report.")

# The defaults are the bundle's dev target (databricks.yml), where `make demo` puts everything.
DEFAULT_CATALOG = "dev_catalog"
DEFAULT_GOLD_SCHEMA = "gold"
DEFAULT_FEATURE_SCHEMA = "dev_gold_ml"


def report(
    catalog: str = typer.Option(DEFAULT_CATALOG, "--catalog", "-c", help="Catalog of the gold and ML schemas."),
    gold_schema: str = typer.Option(DEFAULT_GOLD_SCHEMA, "--gold-schema", help="Schema of the gold tables."),
    feature_schema: str = typer.Option(
        DEFAULT_FEATURE_SCHEMA, "--feature-schema", help="Schema of the feature and prediction tables."),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="HTML file to write (default: $HEALTHMON_HOME/reports/health_report.html)."),
) -> None:
    """Write the health report (cost anomalies, forecast vs actual, jobs at risk, security
    alerts, stale tables and drift) as one self-contained HTML file."""
    from healthmon.ml.report import write_report
    from healthmon.settings import Settings

    target = output or Settings.from_env().home / "reports" / "health_report.html"
    path, result = write_report(catalog, gold_schema, feature_schema, target)
    typer.echo(f"Health summary ({catalog}):")
    for line in result.summary_lines:
        typer.echo(f"  - {line}")
    typer.echo(f"Report written to {path.resolve()}")


app.command(name="report")(report)
