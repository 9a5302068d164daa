"""Issue 18, read replicas: read-only work goes to a real streaming replica, and a customer
always sees their own writes.

The module starts its own PostgreSQL primary and a replica made with ``pg_basebackup -R``
(tests/pg_cluster.py), from the server binaries on this machine. Which server answered is
read from the server itself (``pg_is_in_recovery()``) or from the engine that ran the
statement, never assumed."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from starlette.testclient import TestClient

from okpay import migrate, replica
from okpay import settings as settings_module
from okpay.db import Database, get_database, reset_databases
from tests.conftest import BACKENDS, Mailbox, install_settings, unavailable
from tests.helpers import api_token
from tests.pg_cluster import ClusterUnavailable, StreamingPair
from tests.wallet.helpers import fund, make_user

pytestmark = pytest.mark.postgres_only


def _forget_caches() -> None:
    """Ids cached per process belong to the database they were read from."""
    from okpay.risk import rules as risk_rules
    from okpay.wallet import ledger

    ledger.forget_system_accounts()
    risk_rules.forget_cache()


@pytest.fixture(scope="module")
def pair() -> Iterator[StreamingPair]:
    """A migrated primary and its streaming replica, for this module."""
    if "postgresql" not in BACKENDS:
        pytest.skip("PostgreSQL is not among OKPAY_TEST_DATABASES")
    try:
        started = StreamingPair.start()
    except ClusterUnavailable as exc:
        unavailable(f"a streaming replica cannot be started: {exc}")
    try:
        migrate.upgrade(started.primary.url())
        started.wait_streaming()
        yield started
    finally:
        reset_databases()
        _forget_caches()
        started.stop()


def _configure(
    pair: StreamingPair, tmp_path: Path, smtp_listener: Mailbox, **overrides: object
) -> Iterator[Database]:
    reset_databases()
    _forget_caches()
    values: dict[str, object] = {
        "database_replica_url": pair.replica.url(),
        "database_replica_wait_ms": 30,
        **overrides,
    }
    for _ in install_settings(pair.primary.url(), tmp_path, smtp_listener, **values):
        yield get_database()
        reset_databases()
        _forget_caches()


@pytest.fixture
def db(pair: StreamingPair, tmp_path: Path, smtp_listener: Mailbox) -> Iterator[Database]:
    """The configured Database (primary) with the replica attached; pair replaying."""
    with pair.replica.connect() as conn:
        conn.execute("SELECT pg_wal_replay_resume()")
    yield from _configure(pair, tmp_path, smtp_listener)


@pytest.fixture
def client(db: Database, pair: StreamingPair) -> Iterator[TestClient]:
    from okpay.app import create_app

    with TestClient(
        create_app(settings_module.get_settings()),
        base_url="http://testserver",
        headers={"Accept-Language": "en"},
    ) as c:
        yield c


class Statements:
    """The SQL each engine ran (what reached the primary and what reached the replica)."""

    def __init__(self, **engines: Engine) -> None:
        self.seen: dict[str, list[str]] = {name: [] for name in engines}
        for name, engine in engines.items():

            def record(*args: Any, _name: str = name) -> None:
                self.seen[_name].append(str(args[2]))

            event.listen(engine, "before_cursor_execute", record)

    def clear(self) -> None:
        for statements in self.seen.values():
            statements.clear()

    def ran(self, name: str, fragment: str) -> bool:
        return any(fragment in sql for sql in self.seen[name])


def _customers(db: Database, pair: StreamingPair) -> tuple[str, str]:
    alice, bob = (
        f"alice-{uuid.uuid4().hex[:8]}@example.com",
        f"bob-{uuid.uuid4().hex[:8]}@example.com",
    )
    fund(db, make_user(db, alice), 100_00)
    make_user(db, bob)
    pair.wait_streaming()
    return alice, bob


def _send(client: TestClient, headers: dict[str, str], to: str, amount: str = "1.23") -> None:
    response = client.post(
        "/api/v1/wallet/transfers",
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        json={"recipient": to, "amount": amount, "currency": "CNY"},
    )
    assert response.status_code in (200, 201), response.text


def _transfers_seen(client: TestClient, headers: dict[str, str]) -> int:
    response = client.get("/api/v1/wallet/history?type=transfer", headers=headers)
    assert response.status_code == 200, response.text
    return len(response.json()["items"])


def _answered_by_replica(db: Database) -> bool:
    with db.read_unit_of_work() as session:
        return bool(session.execute(text("SELECT pg_is_in_recovery()")).scalar_one())


def test_read_units_go_to_the_replica_and_writes_never_do(db: Database) -> None:
    assert db.replica is not None
    assert _answered_by_replica(db)
    with db.unit_of_work() as session:
        assert session.execute(text("SELECT pg_is_in_recovery()")).scalar_one() is False
    # Nothing can be written through a read unit on the replica: the server refuses it.
    with (
        pytest.raises(DBAPIError, match=r"read-only|recovery"),
        db.read_unit_of_work() as session,
    ):
        session.execute(text("CREATE TABLE not_here (id int)"))
    # A refused statement is not the replica failing: the next read still goes there.
    assert _answered_by_replica(db)


def test_history_statement_exports_and_reports_read_from_the_replica(
    db: Database, client: TestClient, pair: StreamingPair
) -> None:
    assert db.replica is not None
    alice, bob = _customers(db, pair)
    headers = api_token(client, alice)
    _send(client, headers, bob)
    pair.wait_streaming()
    seen = Statements(primary=db.engine, replica=db.replica.engine)
    # A few seconds on: Alice's transfer is no longer "her own recent write" to wait for.
    db.replica.writers.window = 0
    for path in ("/api/v1/wallet/history", "/api/v1/wallet/history/export"):
        seen.clear()
        response = client.get(path, headers=headers)
        assert response.status_code == 200 and "1.23" in response.text, response.text
        assert seen.ran("replica", "wallet_activity"), path
        assert not seen.ran("primary", "wallet_activity"), path
        # The replica only ever runs reads.
        assert all(sql.lstrip().upper().startswith("SELECT") for sql in seen.seen["replica"])

    from tests.wallet.test_pages import sign_in

    sign_in(client, alice)
    for path in ("/wallet/history", "/wallet/history.csv", "/wallet/statement"):
        seen.clear()
        response = client.get(path)
        assert response.status_code == 200 and "1.23" in response.text, path
        assert seen.ran("replica", "wallet_activity") and not seen.ran("primary", "wallet_activity")


def test_staff_reports_and_help_search_read_from_the_replica(
    db: Database, client: TestClient, pair: StreamingPair
) -> None:
    from tests.support.helpers import make_staff
    from tests.wallet.test_pages import sign_in

    assert db.replica is not None
    agent = f"agent-{uuid.uuid4().hex[:8]}@okpay.example"
    make_staff(db, agent)
    pair.wait_streaming()
    sign_in(client, agent)
    seen = Statements(primary=db.engine, replica=db.replica.engine)
    db.replica.writers.window = 0  # the sign-in is not what these pages must wait for
    for path, table in (
        ("/agent/reports", "ticket"),
        ("/agent/reports/by_day.csv", "ticket"),
        ("/api/v1/help/search?q=password", "help_article"),
        ("/help?q=password", "help_article"),
    ):
        seen.clear()
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        assert seen.ran("replica", f"FROM {table}"), (path, seen.seen)
        assert not seen.ran("primary", f"FROM {table}"), path


def test_own_write_is_seen_while_the_replica_is_paused(
    db: Database, client: TestClient, pair: StreamingPair, tmp_path: Path, smtp_listener: Mailbox
) -> None:
    # Lag allowed for this test: a paused replica still counts as fresh enough for readers
    # who did not write, so what they see shows which server answered.
    assert db.replica is not None
    db.replica.max_lag = 600
    alice, bob = _customers(db, pair)
    alice_phone, bob_headers = api_token(client, alice), api_token(client, bob)
    assert _transfers_seen(client, bob_headers) == 0
    with pair.replica.connect() as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
    _send(client, alice_phone, bob)
    # Alice sees her transfer at once, on the device she sent it from and on another one
    # (a second sign-in: another session, another client).
    assert _transfers_seen(client, alice_phone) == 1
    with TestClient(client.app, base_url="http://testserver") as laptop:
        assert _transfers_seen(laptop, api_token(laptop, alice)) == 1
    # Bob wrote nothing: the paused replica answers him, without the transfer yet.
    assert _transfers_seen(client, bob_headers) == 0
    with pair.replica.connect() as conn:
        conn.execute("SELECT pg_wal_replay_resume()")
    pair.wait_streaming()
    assert _transfers_seen(client, bob_headers) == 1


def test_own_writes_are_known_to_every_process_through_redis(redis_url: str) -> None:
    namespace = f"t{uuid.uuid4().hex[:12]}"
    server_a = replica.RecentWriters(5, redis_url=redis_url, namespace=namespace)
    server_b = replica.RecentWriters(5, redis_url=redis_url, namespace=namespace)
    alone = replica.RecentWriters(5)
    server_a.mark("user:7")
    assert server_b.recent("user:7") and not server_b.recent("user:8")
    assert not alone.recent("user:7")
    # Redis unreachable: every reader counts as a recent writer (the safe side).
    broken = replica.RecentWriters(5, redis_url="redis://127.0.0.1:1/0")
    assert broken.recent("user:9")
    for writers in (server_a, server_b, alone, broken):
        writers.close()


def test_a_late_replica_is_passed_over_until_it_catches_up(
    db: Database, pair: StreamingPair, caplog: pytest.LogCaptureFixture
) -> None:
    assert db.replica is not None
    db.replica.max_lag = 0.3
    with pair.replica.connect() as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
    make_user(db, f"carol-{uuid.uuid4().hex[:8]}@example.com")  # WAL the replica cannot replay

    def late() -> bool:
        return not _answered_by_replica(db)

    with caplog.at_level(logging.WARNING, logger="okpay.replica"):
        _poll(late, "reads leaving a replica that stopped replaying")
        assert late() and late()
        with pair.replica.connect() as conn:
            conn.execute("SELECT pg_wal_replay_resume()")
        _poll(lambda: not late(), "reads coming back to the replica")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "read replica: reads go to the primary, the replica is late by more than 0.3s",
        "read replica: answering reads again",
    ]


def test_replica_down_means_the_primary_answers_then_the_replica_again(
    db: Database,
    client: TestClient,
    pair: StreamingPair,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(replica, "RETRY_SECONDS", 0.2)
    alice, bob = _customers(db, pair)
    headers = api_token(client, alice)
    assert _answered_by_replica(db)  # a pooled connection to it now exists
    pair.pg_ctl(pair.replica, "stop")
    try:
        with caplog.at_level(logging.WARNING, logger="okpay.replica"):
            for _ in range(3):
                assert not _answered_by_replica(db)
                _send(client, headers, bob, "1")
                assert (
                    client.get("/api/v1/wallet/history/export", headers=headers).status_code == 200
                )
            assert _transfers_seen(client, headers) == 3
        downs = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(downs) == 1
    finally:
        pair.pg_ctl(pair.replica, "start")
    pair.wait_streaming()
    _poll(lambda: _answered_by_replica(db), "reads back on the restarted replica")
    assert _transfers_seen(client, headers) == 3


def test_a_promoted_replica_is_passed_over(db: Database, pair: StreamingPair) -> None:
    # Last in the module: the pair is no longer a pair afterwards.
    assert _answered_by_replica(db)
    pair.pg_ctl(pair.replica, "promote")
    _poll(lambda: not _answered_by_replica(db), "reads leaving the promoted replica")
    with db.read_unit_of_work() as session:
        port = session.execute(text("SELECT current_setting('port')")).scalar_one()
    assert int(port) == pair.primary.port


def test_replica_setting_needs_postgresql() -> None:
    with pytest.raises(ValueError, match="OKPAY_DATABASE_REPLICA_URL needs PostgreSQL"):
        settings_module.Settings(
            database_url="sqlite:///var/x.sqlite3",
            database_replica_url="postgresql://replica.example/okpay",
        )
    with pytest.raises(ValueError, match="needs PostgreSQL"):
        settings_module.Settings(
            database_url="postgresql://db.example/okpay", database_replica_url="sqlite:///x"
        )


def _poll(check: Any, what: str, seconds: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds}s")
        time.sleep(0.02)
