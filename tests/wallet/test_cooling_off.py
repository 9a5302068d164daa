"""Cooling-off after an assisted unlock: for OKPAY_RECOVERY_COOLING_OFF_HOURS no money leaves
the wallet (transfer, withdrawal, payment), while money still comes in; a refusal changes
nothing. Runs on SQLite and PostgreSQL (whose transfers read the sender's state in their own
SQL, wallet.pg)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from okpay.identity import recovery
from okpay.wallet import errors as wallet_errors
from okpay.wallet import pg, standing
from okpay.wallet.models import Operation
from tests.helpers import api_token, finish_assisted_unlock
from tests.wallet.helpers import assert_ledger_consistent, balance, fund, make_user


def send(client, headers, key: str, recipient: str, amount: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/wallet/transfers",
        json={"currency": "CNY", "note": "", "recipient": recipient, "amount": amount},
        headers={**headers, "Idempotency-Key": key},
    )


def withdraw(client, headers, method_id: int, amount: str, key: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/wallet/withdrawals",
        headers={**headers, "Idempotency-Key": key},
        json={"payment_method_id": method_id, "amount": amount, "currency": "CNY"},
    )


def operations(db) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(Operation)))


@pytest.fixture
def recovered(client, db, clock):  # type: ignore[no-untyped-def]
    """Alice (¥1,000, a bank account) was just unlocked by support and has done the steps."""
    alice = make_user(db, "alice@example.com")
    bob = make_user(db, "bob@example.com")
    fund(db, alice, 1000_00)
    fund(db, bob, 100_00)
    headers = api_token(client, "alice@example.com")
    bank = client.post(
        "/api/v1/wallet/payment-methods/bank-accounts",
        headers=headers,
        json={
            "account_number": "6222020200112233445",
            "bank_name": "中国工商银行",
            "holder_name": "李梅",
        },
    )
    assert bank.status_code == 201, bank.text
    with db.unit_of_work() as s:
        recovery.do_assisted_unlock(s, user_id=alice, actor_user_id=None, reason="Case 9")
    headers = finish_assisted_unlock(client, "alice@example.com", clock)
    return alice, bob, headers, int(bank.json()["id"])


def test_nothing_leaves_during_cooling_off_and_nothing_changes(
    client, db, clock, recovered
) -> None:
    alice, bob, headers, bank = recovered
    before = (balance(db, alice), balance(db, bob), operations(db))

    transfer = send(client, headers, "t1", "bob@example.com", "10")
    assert transfer.status_code == 403, transfer.text
    assert transfer.json()["error"]["code"] == "cooling_off"
    message = transfer.json()["error"]["message"]
    # 2026-11-21 09:00 UTC + 24 h, in Shanghai time, to the minute.
    assert "recently recovered" in message and "Nov 22, 2026 17:00" in message
    out = withdraw(client, headers, bank, "10", "w1")
    assert out.status_code == 403 and out.json()["error"]["code"] == "cooling_off"
    # Another body under a fresh key, and the batch endpoint, are refused the same way.
    batch = client.post(
        "/api/v1/wallet/transfers/batch",
        json={
            "transfers": [
                {"recipient": "bob@example.com", "amount": "1", "currency": "CNY"},
                {"recipient": "nobody@example.com", "amount": "1", "currency": "CNY"},
            ]
        },
        headers={**headers, "Idempotency-Key": "b1"},
    )
    assert batch.status_code == 200, batch.text
    codes = [r["error"]["code"] for r in batch.json()["results"]]
    assert codes == ["cooling_off", "cooling_off"]

    assert (balance(db, alice), balance(db, bob), operations(db)) == before
    assert_ledger_consistent(db)

    chinese = send(client, {**headers, "Accept-Language": "zh-CN"}, "t2", "bob@example.com", "1")
    assert chinese.json()["error"]["code"] == "cooling_off"
    assert "2026年11月22日 17:00" in chinese.json()["error"]["message"]


def test_money_still_comes_in_during_cooling_off(client, db, clock, recovered) -> None:
    alice, bob, _headers, _bank = recovered
    bob_headers = api_token(client, "bob@example.com")
    incoming = send(client, bob_headers, "in1", "alice@example.com", "25")
    assert incoming.status_code == 201, incoming.text
    fund(db, alice, 5_00)  # a top-up is not outgoing
    assert balance(db, alice) == (1000_00 + 25_00 + 5_00, 0)
    assert balance(db, bob) == (75_00, 0)
    assert_ledger_consistent(db)


def test_money_leaves_again_once_the_period_is_over(client, db, clock, recovered) -> None:
    alice, bob, headers, bank = recovered
    clock.advance(hours=23, minutes=59)
    assert send(client, headers, "t1", "bob@example.com", "10").json()["error"]["code"] == (
        "cooling_off"
    )
    clock.advance(minutes=1)
    transfer = send(client, headers, "t2", "bob@example.com", "10")
    assert transfer.status_code == 201, transfer.text
    out = withdraw(client, headers, bank, "10", "w1")
    assert out.status_code == 201, out.text
    assert balance(db, bob) == (110_00, 0)
    available = balance(db, alice)
    assert available[0] == 990_00 and available[1] >= 10_00
    assert_ledger_consistent(db)


def test_each_outgoing_action_is_refused_and_incoming_ones_are_not(db, clock) -> None:
    alice = make_user(db, "alice@example.com")
    with db.unit_of_work() as s:
        recovery.do_assisted_unlock(s, user_id=alice, actor_user_id=None, reason="Case 9")
    with db.unit_of_work(write=False) as s:
        me = standing.standing(s, alice)
        assert me.cooling_off_until == clock.now + timedelta(hours=24)
        for action in ("transfer", "withdraw", "pay"):
            with pytest.raises(wallet_errors.CoolingOff):
                standing.check_standing(me, action)
        standing.check_standing(me, "topup", outgoing=False)
        standing.check_standing(me, "transfer", outgoing=False)


def test_the_transfer_service_refuses_and_postgresql_reads_the_hold_in_its_own_sql(
    db, clock
) -> None:
    alice = make_user(db, "alice@example.com")
    bob = make_user(db, "bob@example.com")
    fund(db, alice, 100_00)
    with db.unit_of_work() as s:
        recovery.do_assisted_unlock(s, user_id=alice, actor_user_id=None, reason="Case 9")
    until = clock.now + timedelta(hours=24)
    if db.dialect == "postgresql":
        assert_postgresql_reads_the_hold(db, clock, alice, until)
    # The transfer service itself, below the API, refuses.
    from okpay.wallet import transfers

    with pytest.raises(wallet_errors.CoolingOff), db.unit_of_work() as s:
        transfers.do_transfer(
            s, sender_id=alice, recipient="bob@example.com", amount=100, currency="CNY"
        )
    assert balance(db, alice) == (100_00, 0) and balance(db, bob) == (0, 0)


def assert_postgresql_reads_the_hold(db, clock, alice: int, until) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        state = pg.sender_state(
            s, user_id=alice, op_type="transfer", since=clock.now.date(), now=clock.now
        )
        assert state is not None and state.account.outgoing_hold_until == until
    with db.unit_of_work() as s:
        _found, _paid, _locked, fresh = pg.find_and_lock(
            s,
            sender_id=alice,
            references=["bob@example.com"],
            currencies={"CNY"},
            op_type="transfer",
            since=clock.now.date(),
            now=clock.now,
        )
        assert fresh is not None and fresh.account.outgoing_hold_until == until
