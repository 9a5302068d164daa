"""Revision v181 on a PostgreSQL database that already holds money: every row, balance and
id sequence survives partitioning, and the downgrade gives the plain tables back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, create_engine, text

from okpay import migrate, partitions
from okpay.db import normalise_url
from tests.conftest import PG_SCHEMA, POSTGRES_URL, unavailable

pytestmark = pytest.mark.postgres_only

SCHEMA = f"{PG_SCHEMA}_v181"
# Months the rows span: a year and a half back, and one far in the past.
MONTHS = ["2019-02-11", "2025-06-03", "2025-06-30", "2026-01-01", "2026-11-21"]


@pytest.fixture
def url(database_url: str) -> Iterator[str]:
    """A schema of its own at the revision before v181 (the session's is at head)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    admin = create_engine(normalise_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    except Exception as exc:  # pragma: no cover - depends on the machine
        unavailable(f"PostgreSQL: {exc}")
    sep = "&" if "?" in POSTGRES_URL else "?"
    schema_url = f"{normalise_url(POSTGRES_URL)}{sep}options=-csearch_path%3D{SCHEMA}"
    migrate.upgrade(schema_url, "u163")
    yield schema_url
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    admin.dispose()


def _load(conn: Connection) -> None:
    """Two customers and a clearing account; per month a top-up and a transfer, each a
    journal entry with its postings and history rows; a ticket with events."""
    t0 = "2019-01-01T00:00:00+00"
    conn.execute(
        text(
            "INSERT INTO user_account (id, email, name, role, status, verification_level, "
            "password_hash, password_changed_at, address, created_at, updated_at) "
            "SELECT g, 'm' || g || '@example.com', 'M' || g, 'customer', 'active', 1, 'x', "
            ":t, '', :t, :t FROM generate_series(1, 2) AS g"
        ),
        {"t": t0},
    )
    conn.execute(
        text(
            "INSERT INTO wallet_account (id, user_id, kind, shard, currency, balance, held, "
            "created_at) VALUES (1, NULL, 'system', 0, 'CNY', 0, 0, :t), "
            "(2, 1, 'customer', 0, 'CNY', 0, 0, :t), (3, 2, 'customer', 0, 'CNY', 0, 0, :t)"
        ),
        {"t": t0},
    )
    balances = {1: 0, 2: 0, 3: 0}
    for n, day in enumerate(MONTHS):
        at = f"{day}T10:00:00+00"
        for k, (debit, credit, amount) in enumerate(((1, 2, 500_00), (2, 3, 123_45 + n))):
            op = 10 * n + k + 1
            conn.execute(
                text(
                    "INSERT INTO wallet_operation (id, reference, type, status, user_id, currency,"
                    " amount, fee, note, created_at, updated_at, data) VALUES (:op, :ref, "
                    "'transfer', 'completed', 1, 'CNY', :amount, 0, '', :at, :at, '{}')"
                ),
                {"op": op, "ref": f"TX-{op}", "amount": amount, "at": at},
            )
            entry = conn.execute(
                text(
                    "INSERT INTO journal_entry (operation_id, kind, created_at) "
                    "VALUES (:op, 'transfer', :at) RETURNING id"
                ),
                {"op": op, "at": at},
            ).scalar_one()
            for account, signed in ((debit, -amount), (credit, amount)):
                balances[account] += signed
                conn.execute(
                    text(
                        "INSERT INTO posting (entry_id, account_id, currency, amount, "
                        "balance_after) VALUES (:e, :a, 'CNY', :m, :b)"
                    ),
                    {"e": entry, "a": account, "m": signed, "b": balances[account]},
                )
            conn.execute(
                text(
                    "INSERT INTO wallet_activity (user_id, operation_id, reference, type, "
                    "direction, status, currency, amount, fee, counterparty, note, created_at, "
                    "updated_at) VALUES (1, :op, :ref, 'transfer', 'out', 'completed', 'CNY', "
                    ":m, 0, '', '', :at, :at)"
                ),
                {"op": op, "ref": f"TX-{op}", "m": -amount, "at": at},
            )
    for account, value in balances.items():
        conn.execute(
            text("UPDATE wallet_account SET balance = :v WHERE id = :a"), {"v": value, "a": account}
        )
    conn.execute(
        text(
            "INSERT INTO ticket (id, number, subject, channel, category, priority, status, team, "
            'requester_name, requester_email, locale, "references", tags, context, created_at, '
            "updated_at, thread_message_id) VALUES (1, 'OK-2025-000001', 's', 'web', 'other', "
            "'normal', 'open', 'general', 'M1', 'm1@example.com', 'en', '[]', '[]', '{}', :t, "
            ":t, '<1@example.com>')"
        ),
        {"t": t0},
    )
    for day in MONTHS:
        conn.execute(
            text(
                "INSERT INTO ticket_event (ticket_id, at, kind, data) "
                "VALUES (1, :at, 'status_changed', '{}')"
            ),
            {"at": f"{day}T11:00:00+00"},
        )


def _snapshot(conn: Connection) -> dict[str, object]:
    """What must not change: rows, sums, every balance against its postings."""
    return {
        "counts": conn.execute(
            text(
                "SELECT (SELECT COUNT(*) FROM journal_entry), (SELECT COUNT(*) FROM posting), "
                "(SELECT COUNT(*) FROM wallet_activity), (SELECT COUNT(*) FROM ticket_event)"
            )
        ).one(),
        "postings": conn.execute(
            text("SELECT id, entry_id, account_id, amount, balance_after FROM posting ORDER BY id")
        ).all(),
        "history": conn.execute(
            text("SELECT id, created_at, amount FROM wallet_activity ORDER BY id")
        ).all(),
        "events": conn.execute(text("SELECT id, at FROM ticket_event ORDER BY id")).all(),
        "balances": conn.execute(
            text(
                "SELECT a.id, a.balance, (SELECT SUM(p.amount) FROM posting AS p "
                "WHERE p.account_id = a.id) FROM wallet_account AS a ORDER BY a.id"
            )
        ).all(),
    }


def test_upgrade_keeps_every_row_and_balance_then_downgrade_gives_them_back(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _load(conn)
        with engine.connect() as conn:
            before = _snapshot(conn)
        assert before["counts"] == (10, 20, 10, 5)
        assert all(balance == total for _id, balance, total in before["balances"])  # type: ignore[attr-defined]

        migrate.upgrade(url)
        with engine.connect() as conn:
            assert _snapshot(conn) == before
            assert all(partitions.is_partitioned(conn, t) for t in partitions.TABLES)
            names = {p.name for p in partitions.list_partitions(conn)}
            ahead = [f"{m:%Y%m}" for m in partitions.wanted(datetime.now(UTC))]
            for month in ["201902", "202506", "202601", "202611", *ahead]:
                assert f"posting_p{month}" in names and f"ticket_event_p{month}" in names
            assert "posting_p201903" not in names  # only the months that have rows, then ahead
            # Nothing in the default partitions, and each posting in its entry's month.
            for table in partitions.TABLES:
                default = partitions.default_name(table)
                assert conn.execute(text(f"SELECT COUNT(*) FROM {default}")).scalar_one() == 0
            assert (
                conn.execute(
                    text(
                        "SELECT COUNT(*) FROM posting AS p JOIN journal_entry AS e "
                        "ON e.id = p.entry_id AND e.created_at = p.created_at"
                    )
                ).scalar_one()
                == 20
            )
            # Partition pruning: a month's history reads one partition.
            plan = "\n".join(
                conn.execute(
                    text(
                        "EXPLAIN SELECT * FROM wallet_activity WHERE user_id = 1 AND "
                        "created_at >= '2025-06-01' AND created_at < '2025-07-01'"
                    )
                ).scalars()
            )
            assert "wallet_activity_p202506" in plan and "p202601" not in plan
        with engine.begin() as conn:
            # The sequences carry on past the copied ids; the ledger stays append-only.
            entry = conn.execute(
                text(
                    "INSERT INTO journal_entry (operation_id, kind, created_at) "
                    "VALUES (1, 'x', '2026-12-02T00:00:00+00') RETURNING id"
                )
            ).scalar_one()
            assert entry == 11
        with engine.connect() as conn, pytest.raises(Exception, match="immutable"):
            conn.execute(text("DELETE FROM posting"))
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text("DELETE FROM journal_entry WHERE id = 11"))

        migrate.downgrade(url, "u163")
        with engine.connect() as conn:
            assert _snapshot(conn) == before
            assert not partitions.is_partitioned(conn, "posting")
            assert "created_at" not in {
                c
                for (c,) in conn.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = current_schema() AND table_name = 'posting'"
                    )
                )
            }
        with engine.connect() as conn, pytest.raises(Exception, match="immutable"):
            conn.execute(text("UPDATE posting SET amount = 1"))
        migrate.upgrade(url)  # and up again
        with engine.connect() as conn:
            assert _snapshot(conn) == before
    finally:
        engine.dispose()
