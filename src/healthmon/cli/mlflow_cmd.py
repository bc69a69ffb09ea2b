"""``healthmon mlflow ui|uri``: the workspace's MLflow tracking store."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command("uri")
def uri() -> None:
    """Print the MLflow tracking URI of the workspace (use it as MLFLOW_TRACKING_URI)."""
    from healthmon.settings import Settings

    typer.echo(Settings.from_env().mlflow_tracking_uri)


def ui_command(port: int, host: str) -> list[str]:
    """The ``mlflow ui`` command line for the workspace store."""
    import sys
    from pathlib import Path

    from healthmon.settings import Settings

    settings = Settings.from_env()
    exe = Path(sys.executable).with_name("mlflow")
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "mlflow"]
    return base + [
        "ui",
        "--backend-store-uri", settings.mlflow_tracking_uri,
        "--default-artifact-root", settings.mlflow_artifact_root.as_uri(),
        "--host", host,
        "--port", str(port),
    ]


@app.command("ui")
def ui(
    port: int = typer.Option(5000, "--port", min=1, max=65535, help="Port to serve the UI on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind."),
) -> None:
    """Open the MLflow UI on the workspace store (runs until interrupted)."""
    import subprocess

    from healthmon.cli.checks import can_listen
    from healthmon.lakehouse.registry import configure_mlflow

    can_listen(host, port)
    configure_mlflow()  # creates the store, so the UI starts on an initialised database
    cmd = ui_command(port, host)
    typer.echo(f"MLflow UI on http://{host}:{port}  (store: {cmd[cmd.index('--backend-store-uri') + 1]})", err=True)
    # Its own process group: `mlflow ui` starts uvicorn workers and a job runner as children,
    # which stopping the mlflow process alone would leave serving. On any way out (Ctrl-C,
    # SIGTERM, mlflow's own exit) the whole group is stopped.
    proc = subprocess.Popen(cmd, start_new_session=True)
    try:
        code = proc.wait()
    finally:
        _stop_group(proc)
    raise typer.Exit(code)


def _stop_group(proc) -> None:
    import os
    import signal
    import time

    for signum, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            proc.poll()  # reap the leader, so only live members keep the group
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
