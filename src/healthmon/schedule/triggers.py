"""When is a job due? Pure decisions for every Jobs API trigger kind.

A job's settings (Jobs API ``JobSettings`` JSON) may carry:

- ``schedule``: ``{quartz_cron_expression, timezone_id, pause_status}`` → trigger PERIODIC;
- ``trigger.periodic``: ``{interval, unit}`` (MINUTES/HOURS/DAYS/WEEKS) → PERIODIC;
- ``trigger.file_arrival``: ``{url, min_time_between_triggers_seconds, wait_after_last_change_seconds}``
  → FILE_ARRIVAL;
- ``trigger.table_update``: ``{table_names, condition, min_time_between_triggers_seconds,
  wait_after_last_change_seconds}`` → TABLE;
- ``continuous``: ``{pause_status}`` → CONTINUOUS (a new run whenever none is active).

``pause_status`` (PAUSED/UNPAUSED, default UNPAUSED) applies to each. Nothing here touches the
disk, the database or the clock: observations (file listings, table versions, active runs) and
"now" come in as arguments, decisions and the trigger state to persist come out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from healthmon.errors import HealthmonError
from healthmon.schedule.quartz import QuartzCron, parse_quartz, validate_timezone

UTC = dt.timezone.utc
PAUSED, UNPAUSED = "PAUSED", "UNPAUSED"
CATCH_UP_POLICIES = ("latest", "all", "none")
PERIODIC_UNITS = {"MINUTES": 60, "HOURS": 3600, "DAYS": 86400, "WEEKS": 7 * 86400}
TABLE_CONDITIONS = ("ANY_UPDATED", "ALL_UPDATED")


def _pause(block: dict[str, Any], where: str) -> bool:
    status = (block or {}).get("pause_status") or UNPAUSED
    if status not in (PAUSED, UNPAUSED):
        raise HealthmonError(f"{where}.pause_status: expected PAUSED or UNPAUSED, got {status!r}.")
    return status == PAUSED


def _seconds(block: dict[str, Any], key: str, where: str) -> int:
    value = block.get(key)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise HealthmonError(f"{where}.{key}: expected a non-negative number of seconds, got {value!r}.")
    return value


# --------------------------------------------------------------------------------------------
# Trigger definitions


@dataclass(frozen=True)
class ScheduleTrigger:
    """A Quartz cron schedule in a time zone."""

    cron: QuartzCron
    tz: dt.tzinfo
    paused: bool
    kind: str = "schedule"
    trigger_type: str = "PERIODIC"

    def next_after(self, after: dt.datetime) -> dt.datetime | None:
        return self.cron.next_fire(after, self.tz)

    def describe(self) -> str:
        return f"{self.cron.describe()} ({self.tz})"


@dataclass(frozen=True)
class PeriodicTrigger:
    """Every ``interval`` ``unit``s, counted from ``anchor`` (the job's creation time)."""

    interval: int
    unit: str
    anchor: dt.datetime
    paused: bool
    kind: str = "periodic"
    trigger_type: str = "PERIODIC"

    @property
    def period(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.interval * PERIODIC_UNITS[self.unit])

    def next_after(self, after: dt.datetime) -> dt.datetime | None:
        if after < self.anchor:
            return self.anchor + self.period
        steps = (after - self.anchor) // self.period + 1
        return self.anchor + steps * self.period

    def describe(self) -> str:
        unit = self.unit.lower()
        return f"Every {self.interval} {unit[:-1] if self.interval == 1 else unit}"


@dataclass(frozen=True)
class FileArrivalTrigger:
    url: str
    min_between: int
    wait_after_change: int
    paused: bool
    kind: str = "file_arrival"
    trigger_type: str = "FILE_ARRIVAL"

    def describe(self) -> str:
        return f"When new files arrive in {self.url}"


@dataclass(frozen=True)
class TableUpdateTrigger:
    table_names: tuple[str, ...]
    condition: str
    min_between: int
    wait_after_change: int
    paused: bool
    kind: str = "table_update"
    trigger_type: str = "TABLE"

    def describe(self) -> str:
        which = "any of" if self.condition == "ANY_UPDATED" else "all of"
        return f"When {which} {', '.join(self.table_names)} get a new version"


@dataclass(frozen=True)
class ContinuousTrigger:
    paused: bool
    kind: str = "continuous"
    trigger_type: str = "CONTINUOUS"

    def describe(self) -> str:
        return "Continuous: a new run whenever the previous one ends"


Trigger = ScheduleTrigger | PeriodicTrigger | FileArrivalTrigger | TableUpdateTrigger | ContinuousTrigger
TIMED_KINDS = ("schedule", "periodic")


def job_triggers(settings: dict[str, Any], *, created: dt.datetime | None = None, job: str = "job") -> list[Trigger]:
    """The triggers of a job's settings; a HealthmonError naming the job and field if invalid."""
    out: list[Trigger] = []
    schedule = settings.get("schedule")
    if schedule:
        where = f"{job}: schedule"
        expr = schedule.get("quartz_cron_expression")
        if not expr:
            raise HealthmonError(f"{where}.quartz_cron_expression is required.")
        try:
            cron = parse_quartz(expr)
            tz = validate_timezone(schedule.get("timezone_id") or "UTC")
        except HealthmonError as exc:
            raise HealthmonError(f"{where}: {exc.message}") from None
        out.append(ScheduleTrigger(cron=cron, tz=tz, paused=_pause(schedule, where)))
    trigger = settings.get("trigger")
    if trigger:
        where = f"{job}: trigger"
        paused = _pause(trigger, where)
        if trigger.get("periodic"):
            p = trigger["periodic"]
            interval, unit = p.get("interval"), p.get("unit")
            if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
                raise HealthmonError(f"{where}.periodic.interval: expected a positive integer, got {interval!r}.")
            if unit not in PERIODIC_UNITS:
                raise HealthmonError(
                    f"{where}.periodic.unit: expected one of {', '.join(PERIODIC_UNITS)}, got {unit!r}."
                )
            anchor = (created or dt.datetime(1970, 1, 1, tzinfo=UTC)).astimezone(UTC)
            out.append(PeriodicTrigger(interval=interval, unit=unit, anchor=anchor, paused=paused))
        if trigger.get("file_arrival"):
            f = trigger["file_arrival"]
            if not f.get("url"):
                raise HealthmonError(f"{where}.file_arrival.url is required.")
            out.append(FileArrivalTrigger(
                url=f["url"], paused=paused,
                min_between=_seconds(f, "min_time_between_triggers_seconds", f"{where}.file_arrival"),
                wait_after_change=_seconds(f, "wait_after_last_change_seconds", f"{where}.file_arrival"),
            ))
        if trigger.get("table_update") or trigger.get("table"):
            t = trigger.get("table_update") or trigger.get("table")
            names = t.get("table_names") or []
            if not names or not all(isinstance(n, str) for n in names):
                raise HealthmonError(
                    f"{where}.table_update.table_names: expected a non-empty list of catalog.schema.table names."
                )
            condition = t.get("condition") or "ANY_UPDATED"
            if condition not in TABLE_CONDITIONS:
                raise HealthmonError(
                    f"{where}.table_update.condition: expected ANY_UPDATED or ALL_UPDATED, got {condition!r}."
                )
            out.append(TableUpdateTrigger(
                table_names=tuple(names), condition=condition, paused=paused,
                min_between=_seconds(t, "min_time_between_triggers_seconds", f"{where}.table_update"),
                wait_after_change=_seconds(t, "wait_after_last_change_seconds", f"{where}.table_update"),
            ))
    continuous = settings.get("continuous")
    if continuous is not None and continuous is not False:
        out.append(
            ContinuousTrigger(paused=_pause(continuous if isinstance(continuous, dict) else {}, f"{job}: continuous"))
        )
    return out


def pause_status(settings: dict[str, Any]) -> dict[str, str]:
    """``{"schedule"|"trigger"|"continuous": "PAUSED"|"UNPAUSED"}`` for the blocks present."""
    return {
        key: (settings[key].get("pause_status") or UNPAUSED) if isinstance(settings[key], dict) else UNPAUSED
        for key in ("schedule", "trigger", "continuous") if _present(settings, key)
    }


def _present(settings: dict[str, Any], key: str) -> bool:
    # ``continuous: {}`` is a continuous job (every field is optional); None/False is not.
    return settings.get(key) is not None and settings.get(key) is not False


def has_triggers(settings: dict[str, Any]) -> bool:
    return any(_present(settings, k) for k in ("schedule", "trigger", "continuous"))


def set_pause_status(settings: dict[str, Any], paused: bool) -> dict[str, Any]:
    """A copy of ``settings`` with every schedule/trigger/continuous block (un)paused."""
    new = dict(settings)
    status = PAUSED if paused else UNPAUSED
    for key in ("schedule", "trigger", "continuous"):
        if _present(new, key):
            block = dict(new[key]) if isinstance(new[key], dict) else {}
            block["pause_status"] = status
            new[key] = block
    return new


# --------------------------------------------------------------------------------------------
# Time-based triggers: which fire times to run, given the catch-up policy


@dataclass(frozen=True)
class TimedPlan:
    fires: list[dt.datetime]  # fire times to run now, oldest first
    cursor: dt.datetime  # every fire time <= cursor has been dealt with
    skipped: int = 0  # missed fires not run because of the catch-up policy


def _fires_between(trigger, start: dt.datetime, end: dt.datetime, limit: int) -> list[dt.datetime]:
    """Fire times in (start, end], at most ``limit`` (the earliest)."""
    out: list[dt.datetime] = []
    t = trigger.next_after(start)
    while t is not None and t <= end and len(out) < limit:
        out.append(t)
        t = trigger.next_after(t)
    return out


def _latest_between(trigger, start: dt.datetime, end: dt.datetime) -> dt.datetime | None:
    """The last fire time in (start, end], found by widening a window back from ``end``:
    a high-frequency schedule down for a month is not enumerated fire by fire."""
    for window in (dt.timedelta(minutes=1), dt.timedelta(hours=1), dt.timedelta(days=1),
                   dt.timedelta(days=31), dt.timedelta(days=366), None):
        lo = start if window is None else max(start, end - window)
        t = trigger.next_after(lo)
        if t is not None and t <= end:
            last = t
            while True:
                nxt = trigger.next_after(last)
                if nxt is None or nxt > end:
                    return last
                last = nxt
        if lo == start:
            return None
    return None


def plan_timed(trigger, cursor: dt.datetime, now: dt.datetime, *, policy: str = "latest",
               grace: dt.timedelta = dt.timedelta(seconds=60), cap: int = 100) -> TimedPlan:
    """Which fires of a schedule/periodic trigger to run at ``now``, given that every fire up to
    ``cursor`` was already handled. Fires within ``grace`` of now are on time; older ones are
    missed (the scheduler was down or busy) and follow ``policy``:

    - ``latest`` (default, as Databricks after an outage): on-time fires run; if none, the
      latest missed fire runs once;
    - ``all``: every missed fire runs, oldest first, at most ``cap`` per call (the cursor stops
      at the last one returned, so the next call continues);
    - ``none``: only on-time fires run.
    """
    if policy not in CATCH_UP_POLICIES:
        raise HealthmonError(f"Unknown catch-up policy {policy!r}: expected one of {', '.join(CATCH_UP_POLICIES)}.")
    if now <= cursor:
        return TimedPlan([], cursor)
    on_time_from = max(cursor, now - grace)
    if policy == "all":
        fires = _fires_between(trigger, cursor, now, cap)
        new_cursor = fires[-1] if len(fires) == cap else now
        return TimedPlan(fires, new_cursor)
    on_time = _fires_between(trigger, on_time_from, now, cap)
    if on_time or on_time_from == cursor:
        skipped = 0 if on_time_from == cursor else int(_latest_between(trigger, cursor, on_time_from) is not None)
        return TimedPlan(on_time, now, skipped=skipped)
    latest = _latest_between(trigger, cursor, on_time_from)
    if latest is None:
        return TimedPlan([], now)
    if policy == "latest":
        return TimedPlan([latest], now)
    return TimedPlan([], now, skipped=1)


# --------------------------------------------------------------------------------------------
# Event triggers: file arrival, table update, continuous


@dataclass(frozen=True)
class Decision:
    """Whether to fire now, the trigger state to persist, and when to look again at the
    earliest (None: at the next poll)."""

    fire: bool
    state: dict[str, Any]
    reason: str = ""
    retry_at: float | None = None
    changed: bool = False  # state differs from the input (a baseline to persist)


def _gates(min_between: int, wait_after: int, last_fire: float | None, last_activity: float | None,
           now: float) -> tuple[str, float] | None:
    """The min-time-between-triggers and wait-after-last-change rules: (reason, retry_at) when
    a fire must wait, else None."""
    if min_between and last_fire is not None and now - last_fire < min_between:
        return f"min_time_between_triggers_seconds={min_between}", last_fire + min_between
    if wait_after and last_activity is not None and now - last_activity < wait_after:
        return f"wait_after_last_change_seconds={wait_after}", last_activity + wait_after
    return None


def file_arrival_decision(trigger: FileArrivalTrigger, state: dict[str, Any] | None,
                          files: dict[str, float], now: float) -> Decision:
    """``files``: relative path → modification time (epoch seconds) of every file under the
    monitored location. Fires when files not seen at the previous fire (or at the baseline,
    taken the first time the trigger is seen) exist."""
    if state is None or "seen" not in state:
        return Decision(False, {"seen": sorted(files), "last_fire": None}, "baseline", changed=True)
    seen = set(state["seen"])
    new = [f for f in files if f not in seen]
    if not new:
        return Decision(False, state, "no new files")
    if trigger.paused:
        return Decision(False, state, "paused")
    last_activity = max(files.values()) if files else None
    wait = _gates(trigger.min_between, trigger.wait_after_change, state.get("last_fire"), last_activity, now)
    if wait:
        return Decision(False, state, f"{len(new)} new file(s), waiting for {wait[0]}", retry_at=wait[1])
    return Decision(
        True, {"seen": sorted(files), "last_fire": now}, f"{len(new)} new file(s): {', '.join(sorted(new)[:5])}"
    )


def table_update_decision(trigger: TableUpdateTrigger, state: dict[str, Any] | None,
                          versions: dict[str, tuple[int | None, float | None]], now: float) -> Decision:
    """``versions``: table name → (current Delta version or None if the table does not exist,
    commit time of that version in epoch seconds). Fires when any/all tables have a version
    newer than at the previous fire (or the baseline)."""
    current = {name: (versions.get(name, (None, None))[0]) for name in trigger.table_names}
    as_state = {name: (-1 if v is None else v) for name, v in current.items()}
    if state is None or "versions" not in state:
        return Decision(False, {"versions": as_state, "last_fire": None}, "baseline", changed=True)
    recorded = state["versions"]
    updated = [n for n in trigger.table_names if as_state[n] > recorded.get(n, -1)]
    if not updated:
        return Decision(False, state, "no new table versions")
    if len(updated) != len(trigger.table_names) and trigger.condition == "ALL_UPDATED":
        return Decision(
            False, state, f"ALL_UPDATED: waiting for {', '.join(n for n in trigger.table_names if n not in updated)}"
        )
    if trigger.paused:
        return Decision(False, state, "paused")
    stamps = [stamp for n in updated if versions.get(n) and (stamp := versions[n][1]) is not None]
    wait = _gates(trigger.min_between, trigger.wait_after_change, state.get("last_fire"),
                  max(stamps) if stamps else None, now)
    if wait:
        return Decision(False, state, f"updated {', '.join(updated)}, waiting for {wait[0]}", retry_at=wait[1])
    return Decision(True, {"versions": as_state, "last_fire": now}, f"updated: {', '.join(updated)}")


def continuous_decision(trigger: ContinuousTrigger, active_runs: int, fire_in_flight: bool) -> bool:
    """Start a run when the job has none active and no start is already in flight."""
    return not trigger.paused and active_runs == 0 and not fire_in_flight


# --------------------------------------------------------------------------------------------


@dataclass
class NextRun:
    local: dt.datetime
    utc: dt.datetime


def upcoming(trigger: ScheduleTrigger | PeriodicTrigger, after: dt.datetime, count: int) -> list[NextRun]:
    out: list[NextRun] = []
    t = after
    while len(out) < count:
        following = trigger.next_after(t)
        if following is None:
            break
        t = following
        tz = trigger.tz if isinstance(trigger, ScheduleTrigger) else UTC
        out.append(NextRun(local=t.astimezone(tz), utc=t.astimezone(UTC)))
    return out

