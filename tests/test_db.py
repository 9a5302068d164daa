"""The connection pool on PostgreSQL: a connection the server ended is never handed out."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from okpay import db as db_module
from okpay.db import Database

pytestmark = pytest.mark.postgres_only


def _backend_pid(database: Database) -> int:
    with database.unit_of_work() as s:
        return int(s.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(database: Database, pid: int) -> None:
    other = Database(database.url, pool_size=1, max_overflow=0)
    try:
        with other.engine.begin() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        other.dispose()
    time.sleep(0.2)  # the server closes the socket after its last message


@pytest.fixture
def single(db):  # type: ignore[no-untyped-def]
    database = Database(db.url, pool_size=1, max_overflow=0)
    yield database
    database.dispose()


def test_a_recently_used_connection_is_not_pinged(single: Database) -> None:
    _backend_pid(single)
    pings: list[object] = []
    original = single.engine.dialect.do_ping
    single.engine.dialect.do_ping = lambda c: pings.append(c) or original(c)  # type: ignore[method-assign]
    try:
        _backend_pid(single)
    finally:
        single.engine.dialect.do_ping = original  # type: ignore[method-assign]
    assert pings == []


def test_a_connection_ended_by_the_server_is_replaced(single: Database) -> None:
    first = _backend_pid(single)
    _terminate(single, first)
    second = _backend_pid(single)  # no error: the dead connection was noticed at checkout
    assert second != first


def test_a_long_idle_connection_is_pinged(
    single: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _backend_pid(single)
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE", 0.0)
    pings: list[object] = []
    original = single.engine.dialect.do_ping
    monkeypatch.setattr(
        single.engine.dialect, "do_ping", lambda conn: pings.append(conn) or original(conn)
    )
    _backend_pid(single)
    assert len(pings) == 1


def test_the_check_works_with_descriptors_past_1024(db) -> None:  # type: ignore[no-untyped-def]
    """A busy server holds many sockets; select() cannot watch a descriptor past 1023."""
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip("the hard limit on open files is below 2048")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), hard))
    spare = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    database = Database(db.url, pool_size=1, max_overflow=0)
    try:
        first = _backend_pid(database)
        driver = database.engine.raw_connection()
        assert driver.driver_connection.pgconn.socket > 1023  # type: ignore[union-attr]
        driver.close()
        assert _backend_pid(database) == first  # checked without a ping, and still alive
        _terminate(database, first)
        assert _backend_pid(database) != first
    finally:
        database.dispose()
        for fd in spare:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_one_statement_is_its_own_transaction_without_begin_or_commit(single: Database) -> None:
    sent: list[str] = []

    def seen(conn, cursor, statement, *_rest) -> None:  # type: ignore[no-untyped-def]
        sent.append(statement)

    from sqlalchemy import event

    with single.unit_of_work() as s:
        s.execute(text("CREATE TEMP TABLE IF NOT EXISTS one_stmt (v int)"))
    event.listen(single.engine, "before_cursor_execute", seen)
    try:
        with single.one_statement() as s:
            s.execute(text("INSERT INTO one_stmt VALUES (1)"))
        # The pool's only connection: in autocommit the row is there for the next user,
        # and the connection is back in ordinary transactions.
        with single.unit_of_work() as s:
            assert s.execute(text("SELECT count(*) FROM one_stmt")).scalar_one() == 1
            assert s.connection().connection.dbapi_connection.autocommit is False
    finally:
        event.remove(single.engine, "before_cursor_execute", seen)
    assert sent[0].startswith("INSERT")
