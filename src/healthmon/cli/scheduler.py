"""``healthmon scheduler``: the job scheduler, in the foreground."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer()

# Upper bounds: the daemon adds these to datetimes, which cannot hold inf or 1e300 seconds.
DAY = 24 * 3600.0


def scheduler(
    catch_up: Annotated[str, typer.Option("--catch-up", help="Missed fires after downtime: latest (run the latest "
                                          "missed fire once), all, or none.")] = "latest",
    once: Annotated[bool, typer.Option("--once", help="Run one scheduling pass and exit.")] = False,
    poll_seconds: Annotated[float, typer.Option(
        "--poll-interval", min=0.1, max=DAY,
        help="Seconds between checks of file-arrival, table-update and continuous triggers.")] = 5.0,
    reload_seconds: Annotated[float, typer.Option(
        "--reload-interval", min=0.1, max=DAY,
        help="Seconds between re-reads of job settings (deploys, pause/unpause).")] = 10.0,
    grace_seconds: Annotated[float, typer.Option(
        "--grace", min=0, max=366 * DAY, help="A fire later than this is 'missed' and follows --catch-up.")] = 60.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only log warnings and errors.")] = False,
) -> None:
    """Fire scheduled and triggered jobs (schedule, trigger.periodic/file_arrival/table_update,
    continuous). Safe to run several at once against one workspace: each fire starts one run."""
    import datetime as dt
    import logging
    import signal

    from healthmon.cli.checks import one_of
    from healthmon.schedule import triggers
    from healthmon.schedule.daemon import Scheduler

    one_of(catch_up, "--catch-up", triggers.CATCH_UP_POLICIES)

    # The scheduler's own log is this command's output; library logs stay in the log file.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    own = logging.getLogger("healthmon")
    own.addHandler(handler)
    own.setLevel(logging.WARNING if quiet else logging.INFO)
    sched = Scheduler(catch_up=catch_up, poll_seconds=poll_seconds, reload_seconds=reload_seconds,
                      grace_seconds=grace_seconds)
    # A signal ends the scheduler after the tick in progress, not inside it: a fire claimed there
    # always gets its run started (and recorded) before the process exits.
    received: list[int] = []

    def _stop(signum, _frame):
        received.append(signum)
        sched.stop()

    previous = {signum: signal.signal(signum, _stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        if once:
            for started in sched.tick():
                when = started.fire_time.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                if started.run_id is not None:
                    typer.echo(f"job {started.job_id}: {started.fire_key} started run {started.run_id}")
                else:
                    typer.echo(f"job {started.job_id}: {started.fire_key} ({when}) failed to start: {started.error}",
                               err=True)
        else:
            typer.echo(f"Scheduler running (catch-up: {catch_up}); Ctrl-C to stop.", err=True)
            sched.run_forever()
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)
    if received:
        # Now the CLI's own handler takes it, as after the server's shutdown: "Interrupted
        # (SIG...).", exit 128 + signal.
        signal.raise_signal(received[0])
