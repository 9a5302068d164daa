"""A transfer settles in one unit of work with its Idempotency-Key (issue 18): the key's row
is written, already answered, in the transaction that moves the money; nothing is committed
before. These pin the guarantees of that shape: a crash anywhere leaves nothing, a replay
gets the first answer (even when the same request would now be refused), a refusal is
the key's answer, and copies of one request at once move the money once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from okpay.core.errors import DomainError
from okpay.wallet import flows
from okpay.wallet import idempotency as wallet_idempotency
from okpay.wallet.models import IdempotencyRecord, Operation
from okpay.wallet.schemas import TransferIn
from tests.wallet.helpers import assert_ledger_consistent, balance, fund, make_user


class _Crash(BaseException):
    """The process dying mid-request (nothing after it runs)."""


def _idem(user_id: int, key: str, amount: str) -> flows.Idempotency:
    body = {"recipient": "bob@example.com", "amount": amount, "currency": "CNY", "note": ""}
    return flows.idempotency(user_id, key, "transfer", TransferIn(**body).model_dump())


def _send(sender: int, key: str, amount: int = 10_00) -> flows.Answer | str:
    """The answer, or the refusal's code."""
    try:
        return flows.transfer(
            _idem(sender, key, f"{amount / 100:.2f}"),
            sender_id=sender,
            recipient="bob@example.com",
            amount=amount,
            currency="CNY",
            note="",
        )
    except DomainError as err:
        return err.code


def _operations(db) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(Operation)) or 0)


def _keys(db) -> list[tuple[str, str, str | None, int | None]]:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return [
            (r.key, r.status, r.claim_token, r.response_status)
            for r in s.scalars(select(IdempotencyRecord).order_by(IdempotencyRecord.key))
        ]


@pytest.fixture
def pair(db):  # type: ignore[no-untyped-def]
    alice = make_user(db, "alice@example.com")
    bob = make_user(db, "bob@example.com")
    fund(db, alice, 100_00)
    return alice, bob


def test_a_transfer_writes_its_key_answered_in_its_own_transaction(db, pair, monkeypatch) -> None:
    """No claim is committed before the money moves: the only write to the key is the
    answered row, in the money's transaction."""
    alice, bob = pair
    claims: list[object] = []
    monkeypatch.setattr(wallet_idempotency, "_claim", lambda *a, **k: claims.append(a))
    answer = _send(alice, "k1")
    assert isinstance(answer, flows.Answer) and answer.status == 201
    assert claims == []
    assert _keys(db) == [("k1", "completed", None, 201)]
    assert balance(db, alice) == (90_00, 0) and balance(db, bob) == (10_00, 0)


@pytest.mark.parametrize(
    "where", [(flows, "sent_body"), (wallet_idempotency, "_insert_answered")], ids=["body", "key"]
)
def test_a_crash_before_the_commit_leaves_nothing(db, pair, monkeypatch, where) -> None:
    """The process dies after the money moved in the transaction (as the answer is built,
    or as the key is written): nothing is committed, neither money nor key, and a retry
    with the same key moves the money once."""
    alice, bob = pair

    def crash(*_a, **_k):  # type: ignore[no-untyped-def]
        raise _Crash()

    with monkeypatch.context() as patched:
        patched.setattr(*where, crash)
        with pytest.raises(_Crash):
            _send(alice, "dies")
    assert balance(db, alice) == (100_00, 0) and balance(db, bob) == (0, 0)
    assert _operations(db) == 1 and _keys(db) == []
    first = _send(alice, "dies")
    assert isinstance(first, flows.Answer) and first.status == 201
    assert _send(alice, "dies") == first
    assert balance(db, alice) == (90_00, 0) and balance(db, bob) == (10_00, 0)
    assert _operations(db) == 2
    assert_ledger_consistent(db)


def test_a_replay_gets_the_first_answer_even_when_it_would_now_be_refused(db, pair) -> None:
    """The same key again after the balance ran out: the first answer, nothing moved (the
    attempt that would now be refused rolls back and the stored answer replays)."""
    alice, bob = pair
    first = _send(alice, "all", amount=100_00)
    assert isinstance(first, flows.Answer) and first.status == 201
    assert _send(alice, "all", amount=100_00) == first
    assert balance(db, alice) == (0, 0) and balance(db, bob) == (100_00, 0)
    assert _operations(db) == 2


def test_a_refusal_is_the_keys_answer(db, pair) -> None:
    """Refused for want of funds: the same key after a top-up is refused again, and moves
    nothing; the refusal is stored once."""
    alice, _bob = pair
    assert _send(alice, "big", amount=500_00) == "insufficient_funds"
    fund(db, alice, 500_00)
    replay = _send(alice, "big", amount=500_00)
    assert isinstance(replay, flows.Answer) and replay.status == 422
    assert replay.body["error"]["code"] == "insufficient_funds"
    assert balance(db, alice) == (600_00, 0)
    assert [k[:2] for k in _keys(db)] == [("big", "completed")]


def test_the_same_key_with_another_body_is_refused_and_moves_nothing(db, pair) -> None:
    alice, bob = pair
    assert isinstance(_send(alice, "k"), flows.Answer)
    assert _send(alice, "k", amount=20_00) == "idempotency_key_reused"
    assert balance(db, alice) == (90_00, 0) and balance(db, bob) == (10_00, 0)


def test_copies_of_one_request_at_once_move_the_money_once(db, pair) -> None:
    """Eight copies of one request at the same moment: one moves the money; each other
    copy waits and replays its answer, or answers 409 while it is under way."""
    alice, bob = pair
    start = threading.Barrier(8)

    def copy(_i: int) -> flows.Answer | str:
        start.wait()
        return _send(alice, "twins")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(copy, range(8)))
    answers = [r for r in results if isinstance(r, flows.Answer)]
    assert answers and all(a == answers[0] for a in answers), results
    assert set(r for r in results if not isinstance(r, flows.Answer)) <= {
        "idempotency_key_in_flight"
    }, results
    assert balance(db, alice) == (90_00, 0) and balance(db, bob) == (10_00, 0)
    assert _operations(db) == 2
    assert_ledger_consistent(db)


def test_a_key_claimed_by_an_attempt_under_way_answers_409(db, pair) -> None:
    """A key claimed by an attempt still running (the full protocol's claim): the one-step
    attempt rolls back and answers 409, moving nothing."""
    alice, bob = pair
    assert wallet_idempotency._claim(_idem(alice, "busy", "10.00")) is None
    assert _send(alice, "busy") == "idempotency_key_in_flight"
    assert balance(db, alice) == (100_00, 0) and balance(db, bob) == (0, 0)


def test_the_answer_is_the_operation_as_read_back(db, pair) -> None:
    """The sender's answer is built from what the transfer wrote, not read back: it is
    exactly what reading the operation gives (timestamps, note and fee included)."""
    alice, _bob = pair
    answer = flows.transfer(
        flows.idempotency(alice, "noted", "transfer", {"note": "lunch 午饭"}),
        sender_id=alice,
        recipient="bob@example.com",
        amount=12_34,
        currency="CNY",
        note="lunch 午饭",
    )
    assert answer.status == 201 and answer.body["note"] == "lunch 午饭"
    with db.unit_of_work(write=False) as s:
        op_id = s.scalar(
            select(Operation.id).where(Operation.reference == answer.body["reference"])
        )
        assert op_id is not None
        assert flows.operation_body(s, op_id, user_id=alice) == answer.body
