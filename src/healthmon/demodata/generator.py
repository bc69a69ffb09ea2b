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
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from healthmon.demodata import dims, gen_audit, gen_jobs, gen_quality, gen_sql, gen_usage
from healthmon.demodata.incidents import plan
from healthmon.demodata.schemas import GOLD_TABLES
from healthmon.demodata.world import DEFAULT_END_DATE, SCALES, build_world
from healthmon.demodata.writer import TableSetWriter
from healthmon.errors import InvalidParameterError

STREAMS = {"jobs": 10, "job_usage": 11, "sql": 12, "audit": 13, "other": 14, "usage": 15, "quality": 16}


def _check(workspaces: int, days: int, scale: str) -> None:
    if scale not in SCALES:
        raise InvalidParameterError(f"Invalid scale {scale!r}: expected one of {', '.join(SCALES)}.")
    if not isinstance(workspaces, int) or workspaces < 1 or workspaces > 500:
        raise InvalidParameterError(f"Invalid workspaces {workspaces!r}: expected an integer from 1 to 500.")
    if not isinstance(days, int) or days < 14 or days > 3660:
        raise InvalidParameterError(f"Invalid days {days!r}: expected an integer from 14 to 3660 (the last 20 % is the test period).")


def iter_batches(*, workspaces: int = 20, days: int = 180, seed: int = 7, scale: str = "small",
                 end_date: dt.date | None = None, parallel: bool = False):
    """Yield ``(table_name, pyarrow.Table)`` pieces: dimensions first, then fact batches.

    ``parallel``: generate each batch's SQL and audit events on a second thread while this one
    generates jobs, usage and quality (each domain has its own random stream and reads the
    world only, so the pieces — and their order — are identical; numpy and Arrow release the
    GIL for most of the work)."""
    _check(workspaces, days, scale)
    world = build_world(seed, SCALES[scale], workspaces, days, end_date or DEFAULT_END_DATE)
    eff = plan(world)
    for name, tbl in dims.build(world, eff).items():
        yield name, tbl
    ids = gen_jobs.RunIds(seed)
    tstate = gen_quality.TableState(world)
    step = world.scale.batch_days
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="demodata-gen") if parallel else None
    try:
        for b, d0 in enumerate(range(0, days, step)):
            d1 = min(days, d0 + step)

            def rng(stream: str, b=b) -> np.random.Generator:
                return np.random.default_rng([seed, STREAMS[stream], b])

            def sql(d0=d0, d1=d1, r=rng("sql")):
                return gen_sql.generate(world, eff, d0, d1, r)

            def audit(d0=d0, d1=d1, r=rng("audit")):
                return gen_audit.generate(world, eff, d0, d1, r)

            later = [pool.submit(sql), pool.submit(audit)] if pool else None
            jobs = gen_jobs.generate(world, eff, d0, d1, rng("jobs"), ids)
            yield "fact_job_run_timeline", jobs["fact_job_run_timeline"]
            yield "fact_job_task_run_timeline", jobs["fact_job_task_run_timeline"]
            job_usage, job_nodes = gen_jobs.usage_and_nodes(world, jobs["_runs"], rng("job_usage"))
            yield "fact_node_timeline", job_nodes
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
    """Generate the gold tables into ``<catalog>.<schema>``; returns rows written per table."""
    from healthmon.settings import Settings

    settings = Settings.from_env()
    _check(workspaces, days, scale)
    with TableSetWriter(settings.lakehouse_root, catalog, schema) as writer:
        for gold in GOLD_TABLES.values():
            writer.ensure(gold)
        _pipeline(iter_batches(workspaces=workspaces, days=days, seed=seed, scale=scale, end_date=end_date,
                               parallel=True),
                  writer, progress)
        return writer.commit()


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
