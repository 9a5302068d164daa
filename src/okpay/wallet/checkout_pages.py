"""Merchant checkout pages (/pay): a payment intent's page and paying it."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from okpay.core.errors import DomainError
from okpay.core.i18n import gettext
from okpay.core.money import to_decimal_string
from okpay.identity.access import CurrentUser, OptionalUser
from okpay.wallet import flows, intents, ledger, merchants, pages
from okpay.wallet.models import Merchant
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.forms import form_error
from okpay.web.templating import render

checkout = APIRouter(prefix="/pay", include_in_schema=False, dependencies=[Depends(csrf_protect)])


def _checkout(
    request: Request,
    db: DbSession,
    user_id: int | None,
    token: str,
    err: DomainError | None = None,
    **form: str,
) -> Response:
    """The checkout page of one payment intent, in whatever state it is. Signed out it
    shows what is asked (merchant, order, amount) with sign-in in place of the pay button;
    an order already paid (through this link or another one) says so and leads back to the
    shop; without enough balance in the currency the pay button is disabled and a top-up is
    offered."""
    intent = intents.find_intent(db, token)
    if intent is None:
        return pages.form_page_error(
            request, db, "wallet/checkout.html", intents.IntentNotFound(), intent=None
        )
    merchant = db.get(Merchant, intent.merchant_id)
    payment = intents.payment_of(db, intent)
    status = intents.status_of(intent)
    if status == "open" and merchants.order_is_paid(
        db, merchant_id=intent.merchant_id, order_id=intent.order_id
    ):
        status = "order_paid"  # paid through another link of the same order
    account = None
    if user_id is not None:
        account = {a.currency: a for a in ledger.balances(db, user_id=user_id)}.get(intent.currency)
    available = account.balance - account.held if account is not None else 0
    ctx = pages.page_context(
        intent=intent,
        merchant=merchant,
        status=status,
        payment=payment if payment is not None and payment.user_id == user_id else None,
        account=account,
        available=available,
        short=max(0, intent.amount - available),
        signed_in=user_id is not None,
        sign_in_url=f"/login?{urlencode({'next': f'/pay/i/{intent.token}'})}",
        topup_url="/wallet/topup?"
        + urlencode(
            {
                "amount": to_decimal_string(max(0, intent.amount - available), intent.currency),
                "currency": intent.currency,
            }
        ),
    )
    if err is not None:
        code_form = pages.step_up_answer(
            request,
            db,
            "wallet/checkout.html",
            err,
            otp=form.get("otp", ""),
            action=f"/pay/i/{token}",
            hidden={"idempotency_key": form.get("idempotency_key", "")},
            channel=form.get("channel", ""),
            sent_to=form.get("sent_to", ""),
            **ctx,
        )
        if code_form is not None:
            return code_form
    if err is not None:
        return form_error(request, db, "wallet/checkout.html", err, **ctx)
    return render(request, "wallet/checkout.html", **ctx)


@checkout.get("/i/{token}")
def checkout_page(request: Request, user: OptionalUser, db: DbSession, token: str) -> Response:
    """A merchant's checkout: who is paid, for which order, how much (set by the merchant),
    then one confirmation; once paid, the way back to the shop. Anyone with the link sees
    what it asks; paying needs signing in."""
    return _checkout(request, db, user.id if user is not None else None, token)


@checkout.post("/i/{token}")
def checkout_pay(
    request: Request,
    user: CurrentUser,
    db: DbSession,
    token: str,
    idempotency_key: pages.FormStr,
    otp: pages.OptStr = "",
    step_up_channel: pages.OptStr = "",
    step_up_sent_to: pages.OptStr = "",
) -> Response:
    """Pay the intent: the form carries no amount, only the page's idempotency key (and the
    second-factor code when one was asked for)."""
    try:
        idem = flows.idempotency(user.id, idempotency_key, "payment", {"intent": token})
        flows.payment(idem, payer_id=user.id, intent=token, otp=otp.strip() or None)
    except DomainError as err:
        db.rollback()
        return _checkout(
            request,
            db,
            user.id,
            token,
            err,
            channel=step_up_channel,
            sent_to=step_up_sent_to,
            idempotency_key=idempotency_key,
            otp=otp,
        )
    flash(request, gettext("Paid."), "success")
    return pages.redirect(f"/pay/i/{token}")


@checkout.get("/{merchant_code}")
def old_checkout_link(request: Request, db: DbSession, merchant_code: str) -> Response:
    """Links that carried the amount themselves are no longer accepted."""
    return pages.form_page_error(
        request, db, "wallet/checkout.html", intents.IntentNotFound(), intent=None
    )
