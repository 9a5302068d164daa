"""Paying merchants and refunding: once per order, never refunding more than was paid."""

from __future__ import annotations

import pytest

from okpay.wallet import service
from tests.helpers import api_token
from tests.wallet.helpers import assert_ledger_consistent, balance, fund, make_user


@pytest.fixture
def shop(client, db):  # type: ignore[no-untyped-def]
    owner = make_user(db, "owner@example.com")
    payer = make_user(db, "payer@example.com")
    fund(db, payer, 500_00)
    with db.unit_of_work() as s:
        service.do_create_merchant(s, code="demo-coffee", name="Demo Coffee", owner_user_id=owner)
    return payer, api_token(client, "payer@example.com"), api_token(client, "owner@example.com")


def pay(client, headers, order: str, amount: str, key: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/wallet/payments",
        headers={**headers, "Idempotency-Key": key},
        json={"merchant": "demo-coffee", "order_id": order, "amount": amount, "currency": "CNY"},
    )


def refund(client, headers, reference: str, key: str, amount: str | None = None):  # type: ignore[no-untyped-def]
    body = {"reason": "Wrong size"} | ({"amount": amount} if amount else {})
    return client.post(
        f"/api/v1/merchant/payments/{reference}/refunds",
        headers={**headers, "Idempotency-Key": key},
        json=body,
    )


def test_pay_then_refund_in_parts_never_more_than_paid(client, db, shop) -> None:
    payer, payer_h, owner_h = shop
    paid = pay(client, payer_h, "A-1001", "120", "p1")
    assert paid.status_code == 201 and paid.json()["status"] == "completed"
    ref = paid.json()["reference"]
    assert balance(db, payer) == (38000, 0)
    assert (
        pay(client, payer_h, "A-1001", "120", "p2").json()["error"]["code"] == "order_already_paid"
    )

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
    _payer, payer_h, _owner_h = shop
    ref = pay(client, payer_h, "A-2", "10", "p1").json()["reference"]
    assert refund(client, payer_h, ref, "r1").status_code == 404


def test_checkout_page_pays_once(client, db, shop) -> None:
    from tests.helpers import PASSWORD, csrf_from, post_form

    payer, _payer_h, _owner_h = shop
    assert (
        post_form(
            client, "/login", {"email": "payer@example.com", "password": PASSWORD}
        ).status_code
        == 303
    )
    page = client.get("/pay/demo-coffee?order_id=WEB-7&amount=35&currency=CNY&description=Latte")
    assert 'data-testid="checkout-amount"' in page.text and "Demo Coffee" in page.text
    import re

    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    form = {
        "order_id": "WEB-7",
        "amount": "35",
        "currency": "CNY",
        "idempotency_key": key,
        "csrf_token": csrf_from(page.text),
    }
    first = client.post("/pay/demo-coffee", data=form, follow_redirects=False)
    again = client.post("/pay/demo-coffee", data=form, follow_redirects=False)
    assert (
        first.status_code == again.status_code == 303
        and first.headers["location"] == again.headers["location"]
    )
    assert balance(db, payer) == (46500, 0)
    bad = client.get("/pay/no-such-shop?order_id=1&amount=1")
    assert bad.status_code == 404 and "not valid" in bad.text
