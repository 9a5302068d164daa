"""Shortcuts for casework tests: a customer with money, staff of each role, a shop."""

from __future__ import annotations

import uuid

from okpay.identity.models import Role
from okpay.wallet import intents, merchants
from okpay.wallet.models import Merchant
from tests.helpers import api_token
from tests.support.helpers import make_staff
from tests.wallet.helpers import fund, make_user


def staff(client, db, email: str, *, role: Role, team: str = "compliance"):  # type: ignore[no-untyped-def]
    make_staff(db, email, team=team, role=role)
    return api_token(client, email)


def team(client, db) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    """An agent and two supervisors (compliance), signed in over the API."""
    return {
        "agent": staff(client, db, "agent@okpay.example", role=Role.agent),
        "sup": staff(client, db, "sup@okpay.example", role=Role.supervisor),
        "sup2": staff(client, db, "sup2@okpay.example", role=Role.supervisor),
    }


def customer(client, db, email: str = "mei@example.com", amount: int = 1_000_00):  # type: ignore[no-untyped-def]
    uid = make_user(db, email)
    if amount:
        fund(db, uid, amount)
    return uid, api_token(client, email)


def transfer(client, headers, recipient: str, amount: str = "10.00"):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/wallet/transfers",
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        json={"amount": amount, "currency": "CNY", "recipient": recipient},
    )


def shop_payments(db, payer: int, amount: int, count: int = 2) -> list[str]:  # type: ignore[no-untyped-def]
    """``count`` payments of ``amount`` by ``payer`` to one shop (a double charge); references."""
    owner = make_user(db, f"owner-{uuid.uuid4().hex[:6]}@example.com")
    refs = []
    with db.unit_of_work() as s:
        merchant = merchants.do_create_merchant(
            s, code=f"shop-{uuid.uuid4().hex[:6]}", name="Demo Coffee", owner_user_id=owner
        )
        merchant_id = merchant.id
    for i in range(count):
        with db.unit_of_work() as s:
            merchant = s.get(Merchant, merchant_id)
            intent = intents.do_create_intent(
                s, merchant=merchant, api_key_id=None, order_id=f"o-{uuid.uuid4().hex[:8]}-{i}",
                amount=amount, currency="CNY", return_url="https://shop.example/done",
                description="Coffee",
            )  # fmt: skip
            result = intents.do_pay_intent(s, payer_id=payer, token=intent.token)
            refs.append(result.reference)
    return refs
