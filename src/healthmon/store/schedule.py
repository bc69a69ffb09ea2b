"""Scheduler fires and trigger state.

``schedule_fires`` has one row per fire a scheduler claimed: UNIQUE (job_id, fire_key) is the
database-level guard against double runs. A scheduler claims a fire by INSERTing its row in its
own transaction; when two schedulers race, the loser's INSERT fails with an IntegrityError and
it does nothing. The row then records the run the fire started.

Fire keys: ``schedule:<UTC ISO time>`` / ``periodic:<UTC ISO time>`` for time-based triggers (the
fire time itself identifies the fire), ``<kind>:<n>`` for event triggers (file_arrival,
table_update, continuous), where n is the trigger state's sequence number + 1: the claim INSERT
and the state update (files seen, table versions) commit together, so exactly one scheduler
consumes a given observation.

``schedule_trigger_state`` holds per (job, trigger kind): the cursor of time-based triggers
(every fire time <= cursor has been handled), the event sequence number, and a JSON state.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from healthmon.store.db import Base, Database, rowcount

_ID = BigInteger().with_variant(Integer, "sqlite")

CLAIMED, STARTED, FAILED = "CLAIMED", "STARTED", "FAILED"


def now_ms() -> int:
    return int(time.time() * 1000)


class ScheduleFire(Base):
    __tablename__ = "schedule_fires"
    __table_args__ = (UniqueConstraint("job_id", "fire_key", name="uq_schedule_fires_job_fire"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(BigInteger, index=True)
    fire_key: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    trigger_type: Mapped[str] = mapped_column(String(32))
    fire_time: Mapped[int] = mapped_column(BigInteger)  # ms: scheduled time, or decision time
    claimed_at: Mapped[int] = mapped_column(BigInteger)
    claimed_by: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default=CLAIMED)  # CLAIMED | STARTED | FAILED
    run_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id, "fire_key": self.fire_key, "kind": self.kind,
            "trigger_type": self.trigger_type, "fire_time": self.fire_time, "claimed_at": self.claimed_at,
            "claimed_by": self.claimed_by, "status": self.status, "run_id": self.run_id, "message": self.message,
        }


class TriggerStateRecord(Base):
    __tablename__ = "schedule_trigger_state"

    job_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    cursor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # ms, time-based triggers
    seq: Mapped[int] = mapped_column(BigInteger, default=0)  # event triggers: fires so far
    state_json: Mapped[str] = mapped_column(Text, default="{}")
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)

    @property
    def state(self) -> dict[str, Any]:
        return json.loads(self.state_json or "{}")


@dataclass(frozen=True)
class StateView:
    cursor: int | None
    seq: int
    state: dict[str, Any] | None  # None when no state row exists yet


def load_states(session: Session, job_ids: list[int] | None = None) -> dict[tuple[int, str], StateView]:
    query = select(TriggerStateRecord)
    if job_ids is not None:
        query = query.where(TriggerStateRecord.job_id.in_(job_ids))
    return {
        (r.job_id, r.kind): StateView(r.cursor, r.seq, r.state if r.state_json not in (None, "", "{}") else None)
        for r in session.scalars(query)
    }


def get_state(session: Session, job_id: int, kind: str) -> StateView | None:
    r = session.get(TriggerStateRecord, (job_id, kind))
    if r is None:
        return None
    return StateView(r.cursor, r.seq, r.state if r.state_json not in (None, "", "{}") else None)


def advance_cursor(session: Session, job_id: int, kind: str, cursor_ms: int, *, force: bool = False) -> None:
    """Move a time-based trigger's cursor forward (never back, unless ``force``: unpausing sets
    it to now so fires during the pause are not caught up)."""
    cond = [TriggerStateRecord.job_id == job_id, TriggerStateRecord.kind == kind]
    if not force:
        cond.append((TriggerStateRecord.cursor.is_(None)) | (TriggerStateRecord.cursor < cursor_ms))
    res = session.execute(update(TriggerStateRecord).where(*cond).values(cursor=cursor_ms, updated_at=now_ms()))
    if rowcount(res) == 0 and session.get(TriggerStateRecord, (job_id, kind)) is None:
        _insert_state(session, TriggerStateRecord(job_id=job_id, kind=kind, cursor=cursor_ms, seq=0, state_json="{}",
                                                  updated_at=now_ms()))


def put_baseline(db: Database, job_id: int, kind: str, state: dict[str, Any]) -> bool:
    """Record an event trigger's first observation; False if another scheduler did first."""
    try:
        with db.session() as s:
            row = s.get(TriggerStateRecord, (job_id, kind))
            if row is not None:
                if row.state_json not in (None, "", "{}"):
                    return False
                row.state_json = json.dumps(state, sort_keys=True)
                row.updated_at = now_ms()
                return True
            s.add(TriggerStateRecord(job_id=job_id, kind=kind, seq=0, state_json=json.dumps(state, sort_keys=True),
                                     updated_at=now_ms()))
        return True
    except IntegrityError:
        return False


def _insert_state(session: Session, row: TriggerStateRecord) -> None:
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        pass


@dataclass(frozen=True)
class Claim:
    id: int
    job_id: int
    fire_key: str
    fire_time: int


def claim_fire(db: Database, *, job_id: int, fire_key: str, kind: str, trigger_type: str, fire_time_ms: int,
               claimed_by: str, expect_seq: int | None = None, new_state: dict[str, Any] | None = None,
               cursor_ms: int | None = None) -> Claim | None:
    """Claim a fire in one transaction: INSERT the fire row (UNIQUE job_id+fire_key) and, for
    event triggers, move the state from sequence ``expect_seq`` to ``expect_seq + 1`` with
    ``new_state``. Returns None when another scheduler claimed it first."""
    try:
        with db.session() as s:
            fire = ScheduleFire(job_id=job_id, fire_key=fire_key, kind=kind, trigger_type=trigger_type,
                                fire_time=fire_time_ms, claimed_at=now_ms(), claimed_by=claimed_by, status=CLAIMED)
            s.add(fire)
            s.flush()  # the INSERT: raises IntegrityError here if the key is taken
            if expect_seq is not None:
                values: dict[str, Any] = {"seq": expect_seq + 1, "updated_at": now_ms()}
                if new_state is not None:
                    values["state_json"] = json.dumps(new_state, sort_keys=True)
                res = s.execute(update(TriggerStateRecord)
                                .where(TriggerStateRecord.job_id == job_id, TriggerStateRecord.kind == kind,
                                       TriggerStateRecord.seq == expect_seq)
                                .values(**values))
                if rowcount(res) == 0:
                    if s.get(TriggerStateRecord, (job_id, kind)) is not None:
                        raise _Lost()
                    s.add(TriggerStateRecord(job_id=job_id, kind=kind, seq=expect_seq + 1,
                                             state_json=json.dumps(new_state or {}, sort_keys=True),
                                             updated_at=now_ms()))
                    s.flush()
            if cursor_ms is not None:
                advance_cursor(s, job_id, kind, cursor_ms)
            return Claim(fire.id, job_id, fire_key, fire_time_ms)
    except (IntegrityError, _Lost):
        return None


class _Lost(Exception):
    """Another scheduler moved the trigger state first: roll back our claim."""


@dataclass(frozen=True)
class FireRequest:
    job_id: int
    fire_key: str
    kind: str
    trigger_type: str
    fire_time_ms: int


def _insert_for(db: Database):
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def claim_many(db: Database, requests: list[FireRequest], claimed_by: str,
               cursors: Sequence[tuple[int, str, int]] = ()) -> list[Claim]:
    """Claim many time-based fires in one transaction and advance cursors
    ``(job_id, kind, cursor_ms)``. One multi-row ``INSERT ... ON CONFLICT (job_id, fire_key)
    DO NOTHING RETURNING``: the UNIQUE constraint decides, and only the rows this caller
    inserted come back. Returns the claims this caller won."""
    db.create_all()
    insert = _insert_for(db)
    now = now_ms()
    won: list[Claim] = []
    with db.engine.begin() as conn:
        if requests:
            # executemany with RETURNING ("insertmanyvalues"): one cached statement, batched.
            stmt = (insert(ScheduleFire).on_conflict_do_nothing(index_elements=["job_id", "fire_key"])
                    .returning(ScheduleFire.id, ScheduleFire.job_id, ScheduleFire.fire_key, ScheduleFire.fire_time))
            rows = conn.execute(stmt, [
                {"job_id": r.job_id, "fire_key": r.fire_key, "kind": r.kind, "trigger_type": r.trigger_type,
                 "fire_time": r.fire_time_ms, "claimed_at": now, "claimed_by": claimed_by, "status": CLAIMED,
                 "message": ""} for r in requests])
            won = [Claim(row.id, row.job_id, row.fire_key, row.fire_time) for row in rows]
        if cursors:
            stmt = insert(TriggerStateRecord)
            stmt = stmt.on_conflict_do_update(
                index_elements=["job_id", "kind"],
                set_={"cursor": stmt.excluded.cursor, "updated_at": stmt.excluded.updated_at},
                where=(TriggerStateRecord.cursor.is_(None)) | (TriggerStateRecord.cursor < stmt.excluded.cursor))
            conn.execute(stmt, [{"job_id": j, "kind": k, "cursor": c, "seq": 0, "state_json": "{}", "updated_at": now}
                                for j, k, c in cursors])
    return won


def record_outcomes(db: Database, outcomes: list[tuple[int, int | None, str | None]]) -> None:
    """``(fire_id, run_id, error)`` for many fires in one transaction: STARTED with the run id,
    or FAILED with the error."""
    if not outcomes:
        return
    with db.session() as s:
        for fire_id, run_id, error in outcomes:
            if error is None:
                s.execute(update(ScheduleFire).where(ScheduleFire.id == fire_id).values(status=STARTED, run_id=run_id))
            else:
                s.execute(
                    update(ScheduleFire).where(ScheduleFire.id == fire_id).values(status=FAILED, message=error[:4000])
                )


def reclaim_stale(db: Database, fire_id: int, claimed_by: str, stale_before_ms: int) -> bool:
    """Take over a fire that was claimed but never started (its scheduler died between the
    claim and the run). A conditional UPDATE: exactly one scheduler wins."""
    with db.session() as s:
        res = s.execute(update(ScheduleFire)
                        .where(ScheduleFire.id == fire_id, ScheduleFire.status == CLAIMED,
                               ScheduleFire.claimed_at < stale_before_ms)
                        .values(claimed_by=claimed_by, claimed_at=now_ms()))
        return rowcount(res) == 1


def stale_claims(session: Session, stale_before_ms: int) -> list[ScheduleFire]:
    return list(session.scalars(select(ScheduleFire).where(ScheduleFire.status == CLAIMED,
                                                            ScheduleFire.claimed_at < stale_before_ms)))


def in_flight(session: Session, job_id: int, kind: str, stale_before_ms: int) -> bool:
    """A fire of this job and kind is claimed, not yet started, and not stale."""
    return session.scalar(select(ScheduleFire.id).where(
        ScheduleFire.job_id == job_id, ScheduleFire.kind == kind, ScheduleFire.status == CLAIMED,
        ScheduleFire.claimed_at >= stale_before_ms).limit(1)) is not None


def mark_started(db: Database, fire_id: int, run_id: int) -> None:
    db.create_all()
    with db.engine.begin() as conn:  # Core: this runs once per started run, keep it cheap
        conn.execute(update(ScheduleFire).where(ScheduleFire.id == fire_id).values(status=STARTED, run_id=run_id))


def mark_failed(db: Database, fire_id: int, message: str) -> None:
    with db.session() as s:
        s.execute(update(ScheduleFire).where(ScheduleFire.id == fire_id).values(status=FAILED, message=message[:4000]))


def list_fires(session: Session, job_id: int | None = None, limit: int | None = None) -> list[ScheduleFire]:
    query = select(ScheduleFire).order_by(ScheduleFire.fire_time, ScheduleFire.id)
    if job_id is not None:
        query = query.where(ScheduleFire.job_id == job_id)
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))
