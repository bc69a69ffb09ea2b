"""Write-behind for run-row state changes: one writer thread, one transaction per batch.

A runner executing hundreds of short tasks changes each task run's row at least twice (RUNNING,
then TERMINATED). One transaction per change, from several slot threads, makes SQLite writers
queue on its single write lock (and sleep in its busy handler). Here, updates are merged per row
(later fields win) and committed together by one thread: while one batch commits, the next one
accumulates, so the number of transactions adapts to the load instead of growing with it.

Readers see a change once its batch commits (typically within a few milliseconds). ``flush()``
waits until everything submitted before it is committed: callers use it before reading rows back
(notifications, the run's final state). A runner that dies loses at most the last batch; recovery
then ends the run's unfinished task runs INTERNAL_ERROR as it would anyway.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from sqlalchemy import bindparam, update

from healthmon.store.db import Database
from healthmon.store.runs import RunRecord


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: (json.dumps(v, sort_keys=True, default=str) if k.endswith("_json") else v) for k, v in fields.items()}


class RunWriter:
    def __init__(self, db: Database):
        self.db = db
        self.cond = threading.Condition()
        self.pending: dict[int, dict[str, Any]] = {}
        self.submitted = 0  # sequence number of the last update submitted
        self.committed = 0  # ... and of the last one committed
        self.closed = False
        self.error: BaseException | None = None
        self.statements: dict[tuple[str, ...], Any] = {}
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
            self.cond.notify_all()

    def flush(self, timeout: float | None = 60) -> None:
        """Block until every update submitted so far is committed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.cond:
            target = self.submitted
            while self.committed < target:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"run updates not committed after {timeout} s: {self.error!r}")
                self.cond.wait(left)

    def close(self) -> None:
        self.flush(timeout=None)
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.thread.join()

    def _loop(self) -> None:
        while True:
            with self.cond:
                while not self.pending and not self.closed:
                    self.cond.wait()
                if not self.pending and self.closed:
                    return
                batch, self.pending = self.pending, {}
                seq = self.submitted
            self._commit(batch)
            with self.cond:
                self.committed = seq
                self.cond.notify_all()

    def _statement(self, cols: tuple[str, ...]):
        stmt = self.statements.get(cols)
        if stmt is None:
            table = RunRecord.__table__
            stmt = self.statements[cols] = (update(table).where(table.c.run_id == bindparam("_id"))
                                            .values({c: bindparam(f"v_{c}") for c in cols}))
        return stmt

    def _commit(self, batch: dict[int, dict[str, Any]]) -> None:
        # One statement per distinct column set, each an executemany over its rows.
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for run_id, values in batch.items():
            groups.setdefault(tuple(sorted(values)), []).append({"_id": run_id, **{f"v_{k}": v for k, v in values.items()}})
        for attempt in range(20):
            try:
                with self.db.engine.begin() as conn:
                    for cols, rows in groups.items():
                        conn.execute(self._statement(cols), rows)
                self.error = None
                return
            except Exception as exc:  # database busy beyond its timeout, connection lost: retry
                self.error = exc
                print(f"run-writer: {type(exc).__name__}: {exc} (retrying)", file=sys.stderr)
                time.sleep(min(2.0, 0.05 * 2 ** attempt))
        print(f"run-writer: giving up on {len(batch)} row updates: {self.error!r}", file=sys.stderr)
