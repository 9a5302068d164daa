"""The connection pool on PostgreSQL: a connection the server ended is never handed out."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from okpay import db as db_module
from okpay.db import Database
from tests.helpers import api_token, api_verified_user

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


def test_a_lookup_in_autocommit_leaves_the_connection_as_it_found_it(single: Database) -> None:
    assert single.autocommit_rows("SELECT %(v)s::int + 1", {"v": 1}) == [(2,)]
    with single.unit_of_work() as s:  # the pool's only connection, back in transactions
        assert s.connection().connection.dbapi_connection.autocommit is False
    with pytest.raises(DBAPIError) as raised:  # the driver's error, as SQLAlchemy raises it
        single.autocommit_rows("SELECT 1/0", {})
    assert raised.value.orig.sqlstate == "22012"  # type: ignore[union-attr]
    assert single.autocommit_rows("SELECT 3", {}) == [(3,)]


def test_a_lookup_on_a_connection_the_server_ended_throws_the_connection_away(
    single: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend_pid(single)
    # Checked out within the idle window, so not pinged: the lookup meets the dead socket.
    monkeypatch.setattr(db_module, "_quiet", lambda _conn: True)
    _terminate(single, first)
    with pytest.raises(DBAPIError):
        single.autocommit_rows("SELECT 1", {})
    monkeypatch.undo()
    assert _backend_pid(single) != first  # the pool opened another


def test_driver_rows_of_a_statement_without_rows_is_empty(single: Database) -> None:
    with single.unit_of_work() as s:
        s.execute(text("CREATE TEMP TABLE IF NOT EXISTS no_rows (v int)"))
        assert db_module.driver_rows(s, "INSERT INTO no_rows VALUES (%(v)s)", {"v": 1}) == []
        assert db_module.driver_rows(s, "SELECT v FROM no_rows", {}) == [(1,)]


def test_rows_through_the_driver_load_as_the_orm_loads_them(client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    """The signed-in user and session of every request come this way on PostgreSQL."""
    from sqlalchemy import inspect, select

    from okpay.identity.models import User, UserSession

    api_verified_user(client, mailbox, "loaded@example.com")
    api_token(client, "loaded@example.com")
    loaded = db_module.Loaded(db.engine.dialect, (UserSession, "s"), (User, "u"))
    rows = db.autocommit_rows(
        f"SELECT {loaded.columns} FROM user_session s JOIN user_account u ON u.id = s.user_id",
        {},
    )
    session_row, user = loaded(rows[0])
    with db.unit_of_work() as s:
        expected = s.execute(select(UserSession, User).join(User)).one()
        for got, want in ((session_row, expected[0]), (user, expected[1])):
            for column in inspect(type(want)).columns:
                assert getattr(got, column.key) == getattr(want, column.key), column.key
            state = inspect(got)
            assert state.detached and not state.modified and not state.expired_attributes
        assert user.created_at.tzinfo is not None  # UTCDateTime's processing applied
        merged = s.merge(user, load=False)  # usable as any detached row
        assert merged.email == "loaded@example.com"
