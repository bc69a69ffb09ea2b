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
        logging.getLogger("healthmon.server").warning("healthmon.schedule.daemon has no run function; scheduler not started")
        return None
    thread = threading.Thread(target=target, name="healthmon-scheduler", daemon=True)
    thread.start()
    return thread


def server(
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8080,
    scheduler: Annotated[bool, typer.Option("--scheduler/--no-scheduler", help="Also run the job scheduler.")] = True,
) -> None:
    """Serve the Databricks-compatible REST API and the web UI (and run the scheduler)."""
    import uvicorn

    from healthmon.server.app import create_app

    from healthmon.settings import Settings

    # Runs started here link back to this server (run_page_url).
    os.environ.setdefault("HEALTHMON_SERVER_URL", f"http://{host}:{port}")
    # Settings are re-read from the environment on every runtime call; pinning the user name
    # saves a passwd lookup per request (and keeps one identity for the process's lifetime).
    os.environ.setdefault("HEALTHMON_USER", Settings.from_env().user_name)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app()
    if scheduler and _start_scheduler() is not None:
        typer.echo("Scheduler started.", err=True)
    typer.echo(f"Serving http://{host}:{port}  (UI at /, API at /api/2.2, OpenAPI at /api/openapi.json)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, server_header=False)
