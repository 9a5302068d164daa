"""Top-ups by card (every sandbox outcome), bank transfers and payouts settled by signed
webhooks, holds on withdrawals, payment methods that never keep a card number."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from sqlalchemy import select

from okpay.wallet.models import PaymentMethod, SystemAccount
from okpay.wallet.providers import get_provider
from tests.helpers import api_token
from tests.wallet.helpers import assert_ledger_consistent, balance, fund, make_user, system_total


@pytest.fixture
def user(client, db):  # type: ignore[no-untyped-def]
    uid = make_user(db, "mei@example.com")
    return uid, api_token(client, "mei@example.com")


def add_card(client, headers, number: str) -> int:  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/v1/wallet/payment-methods/cards",
        headers=headers,
        json={"card_number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def topup(client, headers, method_id: int, amount: str = "100"):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/wallet/topups/card",
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        json={"payment_method_id": method_id, "amount": amount, "currency": "CNY"},
    )


def webhook(client, event: dict, *, signature: str | None = None):  # type: ignore[no-untyped-def]
    body = json.dumps(event).encode()
    sig = signature or get_provider().sign(body, int(time.time()))
    return client.post(
        "/api/v1/webhooks/sandbox",
        content=body,
        headers={"OKPay-Signature": sig, "Content-Type": "application/json"},
    )


def test_card_is_stored_as_token_and_last_four_only(client, db, user) -> None:
    _uid, headers = user
    method_id = add_card(client, headers, "4242 4242 4242 4242")
    with db.unit_of_work(write=False) as s:
        method = s.get(PaymentMethod, method_id)
        stored = " ".join(str(v) for v in (method.provider_token, method.last4, method.brand))
    assert "4242424242424242" not in stored and method.last4 == "4242" and method.brand == "Visa"
    listed = client.get("/api/v1/wallet/payment-methods", headers=headers).json()
    assert listed[0]["last4"] == "4242" and "provider_token" not in listed[0]


def test_luhn_invalid_card_is_refused(client, user) -> None:
    _uid, headers = user
    response = client.post(
        "/api/v1/wallet/payment-methods/cards",
        headers=headers,
        json={"card_number": "4242 4242 4242 4241", "exp_month": 1, "exp_year": 2030, "cvc": "1"},
    )
    assert response.json()["error"]["code"] == "card_number_invalid"


def test_successful_card_topup(client, db, user) -> None:
    uid, headers = user
    response = topup(client, headers, add_card(client, headers, "4242424242424242"), "88.80")
    assert response.status_code == 201
    assert response.json()["status"] == "completed" and response.json()["amount"] == "88.80"
    assert balance(db, uid) == (8880, 0)
    assert system_total(db, SystemAccount.card_clearing) == -8880
    assert_ledger_consistent(db)


@pytest.mark.parametrize(
    ("card", "code", "words"),
    [
        ("4000000000009995", "insufficient_funds", "insufficient funds"),
        ("4000000000000069", "expired_card", "expired"),
        ("378282246310005", "card_not_supported", "cannot be used"),
        ("4000000000006975", "issuer_limit_reached", "limit"),
        ("4000000000000119", "provider_unavailable", "not charged"),
        ("4000000000000341", "provider_unavailable", "not charged"),
    ],
)
def test_failed_topup_says_why(client, db, user, card, code, words) -> None:
    uid, headers = user
    body = topup(client, headers, add_card(client, headers, card)).json()
    assert body["status"] == "failed" and body["failure_code"] == code
    assert words in body["failure_message"]
    assert balance(db, uid) == (0, 0)
    history = client.get("/api/v1/wallet/history", headers=headers).json()["items"]
    assert history[0]["status"] == "failed"
    assert_ledger_consistent(db)


def test_failure_message_in_chinese(client, user) -> None:
    _uid, headers = user
    method_id = add_card(client, headers, "4000000000009995")
    body = topup(client, {**headers, "Accept-Language": "zh-CN"}, method_id).json()
    assert body["failure_code"] == "insufficient_funds"
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["failure_message"])


def begin_bank_topup(client, headers, key: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """A ¥500 bank top-up begun through the API: the pending operation's body."""
    return client.post(  # type: ignore[no-any-return]
        "/api/v1/wallet/topups/bank",
        headers={**headers, "Idempotency-Key": key},
        json={"amount": "500", "currency": "CNY"},
    ).json()


def bank_transfer_received(event_id: str, reference: str, amount: int, transfer: str) -> dict:  # type: ignore[type-arg]
    """The provider's event for money received against a bank top-up's reference."""
    return {
        "id": event_id,
        "type": "bank_transfer.received",
        "data": {"reference": reference, "amount": amount, "currency": "CNY", "transfer": transfer},
    }


def test_bank_topup_completes_on_signed_webhook_once(client, db, user) -> None:
    uid, headers = user
    op = begin_bank_topup(client, headers, "b1")
    assert op["status"] == "pending"
    event = bank_transfer_received("evt_1", op["reference"], 50000, "tr_1")
    forged = webhook(client, event, signature="t=1,v1=00")
    assert forged.status_code == 400 and balance(db, uid) == (0, 0)
    assert webhook(client, event).json()["outcome"] == "applied"
    assert webhook(client, event).json()["outcome"] == "duplicate"
    assert balance(db, uid) == (50000, 0)
    assert (
        client.get(f"/api/v1/wallet/operations/{op['reference']}", headers=headers).json()["status"]
        == "completed"
    )
    assert_ledger_consistent(db)


def test_bank_transfer_for_another_amount_credits_what_arrived_once(client, db, user) -> None:
    """The customer sent less than the top-up asked for: what arrived is credited, the
    history says so; the same transfer announced again credits nothing more, and a second
    transfer for the closed top-up is an exception for operators (issue 11 item 1)."""
    uid, headers = user
    op = begin_bank_topup(client, headers, "b2")
    first = bank_transfer_received("evt_a", op["reference"], 30000, "tr_a")
    assert webhook(client, first).json()["outcome"] == "applied"
    again = bank_transfer_received("evt_a2", op["reference"], 30000, "tr_a")
    assert webhook(client, again).json()["outcome"] == "already_applied"
    second = bank_transfer_received("evt_b", op["reference"], 30000, "tr_b")
    assert webhook(client, second).json()["outcome"] == "reconciliation_exception"
    assert balance(db, uid) == (30000, 0)
    detail = client.get(f"/api/v1/wallet/operations/{op['reference']}", headers=headers).json()
    assert detail["status"] == "completed" and detail["amount_minor"] == 30000
    history = client.get("/api/v1/wallet/history", headers=headers).json()["items"]
    assert [(i["amount"], i["status"]) for i in history] == [("300.00", "completed")]
    assert_ledger_consistent(db)


def test_stale_webhook_signature_is_rejected(client, db, user) -> None:
    body = json.dumps({"id": "evt_old", "type": "payout.paid", "data": {}}).encode()
    old = get_provider().sign(body, int(time.time()) - 3600)
    response = client.post(
        "/api/v1/webhooks/sandbox", content=body, headers={"OKPay-Signature": old}
    )
    assert response.status_code == 400


def add_bank(client, headers) -> int:  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/v1/wallet/payment-methods/bank-accounts",
        headers=headers,
        json={
            "account_number": "6222020200112233445",
            "bank_name": "中国工商银行",
            "holder_name": "李梅",
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["last4"] == "3445"
    return int(response.json()["id"])


def withdraw(client, headers, method_id: int, amount: str, key: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/wallet/withdrawals",
        headers={**headers, "Idempotency-Key": key},
        json={"payment_method_id": method_id, "amount": amount, "currency": "CNY"},
    )


def external_ref(db, reference: str) -> str:  # type: ignore[no-untyped-def]
    from okpay.wallet.models import Operation

    with db.unit_of_work(write=False) as s:
        return str(s.scalar(select(Operation.external_ref).where(Operation.reference == reference)))


def test_withdrawal_holds_then_settles(client, db, user) -> None:
    uid, headers = user
    fund(db, uid, 2000_00)
    bank = add_bank(client, headers)
    # The first ¥1,000 a month is free; 0.1 % on the rest (at least ¥0.10, at most ¥25).
    op = withdraw(client, headers, bank, "1200", "w1").json()
    assert op["status"] == "pending" and op["fee"] == "0.20"
    assert balance(db, uid) == (200000, 120020)
    # The held money cannot be withdrawn twice meanwhile.
    over = withdraw(client, headers, bank, "799.81", "w2")
    assert over.json()["error"]["code"] == "insufficient_funds"
    paid = webhook(
        client,
        {
            "id": "evt_p",
            "type": "payout.paid",
            "data": {"payout": external_ref(db, op["reference"])},
        },
    )
    assert paid.json()["outcome"] == "applied"
    assert balance(db, uid) == (200000 - 120020, 0)
    assert system_total(db, SystemAccount.payouts) == 120000
    assert system_total(db, SystemAccount.fee_revenue) == 20
    assert_ledger_consistent(db)


def test_withdrawal_fee_is_capped_and_allowance_is_monthly(client, db, user, clock) -> None:
    uid, headers = user
    fund(db, uid, 20_000_00)
    fund(db, uid, 20_000_00)
    bank = add_bank(client, headers)
    big = withdraw(client, headers, bank, "60000", "w1")  # over the level-1 single limit
    assert big.json()["error"]["code"] == "limit_exceeded"
    first = withdraw(client, headers, bank, "30000", "w2").json()
    assert first["fee"] == "25.00"  # 0.1 % of 29,000 is 29: capped at 25


def test_failed_payout_releases_the_hold_and_says_why(client, db, user) -> None:
    uid, headers = user
    fund(db, uid, 1000_00)
    op = withdraw(client, headers, add_bank(client, headers), "300", "w1").json()
    failed = webhook(
        client,
        {
            "id": "evt_f",
            "type": "payout.failed",
            "data": {"payout": external_ref(db, op["reference"]), "reason": "account_closed"},
        },
    )
    assert failed.json()["outcome"] == "applied"
    assert balance(db, uid) == (100000, 0)
    detail = client.get(f"/api/v1/wallet/operations/{op['reference']}", headers=headers).json()
    assert detail["status"] == "failed" and "closed" in detail["failure_message"]
    assert_ledger_consistent(db)


def test_cancel_pending_withdrawal(client, db, user) -> None:
    uid, headers = user
    fund(db, uid, 1000_00)
    op = withdraw(client, headers, add_bank(client, headers), "300", "w1").json()
    cancelled = client.post(f"/api/v1/wallet/withdrawals/{op['reference']}/cancel", headers=headers)
    assert cancelled.json()["status"] == "cancelled" and balance(db, uid) == (100000, 0)
    again = client.post(f"/api/v1/wallet/withdrawals/{op['reference']}/cancel", headers=headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_cancellable"
    late = webhook(
        client,
        {
            "id": "evt_late",
            "type": "payout.paid",
            "data": {"payout": external_ref(db, op["reference"])},
        },
    )
    # cancelled stays cancelled; the late payment is an exception for operators
    assert late.json()["outcome"] == "reconciliation_exception"
    assert balance(db, uid) == (100000, 0)


def test_another_users_payment_method_is_not_found(client, db, user) -> None:
    uid, headers = user
    fund(db, uid, 100_00)
    make_user(db, "eve@example.com")
    eve = api_token(client, "eve@example.com")
    theirs = add_card(client, headers, "4242424242424242")
    response = topup(client, eve, theirs)
    assert (
        response.status_code == 404
        and response.json()["error"]["code"] == "payment_method_not_found"
    )
    assert client.delete(f"/api/v1/wallet/payment-methods/{theirs}", headers=eve).status_code == 404


def test_bank_receiving_accounts_tell_where_to_send_a_bank_top_up(client, user) -> None:
    """The API gives what the top-up page shows: OKPay's receiving account per currency
    (sandbox accounts outside production), only to a signed-in customer."""
    _uid, headers = user
    assert client.get("/api/v1/wallet/topups/bank/receiving-accounts").status_code == 401
    accounts = client.get("/api/v1/wallet/topups/bank/receiving-accounts", headers=headers)
    assert accounts.status_code == 200
    by_currency = {a["currency"]: a for a in accounts.json()}
    cny = by_currency["CNY"]
    assert cny["bank_name"] and cny["account_name"] and cny["account_number"]
    assert cny["sandbox"] is True
    op = begin_bank_topup(client, headers, "where-to")
    assert op["currency"] in by_currency
