"""Helpers shared by the scheduler tests (imported as a plain module)."""

from __future__ import annotations

import datetime as dt
import itertools
import json

from healthmon.store.db import Database
from healthmon.store.jobs import JobRecord

UTC = dt.timezone.utc


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def add_job(settings: dict, created: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=UTC), db: Database | None = None) -> int:
    db = db or Database.from_settings()
    with db.session() as s:
        row = JobRecord(settings_json=json.dumps(settings), creator_user_name="tester@example.com",
                        run_as_user_name="tester@example.com", created_time=int(created.timestamp() * 1000))
        s.add(row)
        s.flush()
        return row.job_id


def set_settings(job_id: int, settings: dict, db: Database | None = None) -> None:
    db = db or Database.from_settings()
    with db.session() as s:
        s.get(JobRecord, job_id).settings = settings


class Recorder:
    """A start_run that records what the scheduler asked for (for claim/catch-up logic tests;
    the end-to-end tests use the real jobs service)."""

    def __init__(self, fail_for: set[int] = frozenset()):
        self.calls: list[tuple[int, str, str | None]] = []
        self.ids = itertools.count(1000)
        self.fail_for = fail_for

    def __call__(self, job_id: int, trigger: str, user: str | None) -> int:
        if job_id in self.fail_for:
            from healthmon.errors import HealthmonError

            raise HealthmonError(f"Job {job_id} has no tasks to run.")
        self.calls.append((job_id, trigger, user))
        return next(self.ids)


def schedule(expr: str, tz: str = "UTC", paused: bool = False, name: str = "job") -> dict:
    return {"name": name, "schedule": {"quartz_cron_expression": expr, "timezone_id": tz,
                                       "pause_status": "PAUSED" if paused else "UNPAUSED"}}
