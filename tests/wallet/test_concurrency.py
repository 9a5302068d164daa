"""Real parallel connections on PostgreSQL: row locks in id order keep money exact."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from okpay.core.errors import DomainError
from okpay.wallet import flows
from tests.wallet.helpers import assert_ledger_consistent, balance, fund, make_user

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def pg(db):  # type: ignore[no-untyped-def]
    assert db.dialect == "postgresql"
    return db


def _send(sender: int, recipient_email: str, amount: int) -> str:
    idem = flows.idempotency(
        sender, uuid.uuid4().hex, "transfer", {"to": recipient_email, "a": amount}
    )
    try:
        flows.transfer(
            idem,
            sender_id=sender,
            recipient=recipient_email,
            amount=amount,
            currency="CNY",
            note="",
        )
        return "ok"
    except DomainError as err:
        return err.code


def test_fifty_simultaneous_full_balance_transfers_one_succeeds(pg) -> None:
    alice = make_user(pg, "alice@example.com")
    for i in range(50):
        make_user(pg, f"r{i}@example.com")
    fund(pg, alice, 100_00)
    start = threading.Barrier(50)

    def attempt(i: int) -> str:
        start.wait()
        return _send(alice, f"r{i}@example.com", 100_00)

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(attempt, range(50)))
    assert results.count("ok") == 1, results
    assert set(results) - {"ok"} == {"insufficient_funds"}
    assert balance(pg, alice) == (0, 0)
    assert_ledger_consistent(pg)


def test_transfers_around_a_ring_never_surface_deadlocks(pg) -> None:
    people = [make_user(pg, f"ring{i}@example.com") for i in range(6)]
    for p in people:
        fund(pg, p, 1000_00)
    start = threading.Barrier(24)

    def attempt(i: int) -> str:
        start.wait()
        sender = people[i % 6]
        results = []
        for step in range(5):
            target = (i + step + 1) % 6
            if people[target] == sender:
                target = (target + 1) % 6
            results.append(_send(sender, f"ring{target}@example.com", 1_00 + step))
        return ",".join(results)

    with ThreadPoolExecutor(max_workers=24) as pool:
        outcomes = ",".join(pool.map(attempt, range(24))).split(",")
    assert set(outcomes) == {"ok"}, outcomes
    assert sum(balance(pg, p)[0] for p in people) == 6 * 1000_00
    assert_ledger_consistent(pg)


def test_simultaneous_first_top_ups_of_the_day_count_every_one(pg) -> None:
    """Top-ups begin without a balance lock: the day's usage row is created by whichever
    comes first and added to by the others, none lost."""
    from sqlalchemy import select

    from okpay.wallet import topups
    from okpay.wallet.models import Usage

    carol = make_user(pg, "carol@example.com")
    start = threading.Barrier(12)

    def begin(i: int) -> None:
        start.wait()
        with pg.unit_of_work() as s:
            topups.do_begin_bank_topup(s, user_id=carol, amount=100 + i, currency="CNY")

    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(begin, range(12)))
    with pg.unit_of_work() as s:
        (row,) = s.scalars(select(Usage).where(Usage.user_id == carol, Usage.op_type == "topup"))
    assert row.count == 12
    assert row.amount_cny == sum(100 + i for i in range(12))


def _wait_until_blocked(pg, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Until some other session of this database waits for a row lock."""
    import time

    from sqlalchemy import text

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with pg.engine.connect() as conn:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                )
            ).scalar_one()
        if waiting:
            return
        time.sleep(0.02)
    raise AssertionError("no session waited for the lock")


def test_a_freeze_committed_while_a_transfer_waits_stops_the_transfer(pg) -> None:
    """The transfer waits for the balance locks the freeze holds; once the freeze commits,
    the transfer must see it and move nothing."""
    from okpay.wallet import standing

    alice = make_user(pg, "alice@example.com")
    make_user(pg, "bob@example.com")
    fund(pg, alice, 100_00)
    with ThreadPoolExecutor(max_workers=1) as pool:
        with pg.unit_of_work() as s:
            standing.do_freeze(s, user_id=alice, reason="Fraud check", actor_user_id=None)
            pending = pool.submit(_send, alice, "bob@example.com", 10_00)
            _wait_until_blocked(pg)
        assert pending.result(timeout=30) == "account_frozen"
    assert balance(pg, alice) == (100_00, 0)
    assert_ledger_consistent(pg)


def test_simultaneous_transfers_stay_within_the_daily_limit(pg) -> None:
    """Each transfer checks the day's usage after taking the sender's balance lock, so
    transfers racing each other cannot pass the daily limit together."""
    from okpay.wallet.limits import limits_for

    daily = limits_for("transfer", 0).daily
    alice = make_user(pg, "alice@example.com", level=0)
    make_user(pg, "bob@example.com")
    for _ in range(2):
        fund(pg, alice, daily // 2)
    amount = daily // 4 + 1  # a fourth fits only if the limit were missed
    start = threading.Barrier(8)

    def attempt(_i: int) -> str:
        start.wait()
        return _send(alice, "bob@example.com", amount)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, range(8)))
    assert results.count("ok") == 3, results
    assert set(results) - {"ok"} == {"limit_exceeded"}
    assert balance(pg, alice) == (daily - 3 * amount, 0)
    assert_ledger_consistent(pg)


def test_i11_item3_fx_quote_is_spent_once(pg) -> None:
    """Twenty transfers on one FX quote at once, each with its own Idempotency-Key and
    connection: the quote is claimed by a conditional update, so exactly one moves money."""
    from okpay.wallet import fx_transfers

    alice = make_user(pg, "alice@example.com")
    for i in range(20):
        make_user(pg, f"fx{i}@example.com")
    fund(pg, alice, 10_000_00)
    with pg.unit_of_work() as s:
        quote = fx_transfers.do_quote_fx(
            s, user_id=alice, source_currency="CNY", target_currency="USD", amount=100_00
        )
        quote_id, cost = quote.id, quote.source_amount + quote.fee
    start = threading.Barrier(20)

    def attempt(i: int) -> str:
        idem = flows.idempotency(alice, uuid.uuid4().hex, "transfer", {"q": quote_id, "i": i})
        start.wait()
        try:
            flows.fx_transfer(
                idem, sender_id=alice, recipient=f"fx{i}@example.com", quote_id=quote_id, note=""
            )
            return "ok"
        except DomainError as err:
            return err.code

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(attempt, range(20)))
    assert results.count("ok") == 1, results
    assert set(results) - {"ok"} == {"quote_invalid"}
    assert balance(pg, alice) == (10_000_00 - cost, 0)
    assert sum(balance(pg, make_id, "USD")[0] for make_id in _ids(pg, 20)) == quote.target_amount
    assert_ledger_consistent(pg)


def _ids(pg, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from okpay.identity.models import User

    with pg.unit_of_work(write=False) as s:
        return list(
            s.scalars(
                select(User.id).where(User.email.in_([f"fx{i}@example.com" for i in range(n)]))
            )
        )
