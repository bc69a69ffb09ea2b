"""The scale-out engine: PySpark (``local[*]`` or a ``spark://`` master) over Delta snapshots.

Delta's Spark connector needs Maven jars, which a machine without internet cannot fetch, so the
engine does not use it: a query reads each referenced snapshot as the Parquet files that make it
up (``DeltaTable.file_uris()``, ``basePath`` = the table root so partition columns come back),
and writes (CTAS, INSERT) are collected to Arrow and committed by ``deltalake`` — the same code
path, and the same transaction guarantees, as the DuckDB engine. Files are immutable in Delta,
so a file list *is* a consistent snapshot. Tables with deletion vectors or column mapping (not
written by healthmon) are refused rather than read wrongly.

Configuration: ``HEALTHMON_SPARK_MASTER`` (default ``local[*]``), ``HEALTHMON_SPARK_CONF``
(``key=value;key=value``) — never code changes in notebooks.

Confinement (``sql_confine``): a query is checked on its bound tree before Spark sees it, the
session cannot query files by path (``spark.sql.runSQLOnFiles=false``, set after
``HEALTHMON_SPARK_CONF`` so it cannot be turned back on), and a statement running past the
timeout (``HEALTHMON_SQL_TIMEOUT``, default 600 s) has its Spark jobs cancelled.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable

import pyarrow as pa
from deltalake import DeltaTable
from sqlglot import exp

from healthmon import interrupts
from healthmon.errors import HealthmonError, InvalidParameterError
from healthmon.lakehouse.sql_confine import check_spark_query, timeout_error, timeout_from_env
from healthmon.lakehouse.sql_translate import TableRef, to_dialect

_SESSION = None
# Spark SQL settings that confine a session, applied after any user configuration.
CONFINED_CONF = {"spark.sql.runSQLOnFiles": "false"}


def _conf_from_env() -> dict[str, str]:
    out = {}
    for item in (os.environ.get("HEALTHMON_SPARK_CONF") or "").split(";"):
        if "=" in item:
            k, v = item.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def get_session(master: str | None = None):
    """The process-wide SparkSession (created on first use)."""
    global _SESSION
    if _SESSION is not None:
        return _SESSION
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise HealthmonError(
            "The Spark engine needs pyspark: pip install 'healthmon[spark]' (and Java 17)."
        ) from None
    builder = (
        SparkSession.builder.appName("healthmon")
        .master(master or os.environ.get("HEALTHMON_SPARK_MASTER") or "local[*]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", os.environ.get("HEALTHMON_SPARK_DRIVER_MEMORY", "4g"))
        .config("spark.sql.parquet.int96RebaseModeInRead", "CORRECTED")
        .config("spark.sql.parquet.datetimeRebaseModeInRead", "CORRECTED")
    )
    for k, v in {**_conf_from_env(), **CONFINED_CONF}.items():
        builder = builder.config(k, v)
    import logging

    # pyspark logs every failed query (with a JVM stack) before raising; we report it ourselves.
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    from healthmon.logsetup import native_output_to_log_file

    with native_output_to_log_file():  # the JVM's banner and warnings: not on a user's terminal
        # On a worker thread: the CLI's Ctrl-C / SIGTERM handlers run at once in the main thread
        # (an interrupt ends the JVM being started, which makes the start fail at once), and
        # pyspark, which installs a SIGINT handler of its own only from the main thread, leaves
        # the CLI's in place.
        _SESSION = interrupts.run_interruptibly(builder.getOrCreate, stop=_end_starting_jvm())
    _SESSION.sparkContext.setLogLevel("ERROR")
    return _SESSION


def _end_starting_jvm() -> Callable[[], None]:
    """What stops the JVM this process is starting: its pyspark launcher (``spark-submit``, a
    child of this process, in its process group, that becomes the JVM) and what that started.
    SIGTERM first (Spark's shutdown hooks remove its temporary folders), SIGKILL when called
    again (a second later) and it is still there."""
    import signal

    import psutil

    calls: list[int] = []

    def stop() -> None:
        signum = signal.SIGKILL if calls else signal.SIGTERM
        calls.append(signum)
        for child in psutil.Process().children():
            try:
                if not _is_spark_launcher(child.cmdline()):
                    continue
                for proc in [*child.children(recursive=True), child]:
                    proc.send_signal(signum)
            except psutil.Error:  # already gone
                continue

    return stop


def _is_spark_launcher(cmdline: list[str]) -> bool:
    """pyspark's ``spark-submit`` (a shell script running ``spark-class``) or the JVM it becomes
    (``org.apache.spark.deploy.SparkSubmit``); not any process whose arguments say "spark"."""
    return any(part.endswith(("/spark-submit", "/spark-class")) or part.startswith("org.apache.spark.")
               for part in cmdline)


class SparkEngine:
    name = "spark"
    dialect = "spark"

    def __init__(self, master: str | None = None, session=None, timeout: float | None | str = "env"):
        self.master = master
        self._session = session
        self._confined = False
        # seconds, None for no timeout; "env" reads HEALTHMON_SQL_TIMEOUT at each query
        self.timeout = timeout

    @property
    def spark(self):
        if self._session is None:
            self._session = get_session(self.master)
        if not self._confined:  # also a session handed in by the caller
            for k, v in CONFINED_CONF.items():
                self._session.conf.set(k, v)
            self._confined = True
        return self._session

    def _timeout(self) -> float | None:
        if isinstance(self.timeout, str):
            return timeout_from_env()
        return self.timeout or None

    def dataframe(self, dt: DeltaTable):
        """A Spark DataFrame of one Delta snapshot."""
        protocol = dt.protocol()
        features = set(protocol.reader_features or [])
        unsupported = features & {"deletionVectors", "columnMapping", "v2Checkpoint"}
        if unsupported:
            raise InvalidParameterError(
                f"Delta table {dt.table_uri} uses {', '.join(sorted(unsupported))}, which the Spark engine "
                "(file-list reader, no Delta connector) cannot read; use the DuckDB engine."
            )
        files = dt.file_uris()
        schema = pa.schema(dt.schema().to_arrow())
        if not files:
            return self.spark.createDataFrame(schema.empty_table())
        root = dt.table_uri
        return (
            self.spark.read.option("basePath", root if "://" in root else f"file://{root}")
            .parquet(*files)
            .select(*[f"`{n}`" for n in schema.names])
        )

    def query(
        self, tree: exp.Expression, refs: list[TableRef], load: Callable[[TableRef], DeltaTable],
        source_dialect: str = "spark",
    ) -> pa.Table:
        check_spark_query(tree)
        sql = to_dialect(tree, self.dialect, source_dialect)
        timeout = self._timeout()
        views = []
        sc = self.spark.sparkContext
        # The statement's Spark jobs carry a tag of their own; the timer cancels exactly those.
        tag = f"healthmon-sql-{uuid.uuid4().hex}"
        timed_out = threading.Event()

        def cancel() -> None:
            timed_out.set()
            sc.cancelJobsWithTag(tag)

        def run() -> pa.Table:
            # Job tags belong to the JVM thread of the Python thread that sets them (pinned
            # threads), so the statement's thread sets its own.
            sc.addJobTag(tag)
            sc.setInterruptOnCancel(True)  # a cancelled statement's running tasks stop, not only its queued ones
            try:
                return self.spark.sql(sql).toArrow()
            finally:
                sc.removeJobTag(tag)

        timer = threading.Timer(timeout, cancel) if timeout else None
        try:
            for ref in refs:
                self.dataframe(load(ref)).createOrReplaceTempView(ref.view)
                views.append(ref.view)
            if timer:
                timer.daemon = True
                timer.start()
            try:
                # On a worker thread: Ctrl-C / SIGTERM cancel the statement's jobs at once.
                return interrupts.run_interruptibly(run, stop=lambda: sc.cancelJobsWithTag(tag))
            except Exception as exc:
                if timed_out.is_set():
                    raise timeout_error(timeout or 0) from None
                if type(exc).__module__.startswith(("pyspark", "py4j")):
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    raise InvalidParameterError(f"SQL error: {first}\n  (engine SQL: {sql})") from None
                raise
        finally:
            if timer:
                timer.cancel()
            for v in views:
                self.spark.catalog.dropTempView(v)
