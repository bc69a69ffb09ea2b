"""Engine and session handling for the workspace database.

SQLite is opened in WAL mode with a busy timeout so that parallel task processes, the
scheduler and the server can share one file. Every table module registers its tables on
``Base``; ``Database.create_all`` imports them all so one call creates the full schema.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, create_engine, event
from sqlalchemy.engine import Connection, CursorResult, Engine, Result
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from healthmon.settings import Settings
from healthmon.store.private import private_file, secure_sqlite_file, secure_workspace

# Modules that define tables on Base; create_all imports each so the schema is complete. A
# module may also define ``upgrade(connection)``, run after the tables exist when the database is
# opened, to bring rows stored by an older version to the current format.
TABLE_MODULES = (
    "healthmon.store.jobs",
    "healthmon.store.runs",
    "healthmon.store.schedule",
    "healthmon.store.auth",
    "healthmon.store.secrets",
)


class Base(DeclarativeBase):
    pass


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            secure_sqlite_file(Path(path))  # 0600 before SQLite creates it (its WAL and SHM files follow)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def insert_rows(conn: Connection, table, fixed: dict, rows: list[dict]) -> None:
    """INSERT many rows in one driver-level ``executemany``: ``fixed`` values are the same for
    every row, each row dict the same keys; every other column gets its Python-side default.
    For bulk inserts where the SQL layer's per-row parameter processing would dominate."""
    if not rows:
        return
    dialect = conn.dialect
    mark = PLACEHOLDERS[dialect.paramstyle]
    names = list(rows[0])
    constants = dict(fixed)
    for col in table.columns:
        if col.key in constants or col.key in names or col.default is None:
            continue
        if col.default.is_scalar:
            constants[col.key] = col.default.arg
        elif col.default.is_callable:
            constants[col.key] = col.default.arg({})  # SQLAlchemy wraps callables to take a context
    cols = [*constants, *names]
    quote = dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(table.c[c].name) for c in cols)}) "
           f"VALUES ({', '.join([mark] * len(cols))})")
    head = tuple(constants.values())
    conn.exec_driver_sql(sql, [head + tuple(r[n] for n in names) for r in rows])


class Database:
    """A handle on the workspace database: engine, session factory, schema creation."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._schema_ready = False
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> "Database":
        settings = settings or Settings.from_env()
        secure_workspace(settings.home)
        return _cached(settings.database_url)

    @classmethod
    def from_url(cls, url: str) -> "Database":
        """The process's one Database (engine, pool) for ``url``."""
        return _cached(url)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def create_all(self) -> None:
        if self._schema_ready:  # the hot path: no lock once the schema exists
            return
        with self._lock:
            if self._schema_ready:
                return
            for name in TABLE_MODULES:
                try:
                    importlib.import_module(name)
                except ModuleNotFoundError as exc:
                    if exc.name != name:
                        raise
            self._create_tables()
            self._schema_ready = True

    def _create_tables(self) -> None:
        """Create the schema; a database that cannot be reached is the user's to fix."""
        from sqlalchemy.exc import InterfaceError, OperationalError

        from healthmon.errors import HealthmonError

        try:
            self._create_missing_tables()
        except (InterfaceError, OperationalError) as exc:
            if "already exists" in str(exc):
                raise
            shown = self.engine.url.render_as_string(hide_password=True)
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise HealthmonError(f"Cannot open the workspace database {shown} (HEALTHMON_DATABASE_URL): {reason}",
                                 hint="expected a reachable database; check that its server is running") from None

    def _create_missing_tables(self) -> None:
        """Create missing tables. Two processes touching a new database at once would race
        between "does the table exist" and "CREATE TABLE": on SQLite a file lock serialises
        them; on other servers the loser retries (its check then finds the tables)."""
        sqlite_path = self._sqlite_path() if self.is_sqlite else None
        if sqlite_path:
            import fcntl

            lock_path = sqlite_path + ".schema-lock"
            with open(private_file(Path(lock_path)), "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    self._create_schema()
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
            return
        from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

        for attempt in range(5):
            try:
                self._create_schema()
                return
            except (IntegrityError, OperationalError, ProgrammingError) as exc:
                if "already exists" not in str(exc) and "duplicate key" not in str(exc) or attempt == 4:
                    raise
                time.sleep(0.1 * (attempt + 1))

    def _create_schema(self) -> None:
        Base.metadata.create_all(self.engine)
        # create_all skips tables that exist, and with them any index added to a table since:
        # create those one by one (CREATE INDEX when missing), so an existing workspace gets
        # them at its next start-up.
        from sqlalchemy import inspect

        with self.engine.begin() as conn:
            inspector = inspect(conn)
            for table in Base.metadata.sorted_tables:
                if not table.indexes:
                    continue
                present = {ix["name"] for ix in inspector.get_indexes(table.name)}
                for index in table.indexes:
                    if index.name not in present:
                        index.create(conn)
            for name in TABLE_MODULES:
                upgrade = getattr(sys.modules.get(name), "upgrade", None)
                if upgrade is not None:
                    upgrade(conn)

    def _sqlite_path(self) -> str | None:
        database = self.engine.url.database
        return database if database and database != ":memory:" else None

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        """A Core connection for reads (no ORM): the server's hot paths."""
        self.create_all()
        with self.engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any exception."""
        self.create_all()
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


_databases: dict[str, Database] = {}
_databases_lock = threading.Lock()


def forget(url: str) -> None:
    """Drop this process's Database for ``url`` (its pooled connections closed)."""
    with _databases_lock:
        db = _databases.pop(url, None)
    if db is not None:
        db.engine.dispose()


def forget_under(folder: Path) -> None:
    """Drop this process's Databases whose SQLite file lies under ``folder`` (a workspace that is
    going away), closing their pooled connections."""
    prefix = f"sqlite:///{folder}"
    for url in [u for u in list(_databases) if u.startswith(prefix)]:
        forget(url)


def _cached(url: str) -> Database:
    db = _databases.get(url)  # lock-free hit; the lock only guards creation
    if db is not None:
        return db
    with _databases_lock:
        db = _databases.get(url)
        if db is None:
            db = _databases[url] = Database(url)
        return db


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched: such statements execute to a ``CursorResult``,
    which ``Session.execute``'s declared return type does not say."""
    return cast(CursorResult, result).rowcount


def table_of(model: type[Base]) -> Table:
    """The Core table of a mapped class (declared as a plain ``FromClause`` on ``__table__``)."""
    return cast(Table, model.__table__)
