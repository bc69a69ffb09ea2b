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
    start: Optional[str] = typer.Option(None, "--start",
        help="First day shown (YYYY-MM-DD; default: the last 30 days of data)."),
    end: Optional[str] = typer.Option(None, "--end", help="Last day shown (YYYY-MM-DD)."),
    workspace_id: Optional[str] = typer.Option(
        None, "--workspace-id", help="Only this workspace: its cost anomalies and cost chart."),
    job_id: Optional[str] = typer.Option(None, "--job-id", help="Only this job: its failure and SLA risk per run day."),
    user_id: Optional[str] = typer.Option(None, "--user-id", help="Only this user: their security alerts per day."),
) -> None:
    """Write the health report (cost anomalies, forecast vs actual, jobs at risk, security
    alerts, stale tables and drift) as one self-contained HTML file — the server's Health page
    with the same filters, as a file."""
    from healthmon.cli.checks import output_file
    from healthmon.ml.report import Filters, write_report
    from healthmon.settings import Settings

    if output is not None:
        output_file(output, "--output", creates_folders=True)
    filters = Filters.parse({"start": start, "end": end, "workspace_id": workspace_id, "job_id": job_id,
                             "user_id": user_id})
    target = output or Settings.from_env().home / "reports" / "health_report.html"
    path, result = write_report(catalog, gold_schema, feature_schema, target, filters=filters)
    typer.echo(f"Health summary ({catalog}):")
    for line in result.summary_lines:
        typer.echo(f"  - {line}")
    typer.echo(f"Report written to {path.resolve()}")


app.command(name="report")(report)
