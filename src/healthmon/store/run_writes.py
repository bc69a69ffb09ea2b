"""Write-behind for run-row state changes: one writer thread, one transaction per batch.

A runner executing hundreds of short tasks changes each task run's row at least twice (RUNNING,
then TERMINATED). One transaction per change, from several slot threads, makes SQLite writers
queue on its single write lock (and sleep in its busy handler). Here, updates are merged per row
(later fields win) and committed together by one thread: while one batch commits, the next one
accumulates, so the number of transactions adapts to the load instead of growing with it.

Batches go through the driver directly (one prepared ``UPDATE ... WHERE run_id`` per column set,
``executemany`` over the batch's rows, one commit) on a connection the writer keeps: the SQL
layer's per-statement work (compilation cache lookups, parameter processing, pool checkout) cost
more than SQLite itself for these tiny statements. The writer waits ``COALESCE_SECONDS`` after the
first change of a batch so that changes arriving together share one transaction.

Readers see a change once its batch commits (typically within a few milliseconds). ``flush()``
waits until everything submitted before it is committed: callers use it before reading rows back
(notifications, the run's final state). A runner that dies loses at most the last batch; recovery
then ends the run's unfinished task runs INTERNAL_ERROR as it would anyway.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from sqlalchemy.pool import PoolProxiedConnection

from healthmon.store.db import PLACEHOLDERS, Database, table_of
from healthmon.store.jsontext import dumps_sorted
from healthmon.store.runs import RunRecord

COALESCE_SECONDS = 0.002


JSON_FIELDS = ("output_json", "values_json", "settings_json", "params_json", "repair_json")


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    for k in JSON_FIELDS:
        if k in fields:
            fields[k] = dumps_sorted(fields[k])
    return fields


class RunWriter:
    def __init__(self, db: Database):
        self.db = db
        # One lock, two conditions: the writer waits for work, flushers wait for commits (so that
        # waking the writer for each update never wakes a flusher instead, nor every waiter).
        lock = threading.Lock()
        self.cond = threading.Condition(lock)
        self.work = threading.Condition(lock)
        self.pending: dict[int, dict[str, Any]] = {}
        self.submitted = 0  # sequence number of the last update submitted
        self.committed = 0  # ... and of the last one committed
        self.closed = False
        self.error: BaseException | None = None
        self.statements: dict[tuple[str, ...], str] = {}
        # the driver connection this thread writes with (opened on first use)
        self.connection: PoolProxiedConnection | None = None
        self.flushing = 0
        self.thread = threading.Thread(target=self._loop, name="run-writer", daemon=True)
        self.thread.start()

    def update(self, run_id: int, **fields: Any) -> None:
        """Queue ``UPDATE runs SET fields WHERE run_id``; ``*_json`` fields are JSON-encoded."""
        values = _encode(fields)
        with self.cond:
            row = self.pending.get(run_id)
            if row is None:
                self.pending[run_id] = values
            else:
                row.update(values)
            self.submitted += 1
            self.work.notify()

    def flush(self, timeout: float | None = 60) -> None:
        """Block until every update submitted so far is committed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.cond:
            target = self.submitted
            self.flushing += 1
            self.work.notify()
        try:
            self._wait_committed(target, deadline, timeout)
        finally:
            with self.cond:
                self.flushing -= 1

    def _wait_committed(self, target: int, deadline: float | None, timeout: float | None) -> None:
        with self.cond:
            while self.committed < target:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"run updates not committed after {timeout} s: {self.error!r}")
                self.cond.wait(left)

    def close(self) -> None:
        self.flush(timeout=None)
        with self.cond:
            self.closed = True
            self.work.notify()
        self.thread.join()

    def _loop(self) -> None:
        while True:
            with self.cond:
                while not self.pending and not self.closed:
                    self.work.wait()
                if not self.pending and self.closed:
                    self._close_connection()
                    return
                coalesce = not self.closed and not self.flushing
            if coalesce:  # let the changes arriving together join one transaction
                time.sleep(COALESCE_SECONDS)
            with self.cond:
                batch, self.pending = self.pending, {}
                seq = self.submitted
            self._commit(batch)
            with self.cond:
                self.committed = seq
                self.cond.notify_all()

    def _statement(self, cols: tuple[str, ...]) -> str:
        sql = self.statements.get(cols)
        if sql is None:
            dialect = self.db.engine.dialect
            mark = PLACEHOLDERS[dialect.paramstyle]
            quote = dialect.identifier_preparer.quote
            table = table_of(RunRecord)
            sets = ", ".join(f"{quote(table.c[c].name)} = {mark}" for c in cols)
            sql = self.statements[cols] = (
                f"UPDATE {quote(table.name)} SET {sets} WHERE {quote(table.c.run_id.name)} = {mark}"
            )
        return sql

    def _close_connection(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()  # back to the engine's pool
            except Exception:
                pass
            self.connection = None

    def _commit(self, batch: dict[int, dict[str, Any]]) -> None:
        # One statement per distinct column set, each an executemany over its rows.
        groups: dict[tuple[str, ...], list[tuple]] = {}
        for run_id, values in batch.items():
            cols = tuple(sorted(values))
            groups.setdefault(cols, []).append((*(values[c] for c in cols), run_id))
        for attempt in range(20):
            try:
                if self.connection is None:
                    self.connection = self.db.engine.raw_connection()
                connection = self.connection
                cursor = connection.cursor()
                try:
                    for cols, rows in groups.items():
                        cursor.executemany(self._statement(cols), rows)
                finally:
                    cursor.close()
                connection.commit()
                self.error = None
                return
            except Exception as exc:  # database busy beyond its timeout, connection lost: retry
                self.error = exc
                try:
                    if self.connection is not None:
                        self.connection.rollback()
                except Exception:
                    pass
                self._close_connection()  # a fresh connection for the retry
                print(f"run-writer: {type(exc).__name__}: {exc} (retrying)", file=sys.stderr)
                time.sleep(min(2.0, 0.05 * 2 ** attempt))
        print(f"run-writer: giving up on {len(batch)} row updates: {self.error!r}", file=sys.stderr)
