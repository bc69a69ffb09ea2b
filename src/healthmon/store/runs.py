"""Job runs and task runs.

One table holds both: a job run (``task_key`` NULL) and each task run attempt (``task_key`` set,
``job_run_id`` pointing at its job run). Sharing the AUTOINCREMENT sequence makes every run id
unique across job runs and task runs, as on Databricks (``runs get --run-id`` accepts both), and
ids are never reused even after deletes.

``job_gates`` is a one-row-per-job lock: every transaction that decides whether a run may start
(max_concurrent_runs) first UPDATEs the job's gate row, which serialises those decisions on both
SQLite (database write lock) and PostgreSQL (row lock).
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from healthmon.errors import NotFoundError
from healthmon.store.db import Base, rowcount, table_of
from healthmon.store.jsontext import dumps_sorted, loads

ACTIVE_STATES = ("QUEUED", "PENDING", "RUNNING", "TERMINATING", "BLOCKED", "WAITING_FOR_RETRY")
TERMINAL_STATES = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")


# The job id of a one-time run (runs/submit, run_type SUBMIT_RUN): it belongs to no job and
# the API omits its job_id. No job has id 0 (job ids start at 1).
NO_JOB = 0


def now_ms() -> int:
    return int(time.time() * 1000)


_ID = BigInteger().with_variant(Integer, "sqlite")


# Job runs (task_key NULL) newest first, per job and overall: the runs/list keyset scans and
# offset counts. ``task_key IS NULL`` is an equality for both SQLite and PostgreSQL B-trees, and
# run_id is SQLite's rowid, so each scan is one ordered range of a covering index.
JOB_RUNS_INDEXES = (
    Index("ix_runs_job_task_run", "job_id", "task_key", "run_id"),
    Index("ix_runs_task_run", "task_key", "run_id"),
)


class RunRecord(Base):
    __tablename__ = "runs"
    __table_args__ = (*JOB_RUNS_INDEXES, {"sqlite_autoincrement": True})

    run_id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(BigInteger, index=True)
    # NULL for a job run; the id of the job run for a task run.
    job_run_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    task_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    run_name: Mapped[str] = mapped_column(Text, default="")
    run_type: Mapped[str] = mapped_column(String(32), default="JOB_RUN")
    trigger: Mapped[str] = mapped_column(String(32), default="ONE_TIME")
    creator_user_name: Mapped[str] = mapped_column(String(255), default="")
    life_cycle_state: Mapped[str] = mapped_column(String(32), index=True)
    result_state: Mapped[str | None] = mapped_column(String(40), nullable=True)
    state_message: Mapped[str] = mapped_column(Text, default="")
    termination_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    termination_type: Mapped[str | None] = mapped_column(String(20), nullable=True)
    user_cancelled_or_timedout: Mapped[bool] = mapped_column(Boolean, default=False)
    created_time: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    start_time: Mapped[int] = mapped_column(BigInteger, default=0)
    end_time: Mapped[int] = mapped_column(BigInteger, default=0)
    setup_duration: Mapped[int] = mapped_column(BigInteger, default=0)
    execution_duration: Mapped[int] = mapped_column(BigInteger, default=0)
    queue_duration: Mapped[int] = mapped_column(BigInteger, default=0)
    attempt_number: Mapped[int] = mapped_column(Integer, default=0)
    # Job run: the job settings snapshot taken at trigger time, the parameters, `only` and
    # repair history. Task run: the task settings, its output, its task values.
    settings_json: Mapped[str] = mapped_column(Text, default="{}")
    params_json: Mapped[str] = mapped_column(Text, default="{}")
    output_json: Mapped[str] = mapped_column(Text, default="{}")
    values_json: Mapped[str] = mapped_column(Text, default="{}")
    repair_json: Mapped[str] = mapped_column(Text, default="[]")
    # Task run: the repair it belongs to (NULL = original run). Job run: the run that started
    # this one through a run_job_task, if any.
    repair_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    parent_run_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Process bookkeeping for cancel and orphan recovery.
    runner_pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    runner_started: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    runner_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    heartbeat: Mapped[int] = mapped_column(BigInteger, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    log_dir: Mapped[str | None] = mapped_column(Text, nullable=True)

    # JSON accessors keep callers away from (de)serialisation details.
    def j(self, name: str) -> Any:
        return loads(getattr(self, f"{name}_json"))

    def set_j(self, name: str, value: Any) -> None:
        setattr(self, f"{name}_json", dumps_sorted(value))

    @property
    def is_terminal(self) -> bool:
        return self.life_cycle_state in TERMINAL_STATES


class JobGate(Base):
    __tablename__ = "job_gates"

    job_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    counter: Mapped[int] = mapped_column(BigInteger, default=0)


class IdempotencyRecord(Base):
    """``idempotency_token`` of run-now / runs/submit: the first request with a token creates the
    run, every retry with the same token gets that run's id (the Jobs API contract). A table of
    its own so existing workspaces gain it at start-up (create_all adds missing tables)."""

    __tablename__ = "run_idempotency_tokens"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[int] = mapped_column(BigInteger)
    created_time: Mapped[int] = mapped_column(BigInteger, default=now_ms)


def run_for_token(session: Session, token: str | None) -> int | None:
    """The run created with ``token``, if any."""
    if not token:
        return None
    return session.execute(select(IdempotencyRecord.run_id).where(IdempotencyRecord.token == token)).scalar()


def lock_job(session: Session, job_id: int) -> None:
    """Take the job's gate lock for the rest of the transaction."""
    res = session.execute(update(JobGate).where(JobGate.job_id == job_id).values(counter=JobGate.counter + 1))
    if rowcount(res) == 0:
        try:
            with session.begin_nested():
                session.add(JobGate(job_id=job_id, counter=1))
        except IntegrityError:
            pass
        session.execute(update(JobGate).where(JobGate.job_id == job_id).values(counter=JobGate.counter + 1))


def get_run(session: Session, run_id: int) -> RunRecord:
    row = session.get(RunRecord, run_id)
    if row is None:
        raise NotFoundError(f"Run {run_id} does not exist.")
    return row


def get_repair(session: Session, repair_id: int) -> RepairRecord:
    row = session.get(RepairRecord, repair_id)
    if row is None:
        raise NotFoundError(f"Repair {repair_id} does not exist.")
    return row


def count_active_job_runs(session: Session, job_id: int, states=("PENDING", "RUNNING", "TERMINATING")) -> int:
    return session.scalar(
        select(func.count())
        .select_from(RunRecord)
        .where(RunRecord.job_id == job_id, RunRecord.task_key.is_(None), RunRecord.life_cycle_state.in_(states))
    ) or 0


def count_queued_before(session: Session, job_id: int, run_id: int) -> int:
    return session.scalar(
        select(func.count())
        .select_from(RunRecord)
        .where(
            RunRecord.job_id == job_id,
            RunRecord.task_key.is_(None),
            RunRecord.life_cycle_state == "QUEUED",
            RunRecord.run_id < run_id,
        )
    ) or 0


def task_runs(session: Session, job_run_id: int) -> list[RunRecord]:
    """Every task run attempt of a job run, oldest first."""
    return list(
        session.scalars(select(RunRecord).where(RunRecord.job_run_id == job_run_id).order_by(RunRecord.run_id)).all()
    )


def unstarted_task_runs(session: Session, job_run_id: int) -> dict[str, int]:
    """Task run ids by task key of the job run's tasks not started yet (PENDING or BLOCKED): the rows
    ``run_now`` creates up front. Two columns, not ORM rows: a big run has thousands."""
    rows = session.execute(select(RunRecord.task_key, RunRecord.run_id).where(
        RunRecord.job_run_id == job_run_id, RunRecord.life_cycle_state.in_(("PENDING", "BLOCKED")))).all()
    return {key: run_id for key, run_id in rows if key is not None}


def latest_task_runs(session: Session, job_run_id: int) -> dict[str, RunRecord]:
    """The latest attempt of each task (the one Databricks lists in ``tasks``)."""
    latest: dict[str, RunRecord] = {}
    for row in task_runs(session, job_run_id):
        if row.task_key is not None:  # task runs always have one
            latest[row.task_key] = row
    return latest


def _job_runs_query(
    query,
    *,
    job_id: int | None,
    active_only: bool,
    completed_only: bool,
    run_type: str | None,
    start_time_from: int | None,
    start_time_to: int | None,
):
    q = query.where(RunRecord.task_key.is_(None))
    if job_id is not None:
        q = q.where(RunRecord.job_id == job_id)
    if active_only:
        q = q.where(RunRecord.life_cycle_state.in_(ACTIVE_STATES))
    if completed_only:
        q = q.where(RunRecord.life_cycle_state.in_(TERMINAL_STATES))
    if run_type is not None:
        q = q.where(RunRecord.run_type == run_type)
    if start_time_from is not None:
        q = q.where(RunRecord.start_time >= start_time_from)
    if start_time_to is not None:
        q = q.where(RunRecord.start_time <= start_time_to)
    return q


def list_job_runs(
    session,
    *,
    job_id: int | None = None,
    active_only: bool = False,
    completed_only: bool = False,
    limit: int = 25,
    offset: int = 0,
    before_run_id: int | None = None,
    after_run_id: int | None = None,
    run_type: str | None = None,
    start_time_from: int | None = None,
    start_time_to: int | None = None,
    columns=None,
) -> tuple[list, bool]:
    """Job runs, newest (highest run id) first: ``limit`` of them and whether more follow.

    Keyset paging: ``before_run_id`` gives the page of runs older than that id (the next page
    after a page ending with it); ``after_run_id`` the page of runs just newer than it (the
    previous page), still returned newest first, with ``has_more`` meaning newer runs remain.
    Both cost the same at any depth (a range scan of a job-runs index). ``offset``
    (legacy 2.0/2.1 paging) first finds the run id at that position with an index-only scan,
    then pages by keyset from there.

    ``session`` is an ORM session (returns ``RunRecord`` objects) or, with ``columns`` (e.g.
    ``RUN_COLUMNS``), anything with ``execute`` (returns Core rows — ``RunRow`` tuples for
    ``RUN_COLUMNS``: the server's read path).
    """
    filters: dict[str, Any] = dict(
        job_id=job_id,
        active_only=active_only,
        completed_only=completed_only,
        run_type=run_type,
        start_time_from=start_time_from,
        start_time_to=start_time_to,
    )
    if offset and before_run_id is None and after_run_id is None:
        boundary = session.execute(
            _job_runs_query(select(RunRecord.run_id), **filters)
            .order_by(RunRecord.run_id.desc()).offset(offset - 1).limit(1)
        ).scalar()
        if boundary is None:
            return [], False
        before_run_id = boundary
    q = _job_runs_query(select(*columns) if columns is not None else select(RunRecord), **filters)
    if after_run_id is not None:
        q = q.where(RunRecord.run_id > after_run_id).order_by(RunRecord.run_id.asc())
    else:
        if before_run_id is not None:
            q = q.where(RunRecord.run_id < before_run_id)
        q = q.order_by(RunRecord.run_id.desc())
    q = q.limit(limit + 1)
    result = session.execute(q)
    if columns is None:
        rows = list(result.scalars())
    elif columns is RUN_COLUMNS:
        rows = _run_rows(result)
    else:
        rows = list(result)
    more = len(rows) > limit
    rows = rows[:limit]
    if after_run_id is not None:
        rows.reverse()
    return rows, more


class RunRow(NamedTuple):
    """A run read through ``RUN_COLUMNS``: what the API shapes read (api.run_dict / task_dict),
    no process bookkeeping, no task values. A plain named tuple: a Core Row's attribute access
    costs ~0.3 µs, and building the JSON of a 1,000-task run reads some 25,000 of them."""

    run_id: int
    job_id: int
    job_run_id: int | None
    task_key: str | None
    run_name: str
    run_type: str
    trigger: str
    creator_user_name: str
    life_cycle_state: str
    result_state: str | None
    state_message: str
    termination_code: str | None
    termination_type: str | None
    user_cancelled_or_timedout: bool
    start_time: int
    end_time: int
    setup_duration: int
    execution_duration: int
    queue_duration: int
    attempt_number: int
    settings_json: str
    params_json: str
    output_json: str
    repair_json: str
    repair_id: int | None
    parent_run_id: int | None
    log_dir: str | None


RUN_COLUMNS = tuple(table_of(RunRecord).c[name] for name in RunRow._fields)


def _run_rows(result) -> list[RunRow]:
    return list(map(RunRow._make, result.all()))


_FAMILY = (
    select(*RUN_COLUMNS)
    .where(or_(RunRecord.run_id == bindparam("run_id"), RunRecord.job_run_id == bindparam("run_id")))
    .order_by(RunRecord.run_id)
)
_CHILDREN = select(*RUN_COLUMNS).where(RunRecord.job_run_id.in_(bindparam("parents", expanding=True))).order_by(
    RunRecord.run_id
)


def run_family(connection, run_id: int) -> tuple[Any, list]:
    """A run and its direct children (a job run's task runs, a for-each task's iterations),
    children oldest first, in one indexed query on a Core connection: the runs/get read path.
    Raises NotFoundError when the run does not exist."""
    rows = _run_rows(connection.execute(_FAMILY, {"run_id": run_id}))
    if not rows or rows[0].run_id != run_id:
        raise NotFoundError(f"Run {run_id} does not exist.")
    return rows[0], rows[1:]


def children_of(connection, parent_ids: list[int]) -> list:
    """Direct children of several runs (Core rows, oldest first)."""
    if not parent_ids:
        return []
    return _run_rows(connection.execute(_CHILDREN, {"parents": list(parent_ids)}))


def active_job_runs(session: Session) -> list[RunRecord]:
    return list(
        session.scalars(
            select(RunRecord).where(RunRecord.task_key.is_(None), RunRecord.life_cycle_state.in_(ACTIVE_STATES))
        ).all()
    )


def active_child_runs(session: Session, parent_run_id: int) -> list[RunRecord]:
    """Active job runs started by a ``run_job_task`` of run ``parent_run_id``."""
    return list(
        session.scalars(
            select(RunRecord).where(RunRecord.parent_run_id == parent_run_id, RunRecord.task_key.is_(None),
                                    RunRecord.life_cycle_state.in_(ACTIVE_STATES))
        ).all()
    )


class RepairRecord(Base):
    """Repair ids (``repair_history[].id``) from their own never-reused sequence."""

    __tablename__ = "run_repairs"
    __table_args__ = ({"sqlite_autoincrement": True},)

    repair_id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(BigInteger, index=True)
    rerun_json: Mapped[str] = mapped_column(Text, default="[]")
    created_time: Mapped[int] = mapped_column(BigInteger, default=now_ms)
