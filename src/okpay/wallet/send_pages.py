"""Wallet pages for sending money: the send form, the review step (recipient masked until
paid before, fee and limits shown) and the transfer itself."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import Response

from okpay.core.dbid import parse_id
from okpay.core.errors import DomainError
from okpay.core.i18n import gettext
from okpay.core.money import check_currency, parse_amount
from okpay.identity.access import CurrentUser
from okpay.wallet import flows, fx_transfers, pages, transfers
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.templating import render

router = APIRouter(prefix="/wallet", include_in_schema=False, dependencies=[Depends(csrf_protect)])


@router.get("/send")
def send_form(
    request: Request,
    user: CurrentUser,
    recipient: Annotated[str, Query(max_length=320)] = "",
    amount: Annotated[str, Query(max_length=32)] = "",
    currency: Annotated[str, Query(max_length=3)] = "CNY",
    note: Annotated[str, Query(max_length=140)] = "",
    target_currency: Annotated[str, Query(max_length=3)] = "",
) -> Response:
    """The send form; "Change" on the review comes back here with what was typed."""
    form = {
        "recipient": recipient,
        "amount": amount,
        "currency": currency,
        "note": note,
        "target_currency": target_currency or currency,
    }
    return render(request, "wallet/send.html", **pages.page_context(form=form, step="edit"))


@router.post("/send/review")
def send_review(
    request: Request,
    user: CurrentUser,
    db: DbSession,
    recipient: pages.FormStr,
    amount: pages.FormStr,
    currency: pages.FormStr,
    note: Annotated[str, Form()] = "",
    target_currency: Annotated[str, Form()] = "",
) -> Response:
    """Show the fee, the total and (for another currency) the quoted rate before anything moves."""
    form = {
        "recipient": recipient,
        "amount": amount,
        "currency": currency,
        "note": note,
        "target_currency": target_currency or currency,
    }
    try:
        cur = check_currency(currency)
        target_cur = check_currency(target_currency or currency)
        minor = parse_amount(amount, cur)
        # Standing, limits and balance first: what they answer never depends on whether
        # the recipient exists; then the (budgeted) lookup and the name, masked unless
        # this sender has paid them before (wallet.recipients).
        preview = transfers.preview_transfer(
            db, sender_id=user.id, amount=minor, currency=cur, cross_border=target_cur != cur
        )
        _target, recipient_label, _known = transfers.review_recipient(
            db, sender_id=user.id, recipient=recipient
        )
        fx_quote = None
        fee, discount = preview.fee, preview.discount
        if target_cur != cur:
            fx_quote = fx_transfers.do_quote_fx(
                db, user_id=user.id, source_currency=cur, target_currency=target_cur, amount=minor
            )
            fee, discount = fx_quote.fee, None
    except DomainError as err:
        return pages.form_page_error(request, db, "wallet/send.html", err, form=form, step="edit")
    return render(
        request,
        "wallet/send.html",
        **pages.page_context(
            form=form,
            step="review",
            minor=minor,
            currency=cur,
            fee=fee,
            discount=discount,
            quote=fx_quote,
            recipient_label=recipient_label,
        ),
    )


@router.post("/send")
def send(
    request: Request,
    user: CurrentUser,
    db: DbSession,
    recipient: pages.FormStr,
    amount: pages.FormStr,
    currency: pages.FormStr,
    idempotency_key: pages.FormStr,
    note: Annotated[str, Form()] = "",
    quote_id: Annotated[str, Form()] = "",
    otp: Annotated[str, Form(max_length=16)] = "",
    step_up_channel: Annotated[str, Form(max_length=8)] = "",
    step_up_sent_to: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Confirm a reviewed transfer (the idempotency key came with the review page). A
    confirm that needs a second factor shows the code form, which posts here again with the
    same fields and key plus ``otp`` (see funding_pages.withdraw)."""
    hidden = {
        "recipient": recipient,
        "amount": amount,
        "currency": currency,
        "note": note,
        "quote_id": quote_id,
        "idempotency_key": idempotency_key,
    }
    form = {
        "recipient": recipient,
        "amount": amount,
        "currency": currency,
        "note": note,
        "target_currency": currency,
    }
    try:
        cur = check_currency(currency)
        minor = parse_amount(amount, cur)
        idem = flows.idempotency(
            user.id,
            idempotency_key,
            "transfer",
            {
                "recipient": recipient,
                "amount": amount,
                "currency": cur,
                "note": note,
                "quote_id": quote_id,
            },
        )
        if quote_id.isdigit():
            answer = flows.fx_transfer(
                idem,
                sender_id=user.id,
                recipient=recipient,
                quote_id=parse_id(quote_id, big=True) or 0,
                note=note,
                otp=otp.strip() or None,
            )
        else:
            answer = flows.transfer(
                idem,
                sender_id=user.id,
                recipient=recipient,
                amount=minor,
                currency=cur,
                note=note,
                otp=otp.strip() or None,
            )
    except DomainError as err:
        code_form = pages.step_up_answer(
            request,
            db,
            "wallet/send.html",
            err,
            otp=otp,
            action="/wallet/send",
            hidden=hidden,
            channel=step_up_channel,
            sent_to=step_up_sent_to,
            form=form,
        )
        if code_form is not None:
            return code_form
        return pages.form_page_error(request, db, "wallet/send.html", err, form=form, step="edit")
    if answer.status == 202:  # held for review: nothing was sent yet
        flash(
            request,
            gettext(
                "Your payment is on hold for a security review; nothing has left your balance yet."
            ),
            "warning",
        )
    else:
        flash(request, gettext("Money sent."), "success")
    return pages.redirect(f"/wallet/tx/{answer.body['reference']}")
