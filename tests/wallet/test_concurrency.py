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

    from okpay.wallet import service
    from okpay.wallet.models import Usage

    carol = make_user(pg, "carol@example.com")
    start = threading.Barrier(12)

    def begin(i: int) -> None:
        start.wait()
        with pg.unit_of_work() as s:
            service.do_begin_bank_topup(s, user_id=carol, amount=100 + i, currency="CNY")

    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(begin, range(12)))
    with pg.unit_of_work() as s:
        (row,) = s.scalars(select(Usage).where(Usage.user_id == carol, Usage.op_type == "topup"))
    assert row.count == 12
    assert row.amount_cny == sum(100 + i for i in range(12))
