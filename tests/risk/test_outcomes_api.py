"""What a customer's client sees of the risk controls: 403 risk_blocked with the reason in
plain words, 202 with status on_hold and the money held, and nothing of the rules."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from okpay.risk import rules
from okpay.risk.models import RiskDecision, RiskSignal, RuleStatus
from okpay.wallet.models import Operation
from tests.helpers import api_login, api_token
from tests.wallet.helpers import assert_ledger_consistent, balance, fund, make_user
from tests.wallet.test_flows import add_bank, add_card, topup


def live_rule(db, code: str, ops: list[str], condition: str, outcome: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        rules.do_create_rule(
            s,
            spec=rules.RuleSpec(code, "", ops, condition, 50, outcome, reason),
            actor_id=None,
            status=RuleStatus.live,
        )


@pytest.fixture
def mei(client, db):  # type: ignore[no-untyped-def]
    uid = make_user(db, "mei@example.com", level=2)
    return uid, api_token(client, "mei@example.com")


def test_card_testing_blocks_the_next_top_up_in_the_users_language(client, db, mei) -> None:  # type: ignore[no-untyped-def]
    uid, headers = mei
    live_rule(
        db,
        "card_testing",
        ["card_topup", "add_card"],
        "failed_topups_1h >= 5",
        "block",
        "card_testing",
    )
    declined = add_card(client, headers, "4000000000009995")
    for _ in range(5):
        assert topup(client, headers, declined, "10").json()["status"] == "failed"
    refused = client.post(
        "/api/v1/wallet/topups/card",
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex, "Accept-Language": "zh-CN"},
        json={"payment_method_id": declined, "amount": "10", "currency": "CNY"},
    )
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "risk_blocked"
    assert error["message"].startswith("为了您的安全")
    assert "failed_topups" not in refused.text and "card_testing" not in refused.text
    # Adding another card is refused too, and nothing was charged or kept.
    more = client.post(
        "/api/v1/wallet/payment-methods/cards",
        headers=headers,
        json={"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
    )
    assert more.status_code == 403 and more.json()["error"]["code"] == "risk_blocked"
    with db.unit_of_work(write=False) as s:
        kept = s.scalars(select(RiskDecision).where(RiskDecision.outcome == "block")).all()
        assert {d.operation for d in kept} == {"card_topup", "add_card"}
        assert (
            s.scalar(
                select(Operation).where(Operation.user_id == uid).order_by(Operation.id.desc())
            ).status
            == "failed"
        )
    assert balance(db, uid) == (0, 0)


def test_a_held_withdrawal_answers_202_on_hold_with_its_money_held(client, db, mei) -> None:  # type: ignore[no-untyped-def]
    uid, headers = mei
    fund(db, uid, 20_000_00)
    bank = add_bank(client, headers)
    live_rule(db, "big_out", ["withdrawal"], "amount_cny >= 10000", "hold", "unusual_amount")
    key = uuid.uuid4().hex
    body = {"payment_method_id": bank, "amount": "12000", "currency": "CNY"}
    held = client.post(
        "/api/v1/wallet/withdrawals", headers={**headers, "Idempotency-Key": key}, json=body
    )
    assert held.status_code == 202, held.text
    assert held.json()["status"] == "on_hold"
    with db.unit_of_work(write=False) as s:
        op = s.scalar(select(Operation).where(Operation.reference == held.json()["reference"]))
        assert op is not None and op.external_ref is None  # no payout asked for
        assert balance(db, uid) == (20_000_00, 12_000_00 + op.fee)
        decision = s.scalar(select(RiskDecision).where(RiskDecision.operation_id == op.id))
        assert decision is not None and decision.outcome == "hold"
    # The same key answers the same, once.
    again = client.post(
        "/api/v1/wallet/withdrawals", headers={**headers, "Idempotency-Key": key}, json=body
    )
    assert (again.status_code, again.json()) == (202, held.json())
    shown = client.get(f"/api/v1/wallet/operations/{held.json()['reference']}", headers=headers)
    assert shown.json()["status"] == "on_hold"
    assert "big_out" not in shown.text and "amount_cny" not in shown.text
    assert_ledger_consistent(db)


def test_a_held_transfer_holds_the_senders_money_and_credits_no_one(client, db, mei) -> None:  # type: ignore[no-untyped-def]
    uid, headers = mei
    bob = make_user(db, "bob@example.com")
    fund(db, uid, 1_000_00)
    live_rule(
        db,
        "first_big",
        ["transfer"],
        "new_recipient and amount_cny >= 500",
        "hold",
        "new_recipient",
    )
    sent = client.post(
        "/api/v1/wallet/transfers",
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        json={"recipient": "bob@example.com", "amount": "600", "currency": "CNY"},
    )
    assert sent.status_code == 202 and sent.json()["status"] == "on_hold"
    assert balance(db, uid)[1] >= 600_00 and balance(db, bob) == (0, 0)
    # A smaller one goes through and counts as paid before: the next big one is not held.
    small = client.post(
        "/api/v1/wallet/transfers",
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        json={"recipient": "bob@example.com", "amount": "10", "currency": "CNY"},
    )
    assert small.status_code == 201 and small.json()["status"] == "completed"
    assert balance(db, bob) == (10_00, 0)
    assert_ledger_consistent(db)


def test_a_blocked_sign_in_is_refused_and_signals_are_kept(client, db) -> None:  # type: ignore[no-untyped-def]
    uid = make_user(db, "mei@example.com")
    api_token(client, "mei@example.com")
    with db.unit_of_work(write=False) as s:
        assert s.get(RiskSignal, uid) is None  # a first sign-in is not a new device
    live_rule(db, "no_sign_in", ["sign_in"], "verification_level >= 1", "block", "security_review")
    refused = api_login(client, "mei@example.com")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "sign_in_blocked"
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(RiskDecision.operation)) == "sign_in"


def test_account_events_are_kept_as_signals(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    """A sign-in from a second device, and a password change, are what the device and
    security-change features read (kept as they happen, not looked up in history)."""
    uid = make_user(db, "mei@example.com")
    api_token(client, "mei@example.com", device_id="phone-1")  # the first device: not new
    with db.unit_of_work(write=False) as s:
        assert s.get(RiskSignal, uid) is None
    clock.advance(minutes=5)
    headers = api_token(client, "mei@example.com", device_id="laptop-2")
    with db.unit_of_work(write=False) as s:
        signal = s.get(RiskSignal, uid)
        assert signal is not None and signal.new_device_at == clock.now
        assert signal.password_reset_at is None
    changed = client.post(
        "/api/v1/me/password",
        headers=headers,
        json={
            "current_password": "correct horse battery",
            "new_password": "another long passphrase",
        },
    )
    assert changed.status_code == 204, changed.text
    with db.unit_of_work(write=False) as s:
        signal = s.get(RiskSignal, uid)
        assert signal is not None and signal.password_reset_at == clock.now
