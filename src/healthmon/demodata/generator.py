"""``healthmon.demodata.generate`` (this module: ``generator``): write a synthetic account's gold tables.

Determinism: every random stream is ``numpy.random.default_rng([seed, stream, batch])``; the
world (entities) and the incident plan have their own streams, so output depends only on
(seed, scale, workspaces, days, end_date). Batches of ``scale.batch_days`` days are generated
and appended one at a time (large stays well under 4 GiB); tables are staged and swapped into
place together at the end (see :mod:`healthmon.demodata.writer`).
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from healthmon.errors import InvalidParameterError

if TYPE_CHECKING:  # imported for real by _load(), on first use
    import numpy as np
    from deltalake.transaction import AddAction

    from healthmon.demodata import dims, gen_audit, gen_jobs, gen_quality, gen_sql, gen_usage
    from healthmon.demodata.incidents import plan
    from healthmon.demodata.schemas import GOLD_TABLES
    from healthmon.demodata.world import DEFAULT_END_DATE, SCALES, build_world
    from healthmon.demodata.writer import TableSetWriter, write_file


def _load() -> None:
    """The heavy imports (numpy, pyarrow, deltalake and the domain generators), on first use:
    :func:`generate` starts its child process first, so both interpreters import at once."""
    global np, dims, gen_audit, gen_jobs, gen_quality, gen_sql, gen_usage, plan, GOLD_TABLES
    global DEFAULT_END_DATE, SCALES, build_world, TableSetWriter, write_file
    import numpy as np

    from healthmon.demodata import dims, gen_audit, gen_jobs, gen_quality, gen_sql, gen_usage
    from healthmon.demodata.incidents import plan
    from healthmon.demodata.schemas import GOLD_TABLES
    from healthmon.demodata.world import DEFAULT_END_DATE, SCALES, build_world
    from healthmon.demodata.writer import TableSetWriter, write_file


STREAMS = {"jobs": 10, "job_usage": 11, "sql": 12, "audit": 13, "other": 14, "usage": 15, "quality": 16}


def _check(workspaces: int, days: int, scale: str) -> None:
    _load()
    if scale not in SCALES:
        raise InvalidParameterError(f"Invalid scale {scale!r}: expected one of {', '.join(SCALES)}.")
    if not isinstance(workspaces, int) or workspaces < 1 or workspaces > 500:
        raise InvalidParameterError(f"Invalid workspaces {workspaces!r}: expected an integer from 1 to 500.")
    if not isinstance(days, int) or days < 14 or days > 3660:
        raise InvalidParameterError(
            f"Invalid days {days!r}: expected an integer from 14 to 3660 (the last 20 % is the test period)."
        )


def iter_batches(*, workspaces: int = 20, days: int = 180, seed: int = 7, scale: str = "small",
                 end_date: dt.date | None = None, parallel: bool = False,
                 sql_usage: Callable[[int], dict] | None = None):
    """Yield ``(table_name, pyarrow.Table)`` pieces: dimensions first, then fact batches.

    ``parallel``: generate each batch's SQL and audit events on a second thread while this one
    generates jobs, usage and quality (each domain has its own random stream and reads the
    world only, so the pieces — and their order — are identical).
    ``sql_usage``: the SQL and audit domains run elsewhere (:func:`generate` runs them in a
    second process); this yields no query or audit pieces and takes batch ``b``'s warehouse
    usage records from ``sql_usage(b)``."""
    _check(workspaces, days, scale)
    world = build_world(seed, SCALES[scale], workspaces, days, end_date or DEFAULT_END_DATE)
    eff = plan(world)
    yield from dims.build(world, eff).items()
    ids = gen_jobs.RunIds(seed)
    tstate = gen_quality.TableState(world)
    step = world.scale.batch_days
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="demodata-gen") if parallel else None
    try:
        for b, d0 in enumerate(range(0, days, step)):
            d1 = min(days, d0 + step)

            def rng(stream: str, b=b) -> np.random.Generator:
                return np.random.default_rng([seed, STREAMS[stream], b])

            sql = partial(gen_sql.generate, world, eff, d0, d1, rng("sql"))
            audit = partial(gen_audit.generate, world, eff, d0, d1, rng("audit"))

            later: list[Future[Any]] | None = [pool.submit(sql), pool.submit(audit)] if pool and not sql_usage else None
            jobs = gen_jobs.generate(world, eff, d0, d1, rng("jobs"), ids)
            yield "fact_job_run_timeline", jobs["fact_job_run_timeline"]
            yield "fact_job_task_run_timeline", jobs["fact_job_task_run_timeline"]
            job_usage, job_nodes = gen_jobs.usage_and_nodes(world, jobs["_runs"], rng("job_usage"))
            yield "fact_node_timeline", job_nodes
            if sql_usage:
                wh_usage = sql_usage(b)
            else:
                queries, wh_usage = later[0].result() if later else sql()
                yield "fact_query_history", queries
                del queries
                for piece in (later[1].result() if later else audit()):
                    yield "fact_audit_logs", piece
            other_usage, ap_nodes = gen_usage.hourly_other(world, eff, d0, d1, rng("other"))
            yield "fact_node_timeline", ap_nodes
            yield "fact_usage", gen_usage.assemble(world, eff, [job_usage, wh_usage] + other_usage, rng("usage"))
            snaps, dq = gen_quality.generate(world, eff, tstate, jobs["_runs"], d0, d1, rng("quality"))
            yield "fact_table_snapshots", snaps
            yield "fact_data_quality_monitoring_table_results", dq
    finally:
        if pool:
            pool.shutdown(wait=True, cancel_futures=True)


def generate(catalog: str, schema: str = "gold", *, workspaces: int = 20, days: int = 180, seed: int = 7,
             scale: str = "small", end_date: dt.date | None = None,
             progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Generate the gold tables into ``<catalog>.<schema>``; returns rows written per table.

    Two processes share the work (one per core): a child process generates and writes the SQL
    and audit domains (the two biggest tables) straight into their staging directories and
    sends back each batch's warehouse usage records and, at the end, its files' ``add``
    actions; this process generates and writes everything else, then commits all tables. Same
    random streams, so the same rows as :func:`iter_batches`, in the same order."""
    from healthmon.settings import Settings

    progress = _locked(progress)
    kw: dict[str, Any] = dict(workspaces=workspaces, days=days, seed=seed, scale=scale, end_date=end_date)
    remote = _Remote(kw, progress=progress)  # imports and builds its world while this process does
    try:
        _check(workspaces, days, scale)
        settings = Settings.from_env()
        with TableSetWriter(settings.lakehouse_root, catalog, schema) as writer:
            for gold in GOLD_TABLES.values():
                writer.ensure(gold)
            remote.send_dirs({n: str(writer.staging_dir(GOLD_TABLES[n])) for n in REMOTE_TABLES})
            try:
                _pipeline(iter_batches(**kw, sql_usage=remote.usage), writer, progress)
                for name, part, add, rows in remote.finish():
                    writer.adopt(GOLD_TABLES[name], part, add, rows)
            except BaseException:
                remote.kill()  # before the staging directories it writes into are removed
                raise
            return writer.commit()
    except BaseException:
        remote.kill()
        raise
    finally:
        remote.close()


def _locked(progress):
    if progress is None:
        return None
    lock = threading.Lock()

    def report(name: str, rows: int) -> None:
        with lock:
            progress(name, rows)
    return report


REMOTE_TABLES = ("fact_query_history", "fact_audit_logs")


class _Remote:
    """The SQL + audit generator process, seen from the parent: a plain ``python`` subprocess
    (not multiprocessing, which would re-import the caller's ``__main__``) exchanging pickled
    messages over its stdin/stdout. A reader thread drains its output as messages arrive, so the
    child never blocks on a full pipe while the parent is busy."""

    def __init__(self, kw: dict, dirs: dict[str, str] | None = None, progress=None):
        import pickle
        import subprocess
        import sys

        self._progress = progress
        self._messages: queue.Queue = queue.Queue()
        code = "from healthmon.demodata.generator import _sql_audit_main; _sql_audit_main()"
        self._proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self._proc.stdin is not None and self._proc.stdout is not None  # both PIPE
        self._stdin: IO[bytes] = self._proc.stdin
        self._stdout: IO[bytes] = self._proc.stdout
        pickle.dump(kw, self._stdin)
        self._stdin.flush()
        self._reader = threading.Thread(target=self._read, name="demodata-remote-reader", daemon=True)
        self._reader.start()
        if dirs is not None:
            self.send_dirs(dirs)

    def send_dirs(self, dirs: dict[str, str]) -> None:
        """The staging directory of each table the child writes (it waits for them before its
        first file)."""
        import pickle

        pickle.dump(dirs, self._stdin)
        self._stdin.close()

    def _read(self) -> None:
        import pickle

        try:
            while True:
                msg = pickle.load(self._stdout)
                self._messages.put(msg)
                if msg[0] in ("done", "error"):
                    return
        except (EOFError, OSError, pickle.UnpicklingError):
            self._messages.put(("error", f"the SQL/audit generator process exited (code {self._proc.wait()}) "
                                         "without a result; see its output above"))

    def _next(self, kind: str):
        while True:
            msg = self._messages.get()
            if msg[0] == "error":
                raise RuntimeError(f"demo-data SQL/audit generator process failed:\n{msg[1]}")
            if msg[0] == "rows":
                if self._progress:
                    self._progress(msg[1], msg[2])
                continue
            if msg[0] != kind:
                raise RuntimeError(f"demo-data generator protocol: expected {kind}, got {msg[0]}")
            return msg

    def usage(self, b: int) -> dict:
        _, got, wh_usage = self._next("batch")
        if got != b:
            raise RuntimeError(f"demo-data generator protocol: batch {got} arrived for {b}")
        return wh_usage

    def finish(self) -> list[tuple[str, int, AddAction, int]]:
        return self._next("done")[1]

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self._proc.wait(timeout=30)
            except Exception:
                self._proc.kill()
                self._proc.wait()
        self._stdout.close()


def _sql_audit_main() -> None:
    """Entry point of the child process: arguments pickled on stdin, messages pickled on the
    original stdout (fd 1 is pointed at stderr, so stray prints cannot corrupt the stream)."""
    import os
    import pickle
    import sys

    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    kw = pickle.load(sys.stdin.buffer)

    class Dirs(dict):
        """The staging directories, read from stdin when the first file is written."""

        def __missing__(self, name: str) -> str:
            if not self:
                self.update(pickle.load(sys.stdin.buffer))
            return dict.__getitem__(self, name)

    dirs = Dirs()

    class Conn:
        def send(self, msg) -> None:
            pickle.dump(msg, out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()

        def close(self) -> None:
            out.close()

    _sql_audit_process(kw, dirs, Conn())


def _sql_audit_process(kw: dict, dirs: dict[str, str], conn) -> None:
    """Child process: the SQL and audit domains of every batch, written as Parquet files into
    the parent's staging directories (two writer threads here too). Messages to the parent:
    ``("batch", b, warehouse usage)`` as soon as batch ``b``'s queries exist, ``("rows", table,
    n)`` for progress, then ``("done", [(table, part, add action, rows)])`` or ``("error", tb)``."""
    import traceback

    try:
        _load()
        seed, days = kw["seed"], kw["days"]
        world = build_world(seed, SCALES[kw["scale"]], kw["workspaces"], days, kw["end_date"] or DEFAULT_END_DATE)
        eff = plan(world)
        files: list[tuple[str, int, object, int]] = []
        with ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="demodata-remote-writer") as pool:
            previous: list = []
            for b, d0 in enumerate(range(0, days, world.scale.batch_days)):
                d1 = min(days, d0 + world.scale.batch_days)
                queries, wh_usage = gen_sql.generate(
                    world, eff, d0, d1, np.random.default_rng([seed, STREAMS["sql"], b])
                )
                conn.send(("batch", b, wh_usage))
                current = _submit(pool, "fact_query_history", queries, dirs, b * 1_000_000)
                conn.send(("rows", "fact_query_history", queries.num_rows))
                del queries
                audit = gen_audit.generate(world, eff, d0, d1, np.random.default_rng([seed, STREAMS["audit"], b]))
                for i, piece in enumerate(audit):
                    current += _submit(pool, "fact_audit_logs", piece, dirs, b * 1_000_000 + (i + 1) * 10_000)
                    conn.send(("rows", "fact_audit_logs", piece.num_rows))
                del audit, piece
                # at most two batches in memory: wait for the one before this
                files += [(name, part, f.result(), rows) for name, part, f, rows in previous]
                previous = current
            files += [(name, part, f.result(), rows) for name, part, f, rows in previous]
        conn.send(("done", files))
    except BaseException:  # reported to the parent, which raises it
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def _submit(pool, name: str, table, dirs: dict[str, str], base: int) -> list:
    """Queue a table's files (slices of at most FILE_ROWS rows) on the writer pool."""
    out = []
    for k, start in enumerate(range(0, table.num_rows, FILE_ROWS)):
        piece = table.slice(start, FILE_ROWS)
        out.append((name, base + k, pool.submit(write_file, GOLD_TABLES[name], piece, Path(dirs[name]), base + k),
                    piece.num_rows))
    return out


WRITERS = 2  # Parquet encoding releases the GIL: two files are encoded while the next batch is generated
FILE_ROWS = 1 << 18  # big pieces are written as several files, so both writer threads share them


def _pipeline(batches, writer: TableSetWriter, progress) -> None:
    """Generate on this thread while writer threads encode the previous pieces as Parquet
    (pyarrow releases the GIL), so generation and encoding overlap on both cores. A piece of
    more than :data:`FILE_ROWS` rows is cut into zero-copy slices, one file each: the last,
    largest pieces (audit, queries) are then encoded by both threads instead of one. The queue
    is bounded: at most a few pieces are in memory at once. Files are numbered in generation
    order, so the file order in each Delta table does not depend on which thread finished first."""
    pieces: queue.Queue = queue.Queue(maxsize=6)
    failure: list[BaseException] = []
    progress_lock = threading.Lock()

    def write() -> None:
        while True:
            item = pieces.get()
            if item is None:
                return
            if failure:
                continue  # drain after an error so the producer never blocks
            part, name, tbl = item
            try:
                writer.append(GOLD_TABLES[name], tbl, part)
                if progress:
                    with progress_lock:
                        progress(name, tbl.num_rows)
            except BaseException as exc:  # re-raised on the main thread
                failure.append(exc)

    threads = [threading.Thread(target=write, name=f"demodata-writer-{i}", daemon=True) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    try:
        for part, (name, tbl) in enumerate(batches):
            if failure:
                break
            for k, start in enumerate(range(0, max(tbl.num_rows, 1), FILE_ROWS)):
                pieces.put((part * 10_000 + k, name, tbl.slice(start, FILE_ROWS)))
    finally:
        for _ in threads:
            pieces.put(None)
        for thread in threads:
            thread.join()
    if failure:
        raise failure[0]
