"""Development only (/dev/sandbox): play the payment provider (bank transfers, payouts)
and the demo merchant's server."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from okpay.core.errors import DomainError
from okpay.core.i18n import gettext
from okpay.core.money import parse_amount
from okpay.core.security import new_token
from okpay.wallet import flows, intents, merchants, pages, provider_events, schemas
from okpay.wallet.models import Merchant
from okpay.wallet.providers import get_provider
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.templating import render

dev = APIRouter(
    prefix="/dev/sandbox", include_in_schema=False, dependencies=[Depends(csrf_protect)]
)


@dev.get("")
def sandbox(request: Request, db: DbSession) -> Response:
    """Development only: play the payment provider for bank transfers and payouts."""
    return render(
        request,
        "wallet/dev_sandbox.html",
        **pages.page_context(
            pending=provider_events.pending_provider_operations(db), shop=_demo_shop(db)
        ),
    )


def _demo_shop(db: DbSession) -> Merchant | None:
    from sqlalchemy import select

    return merchants.find_merchant(db, "demo-coffee") or db.scalar(
        select(Merchant).order_by(Merchant.id).limit(1)
    )


@dev.post("/checkout")
def sandbox_checkout(request: Request, db: DbSession, amount: pages.FormStr) -> Response:
    """Development only: play the demo merchant's server and create a payment intent."""
    from okpay.core.ids import random_code
    from okpay.settings import get_settings

    shop = _demo_shop(db)
    if shop is None:
        return pages.redirect("/dev/sandbox")
    try:
        intent = intents.do_create_intent(
            db,
            merchant=shop,
            api_key_id=None,
            order_id=f"DEV-{random_code(6)}",
            amount=parse_amount(amount, "CNY"),
            currency="CNY",
            return_url=f"{get_settings().base_url}/dev/sandbox",
            description="Sandbox",
        )
    except DomainError as err:
        flash(request, err.translated(), "warning")
        return pages.redirect("/dev/sandbox")
    return pages.redirect(f"/pay/i/{intent.token}")


@dev.post("/{reference}/{outcome}")
def sandbox_event(request: Request, reference: str, outcome: str, db: DbSession) -> Response:
    """Send the app the signed webhook the provider would send (through the same checks)."""
    import json
    import time

    op = provider_events.find_by_reference(db, reference)
    if op is None:
        flash(request, gettext("We could not find what you were looking for."), "warning")
        return pages.redirect("/dev/sandbox")
    # Read what the event needs, then end this request's transaction: the webhook handler
    # runs its own (on SQLite a second writer would wait for this one).
    op_type, amount, currency, payout = op.type, op.amount, op.currency, op.external_ref
    db.rollback()
    event: dict[str, Any]
    if op_type == "topup":
        event = {
            "type": "bank_transfer.received",
            "data": {
                "reference": reference,
                "amount": amount,
                "currency": currency,
                "transfer": f"tr_{new_token(6)}",
            },
        }
    elif outcome in ("processing", "paid", "failed"):
        state = {"processing": "in_flight", "paid": "paid", "failed": "failed"}[outcome]
        advance = getattr(get_provider(), "advance_payout", None)
        if advance is not None and payout:
            advance(payout, state)
        data = {"payout": payout, "amount": amount, "currency": currency}
        if outcome == "failed":
            data["reason"] = "payout_failed"
        event = {"type": f"payout.{outcome}", "data": data}
    else:
        flash(request, gettext("We could not find what you were looking for."), "warning")
        return pages.redirect("/dev/sandbox")
    event["id"] = f"evt_{new_token(9)}"
    body = json.dumps(event).encode()
    provider = get_provider()
    verified = provider.verify_webhook(body, provider.sign(body, int(time.time())))
    result = flows.handle_provider_event(schemas.parse_provider_event(verified))
    flash(request, f"{event['type']}: {result.outcome}", "success")
    return pages.redirect("/dev/sandbox")
