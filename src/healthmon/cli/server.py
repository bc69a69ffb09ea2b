"""``healthmon server``: the workspace server (REST API + web UI), and the scheduler with it."""

from __future__ import annotations

import logging
import os
import threading
from typing import Annotated

import typer


def _start_scheduler() -> threading.Thread | None:
    """Run the scheduler daemon in a background thread when the scheduler is installed."""
    import importlib
    import inspect

    try:
        daemon = importlib.import_module("healthmon.schedule.daemon")
    except ModuleNotFoundError as exc:
        if exc.name != "healthmon.schedule.daemon":
            raise
        return None
    target = None
    for name in ("run_forever", "run", "main", "serve"):
        fn = getattr(daemon, name, None)
        if callable(fn) and not inspect.isclass(fn):
            target = fn
            break
    if target is None:
        logging.getLogger("healthmon.server").warning(
            "healthmon.schedule.daemon has no run function; scheduler not started"
        )
        return None
    thread = threading.Thread(target=target, name="healthmon-scheduler", daemon=True)
    thread.start()
    return thread


def _log_config() -> dict:
    """uvicorn's logging config plus healthmon's loggers, so worker processes (which do not
    inherit this process's logging setup) log the access lines and the scheduler too."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["healthmon"] = {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    config["handlers"]["healthmon"] = {"class": "logging.StreamHandler", "formatter": "healthmon", "stream": "ext://sys.stderr"}
    config["loggers"]["healthmon"] = {"handlers": ["healthmon"], "level": "INFO", "propagate": False}
    return config


def server(
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8080,
    scheduler: Annotated[bool, typer.Option("--scheduler/--no-scheduler", help="Also run the job scheduler.")] = True,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Server processes (the scheduler runs once, here).")
    ] = 1,
) -> None:
    """Serve the Databricks-compatible REST API and the web UI (and run the scheduler)."""
    import uvicorn

    from healthmon.cli.checks import can_listen
    from healthmon.server.app import create_app
    from healthmon.settings import Settings

    can_listen(host, port)  # before anything changes this process's environment or logging

    # Runs started here link back to this server (run_page_url).
    os.environ.setdefault("HEALTHMON_SERVER_URL", f"http://{host}:{port}")
    # Settings are re-read from the environment on every runtime call; pinning the user name
    # saves a passwd lookup per request (and keeps one identity for the process's lifetime).
    os.environ.setdefault("HEALTHMON_USER", Settings.from_env().user_name)
    import logging.config

    log_config = _log_config()
    logging.config.dictConfig(log_config)
    app = create_app()  # also validates the workspace before anything listens
    if scheduler and _start_scheduler() is not None:
        typer.echo("Scheduler started.", err=True)
    from healthmon.jobs.confine import status as confinement

    typer.echo(f"Task code: {confinement()}.", err=True)  # says so when the workspace is single-user
    typer.echo(f"Serving http://{host}:{port}  (UI at /, API at /api/2.2, OpenAPI at /api/openapi.json)", err=True)
    if workers > 1:
        # Each worker process builds its own app from the factory; the scheduler thread stays
        # in this supervising process, so jobs are scheduled once.
        uvicorn.run("healthmon.server.app:create_app", factory=True, workers=workers, host=host, port=port,
                    log_level="info", access_log=False, server_header=False, log_config=log_config)
    else:
        uvicorn.run(
            app, host=host, port=port, log_level="info", access_log=False, server_header=False, log_config=log_config
        )
