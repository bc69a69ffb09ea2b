"""Entry point: ``healthmon <group> <verb>``.

User errors (``HealthmonError``) are printed as one message and exit non-zero; no traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from healthmon.errors import HealthmonError

app = typer.Typer(
    name="healthmon",
    help="Databricks Health Monitor, with a Databricks-compatible bundle and jobs runtime on one machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# (module, group name, help). A module that is not there yet is simply not registered.
GROUPS = [
    ("healthmon.cli.bundle", "bundle", "Validate, deploy, run and destroy Databricks Asset Bundles."),
    ("healthmon.cli.jobs", "jobs", "Jobs: list, get, run-now, list-runs, pause/unpause, next-runs."),
    ("healthmon.cli.runs", "runs", "Runs: get, get-output, cancel, repair, logs."),
    ("healthmon.cli.secrets", "secrets", "Local secret scopes for dbutils.secrets."),
    ("healthmon.cli.tables", "tables", "Lakehouse tables: list, describe, history."),
    ("healthmon.cli.demodata", "demo-data", "Generate a synthetic Databricks account's gold tables."),
    ("healthmon.cli.importer", "import", "Import exports of real Databricks system tables."),
    ("healthmon.cli.tokens", "tokens", "Personal access tokens for the workspace server."),
    ("healthmon.cli.anomalies", "anomalies", "Score any exported time series with the cost anomaly method."),
    ("healthmon.cli.mlflow_cmd", "mlflow", "The MLflow tracking store and UI."),
]

# Single commands registered at top level: (module, attribute).
COMMANDS = [
    ("healthmon.cli.sql", "sql"),
    ("healthmon.cli.scheduler", "scheduler"),
    ("healthmon.cli.server", "server"),
    ("healthmon.cli.evaluate", "evaluate"),
    ("healthmon.cli.report", "report"),
]


def _optional_module(module_name: str):
    """The CLI module, or None when that capability is not installed (a missing sub-package is
    skipped; an import error inside it is a bug and propagates)."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise


def _register() -> None:
    for module_name, group, help_text in GROUPS:
        if (module := _optional_module(module_name)) is not None:
            app.add_typer(module.app, name=group, help=help_text)
    for module_name, attr in COMMANDS:
        if (module := _optional_module(module_name)) is not None:
            app.command(name=attr)(getattr(module, attr))
    # Commands that extend an existing group from another package's CLI module
    # (e.g. the scheduler's `jobs pause|unpause|next-runs`): module.register(group_app).
    for module_name, group in EXTENSIONS:
        try:
            module = importlib.import_module(module_name)
            target = importlib.import_module(dict((g, m) for m, g, _ in GROUPS)[group])
        except ModuleNotFoundError:
            continue
        module.register(target.app)


EXTENSIONS = [
    ("healthmon.cli.schedule_cmds", "jobs"),
]

_register()


def main() -> None:
    try:
        rc = app(standalone_mode=False)
        sys.exit(rc if isinstance(rc, int) else 0)
    except HealthmonError as exc:
        typer.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
