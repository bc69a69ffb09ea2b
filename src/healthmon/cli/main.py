"""Entry point: ``healthmon <group> <verb>``.

User errors (``HealthmonError``) are printed as one message and exit non-zero; no traceback.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys

import typer
from typer.exceptions import TyperException

from healthmon.errors import HealthmonError
from healthmon.logsetup import route_library_output

app = typer.Typer(
    name="healthmon",
    help="Databricks Health Monitor, with a Databricks-compatible bundle and jobs runtime on one machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

@app.callback()
def _check_environment(ctx: typer.Context) -> None:
    """Refuse a bad ``HEALTHMON_*`` setting before any command touches the workspace (help
    needs no workspace: it is shown whatever the environment)."""
    from healthmon.settings import check_environment

    if not (ctx.obj or {}).get("help"):
        check_environment()


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
    ("healthmon.cli.alerts", "alerts", "Alert rules over the latest predictions: test them, or send."),
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


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every way out is an exit code and at most one message, never a traceback:
    usage errors exit 2 (click's message), user errors 1, an interrupt 128 + the signal (130 for
    Ctrl-C, 143 for SIGTERM), and an unexpected exception 1 with its traceback written to a file
    (see ``_report_bug``)."""
    # Library logs and warnings (pandas, sklearn, mlflow...) are noise on a user's terminal: they
    # go to the workspace's log file. What a user must know is raised as a HealthmonError.
    route_library_output(rotate=True)
    previous = _interrupt_on_signals()
    try:
        args = sys.argv[1:] if argv is None else argv
        rc = app(args=args, prog_name="healthmon", standalone_mode=False, obj={"help": "--help" in args})
        if _received_signal is not None:  # typer turned the interrupt into exit code 130
            _exit_interrupted()
        sys.exit(rc if isinstance(rc, int) else 0)
    except HealthmonError as exc:
        typer.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except TyperException as exc:  # typer's (vendored click) usage errors, exit 2, and its own errors
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            typer.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        _exit_interrupted()
    except BrokenPipeError:
        # `healthmon ... | head`: the reader left; stop quietly, as other CLI tools do.
        sys.stderr.close()
        sys.exit(141)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a bug, reported as one
        if _received_signal is not None:
            # A library turned the signal's KeyboardInterrupt into its own error (DuckDB raises
            # "RuntimeError: Query interrupted"): still an interrupt, not a bug.
            _exit_interrupted()
        typer.echo(_report_bug(exc), err=True)
        sys.exit(1)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


_received_signal: int | None = None


def _interrupt_on_signals() -> dict:
    """Make SIGTERM (`kill`, a service manager, a CI timeout) take Ctrl-C's path: both raise
    KeyboardInterrupt, so the command's clean-up runs (staged tables removed, a watched run
    cancelled) and the exit code is 128 + the signal. Commands with their own handler
    (scheduler, server, evaluate --seeds) replace this one. Returns the previous handlers."""
    import threading

    global _received_signal
    _received_signal = None
    if threading.current_thread() is not threading.main_thread():  # only the main thread may
        return {}

    def interrupt(received: int, _frame) -> None:
        global _received_signal
        _received_signal = received
        raise KeyboardInterrupt

    return {signum: signal.signal(signum, interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}


def _exit_interrupted() -> None:
    signum = _received_signal or signal.SIGINT
    typer.echo(f"Interrupted ({signal.Signals(signum).name}).", err=True)
    sys.exit(128 + signum)


def _report_bug(exc: BaseException) -> str:
    """One paragraph for an exception no command turned into a user error; the traceback goes
    to ``$HEALTHMON_HOME/logs/`` (or the temp directory) for the bug report."""
    import tempfile
    import time
    import traceback

    text = "".join(traceback.format_exception(exc))
    detail = (str(exc).strip().splitlines() or [""])[0][:300]
    where = "not saved"
    try:
        from healthmon.settings import Settings

        folder = Settings.from_env().home / "logs"
        folder.mkdir(parents=True, exist_ok=True)
    except Exception:  # noqa: BLE001 - an unusable HEALTHMON_HOME must not hide the bug report
        folder = None
    for directory in (folder, tempfile.gettempdir()):
        if directory is None:
            continue
        try:
            path = f"{directory}/healthmon-crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
            with open(path, "w") as f:
                f.write(text)
            where = path
            break
        except OSError:
            continue
    return (f"Error: unexpected internal error: {type(exc).__name__}: {detail}\n"
            f"  This is a bug in healthmon, not in your input; the traceback is in {where}.")


if __name__ == "__main__":
    main()
