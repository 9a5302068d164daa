"""Transfers into another currency at a quoted rate: the quote holds for a few minutes, is
used once, and the ledger balances per currency through OKPay's FX position."""

from __future__ import annotations

import pytest

from okpay.wallet.models import SystemAccount
from tests.helpers import api_token
from tests.wallet.helpers import assert_ledger_consistent, balance, fund, make_user, system_total


@pytest.fixture
def pair(client, db):  # type: ignore[no-untyped-def]
    alice = make_user(db, "alice@example.com")
    bob = make_user(db, "bob@example.com")
    fund(db, alice, 10_000_00)
    return alice, bob, api_token(client, "alice@example.com")


def quote(client, headers, amount: str = "1000", target: str = "JPY"):  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/v1/wallet/fx/quotes",
        headers=headers,
        json={"amount": amount, "currency": "CNY", "target_currency": target},
    )
    assert response.status_code == 201, response.text
    return response.json()


def send(client, headers, q: dict, key: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/wallet/transfers",
        headers={**headers, "Idempotency-Key": key},
        json={
            "recipient": "bob@example.com",
            "amount": q["amount"],
            "currency": q["currency"],
            "quote_id": q["id"],
        },
    )


def test_cross_currency_transfer_at_the_quoted_rate(client, db, pair) -> None:
    alice, bob, headers = pair
    q = quote(client, headers)
    # Mid rate 7.10/0.047 ≈ 21.2766 JPY per CNY, less a 0.5 % spread, rounded down.
    assert q["target_currency"] == "JPY" and q["target_amount"] == "21170"
    assert q["fee"] == "15.00"  # 1.5 % of ¥1,000 (min ¥5, max ¥200)
    sent = send(client, headers, q, "fx1")
    assert sent.status_code == 201, sent.text
    assert balance(db, alice) == (10_000_00 - 1_000_00 - 15_00, 0)
    assert balance(db, bob, "JPY") == (21170, 0)
    assert system_total(db, SystemAccount.fx_position, "CNY") == 1_000_00
    assert system_total(db, SystemAccount.fx_position, "JPY") == -21170
    bob_view = client.get(
        f"/api/v1/wallet/operations/{sent.json()['reference']}",
        headers=api_token(client, "bob@example.com"),
    ).json()
    assert bob_view["currency"] == "JPY" and bob_view["amount"] == "21170"
    assert_ledger_consistent(db)


def test_quote_is_used_once_expires_and_belongs_to_its_owner(client, db, pair, clock) -> None:
    _alice, _bob, headers = pair
    q = quote(client, headers, "100")
    assert send(client, headers, q, "a").status_code == 201
    assert send(client, headers, q, "b").json()["error"]["code"] == "quote_invalid"
    late = quote(client, headers, "100")
    clock.advance(minutes=6)
    assert send(client, headers, late, "c").json()["error"]["code"] == "quote_expired"
    make_user(db, "eve@example.com")
    fund(db, make_user(db, "mallory@example.com"), 500_00)
    other = api_token(client, "mallory@example.com")
    fresh = quote(client, headers, "100")
    assert send(client, other, fresh, "d").json()["error"]["code"] == "quote_invalid"
    assert quote_error(client, headers, "CNY") == "same_currency"
    assert_ledger_consistent(db)


def quote_error(client, headers, target: str) -> str:  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/wallet/fx/quotes",
        headers=headers,
        json={"amount": "1", "currency": "CNY", "target_currency": target},
    ).json()["error"]["code"]


def test_send_page_quotes_then_sends_in_another_currency(client, db, pair) -> None:
    import re

    from tests.helpers import PASSWORD, csrf_from, post_form

    _alice, bob, _headers = pair
    assert (
        post_form(
            client, "/login", {"email": "alice@example.com", "password": PASSWORD}
        ).status_code
        == 303
    )
    review = post_form(
        client,
        "/wallet/send/review",
        {
            "recipient": "bob@example.com",
            "amount": "100",
            "currency": "CNY",
            "target_currency": "USD",
            "note": "",
        },
        from_page="/wallet/send",
    )
    assert 'data-testid="send-arrives"' in review.text
    quote_id = re.search(r'name="quote_id" value="(\d+)"', review.text).group(1)  # type: ignore[union-attr]
    key = re.search(r'name="idempotency_key" value="([^"]+)"', review.text).group(1)  # type: ignore[union-attr]
    done = client.post(
        "/wallet/send",
        follow_redirects=False,
        data={
            "recipient": "bob@example.com",
            "amount": "100",
            "currency": "CNY",
            "note": "",
            "quote_id": quote_id,
            "idempotency_key": key,
            "csrf_token": csrf_from(review.text),
        },
    )
    assert done.status_code == 303
    assert balance(db, bob, "USD")[0] == 1401  # 100 / 7.10 × 0.995 = 14.014 → 14.01 USD
