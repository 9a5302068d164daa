"""Engine, session factory and the unit of work.

A request or a job is one unit of work: services only ``flush()``, the unit of work commits
on success and rolls back on error, and side effects queued with :func:`on_commit` run only
after the commit succeeded (they are dropped on rollback).
"""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

import psycopg
from sqlalchemy import (
    ARRAY,
    BigInteger,
    DateTime,
    Integer,
    MetaData,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import (
    DeclarativeBase,
    Session,
    class_mapper,
    make_transient_to_detached,
    sessionmaker,
)
from sqlalchemy.types import TypeDecorator

from okpay import replica as replicas
from okpay.settings import get_settings

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every OKPay table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# 64-bit ids on PostgreSQL; SQLite needs INTEGER PRIMARY KEY for its rowid auto-increment.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always returned timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with OKPay's per-dialect setup (SQLite pragmas and BEGIN IMMEDIATE)."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )
        _setup_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    engine = create_engine(url, **kwargs)
    _setup_postgresql(engine)
    return engine


# A pooled connection may have died while it waited (the server restarted, or an operator
# ended the session). SQLAlchemy's pool_pre_ping would ask the server on every checkout: a
# round trip per unit of work, a sixth of a transfer's. Instead, a connection that was in
# use within the last PING_AFTER_IDLE seconds is checked locally: the server closes the
# socket of a session it ends (after saying why), so a socket with something to read means
# the connection is finished or has news; only then, or after a longer wait, is it pinged.
# A failed ping throws the connection away and the pool opens another.
PING_AFTER_IDLE = 30.0
_IDLE_SINCE = "okpay_idle_since"


def _setup_postgresql(engine: Engine) -> None:
    def _mark(_dbapi_conn: Any, record: Any, *_rest: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    event.listen(engine, "connect", _mark)
    event.listen(engine, "checkin", _mark)

    @event.listens_for(engine, "checkout")
    def _alive(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle = time.monotonic() - record.info.get(_IDLE_SINCE, 0.0)
        if idle < PING_AFTER_IDLE and _quiet(dbapi_conn):
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise DisconnectionError(str(exc)) from exc


def _quiet(dbapi_conn: Any) -> bool:
    """An open psycopg connection with nothing waiting on its socket (no round trip)."""
    try:
        if dbapi_conn.closed or dbapi_conn.pgconn.status != 0:  # pq.ConnStatus.OK
            return False
        # poll, not select: a busy server's descriptors can pass select's limit of 1024.
        poller = select.poll()
        poller.register(dbapi_conn.pgconn.socket, select.POLLIN)
        return not poller.poll(0)
    except Exception:  # no usable socket: let the ping decide
        return False


def _setup_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself, so writers can take the
        # database lock up front (BEGIN IMMEDIATE) instead of failing on upgrade.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("okpay_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """An engine and its session factories: one per process and database URL."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, **engine_kwargs)
        self.dialect = self.engine.dialect.name
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            self.engine.execution_options(okpay_write=True), expire_on_commit=False
        )
        # A streaming replica for read_unit_of_work (get_database attaches the configured one).
        self.replica: replicas.Replica | None = None

    def session(self, *, write: bool = True) -> Session:
        """A new session; ``write`` takes SQLite's write lock at BEGIN."""
        return (self._write if write else self._read)()

    @contextmanager
    def unit_of_work(self, *, write: bool = True) -> Iterator[Session]:
        """Commit on success, roll back on error, then run the after-commit hooks."""
        session = self.session(write=write)
        committed = False
        try:
            try:
                yield session
            except BaseException as exc:
                if getattr(exc, "persist", False):
                    # A refusal that records what happened (a failed sign-in): keep its rows.
                    session.commit()
                    committed = True
                raise
            session.commit()
            committed = True
        finally:
            hooks: list[Callable[[], None]] = session.info.pop(_HOOKS, [])
            if not committed:
                session.rollback()
            session.close()
            if committed:
                if write:
                    self._wrote()
                run_hooks(hooks)

    @contextmanager
    def one_statement(self, *, write: bool = True) -> Iterator[Session]:
        """A session for work that is a single statement (a lookup, one insert): on
        PostgreSQL in autocommit, the statement its own transaction, so it costs one round
        trip instead of three (no BEGIN, no COMMIT); elsewhere a unit of work. The session
        flushes on success; nothing may be queued with :func:`on_commit` in it."""
        if self.dialect != "postgresql":
            with self.unit_of_work(write=write) as session:
                yield session
            return
        with self.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            with Session(bind=conn, expire_on_commit=False) as session:
                yield session
                session.flush()
                assert not session.info.get(_HOOKS), "no after-commit hooks in one statement"
            if write:
                self._wrote()

    @contextmanager
    def read_unit_of_work(self) -> Iterator[Session]:
        """Read-only work (history, statements, exports, reports, help search): on the
        read replica when one is configured and may answer (see :mod:`okpay.replica`: it is
        streaming, not too late, and has the reader's own recent writes), else a read unit
        of work on the primary. Nothing may be written or queued with :func:`on_commit`."""
        replica = self.replica
        session = replica.session(self._needed_position()) if replica is not None else None
        if session is None:
            with self.unit_of_work(write=False) as primary_session:
                yield primary_session
            return
        assert replica is not None
        session.info[_DATABASE] = self.url  # the replica holds this database's rows
        try:
            yield session
        except DBAPIError as exc:
            if exc.connection_invalidated or isinstance(exc.orig, psycopg.OperationalError):
                replica.failed(exc)  # the next reads go to the primary for a while
            raise
        finally:
            session.close()

    def _needed_position(self) -> str | None:
        """The primary's WAL position now, when whoever this read is for wrote recently (the
        replica must have replayed that far to show them their own write); else None."""
        assert self.replica is not None
        key = replicas.acting_for.get()
        if key is None or not self.replica.writers.recent(key):
            return None
        with self.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            return str(conn.exec_driver_sql(replicas.PRIMARY_POSITION).scalar_one())

    def _wrote(self) -> None:
        """A write committed: remember who it was for, for read-your-writes on the replica."""
        if self.replica is not None:
            key = replicas.acting_for.get()
            if key is not None:
                self.replica.writers.mark(key)

    def autocommit_rows(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """PostgreSQL only: ``sql`` (psycopg placeholders; it must return rows) as its own
        transaction, straight through the driver on a pooled connection: one round trip
        and no SQLAlchemy statement, for a lookup that runs on every request."""
        assert self.dialect == "postgresql"
        pooled = self.engine.raw_connection()
        try:
            driver: Any = pooled.driver_connection
            driver.autocommit = True
            try:
                return _driver_fetch(driver, sql, params, self.engine)
            finally:
                if driver.broken:  # the server went away: the pool opens another
                    pooled.invalidate()
                else:
                    driver.autocommit = False
        finally:
            pooled.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.replica is not None:
            self.replica.dispose()


_HOOKS = "okpay_after_commit"
_DATABASE = "okpay_database"


def database_of(session: Session) -> str:
    """Which database a session reads, as its URL (password hidden): the primary's for a
    session on its read replica, which holds the same rows (for caches keyed by database)."""
    return session.info.get(_DATABASE) or session.get_bind().engine.url.render_as_string()


def on_commit(session: Session, fn: Callable[[], None]) -> None:
    """Run ``fn`` once the unit of work that owns ``session`` has committed."""
    session.info.setdefault(_HOOKS, []).append(fn)


def run_hooks(hooks: list[Callable[[], None]]) -> None:
    """Run after-commit hooks; one failing hook does not stop the others."""
    for fn in hooks:
        try:
            fn()
        except Exception:
            log.exception("after-commit hook failed")


_databases: dict[str, Database] = {}


def get_database(url: str | None = None) -> Database:
    """The process-wide Database for ``url`` (default: the configured one)."""
    settings = get_settings()
    key = normalise_url(url or settings.database_url)
    db = _databases.get(key)
    if db is None:
        db = _databases[key] = Database(key)
        if settings.database_replica_url and key == normalise_url(settings.database_url):
            db.replica = make_replica(settings.database_replica_url)
    return db


def make_replica(url: str) -> replicas.Replica:
    """The configured read replica at ``url`` (OKPAY_DATABASE_REPLICA_* settings)."""
    settings = get_settings()
    max_lag = settings.database_replica_max_lag_seconds
    engine = make_engine(url, connect_args={"connect_timeout": replicas.CONNECT_TIMEOUT})
    writers = replicas.RecentWriters(
        # A write older than this is on any replica no later than max_lag (with a margin
        # for the clocks of the app and database machines).
        2 * max_lag + 1,
        redis_url=settings.redis_url,
        namespace=settings.redis_namespace,
    )
    return replicas.Replica(
        engine,
        max_lag=max_lag,
        wait=settings.database_replica_wait_ms / 1000,
        writers=writers,
    )


def reset_databases() -> None:
    """Dispose of every cached engine (tests, forks)."""
    for db in _databases.values():
        db.dispose()
    _databases.clear()


def table_of(model: type[Base]) -> Table:
    """A model's Table, for Core statements on hot paths."""
    return cast(Table, model.__table__)


def driver_rows(
    session: Session, sql: str, params: dict[str, Any], *, row_factory: Any = None
) -> list[Any]:
    """Run ``sql`` (psycopg's ``%(name)s`` placeholders) on the session's own connection and
    transaction, straight through the driver, and return its rows (tuples, or what
    ``row_factory`` makes; none for a statement that returns none): for the few hot
    statements where building and compiling a SQLAlchemy statement costs more than the
    database spends on it.

    (Sending several together in psycopg's pipeline mode saves round trips but, measured
    on the transfer path, costs more Python than it saves.)"""
    connection = session.connection()
    return _driver_fetch(
        connection.connection.driver_connection, sql, params, connection.engine, row_factory
    )


def _driver_fetch(
    driver: Any, sql: str, params: dict[str, Any], engine: Engine, row_factory: Any = None
) -> list[Any]:
    try:
        with driver.cursor(row_factory=row_factory) if row_factory else driver.cursor() as cursor:
            cursor.execute(sql, params)
            # (Not ``cursor.description``: it builds an object per column, every time.)
            result = cursor.pgresult
            returns_rows = result is not None and result.status == psycopg.pq.ExecStatus.TUPLES_OK
            return list(cursor.fetchall()) if returns_rows else []
    except psycopg.Error as exc:
        # Raised as SQLAlchemy would raise it (IntegrityError, OperationalError, ...), so
        # that callers and retries see one kind of error whichever path ran the statement.
        raise DBAPIError.instance(
            sql,
            params,
            exc,
            psycopg.Error,
            hide_parameters=engine.hide_parameters,
            dialect=engine.dialect,
        ) from exc


class Loaded:
    """Detached instances of ``models`` from driver rows that hold each model's columns in
    table order (:attr:`columns` is that select list, each table by its alias), as a query
    would have loaded them: each column type's result processing applied, nothing pending
    or expired. For hot lookups run through the driver (:func:`driver_rows`,
    :meth:`Database.autocommit_rows`) that hand back model objects. (The instances are made
    as SQLAlchemy's loader makes them, their attributes set as loaded state: through the
    models' constructors they cost four times as much.)"""

    def __init__(self, dialect: Any, *models: tuple[type[Base], str]) -> None:
        self._models: list[tuple[Any, list[tuple[str, Any]]]] = []
        select_list: list[str] = []
        for model, alias in models:
            table = table_of(model)
            self._models.append(
                (
                    class_mapper(model).class_manager,
                    [(c.key, c.type.result_processor(dialect, None)) for c in table.c],
                )
            )
            select_list += [f"{alias}.{c.name}" for c in table.c]
        self.columns = ", ".join(select_list)

    def __call__(self, row: tuple[Any, ...]) -> list[Any]:
        out, i = [], 0
        for manager, columns in self._models:
            instance = manager.new_instance()
            state = instance.__dict__
            for key, process in columns:
                value = row[i]
                state[key] = process(value) if process is not None else value
                i += 1
            make_transient_to_detached(instance)
            out.append(instance)
        return out


def for_update(dialect: str) -> dict[str, Any]:
    """Row-lock arguments for ``select().with_for_update(**...)`` on this dialect."""
    return {"key_share": True} if dialect == "postgresql" else {}


def one_of(dialect: str, column: Any, values: Iterable[Any]) -> Any:
    """``column IN values``; on PostgreSQL ``column = ANY(:array)``, one bound array rather
    than one parameter per value (for a thousand values the driver spends longer preparing
    the expanded statement than the database takes to run it)."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))
