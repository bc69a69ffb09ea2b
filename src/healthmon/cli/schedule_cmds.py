"""``healthmon jobs pause|unpause|next-runs``: registered on the ``jobs`` group by cli/main.py."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from healthmon.cli.checks import INT64_MAX

app = typer.Typer()


def _edit_pause(job_id: int, paused: bool) -> dict:
    import datetime as dt

    from healthmon.errors import InvalidParameterError
    from healthmon.schedule import triggers as T
    from healthmon.store import schedule as S
    from healthmon.store.db import Database
    from healthmon.store.jobs import get_job

    db = Database.from_settings()
    now_ms = int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)
    with db.session() as s:
        job = get_job(s, job_id)
        settings = job.settings
        if not T.has_triggers(settings):
            raise InvalidParameterError(
                f"Job {job.name!r} (id {job_id}) has no schedule, trigger or continuous setting to "
                f"{'pause' if paused else 'unpause'}.")
        if not paused:
            T.job_triggers(settings, job=f"Job {job.name!r} (id {job_id})")  # refuse to enable a broken schedule
        settings = T.set_pause_status(settings, paused)
        job.settings = settings
        if not paused:
            # Fires that fell in the paused period are not caught up: time-based cursors start now.
            for kind in T.TIMED_KINDS:
                S.advance_cursor(s, job_id, kind, now_ms)
        return T.pause_status(settings)


JobId = Annotated[int, typer.Option("--job-id", min=0, max=INT64_MAX, help="The job.")]


def pause_cmd(job_id: JobId) -> None:
    """Pause the job's schedule, trigger and continuous settings (pause_status: PAUSED)."""
    status = _edit_pause(job_id, True)
    typer.echo(f"Job {job_id}: " + ", ".join(f"{k} {v}" for k, v in status.items()))


def unpause_cmd(job_id: JobId) -> None:
    """Unpause the job's schedule, trigger and continuous settings (pause_status: UNPAUSED)."""
    status = _edit_pause(job_id, False)
    typer.echo(f"Job {job_id}: " + ", ".join(f"{k} {v}" for k, v in status.items()))


def next_runs(job_id: int, count: int = 5, now=None) -> dict:
    """Upcoming fire times of a job as JSON-able data (used by the CLI, usable by the UI)."""
    import datetime as dt

    from healthmon.schedule import triggers as T
    from healthmon.store.db import Database
    from healthmon.store.jobs import get_job

    now = now or dt.datetime.now(dt.timezone.utc)
    with Database.from_settings().session() as s:
        job = get_job(s, job_id)
        settings, name, created = job.settings, job.name, job.created_time
    trigs = T.job_triggers(settings, created=dt.datetime.fromtimestamp(created / 1000, dt.timezone.utc),
                           job=f"Job {name!r} (id {job_id})")
    items: list[dict[str, Any]] = []
    for trig in trigs:
        item: dict[str, Any] = {"kind": trig.kind, "trigger_type": trig.trigger_type, "description": trig.describe(),
                "pause_status": "PAUSED" if trig.paused else "UNPAUSED"}
        if isinstance(trig, (T.ScheduleTrigger, T.PeriodicTrigger)):  # T.TIMED_KINDS
            if isinstance(trig, T.ScheduleTrigger):
                item["quartz_cron_expression"] = trig.cron.expression
                item["timezone_id"] = str(trig.tz)
            item["next_runs"] = [{"local": r.local.isoformat(), "utc": r.utc.isoformat().replace("+00:00", "Z")}
                                 for r in T.upcoming(trig, now, count)]
        items.append(item)
    return {"job_id": job_id, "name": name, "triggers": items}


def next_runs_cmd(
    job_id: JobId,
    count: Annotated[int, typer.Option("--count", min=1, max=1000, help="How many fire times.")] = 5,
    output: Annotated[str, typer.Option("--output", "-o", help="text or json.")] = "text",
) -> None:
    """Upcoming fire times in the schedule's time zone and UTC, with a description."""
    from healthmon.cli.checks import one_of

    one_of(output, "--output", ("text", "json"))
    data = next_runs(job_id, count)
    if output == "json":
        typer.echo(json.dumps(data, indent=2))
        return
    if not data["triggers"]:
        typer.echo(f"Job {data['name']!r} (id {job_id}) has no schedule, trigger or continuous setting: "
                   "it runs only when started (run-now, bundle run).")
        return
    for trig in data["triggers"]:
        paused = "  [PAUSED: nothing fires until unpaused]" if trig["pause_status"] == "PAUSED" else ""
        typer.echo(f"{trig['kind']}: {trig['description']}{paused}")
        if "quartz_cron_expression" in trig:
            typer.echo(
                f"  quartz_cron_expression: {trig['quartz_cron_expression']}  timezone_id: {trig['timezone_id']}"
            )
        runs = trig.get("next_runs")
        if runs is None:
            continue
        if not runs:
            typer.echo("  never fires again")
            continue
        zone = trig.get("timezone_id", "UTC")
        typer.echo(f"  {'#':>3}  {('local (' + zone + ')'):<34} UTC")
        for i, r in enumerate(runs, 1):
            typer.echo(f"  {i:>3}  {r['local']:<34} {r['utc']}")


def register(jobs_app: typer.Typer) -> None:
    jobs_app.command("pause")(pause_cmd)
    jobs_app.command("unpause")(unpause_cmd)
    jobs_app.command("next-runs")(next_runs_cmd)


register(app)
