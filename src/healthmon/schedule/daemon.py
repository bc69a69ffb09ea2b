"""The scheduler loop: load jobs, find due fires, claim them in the database, start their runs.

One ``tick(now)`` does one pass; ``run_forever`` sleeps between ticks until the earliest of: the
next fire time of any unpaused schedule, the next poll of event triggers (file arrival, table
update, continuous), the next reload of job settings. Several schedulers may run against the
same database: each fire is claimed by an INSERT guarded by UNIQUE (job_id, fire_key)
(store/schedule.py), so exactly one of them starts its run. Restart safety: the cursor of each
time-based trigger (every fire time <= cursor is handled) is persisted with the claims, so a
restarted scheduler neither re-runs claimed fires nor forgets missed ones (it applies the
catch-up policy); a fire claimed by a scheduler that died before starting its run is taken
over after ``stale_seconds``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from healthmon.errors import HealthmonError
from healthmon.schedule import triggers as T
from healthmon.store import schedule as S
from healthmon.store.db import Database

log = logging.getLogger("healthmon.scheduler")
UTC = dt.timezone.utc

# start_run(job_id, trigger_type, run_as_user_name) -> run_id
StartRun = Callable[[int, str, str | None], int]


def _service_start_run(job_id: int, trigger_type: str, user_name: str | None) -> int:
    from healthmon.jobs import service  # lazily: the runtime is heavy and optional for planning

    return service.run_now(job_id, trigger=trigger_type, user_name=user_name)


def _ms(t: dt.datetime) -> int:
    return int(round(t.timestamp() * 1000))


def _from_ms(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, UTC)


@dataclass
class JobEntry:
    job_id: int
    name: str
    settings_json: str
    created: dt.datetime
    run_as: str | None
    triggers: list[Any]
    next_due: dict[str, dt.datetime | None] = field(default_factory=dict)  # timed kind -> next fire
    retry_at: dict[str, float] = field(default_factory=dict)  # event kind -> earliest re-check


@dataclass(frozen=True)
class Started:
    job_id: int
    kind: str
    fire_key: str
    fire_time: dt.datetime
    run_id: int | None
    error: str | None = None


class Scheduler:
    def __init__(self, db: Database | None = None, *, catch_up: str = "latest", grace_seconds: float = 60.0,
                 poll_seconds: float = 5.0, reload_seconds: float = 10.0, stale_seconds: float = 120.0,
                 max_catch_up: int = 100, start_run: StartRun | None = None, instance_id: str | None = None):
        if catch_up not in T.CATCH_UP_POLICIES:
            raise HealthmonError(f"--catch-up must be one of {', '.join(T.CATCH_UP_POLICIES)}, got {catch_up!r}.")
        self.db = db or Database.from_settings()
        self.catch_up = catch_up
        self.grace = dt.timedelta(seconds=grace_seconds)
        self.poll_seconds = poll_seconds
        self.reload_seconds = reload_seconds
        self.stale_ms = int(stale_seconds * 1000)
        self.max_catch_up = max_catch_up
        self.start_run = start_run or _service_start_run
        self.instance_id = instance_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.jobs: dict[int, JobEntry] = {}
        self._paused_seen: dict[tuple[int, str], bool] = {}
        self._bad_settings: dict[int, str] = {}
        self._last_reload: float | None = None
        self._next_poll = 0.0
        self._stop = threading.Event()

    # ---- job loading ----------------------------------------------------------------------

    def reload(self, now: dt.datetime) -> None:
        """Re-read job settings (re-parsing only jobs whose settings changed), and record pause
        transitions: a paused trigger's cursor follows the clock, so unpausing does not catch
        up the fires of the paused period."""
        from sqlalchemy import select

        from healthmon.store.jobs import JobRecord

        with self.db.session() as s:
            rows = s.execute(select(JobRecord.job_id, JobRecord.settings_json, JobRecord.created_time,
                                    JobRecord.run_as_user_name)).all()
        seen: set[int] = set()
        jobs: dict[int, JobEntry] = {}
        for job_id, settings_json, created_ms, run_as in rows:
            seen.add(job_id)
            old = self.jobs.get(job_id)
            if old is not None and old.settings_json == settings_json:
                jobs[job_id] = old
                continue
            if self._bad_settings.get(job_id) == settings_json:
                continue
            settings = json.loads(settings_json)
            if not T.has_triggers(settings):
                continue
            name = settings.get("name") or f"job {job_id}"
            try:
                trig = T.job_triggers(settings, created=_from_ms(created_ms), job=f"Job {name!r} (id {job_id})")
            except HealthmonError as exc:
                log.error("skipping %s", exc)
                self._bad_settings[job_id] = settings_json
                continue
            jobs[job_id] = JobEntry(job_id, name, settings_json, _from_ms(created_ms), run_as, trig)
        self.jobs = jobs
        self._bad_settings = {k: v for k, v in self._bad_settings.items() if k in seen}
        self._pause_transitions(now)
        self._last_reload = time.monotonic()

    def _pause_transitions(self, now: dt.datetime) -> None:
        changed: list[tuple[int, str]] = []
        current: dict[tuple[int, str], bool] = {}
        for job in self.jobs.values():
            for trig in job.triggers:
                if trig.kind not in T.TIMED_KINDS:
                    continue
                key = (job.job_id, trig.kind)
                current[key] = trig.paused
                before = self._paused_seen.get(key)
                # Paused now (first sight or newly) or just unpaused: the cursor jumps to now.
                if (trig.paused and before is not True) or (not trig.paused and before is True):
                    changed.append(key)
                if trig.paused or before is not False:
                    job.next_due.pop(trig.kind, None)  # recompute from the stored cursor
        if changed:
            with self.db.session() as s:
                for job_id, kind in changed:
                    S.advance_cursor(s, job_id, kind, _ms(now))
        self._paused_seen = current

    # ---- one pass -------------------------------------------------------------------------

    def tick(self, now: dt.datetime | None = None) -> list[Started]:
        """One scheduling pass at ``now`` (default: the clock). Returns the fires this scheduler
        claimed and started."""
        now = now or dt.datetime.now(UTC)
        started: list[Started] = []
        if self._last_reload is None or time.monotonic() - self._last_reload >= self.reload_seconds:
            self.reload(now)
            started += self._recover_stale()
        due_jobs = [j for j in self.jobs.values() if self._timed_due(j, now)]
        if due_jobs:
            started += self._fire_timed(due_jobs, now)
        if time.monotonic() >= self._next_poll:
            self._next_poll = time.monotonic() + self.poll_seconds
            for job in list(self.jobs.values()):
                for trig in job.triggers:
                    if trig.kind in T.TIMED_KINDS:
                        continue
                    try:
                        started += self._fire_event(job, trig, now)
                    except HealthmonError as exc:
                        log.error("job %s (%s): %s", job.job_id, trig.kind, exc)
        return started

    def _timed_due(self, job: JobEntry, now: dt.datetime) -> bool:
        for trig in job.triggers:
            if trig.kind in T.TIMED_KINDS and not trig.paused:
                if trig.kind not in job.next_due:
                    return True  # not planned yet: look at the stored cursor
                nxt = job.next_due[trig.kind]
                if nxt is not None and nxt <= now:
                    return True
        return False

    def _fire_timed(self, due_jobs: list[JobEntry], now: dt.datetime) -> list[Started]:
        """Plan every due schedule/periodic trigger, claim all their fires in one transaction,
        then start the runs this scheduler won."""
        with self.db.session() as s:
            states = S.load_states(s, [j.job_id for j in due_jobs])
        requests: list[S.FireRequest] = []
        cursors: list[tuple[int, str, int]] = []
        for job in due_jobs:
            for trig in job.triggers:
                if trig.kind not in T.TIMED_KINDS or trig.paused:
                    continue
                due = job.next_due.get(trig.kind)
                if trig.kind in job.next_due and (due is None or due > now):
                    continue
                view = states.get((job.job_id, trig.kind))
                cursor = _from_ms(view.cursor) if view and view.cursor is not None else job.created
                plan = T.plan_timed(trig, cursor, now, policy=self.catch_up, grace=self.grace, cap=self.max_catch_up)
                if plan.skipped:
                    log.info("job %s: skipped missed %s fire(s) (catch-up %s)", job.job_id, trig.kind, self.catch_up)
                for fire_time in plan.fires:
                    key = f"{trig.kind}:{fire_time.astimezone(UTC).isoformat()}"
                    requests.append(S.FireRequest(job.job_id, key, trig.kind, trig.trigger_type, _ms(fire_time)))
                cursors.append((job.job_id, trig.kind, _ms(plan.cursor)))
                job.next_due[trig.kind] = plan.cursor if plan.cursor < now else trig.next_after(plan.cursor)
        claims = S.claim_many(self.db, requests, self.instance_id, cursors)
        kinds = {(r.job_id, r.fire_key): (r.kind, r.trigger_type) for r in requests}
        # Each outcome is recorded as soon as its run starts (not batched): a crash can then
        # leave at most one started-but-unrecorded fire behind.
        return [self._start(self.jobs[c.job_id], *kinds[(c.job_id, c.fire_key)], c, _from_ms(c.fire_time))
                for c in claims]

    def _fire_event(self, job: JobEntry, trig, now: dt.datetime) -> list[Started]:
        if trig.paused:
            return []
        now_s = now.timestamp()
        if job.retry_at.get(trig.kind, 0) > now_s:
            return []
        stale_before = S.now_ms() - self.stale_ms
        with self.db.session() as s:
            view = S.get_state(s, job.job_id, trig.kind)
            flying = S.in_flight(s, job.job_id, trig.kind, stale_before)
        if flying:
            return []
        seq = view.seq if view else 0
        state = view.state if view else None
        if trig.kind == "continuous":
            from healthmon.schedule.observe import active_job_runs

            if not T.continuous_decision(trig, active_job_runs(job.job_id), flying):
                return []
            new_state = {"last_fire": now_s}
            reason = "no active run"
        else:
            from healthmon.schedule import observe

            if trig.kind == "file_arrival":
                files = observe.scan_files(observe.local_path(trig.url))
                decision = T.file_arrival_decision(trig, state, files, now_s)
            else:
                decision = T.table_update_decision(trig, state, observe.table_versions(trig.table_names), now_s)
            if decision.changed and not decision.fire:
                S.put_baseline(self.db, job.job_id, trig.kind, decision.state)
            if decision.retry_at is not None:
                job.retry_at[trig.kind] = decision.retry_at
            if not decision.fire:
                return []
            new_state, reason = decision.state, decision.reason
        claim = S.claim_fire(self.db, job_id=job.job_id, fire_key=f"{trig.kind}:{seq + 1}", kind=trig.kind,
                             trigger_type=trig.trigger_type, fire_time_ms=_ms(now), claimed_by=self.instance_id,
                             expect_seq=seq, new_state=new_state)
        if claim is None:
            return []
        log.info("job %s: %s fire %d (%s)", job.job_id, trig.kind, seq + 1, reason)
        return [self._start(job, trig.kind, trig.trigger_type, claim, now)]

    def _start(self, job: JobEntry, kind: str, trigger_type: str, claim: S.Claim, fire_time: dt.datetime) -> Started:
        try:
            run_id = self.start_run(job.job_id, trigger_type, job.run_as)
        except Exception as exc:  # a bad job must not stop the scheduler
            message = str(exc) if isinstance(exc, HealthmonError) else f"{type(exc).__name__}: {exc}"
            log.error("job %s: could not start the run for %s: %s", job.job_id, claim.fire_key, message)
            S.mark_failed(self.db, claim.id, message)
            return Started(job.job_id, kind, claim.fire_key, fire_time, None, message)
        S.mark_started(self.db, claim.id, run_id)
        log.info("job %s (%s): %s started run %s", job.job_id, job.name, claim.fire_key, run_id)
        return Started(job.job_id, kind, claim.fire_key, fire_time, run_id)

    def _recover_stale(self) -> list[Started]:
        """Start the runs of fires whose scheduler died between claim and start."""
        stale_before = S.now_ms() - self.stale_ms
        with self.db.session() as s:
            stale = [
                (f.id, f.job_id, f.kind, f.trigger_type, f.fire_key, f.fire_time)
                for f in S.stale_claims(s, stale_before)
            ]
        out = []
        for fire_id, job_id, kind, trigger_type, key, fire_ms in stale:
            job = self.jobs.get(job_id)
            if job is None or not S.reclaim_stale(self.db, fire_id, self.instance_id, stale_before):
                continue
            log.warning("job %s: taking over stale claim %s", job_id, key)
            out.append(self._start(job, kind, trigger_type, S.Claim(fire_id, job_id, key, fire_ms), _from_ms(fire_ms)))
        return out

    # ---- the loop -------------------------------------------------------------------------

    def next_wake(self, now: dt.datetime) -> dt.datetime:
        """When the next tick is needed."""
        wake = now + dt.timedelta(seconds=max(0.0, self.reload_seconds - (time.monotonic() - (self._last_reload or 0))))
        has_events = False
        for job in self.jobs.values():
            for trig in job.triggers:
                if trig.paused:
                    continue
                if trig.kind in T.TIMED_KINDS:
                    nxt = job.next_due.get(trig.kind)
                    if nxt is not None and nxt < wake:
                        wake = nxt
                else:
                    has_events = True
        if has_events:
            poll = now + dt.timedelta(seconds=max(0.0, self._next_poll - time.monotonic()))
            wake = min(wake, poll)
        return wake

    def stop(self) -> None:
        self._stop.set()

    def run_forever(self, on_started: Callable[[Started], None] | None = None) -> None:
        log.info("scheduler %s started (catch-up: %s)", self.instance_id, self.catch_up)
        while not self._stop.is_set():
            try:
                for started in self.tick():
                    if on_started:
                        on_started(started)
            except Exception:  # keep scheduling through transient database errors
                log.exception("scheduler tick failed; retrying")
                self._stop.wait(1.0)
                continue
            now = dt.datetime.now(UTC)
            delay = (self.next_wake(now) - now).total_seconds()
            if delay > 0:
                self._stop.wait(delay)
        log.info("scheduler %s stopped", self.instance_id)
