"""Wallet pages that move money in and out: top-up by card or bank transfer, withdrawal
to a bank account and cancelling it. Forms carry an idempotency key (see wallet.pages)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import Response

from okpay.core.dbid import parse_id
from okpay.core.errors import DomainError
from okpay.core.i18n import gettext
from okpay.core.money import SUPPORTED_CURRENCIES, check_currency, parse_amount
from okpay.identity.access import CurrentUser
from okpay.wallet import fees, flows, ledger, pages, topups, withdrawals
from okpay.wallet import methods as wallet_methods
from okpay.wallet import usage as wallet_usage
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.templating import render

router = APIRouter(prefix="/wallet", include_in_schema=False, dependencies=[Depends(csrf_protect)])


def _topup_extra(db: DbSession, user_id: int, **ctx: Any) -> dict[str, Any]:
    """What the top-up page shows besides ``ctx``: the cards, and bank top-ups still waiting
    for their money."""
    methods = [
        m for m in wallet_methods.list_payment_methods(db, user_id=user_id) if m.kind == "card"
    ]
    pending = topups.pending_bank_topups(db, user_id=user_id)
    return {"methods": methods, "pending_bank": pending, **ctx}


@router.get("/topup")
def topup_form(
    request: Request,
    user: CurrentUser,
    db: DbSession,
    amount: Annotated[str, Query(max_length=32)] = "",
    currency: Annotated[str, Query(max_length=3)] = "CNY",
    source: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """The top-up form (``?amount=&currency=`` fill it in, e.g. from a checkout short of
    money)."""
    currency = currency.upper() if currency.upper() in SUPPORTED_CURRENCIES else "CNY"
    form = {"amount": amount, "currency": currency, "source": source}
    return render(
        request, "wallet/topup.html", **pages.page_context(**_topup_extra(db, user.id, form=form))
    )


@router.post("/topup")
def topup(
    request: Request,
    user: CurrentUser,
    db: DbSession,
    source: pages.FormStr,
    amount: pages.FormStr,
    currency: pages.FormStr,
    idempotency_key: pages.FormStr,
    otp: Annotated[str, Form(max_length=16)] = "",
    step_up_channel: Annotated[str, Form(max_length=8)] = "",
    step_up_sent_to: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    form = {"source": source, "amount": amount, "currency": currency}
    hidden = {**form, "idempotency_key": idempotency_key}
    try:
        cur = check_currency(currency)
        minor = parse_amount(amount, cur)
        if source == "bank":
            idem = flows.idempotency(
                user.id, idempotency_key, "topup_bank", {"amount": amount, "currency": cur}
            )
            answer = flows.bank_topup(idem, user_id=user.id, amount=minor, currency=cur)
        else:
            method_id = parse_id(source) or 0
            idem = flows.idempotency(
                user.id,
                idempotency_key,
                "topup_card",
                {"payment_method_id": method_id, "amount": amount, "currency": cur},
            )
            answer = flows.card_topup(
                idem,
                user_id=user.id,
                payment_method_id=method_id,
                amount=minor,
                currency=cur,
                otp=otp.strip() or None,
            )
    except DomainError as err:
        code_form = pages.step_up_answer(
            request,
            db,
            "wallet/topup.html",
            err,
            otp=otp,
            action="/wallet/topup",
            hidden=hidden,
            channel=step_up_channel,
            sent_to=step_up_sent_to,
            form=form,
        )
        if code_form is not None:
            return code_form
        return pages.form_page_error(
            request, db, "wallet/topup.html", err, **_topup_extra(db, user.id, form=form)
        )
    return _done(request, answer)


def _withdraw_extra(db: DbSession, user_id: int, **ctx: Any) -> dict[str, Any]:
    """What the withdrawal page shows besides ``ctx``: the bank accounts and balances."""
    banks = [
        m for m in wallet_methods.list_payment_methods(db, user_id=user_id) if m.kind == "bank"
    ]
    snapshot = wallet_usage.usage_snapshot(db, user_id=user_id)
    left, allowance = fees.free_allowance_left(snapshot)
    return {
        "banks": banks,
        "accounts": ledger.balances(db, user_id=user_id),
        "allowance_left": left,
        "allowance": allowance,
        "promotions": fees.promotions(snapshot.today),
        "today": snapshot.today,
        **ctx,
    }


def _done(request: Request, answer: flows.Answer) -> Response:
    """To the operation's page; a hold for review says so at once."""
    if answer.status == 202:
        flash(
            request,
            gettext(
                "Your payment is on hold for a security review; nothing has left your balance yet."
            ),
            "warning",
        )
    return pages.redirect(f"/wallet/tx/{answer.body['reference']}")


@router.get("/withdraw")
def withdraw_form(
    request: Request,
    user: CurrentUser,
    db: DbSession,
    payment_method_id: Annotated[str, Query(max_length=20)] = "",
    amount: Annotated[str, Query(max_length=32)] = "",
    currency: Annotated[str, Query(max_length=3)] = "CNY",
) -> Response:
    """The withdrawal form; "Back to edit" on the review comes here with what was typed."""
    form = {"payment_method_id": payment_method_id, "amount": amount, "currency": currency}
    return render(
        request,
        "wallet/withdraw.html",
        **pages.page_context(**_withdraw_extra(db, user.id, form=form, step="edit")),
    )


@router.post("/withdraw/review")
def withdraw_review(
    request: Request,
    user: CurrentUser,
    db: DbSession,
    payment_method_id: pages.FormStr,
    amount: pages.FormStr,
    currency: pages.FormStr,
) -> Response:
    """Amount, fee, what arrives, the bank account and when, before anything moves. The
    standing, limits and balance are checked as the confirm checks them (read-only, no
    locks), so a refusal comes here, before the confirm button."""
    form = {"payment_method_id": payment_method_id, "amount": amount, "currency": currency}
    try:
        cur = check_currency(currency)
        preview = withdrawals.preview_withdrawal(
            db,
            user_id=user.id,
            payment_method_id=parse_id(payment_method_id) or 0,
            amount=parse_amount(amount, cur),
            currency=cur,
        )
    except DomainError as err:
        return pages.form_page_error(
            request,
            db,
            "wallet/withdraw.html",
            err,
            **_withdraw_extra(db, user.id, form=form, step="edit"),
        )
    return render(
        request,
        "wallet/withdraw.html",
        **pages.page_context(
            **_withdraw_extra(db, user.id, form=form, step="review", preview=preview)
        ),
    )


@router.post("/withdraw")
def withdraw(
    request: Request,
    user: CurrentUser,
    db: DbSession,
    payment_method_id: pages.FormStr,
    amount: pages.FormStr,
    currency: pages.FormStr,
    idempotency_key: pages.FormStr,
    otp: Annotated[str, Form(max_length=16)] = "",
    step_up_channel: Annotated[str, Form(max_length=8)] = "",
    step_up_sent_to: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Confirm a reviewed withdrawal. The idempotency key came with the review page, so a
    double click or a reload withdraws once. A confirm that needs a second factor
    (identity.stepup.StepUpRequired) shows the code form, which posts here again with the
    same fields and key plus ``otp``."""
    form = {"payment_method_id": payment_method_id, "amount": amount, "currency": currency}
    hidden = {**form, "idempotency_key": idempotency_key}
    confirming: dict[str, Any] = {}  # what the code form says is being confirmed
    try:
        cur = check_currency(currency)
        minor = parse_amount(amount, cur)
        method_id = parse_id(payment_method_id) or 0
        confirming = {"confirming": (minor, cur, method_id)}
        # The code is not part of what the key stands for: the same key with a code is the
        # same withdrawal, made once.
        idem = flows.idempotency(
            user.id,
            idempotency_key,
            "withdrawal",
            {"payment_method_id": method_id, "amount": amount, "currency": cur},
        )
        answer = flows.withdrawal(
            idem,
            user_id=user.id,
            payment_method_id=method_id,
            amount=minor,
            currency=cur,
            otp=otp.strip() or None,
        )
    except DomainError as err:
        code_form = pages.step_up_answer(
            request,
            db,
            "wallet/withdraw.html",
            err,
            otp=otp,
            action="/wallet/withdraw",
            hidden=hidden,
            channel=step_up_channel,
            sent_to=step_up_sent_to,
            **_withdraw_extra(db, user.id, form=form, **confirming),
        )
        if code_form is not None:
            return code_form
        return pages.form_page_error(
            request,
            db,
            "wallet/withdraw.html",
            err,
            **_withdraw_extra(db, user.id, form=form, step="edit"),
        )
    return _done(request, answer)


@router.post("/tx/{reference}/cancel")
def cancel(request: Request, user: CurrentUser, reference: str) -> Response:
    try:
        flows.cancel_withdrawal(user_id=user.id, reference=reference)
    except DomainError as err:
        flash(request, err.translated(), "warning")
        return pages.redirect(f"/wallet/tx/{reference}")
    flash(
        request,
        gettext("The withdrawal was cancelled and the money is back in your balance."),
        "success",
    )
    return pages.redirect(f"/wallet/tx/{reference}")
