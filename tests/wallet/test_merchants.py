"""Paying merchants through payment intents, and refunding: the merchant fixes the amount,
an intent is paid once, an order once, never refunding more than was paid."""

from __future__ import annotations

import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from okpay.core.errors import DomainError
from okpay.wallet import flows, intents, ledger, merchants
from okpay.wallet.models import WalletAccount
from tests.helpers import PASSWORD, api_token, csrf_from, post_form
from tests.wallet.helpers import assert_ledger_consistent, balance, fund, make_user

RETURN = "https://shop.example/orders/done"


@pytest.fixture
def shop(client, db):  # type: ignore[no-untyped-def]
    owner = make_user(db, "owner@example.com")
    payer = make_user(db, "payer@example.com")
    fund(db, payer, 500_00)
    with db.unit_of_work() as s:
        merchant = merchants.do_create_merchant(
            s, code="demo-coffee", name="Demo Coffee", owner_user_id=owner
        )
        _key, secret = intents.do_create_key(s, merchant=merchant, actor_user_id=None)
    return (
        payer,
        api_token(client, "payer@example.com"),
        api_token(client, "owner@example.com"),
        {"Authorization": f"Bearer {secret}"},
    )


def new_intent(client, merchant_h, order: str, amount: str, **extra):  # type: ignore[no-untyped-def]
    body = {"order_id": order, "amount": amount, "currency": "CNY", "return_url": RETURN}
    return client.post("/api/v1/merchant/intents", headers=merchant_h, json=body | extra)


def intent_id(client, merchant_h, order: str, amount: str, **extra) -> str:  # type: ignore[no-untyped-def]
    answer = new_intent(client, merchant_h, order, amount, **extra)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def pay(client, headers, intent: str, key: str, **extra):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/wallet/payments",
        headers={**headers, "Idempotency-Key": key},
        json={"intent": intent} | extra,
    )


def refund(client, headers, reference: str, key: str, amount: str | None = None):  # type: ignore[no-untyped-def]
    body = {"reason": "Wrong size"} | ({"amount": amount} if amount else {})
    return client.post(
        f"/api/v1/merchant/payments/{reference}/refunds",
        headers={**headers, "Idempotency-Key": key},
        json=body,
    )


def merchant_balance(db) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        merchant = merchants.get_merchant(s, "demo-coffee")
        account_id = ledger.merchant_account_id(s, merchant_id=merchant.id, currency="CNY")
        return int(s.get(WalletAccount, account_id).balance)  # type: ignore[union-attr]


def test_i11_item2_payer_cannot_choose_amount(client, db, shop) -> None:
    payer, payer_h, _owner_h, merchant_h = shop
    # The old free-amount request (the attack of issue 11) is refused and moves nothing.
    old = client.post(
        "/api/v1/wallet/payments",
        headers={**payer_h, "Idempotency-Key": "old"},
        json={"merchant": "demo-coffee", "order_id": "A-1001", "amount": "0.01", "currency": "CNY"},
    )
    assert old.status_code == 422
    assert {f["field"] for f in old.json()["error"]["fields"]} >= {"amount", "intent"}
    # Naming an intent and an amount of one's own is refused too.
    intent = intent_id(client, merchant_h, "A-1001", "32")
    assert pay(client, payer_h, intent, "k0", amount="0.01").status_code == 422
    assert balance(db, payer) == (500_00, 0)
    # Paying the intent moves exactly what the merchant set.
    paid = pay(client, payer_h, intent, "k1")
    assert paid.status_code == 201 and paid.json()["amount"] == "32.00", paid.text
    assert balance(db, payer) == (468_00, 0) and merchant_balance(db) == 32_00
    status = client.get(f"/api/v1/merchant/intents/{intent}", headers=merchant_h).json()
    assert status["status"] == "paid" and status["payment_reference"] == paid.json()["reference"]
    # An old-style link that carried the amount is no longer a checkout.
    link = client.get("/pay/demo-coffee?order_id=A-1002&amount=0.01&currency=CNY")
    assert link.status_code == 404 and "checkout-pay" not in link.text
    assert_ledger_consistent(db)


def test_i11_item2_stranger_cannot_block_order(client, db, shop) -> None:
    payer, payer_h, _owner_h, merchant_h = shop
    make_user(db, "stranger@example.com")
    fund(db, make_user(db, "other@example.com"), 10_00)
    stranger_h = api_token(client, "stranger@example.com")
    # A stranger cannot create an intent for the merchant, with or without a user token,
    # nor pay the order an amount of their own.
    for headers in ({}, stranger_h, {"Authorization": "Bearer okmk_guessed"}):
        made = new_intent(client, headers, "A-1001", "0.01")
        assert made.status_code == 401 and made.json()["error"]["code"] == "merchant_key_invalid"
    free = client.post(
        "/api/v1/wallet/payments",
        headers={**stranger_h, "Idempotency-Key": "x"},
        json={"merchant": "demo-coffee", "order_id": "A-1001", "amount": "0.01", "currency": "CNY"},
    )
    assert free.status_code == 422
    # One order may have several intents; the first paid makes the order paid, the others
    # are then refused, and the merchant cannot ask for it again.
    first = intent_id(client, merchant_h, "A-1001", "32")
    second = intent_id(client, merchant_h, "A-1001", "32")
    assert pay(client, payer_h, second, "p1").status_code == 201
    again = pay(client, payer_h, first, "p2")
    assert again.status_code == 409 and again.json()["error"]["code"] == "order_already_paid"
    assert new_intent(client, merchant_h, "A-1001", "32").json()["error"]["code"] == (
        "order_already_paid"
    )
    assert balance(db, payer) == (468_00, 0) and merchant_balance(db) == 32_00
    assert_ledger_consistent(db)


def test_paying_an_intent_is_idempotent_and_once(client, db, shop) -> None:
    payer, payer_h, _owner_h, merchant_h = shop
    intent = intent_id(client, merchant_h, "B-1", "10.50", description="Latte")
    first = pay(client, payer_h, intent, "same")
    replay = pay(client, payer_h, intent, "same")
    assert first.status_code == replay.status_code == 201
    assert first.json()["reference"] == replay.json()["reference"]
    twice = pay(client, payer_h, intent, "other")
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "payment_intent_paid"
    assert balance(db, payer) == (489_50, 0)
    missing = pay(client, payer_h, "pi_doesnotexist", "m")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "payment_intent_not_found"


def test_expired_and_cancelled_intents_are_refused(client, db, shop, clock) -> None:
    payer, payer_h, _owner_h, merchant_h = shop
    soon = intent_id(client, merchant_h, "C-1", "5", expires_in_minutes=15)
    clock.advance(minutes=16)
    late = pay(client, payer_h, soon, "e1")
    assert late.status_code == 409 and late.json()["error"]["code"] == "payment_intent_expired"
    zh = pay(client, {**payer_h, "Accept-Language": "zh-CN"}, soon, "e2")
    assert "过期" in zh.json()["error"]["message"]
    got = client.get(f"/api/v1/merchant/intents/{soon}", headers=merchant_h).json()
    assert got["status"] == "expired"

    dropped = intent_id(client, merchant_h, "C-2", "5")
    cancelled = client.post(f"/api/v1/merchant/intents/{dropped}/cancel", headers=merchant_h)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    refused = pay(client, payer_h, dropped, "c1")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "payment_intent_cancelled"
    # A paid intent cannot be cancelled (it is refunded instead).
    kept = intent_id(client, merchant_h, "C-3", "5")
    assert pay(client, payer_h, kept, "c2").status_code == 201
    late_cancel = client.post(f"/api/v1/merchant/intents/{kept}/cancel", headers=merchant_h)
    assert late_cancel.status_code == 409
    assert balance(db, payer) == (495_00, 0)
    # Bad expiries are refused with their own code.
    assert new_intent(client, merchant_h, "C-4", "5", expires_in_minutes=0).status_code == 422
    too_long = new_intent(client, merchant_h, "C-4", "5", expires_in_minutes=10081)
    assert too_long.status_code == 422


def test_merchant_api_key_auth_failures(client, db, shop) -> None:
    _payer, payer_h, owner_h, merchant_h = shop
    missing = client.post("/api/v1/merchant/intents", json={})
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/v1/merchant/intents/pi_x", headers=payer_h).status_code == 401
    assert (
        client.get("/api/v1/merchant/intents/pi_x", headers={"Authorization": "Basic abc"})
    ).status_code == 401
    # The owner manages keys: created keys are shown once and stored hashed.
    made = client.post("/api/v1/merchant/keys", headers=owner_h, json={"merchant": "demo-coffee"})
    assert made.status_code == 201 and made.json()["key"].startswith("okmk_")
    new_h = {"Authorization": f"Bearer {made.json()['key']}"}
    listed = client.get("/api/v1/merchant/keys?merchant=demo-coffee", headers=owner_h).json()
    assert len(listed) == 2 and all("key" not in k for k in listed)
    with db.unit_of_work(write=False) as s:
        assert not any(
            made.json()["key"] in k.key_hash
            for k in intents.list_keys(s, merchant=merchants.get_merchant(s, "demo-coffee"))
        )
    # Someone else cannot list, create or revoke the merchant's keys.
    assert (
        client.get("/api/v1/merchant/keys?merchant=demo-coffee", headers=payer_h).status_code == 404
    )
    assert (
        client.post("/api/v1/merchant/keys", headers=payer_h, json={"merchant": "demo-coffee"})
    ).status_code == 404
    first_id = listed[0]["id"]
    assert (
        client.post(
            f"/api/v1/merchant/keys/{first_id}/revoke?merchant=demo-coffee", headers=payer_h
        )
    ).status_code == 404
    # Rotating revokes the old key at once; the new one works.
    rotated = client.post(
        f"/api/v1/merchant/keys/{first_id}/rotate?merchant=demo-coffee", headers=owner_h
    )
    assert rotated.status_code == 201
    assert new_intent(client, merchant_h, "K-1", "1").status_code == 401
    rotated_h = {"Authorization": f"Bearer {rotated.json()['key']}"}
    made_intent = intent_id(client, rotated_h, "K-1", "1")
    # Revoked: refused from the next request on.
    revoke = client.post(
        f"/api/v1/merchant/keys/{made.json()['id']}/revoke?merchant=demo-coffee", headers=owner_h
    )
    assert revoke.status_code == 200 and revoke.json()["revoked_at"]
    assert new_intent(client, new_h, "K-2", "1").status_code == 401
    # Another merchant's key cannot see or cancel this merchant's intents.
    with db.unit_of_work() as s:
        other = merchants.do_create_merchant(s, code="tea-house", name="Tea", owner_user_id=None)
        _k, other_secret = intents.do_create_key(s, merchant=other, actor_user_id=None)
    other_h = {"Authorization": f"Bearer {other_secret}"}
    assert client.get(f"/api/v1/merchant/intents/{made_intent}", headers=other_h).status_code == 404
    assert (
        client.post(f"/api/v1/merchant/intents/{made_intent}/cancel", headers=other_h)
    ).status_code == 404
    huge = client.post(
        f"/api/v1/merchant/keys/{2**63}/revoke?merchant=demo-coffee", headers=owner_h
    )
    assert huge.status_code == 422


def test_return_url_rules(client, db, shop) -> None:
    _payer, _payer_h, owner_h, merchant_h = shop
    for bad in (
        "http://shop.example/done",
        "javascript:alert(1)",
        "https://user:pw@shop.example/",
        "/relative",
        "https://shop.example/a b",
        "https://shop.example:99999/",
    ):
        answer = new_intent(client, merchant_h, "R-1", "1", return_url=bad)
        assert answer.status_code == 422, bad
        assert answer.json()["error"]["code"] == "return_url_invalid", bad
    local = new_intent(client, merchant_h, "R-1", "1", return_url="http://localhost:3000/ok")
    assert local.status_code == 201
    # OKPay's own pages are always a valid way back (the demo merchant returns to the wallet).
    own = new_intent(client, merchant_h, "R-1", "1", return_url="http://testserver/wallet")
    assert own.status_code == 201
    pinned = client.put(
        "/api/v1/merchant/return-hosts",
        headers=owner_h,
        json={"merchant": "demo-coffee", "hosts": ["shop.example"]},
    )
    assert pinned.json() == ["shop.example"]
    elsewhere = new_intent(client, merchant_h, "R-2", "1", return_url="https://evil.example/")
    assert elsewhere.json()["error"]["code"] == "return_url_host_not_allowed"
    assert new_intent(client, merchant_h, "R-2", "1").status_code == 201


def test_pay_then_refund_in_parts_never_more_than_paid(client, db, shop) -> None:
    payer, payer_h, owner_h, merchant_h = shop
    paid = pay(client, payer_h, intent_id(client, merchant_h, "A-1001", "120"), "p1")
    assert paid.status_code == 201 and paid.json()["status"] == "completed"
    ref = paid.json()["reference"]
    assert balance(db, payer) == (38000, 0)

    first = refund(client, owner_h, ref, "r1", "20")
    assert (
        first.status_code == 201
        and first.json()["type"] == "refund"
        and first.json()["amount"] == "20.00"
    )
    too_much = refund(client, owner_h, ref, "r2", "100.01")
    assert (
        too_much.json()["error"]["code"] == "refund_too_large"
        and "100.00" in too_much.json()["error"]["message"]
    )
    rest = refund(client, owner_h, ref, "r3")
    assert rest.json()["amount"] == "100.00"
    assert balance(db, payer) == (50000, 0)
    original = client.get(f"/api/v1/wallet/operations/{ref}", headers=payer_h).json()
    assert original["status"] == "reversed"
    assert refund(client, owner_h, ref, "r4", "1").json()["error"]["code"] == "refund_too_large"
    assert_ledger_consistent(db)


def test_only_the_merchant_owner_can_refund(client, db, shop) -> None:
    _payer, payer_h, _owner_h, merchant_h = shop
    ref = pay(client, payer_h, intent_id(client, merchant_h, "A-2", "10"), "p1").json()["reference"]
    assert refund(client, payer_h, ref, "r1").status_code == 404


def test_checkout_page_pays_once(client, db, shop) -> None:
    payer, _payer_h, _owner_h, merchant_h = shop
    intent = intent_id(client, merchant_h, "WEB-7", "35", description="Latte")
    assert (
        post_form(
            client, "/login", {"email": "payer@example.com", "password": PASSWORD}
        ).status_code
        == 303
    )
    page = client.get(f"/pay/i/{intent}")
    assert 'data-testid="checkout-amount"' in page.text and "Demo Coffee" in page.text
    assert "35.00" in page.text and "WEB-7" in page.text and 'name="amount"' not in page.text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    # An amount slipped into the form is ignored: the intent's amount is paid.
    form = {"idempotency_key": key, "csrf_token": csrf_from(page.text), "amount": "0.01"}
    first = client.post(f"/pay/i/{intent}", data=form, follow_redirects=False)
    again = client.post(f"/pay/i/{intent}", data=form, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"] == f"/pay/i/{intent}"
    assert balance(db, payer) == (46500, 0)
    done = client.get(f"/pay/i/{intent}")
    assert 'data-status="paid"' in done.text and RETURN in done.text
    assert 'data-testid="checkout-pay"' not in done.text
    # A second visit with a fresh key is told it is paid, nothing moves.
    form["idempotency_key"] = "another-key"
    refused = client.post(f"/pay/i/{intent}", data=form, follow_redirects=False)
    assert refused.status_code == 409 and "already been made" in refused.text
    assert balance(db, payer) == (46500, 0)
    bad = client.get("/pay/i/pi_nothing-here")
    assert bad.status_code == 404 and "not valid" in bad.text


@pytest.mark.postgres_only
def test_i11_item2_two_payers_at_once_exactly_one_pays(db, shop) -> None:
    assert db.dialect == "postgresql"
    payers = [make_user(db, f"rush{i}@example.com") for i in range(8)]
    for p in payers:
        fund(db, p, 100_00)
    with db.unit_of_work() as s:
        merchant = merchants.get_merchant(s, "demo-coffee")
        token = intents.do_create_intent(
            s,
            merchant=merchant,
            api_key_id=None,
            order_id="RACE-1",
            amount=60_00,
            currency="CNY",
            return_url=RETURN,
        ).token
    start = threading.Barrier(len(payers))

    def attempt(payer_id: int) -> str:
        idem = flows.idempotency(payer_id, uuid.uuid4().hex, "payment", {"intent": token})
        start.wait()
        try:
            flows.payment(idem, payer_id=payer_id, intent=token)
            return "ok"
        except DomainError as err:
            return err.code

    with ThreadPoolExecutor(max_workers=len(payers)) as pool:
        results = list(pool.map(attempt, payers))
    assert results.count("ok") == 1, results
    assert set(results) - {"ok"} == {"payment_intent_paid"}
    assert sorted(balance(db, p)[0] for p in payers) == [40_00] + [100_00] * (len(payers) - 1)
    assert merchant_balance(db) == 60_00
    assert_ledger_consistent(db)


@pytest.mark.postgres_only
def test_two_intents_of_one_order_paid_at_once_pay_the_order_once(db, shop) -> None:
    assert db.dialect == "postgresql"
    payers = [make_user(db, f"twin{i}@example.com") for i in range(2)]
    for p in payers:
        fund(db, p, 100_00)
    with db.unit_of_work() as s:
        merchant = merchants.get_merchant(s, "demo-coffee")
        tokens = [
            intents.do_create_intent(
                s,
                merchant=merchant,
                api_key_id=None,
                order_id="TWIN-1",
                amount=30_00,
                currency="CNY",
                return_url=RETURN,
            ).token
            for _ in payers
        ]
    start = threading.Barrier(2)

    def attempt(i: int) -> str:
        idem = flows.idempotency(payers[i], uuid.uuid4().hex, "payment", {"intent": tokens[i]})
        start.wait()
        try:
            flows.payment(idem, payer_id=payers[i], intent=tokens[i])
            return "ok"
        except DomainError as err:
            return err.code

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = sorted(pool.map(attempt, range(2)))
    assert results == ["ok", "order_already_paid"], results
    assert merchant_balance(db) == 30_00
    assert_ledger_consistent(db)
