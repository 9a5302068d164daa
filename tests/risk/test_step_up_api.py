"""A second factor before money leaves, over the API: asked for (403 step_up_required), the
same request with the code goes ahead once; a code for another operation, reused, expired
or guessed does not; a new-device large withdrawal asks for the code, then is held."""

from __future__ import annotations

import uuid

import pyotp
import pytest
from sqlalchemy import select

from okpay.core import clock as clock_module
from okpay.core.security import encrypt_secret
from okpay.identity.models import User
from okpay.risk import counters, defaults
from okpay.wallet.models import Operation
from tests.helpers import api_token
from tests.identity.test_stepup import last_code, texts
from tests.wallet.helpers import assert_ledger_consistent, balance, fund, make_user
from tests.wallet.test_flows import add_bank

SECRET = pyotp.random_base32()


@pytest.fixture
def shipped(db, clock):  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        defaults.install(s)
    return db


def customer(db, clock, *, phone: bool = True, totp: bool = False):  # type: ignore[no-untyped-def]
    uid = make_user(db, "mei@example.com", phone="+86 138 0013 8000" if phone else None, level=2)
    with db.unit_of_work() as s:
        user = s.get(User, uid)
        assert user is not None
        if phone:
            user.phone_verified_at = clock.now
        if totp:
            user.totp_secret = encrypt_secret(SECRET)
            user.totp_enabled_at = clock.now
    fund(db, uid, 100_000_00)
    return uid


def withdraw(client, headers, bank: int, amount: str, key: str, otp: str | None = None):  # type: ignore[no-untyped-def]
    extra = {"OKPay-Step-Up-Code": otp} if otp else {}
    return client.post(
        "/api/v1/wallet/withdrawals",
        headers={**headers, "Idempotency-Key": key, **extra},
        json={"payment_method_id": bank, "amount": amount, "currency": "CNY"},
    )


def test_a_withdrawal_to_a_new_bank_account_asks_for_an_sms_code(client, shipped, clock) -> None:  # type: ignore[no-untyped-def]
    db = shipped
    uid = customer(db, clock)
    headers = api_token(client, "mei@example.com")
    bank = add_bank(client, headers)
    key = uuid.uuid4().hex
    asked = withdraw(client, headers, bank, "100", key)
    assert asked.status_code == 403, asked.text
    error = asked.json()["error"]
    assert error["code"] == "step_up_required"
    assert error["step_up"] == {"channel": "sms", "sent_to": "+86 138****8000"}
    assert balance(db, uid) == (100_000_00, 0)  # nothing held yet
    code = last_code(db)
    # A wrong code is refused, and the key stays free for the right one.
    wrong = withdraw(
        client, headers, bank, "100", key, otp="000000" if code != "000000" else "111111"
    )
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (400, "invalid_code")
    # The code is bound to this very request: another amount under another key is refused.
    other = withdraw(client, headers, bank, "101", uuid.uuid4().hex, otp=code)
    assert other.json()["error"]["code"] in ("invalid_code", "step_up_required")
    done = withdraw(client, headers, bank, "100", key, otp=code)
    assert done.status_code == 201 and done.json()["status"] == "pending"
    # The same key answers the same; the code does not work twice.
    assert withdraw(client, headers, bank, "100", key, otp=code).json() == done.json()
    again = withdraw(client, headers, bank, "100", uuid.uuid4().hex, otp=code)
    assert again.json()["error"]["code"] == "invalid_code"
    assert_ledger_consistent(db)


def test_an_expired_code_is_refused(client, shipped, clock) -> None:  # type: ignore[no-untyped-def]
    customer(shipped, clock)
    headers = api_token(client, "mei@example.com")
    bank = add_bank(client, headers)
    key = uuid.uuid4().hex
    assert withdraw(client, headers, bank, "100", key).status_code == 403
    code = last_code(shipped)
    clock.advance(minutes=6)
    late = withdraw(client, headers, bank, "100", key, otp=code)
    assert late.json()["error"]["code"] == "step_up_code_expired"


def test_totp_is_asked_for_when_enrolled_and_a_large_payment_needs_it(
    client, shipped, clock
) -> None:  # type: ignore[no-untyped-def]
    db = shipped
    customer(db, clock, totp=True)
    make_user(db, "bob@example.com")
    headers = api_token(client, "mei@example.com", otp=pyotp.TOTP(SECRET).at(clock.now))
    clock.advance(seconds=31)
    key = uuid.uuid4().hex
    body = {"recipient": "bob@example.com", "amount": "50000", "currency": "CNY"}
    asked = client.post(
        "/api/v1/wallet/transfers", headers={**headers, "Idempotency-Key": key}, json=body
    )
    assert asked.status_code == 403
    assert asked.json()["error"]["step_up"] == {"channel": "totp", "sent_to": None}
    assert texts(db) == []  # nothing is texted to a customer with an authenticator app
    sent = client.post(
        "/api/v1/wallet/transfers",
        headers={**headers, "Idempotency-Key": key},
        json={**body, "otp": pyotp.TOTP(SECRET).at(clock.now)},
    )
    assert sent.status_code == 201 and sent.json()["status"] == "completed"
    small = client.post(
        "/api/v1/wallet/transfers",
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        json={**body, "amount": "10"},
    )
    assert small.status_code == 201, small.text  # under the rules amounts: no code


def test_no_second_factor_at_all_is_a_clear_refusal(client, shipped, clock) -> None:  # type: ignore[no-untyped-def]
    customer(shipped, clock, phone=False)
    headers = api_token(client, "mei@example.com")
    bank = add_bank(client, headers)
    refused = withdraw(client, headers, bank, "100", uuid.uuid4().hex)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "step_up_unavailable")


def test_a_new_device_large_withdrawal_asks_for_the_code_then_is_held(
    client, shipped, clock
) -> None:  # type: ignore[no-untyped-def]
    db = shipped
    uid = customer(db, clock)
    headers = api_token(client, "mei@example.com")
    bank = add_bank(client, headers)
    clock.advance(days=4)  # the bank account is no longer new
    headers = api_token(client, "mei@example.com")
    with db.unit_of_work() as s:
        counters.note_signal(s, user_id=uid, new_device_at=clock_module.now())
    key = uuid.uuid4().hex
    asked = withdraw(client, headers, bank, "12000", key)
    assert asked.json()["error"]["code"] == "step_up_required"
    held = withdraw(client, headers, bank, "12000", key, otp=last_code(db))
    assert held.status_code == 202 and held.json()["status"] == "on_hold"
    with db.unit_of_work(write=False) as s:
        op = s.scalar(select(Operation).where(Operation.reference == held.json()["reference"]))
        assert op is not None and op.external_ref is None
        assert balance(db, uid) == (100_000_00, 12_000_00 + op.fee)
    assert_ledger_consistent(db)
