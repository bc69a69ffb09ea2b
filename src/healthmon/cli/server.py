"""``healthmon server``: the workspace server (REST API + web UI), and the scheduler with it."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Annotated

import typer


def _start_scheduler() -> Callable[[], None] | None:
    """Run the scheduler daemon in a background thread when the scheduler is installed; returns
    what stops it (after the tick in progress, so a fire claimed there gets its run started)."""
    import importlib

    try:
        daemon = importlib.import_module("healthmon.schedule.daemon")
    except ModuleNotFoundError as exc:
        if exc.name != "healthmon.schedule.daemon":
            raise
        return None
    sched = daemon.Scheduler()
    thread = threading.Thread(target=sched.run_forever, name="healthmon-scheduler", daemon=True)
    thread.start()

    def stop() -> None:
        sched.stop()
        thread.join(timeout=30)

    return stop


def _serve_workers(config) -> None:
    """uvicorn.run's ``workers > 1`` branch, which swallows the signal that stopped the workers
    (exit 0): here it is raised again once they have stopped, as uvicorn's one-process server
    does, so the CLI's handler exits 128 + signal."""
    import signal

    from uvicorn.supervisors import Multiprocess

    received: list[int] = []

    class Supervisor(Multiprocess):
        def handle_int(self) -> None:
            received.append(signal.SIGINT)
            super().handle_int()

        def handle_term(self) -> None:
            received.append(signal.SIGTERM)
            super().handle_term()

    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    sock = config.bind_socket()
    try:
        Supervisor(config, sockets=[sock]).run()  # replaces the handlers, and leaves its own
    finally:
        sock.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        signal.raise_signal(received[0])


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
    stop_scheduler = _start_scheduler() if scheduler else None
    if stop_scheduler is not None:
        typer.echo("Scheduler started.", err=True)
    from healthmon.jobs.confine import status as confinement

    typer.echo(f"Task code: {confinement()}.", err=True)  # says so when the workspace is single-user
    typer.echo(f"Serving http://{host}:{port}  (UI at /, API at /api/2.2, OpenAPI at /api/openapi.json)", err=True)
    try:
        if workers > 1:
            # Each worker process builds its own app from the factory; the scheduler thread stays
            # in this supervising process, so jobs are scheduled once.
            _serve_workers(uvicorn.Config("healthmon.server.app:create_app", factory=True, workers=workers, host=host,
                                          port=port, log_level="info", access_log=False, server_header=False,
                                          log_config=log_config))
        else:
            uvicorn.run(
                app, host=host, port=port, log_level="info", access_log=False, server_header=False,
                log_config=log_config
            )
    finally:
        if stop_scheduler is not None:
            stop_scheduler()
