"""Monthly partitions of the large tables: created ahead by the job and the CLI, once each
even when several processes ask at the same time, and never in the way of a money write."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from okpay import partitions
from okpay.cli import app as cli_app
from okpay.wallet.models import JournalEntry, Posting
from tests.helpers import api_token
from tests.wallet.helpers import assert_ledger_consistent, balance, fund, make_user


def _transfer(client, db, amount: str = "12.34") -> int:  # type: ignore[no-untyped-def]
    """Carol tops up 100 and sends ``amount`` to Bob; returns Bob's id."""
    bob = make_user(db, "bob@example.com")
    alice = make_user(db, "carol@example.com")
    fund(db, alice, 100_00)
    response = client.post(
        "/api/v1/wallet/transfers",
        json={"recipient": "bob@example.com", "amount": amount, "currency": "CNY", "note": ""},
        headers={**api_token(client, "carol@example.com"), "Idempotency-Key": "p1"},
    )
    assert response.status_code == 201, response.text
    return bob


def _names(db) -> set[str]:  # type: ignore[no-untyped-def]
    with db.engine.connect() as conn:
        return {p.name for p in partitions.list_partitions(conn)}


def _drop_months(db, months: list[date]) -> None:  # type: ignore[no-untyped-def]
    """Partitions a test made for far months: gone again, so the next test starts as set up."""
    with db.engine.begin() as conn:
        for table in reversed(list(partitions.TABLES)):
            for month in months:
                name = partitions.partition_name(table, month)
                if name in {p.name for p in partitions.list_partitions(conn)}:
                    conn.execute(text(f"ALTER TABLE {table} DETACH PARTITION {name}"))
                    conn.execute(text(f"DROP TABLE {name}"))


def test_postings_carry_their_entrys_time(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    _transfer(client, db)
    with db.unit_of_work(write=False) as s:
        rows = s.execute(
            select(Posting.created_at, JournalEntry.created_at).join(
                JournalEntry, JournalEntry.id == Posting.entry_id
            )
        ).all()
    assert len(rows) == 4  # the top-up's two and the transfer's two
    assert all(posting == entry == clock.now for posting, entry in rows)


def test_months_are_helpers_in_utc() -> None:
    assert partitions.month_of(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == date(2026, 12, 1)
    assert partitions.add_months(date(2026, 11, 1), 3) == date(2027, 2, 1)
    assert partitions.months(date(2026, 11, 5), date(2027, 1, 2)) == [
        date(2026, 11, 1),
        date(2026, 12, 1),
        date(2027, 1, 1),
    ]


@pytest.mark.postgres_only
def test_the_migration_leaves_this_month_and_three_ahead(db) -> None:  # type: ignore[no-untyped-def]
    names = _names(db)
    for table in partitions.TABLES:
        assert partitions.default_name(table) in names
        for month in partitions.wanted(datetime.now(UTC)):
            assert partitions.partition_name(table, month) in names


@pytest.mark.postgres_only
def test_the_job_creates_missing_months_once(db, clock) -> None:  # type: ignore[no-untyped-def]
    clock.now = datetime(2031, 1, 15, tzinfo=UTC)
    ahead = partitions.wanted(clock.now)
    try:
        partitions.ensure_ahead()
        names = _names(db)
        assert {partitions.partition_name("posting", m) for m in ahead} <= names
        assert {partitions.partition_name("ticket_event", m) for m in ahead} <= names
        partitions.ensure_ahead()  # nothing missing: nothing done
        assert _names(db) == names
        with db.engine.connect() as conn:
            assert partitions.missing(conn, ahead) == []
    finally:
        _drop_months(db, ahead)


@pytest.mark.postgres_only
def test_ensure_from_several_processes_at_once_creates_each_partition_once(db) -> None:  # type: ignore[no-untyped-def]
    months = partitions.months(date(2032, 1, 1), date(2032, 3, 1))
    results: list[partitions.EnsureResult] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def run() -> None:
        try:
            start.wait()
            with db.engine.begin() as conn:
                results.append(partitions.ensure(conn, months))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        created = sorted(name for r in results for name in r.created)
        assert created == sorted(
            partitions.partition_name(t, m) for t in partitions.TABLES for m in months
        )
    finally:
        _drop_months(db, months)


@pytest.mark.postgres_only
def test_a_transfer_in_a_month_nobody_prepared_still_commits(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    """Far past or far future: the rows go to the DEFAULT partition; that month is then
    reported as blocked (never a lost row), and the months around it can still be made."""
    clock.now = datetime(2040, 5, 10, 8, 0, tzinfo=UTC)
    bob = _transfer(client, db, amount="10")
    assert balance(db, bob) == (10_00, 0)
    assert_ledger_consistent(db)
    with db.engine.connect() as conn:
        in_default = conn.execute(
            text("SELECT COUNT(*) FROM posting_default WHERE created_at >= '2040-05-01'")
        ).scalar_one()
        history = conn.execute(
            text("SELECT COUNT(*) FROM wallet_activity_default WHERE created_at >= '2040-05-01'")
        ).scalar_one()
    assert in_default == 4 and history == 3  # top-up and transfer; one history row per party
    months = [date(2040, 5, 1), date(2040, 6, 1)]
    try:
        with db.engine.begin() as conn:
            result = partitions.ensure(conn, months)
        assert ("posting", date(2040, 5, 1), 4) in result.blocked
        assert partitions.partition_name("posting", date(2040, 6, 1)) in result.created
        assert partitions.partition_name("posting", date(2040, 5, 1)) not in _names(db)
        runner = CliRunner()
        listed = runner.invoke(cli_app, ["db", "partitions", "list"])
        assert listed.exit_code == 0 and "posting_p204006" in listed.output
        assert "posting_default" in listed.output
        clock.now = datetime(2040, 4, 20, tzinfo=UTC)
        ensured = runner.invoke(cli_app, ["db", "partitions", "ensure", "--ahead", "1"])
        assert ensured.exit_code == 1  # May is blocked by the rows in the default partition
        assert "posting 2040-05 has 4 rows in posting_default" in ensured.output
        assert "wallet_activity_p204004" in ensured.output
        # The operator's way out: the month's rows move to partitions of their own.
        adopted = runner.invoke(cli_app, ["db", "partitions", "adopt", "2040-05"])
        assert adopted.exit_code == 0, adopted.output
        assert "created 3 partitions" in adopted.output and "posting_p204005" in adopted.output
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM posting_p204005")).scalar_one() == 4
            assert (
                conn.execute(text("SELECT COUNT(*) FROM journal_entry_default")).scalar_one() == 0
            )
            assert (
                conn.execute(text("SELECT COUNT(*) FROM wallet_activity_p204005")).scalar_one() == 3
            )
        assert_ledger_consistent(db)
        assert balance(db, bob) == (10_00, 0)
        again = runner.invoke(cli_app, ["db", "partitions", "ensure", "--ahead", "1"])
        assert again.exit_code == 0 and again.output.startswith("created 0"), again.output
        with db.engine.connect() as conn, pytest.raises(Exception, match="immutable"):
            conn.execute(text("DELETE FROM posting_p204005"))  # still append-only
        clock.now = datetime(1999, 12, 31, 23, 59, tzinfo=UTC)
        make_user(db, "erin@example.com")
        fund(db, make_user(db, "frank@example.com"), 5_00)
        assert_ledger_consistent(db)
    finally:
        _drop_months(db, [date(2040, 4, 1), *months])


@pytest.mark.postgres_only
def test_the_cli_ensures_again_without_creating_anything(db) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    first = runner.invoke(cli_app, ["db", "partitions", "ensure"])
    again = runner.invoke(cli_app, ["db", "partitions", "ensure"])
    assert first.exit_code == 0 and again.exit_code == 0, first.output
    assert again.output.startswith("created 0 partitions")
    wrong = runner.invoke(cli_app, ["db", "partitions", "adopt", "2026-13"])
    assert wrong.exit_code == 2 and "is not a month" in wrong.output
