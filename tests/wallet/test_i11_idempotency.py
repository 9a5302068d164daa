"""Issue 11, item 4: an Idempotency-Key claimed by a request that died becomes retryable
after a short lease (exactly one retry wins), and keys expire after 24 hours and are pruned."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from okpay.core.errors import DomainError
from okpay.wallet import flows, methods, tasks, transfers
from okpay.wallet import idempotency as wallet_idempotency
from okpay.wallet.models import IdempotencyRecord, Operation
from okpay.wallet.providers import SandboxProvider, get_provider
from okpay.wallet.schemas import TransferIn
from tests.helpers import api_token
from tests.wallet.helpers import assert_ledger_consistent, balance, fund, make_user


def _body(amount: str = "10") -> dict[str, str]:
    return {"recipient": "bob@example.com", "amount": amount, "currency": "CNY", "note": ""}


def _idem(user_id: int, key: str, amount: str = "10") -> flows.Idempotency:
    """The key exactly as the transfer API derives it from this body."""
    return flows.idempotency(
        user_id, key, "transfer", TransferIn(**_body(amount)).model_dump(exclude={"otp"})
    )


def _send(client, headers, key: str, amount: str = "10"):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/wallet/transfers",
        json=_body(amount),
        headers={**headers, "Idempotency-Key": key},
    )


def _transfer(idem: flows.Idempotency, sender: int) -> str:
    try:
        flows.transfer(
            idem,
            sender_id=sender,
            recipient="bob@example.com",
            amount=10_00,
            currency="CNY",
            note="",
        )
        return "ok"
    except DomainError as err:
        return err.code


def _operations(db) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(Operation)) or 0)


def _keys(db) -> list[str]:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return sorted(s.scalars(select(IdempotencyRecord.key)))


@pytest.fixture
def pair(client, db):  # type: ignore[no-untyped-def]
    alice = make_user(db, "alice@example.com")
    bob = make_user(db, "bob@example.com")
    fund(db, alice, 100_00)
    return alice, bob, api_token(client, "alice@example.com")


def test_i11_item4_a_crashed_claim_is_retried_after_its_lease(client, db, clock, pair) -> None:
    """The request died after claiming its key (no result stored): retrying answers 409
    while the lease runs, then succeeds exactly once."""
    alice, bob, headers = pair
    assert wallet_idempotency._claim(_idem(alice, "crashed")) is None  # the process dies here
    early = _send(client, headers, "crashed")
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "idempotency_key_in_flight"
    clock.advance(seconds=61)
    retried = _send(client, headers, "crashed")
    assert retried.status_code == 201, retried.text
    again = _send(client, headers, "crashed")
    assert again.status_code == 201 and again.json() == retried.json()
    assert balance(db, alice) == (90_00, 0) and balance(db, bob) == (10_00, 0)
    assert _operations(db) == 2  # the funding top-up and one transfer
    assert_ledger_consistent(db)


def test_i11_item4_keys_wedged_before_leases_existed_are_retryable(client, db, pair) -> None:
    """Rows left in flight by crashes before this change have no lease: retry at once."""
    alice, bob, headers = pair
    assert wallet_idempotency._claim(_idem(alice, "old")) is None
    with db.unit_of_work() as s:
        s.execute(update(IdempotencyRecord).values(claim_token=None, lease_expires_at=None))
    assert _send(client, headers, "old").status_code == 201
    assert balance(db, bob) == (10_00, 0)


def test_i11_item4_two_retries_at_once_one_wins(db, clock, pair) -> None:
    """Eight retries of a crashed request race for its expired lease: one moves the money,
    the others answer 409 or replay the winner's answer; nothing moves twice."""
    alice, bob, _headers = pair
    assert wallet_idempotency._claim(_idem(alice, "race")) is None
    clock.advance(seconds=61)
    start = threading.Barrier(8)

    def retry(_i: int) -> str:
        start.wait()
        return _transfer(_idem(alice, "race"), alice)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(retry, range(8)))
    assert "ok" in results and set(results) <= {"ok", "idempotency_key_in_flight"}, results
    assert balance(db, alice) == (90_00, 0) and balance(db, bob) == (10_00, 0)
    assert _operations(db) == 2
    assert_ledger_consistent(db)


def test_i11_item4_only_one_of_simultaneous_take_overs_wins(db, clock, pair) -> None:
    """The take-over itself is a conditional update: of eight claims racing for one expired
    lease, exactly one gets the key."""
    alice, _bob, _headers = pair
    assert wallet_idempotency._claim(_idem(alice, "race")) is None
    clock.advance(seconds=61)
    start = threading.Barrier(8)

    def claim(_i: int) -> str:
        start.wait()
        try:
            return "won" if wallet_idempotency._claim(_idem(alice, "race")) is None else "answer"
        except DomainError as err:
            return err.code

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(claim, range(8)))
    assert results.count("won") == 1, results
    assert set(results) == {"won", "idempotency_key_in_flight"}


def test_i11_item4_a_slow_attempt_that_lost_its_claim_moves_nothing(db, clock, pair) -> None:
    """Not dead, only slow: once a retry has taken the key over (and before it finishes),
    the first attempt's final write finds its claim gone and its whole transaction (money
    included) rolls back; the retry then finishes normally."""
    alice, bob, _headers = pair
    slow, retry = _idem(alice, "slow"), _idem(alice, "slow")
    assert wallet_idempotency._claim(slow) is None
    clock.advance(seconds=61)
    assert wallet_idempotency._claim(retry) is None  # the retry takes the key over

    def finish(idem: flows.Idempotency):  # type: ignore[no-untyped-def]
        def run(session) -> None:  # type: ignore[no-untyped-def]
            result = transfers.do_transfer(
                session, sender_id=alice, recipient="bob@example.com", amount=10_00, currency="CNY"
            )
            wallet_idempotency._complete(session, idem, flows.Answer(201, {}), result.reference)

        return run

    with pytest.raises(flows.IdempotencyClaimLost):
        flows.in_transaction(finish(slow))
    assert balance(db, alice) == (100_00, 0) and _operations(db) == 1
    flows.in_transaction(finish(retry))
    with pytest.raises(flows.IdempotencyClaimLost):
        flows.in_transaction(finish(slow))
    assert balance(db, alice) == (90_00, 0) and balance(db, bob) == (10_00, 0)
    assert _operations(db) == 2
    assert_ledger_consistent(db)


class _Crash(BaseException):
    """The process dying mid-request (nothing after it runs)."""


def test_i11_item4_a_crash_after_the_first_step_resumes_that_operation(
    db, clock, monkeypatch
) -> None:
    """A card top-up dies after recording its pending operation, during the provider call.
    The retry after the lease resumes that operation with the same reference (the provider's
    idempotency key), instead of starting a second top-up and charging the card again."""
    alice = make_user(db, "alice@example.com")
    with db.unit_of_work() as s:
        token = get_provider().tokenize_card("4242424242424242", 12, 2030, "123")
        method_id = methods.do_add_card(s, user_id=alice, token=token).id
    idem = flows.idempotency(alice, "card-1", "card_topup", {"m": method_id, "a": 50_00})
    charged: list[str] = []
    real_charge = SandboxProvider.charge

    def dying_charge(self, token, amount, currency, reference):  # type: ignore[no-untyped-def]
        charged.append(reference)
        raise _Crash()

    monkeypatch.setattr(SandboxProvider, "charge", dying_charge)
    monkeypatch.setattr(
        wallet_idempotency, "_release", lambda idem: None
    )  # a dead process cleans nothing
    with pytest.raises(_Crash):
        flows.card_topup(
            idem, user_id=alice, payment_method_id=method_id, amount=50_00, currency="CNY"
        )
    monkeypatch.undo()

    def counted_charge(self, token, amount, currency, reference):  # type: ignore[no-untyped-def]
        charged.append(reference)
        return real_charge(self, token, amount, currency, reference)

    monkeypatch.setattr(SandboxProvider, "charge", counted_charge)
    retry = flows.idempotency(alice, "card-1", "card_topup", {"m": method_id, "a": 50_00})
    with pytest.raises(DomainError) as early:
        flows.card_topup(
            retry, user_id=alice, payment_method_id=method_id, amount=50_00, currency="CNY"
        )
    assert early.value.code == "idempotency_key_in_flight"
    clock.advance(seconds=61)
    answer = flows.card_topup(
        retry, user_id=alice, payment_method_id=method_id, amount=50_00, currency="CNY"
    )
    assert answer.status == 201 and answer.body["status"] == "completed"
    assert charged == [answer.body["reference"]] * 2  # asked again under the same reference
    assert _operations(db) == 1 and balance(db, alice) == (50_00, 0)
    assert_ledger_consistent(db)


def test_i11_item4_expired_keys_are_pruned_and_a_reused_key_is_new(client, db, clock, pair) -> None:
    """Keys live 24 hours: then the worker's job (or the CLI) forgets them, and a key used
    again after that, even with another body, is a new request rather than a 422."""
    from typer.testing import CliRunner

    from okpay.cli import app

    _alice, bob, headers = pair
    assert _send(client, headers, "day-old").status_code == 201
    assert _send(client, headers, "not-pruned-yet").status_code == 201
    clock.advance(hours=23, minutes=59)
    assert _send(client, headers, "fresh").status_code == 201
    assert _send(client, headers, "day-old", amount="1").status_code == 422  # still remembered
    clock.advance(minutes=2)
    # Expired but not pruned yet: already a new request.
    reused = _send(client, headers, "not-pruned-yet", amount="2")
    assert reused.status_code == 201 and reused.json()["amount"] == "2.00"
    assert tasks.prune_idempotency_keys() == 1
    assert _keys(db) == ["fresh", "not-pruned-yet"]
    reused = _send(client, headers, "day-old", amount="1")
    assert reused.status_code == 201 and reused.json()["amount"] == "1.00"
    assert balance(db, bob) == (33_00, 0)
    clock.advance(hours=25)
    result = CliRunner().invoke(app, ["wallet", "prune-idempotency-keys"])
    assert result.exit_code == 0 and "pruned: 3" in result.output, result.output
    assert _keys(db) == []
    assert_ledger_consistent(db)


def test_i11_item4_a_claim_still_leased_is_never_pruned(db, clock, pair) -> None:
    alice, _bob, _headers = pair
    assert wallet_idempotency._claim(_idem(alice, "k")) is None
    with db.unit_of_work() as s:
        s.execute(
            update(IdempotencyRecord).values(
                created_at=clock.now - timedelta(hours=30),
                lease_expires_at=clock.now + timedelta(seconds=30),
            )
        )
    assert tasks.prune_idempotency_keys() == 0
    clock.advance(seconds=31)
    assert tasks.prune_idempotency_keys() == 1
