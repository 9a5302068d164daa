"""Wallet pages that move money in and out: top-up by card or bank transfer, withdrawal
to a bank account and cancelling it. Forms carry an idempotency key (see wallet.pages)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from okpay.core.dbid import parse_id
from okpay.core.errors import DomainError
from okpay.core.i18n import gettext
from okpay.core.money import check_currency, parse_amount
from okpay.identity.access import CurrentUser
from okpay.wallet import flows, ledger, pages
from okpay.wallet import methods as wallet_methods
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.templating import render

router = APIRouter(prefix="/wallet", include_in_schema=False, dependencies=[Depends(csrf_protect)])


@router.get("/topup")
def topup_form(request: Request, user: CurrentUser, db: DbSession) -> Response:
    methods = [
        m for m in wallet_methods.list_payment_methods(db, user_id=user.id) if m.kind == "card"
    ]
    return render(
        request,
        "wallet/topup.html",
        **pages.page_context(methods=methods, form={"currency": "CNY"}),
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
) -> Response:
    form = {"source": source, "amount": amount, "currency": currency}
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
                idem, user_id=user.id, payment_method_id=method_id, amount=minor, currency=cur
            )
    except DomainError as err:
        methods = [
            m for m in wallet_methods.list_payment_methods(db, user_id=user.id) if m.kind == "card"
        ]
        return pages.form_page_error(
            request, db, "wallet/topup.html", err, methods=methods, form=form
        )
    return pages.redirect(f"/wallet/tx/{answer.body['reference']}")


@router.get("/withdraw")
def withdraw_form(request: Request, user: CurrentUser, db: DbSession) -> Response:
    banks = [
        m for m in wallet_methods.list_payment_methods(db, user_id=user.id) if m.kind == "bank"
    ]
    return render(
        request,
        "wallet/withdraw.html",
        **pages.page_context(
            banks=banks, form={"currency": "CNY"}, accounts=ledger.balances(db, user_id=user.id)
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
) -> Response:
    form = {"payment_method_id": payment_method_id, "amount": amount, "currency": currency}
    try:
        cur = check_currency(currency)
        minor = parse_amount(amount, cur)
        method_id = parse_id(payment_method_id) or 0
        idem = flows.idempotency(
            user.id,
            idempotency_key,
            "withdrawal",
            {"payment_method_id": method_id, "amount": amount, "currency": cur},
        )
        answer = flows.withdrawal(
            idem, user_id=user.id, payment_method_id=method_id, amount=minor, currency=cur
        )
    except DomainError as err:
        banks = [
            m for m in wallet_methods.list_payment_methods(db, user_id=user.id) if m.kind == "bank"
        ]
        return pages.form_page_error(
            request,
            db,
            "wallet/withdraw.html",
            err,
            banks=banks,
            form=form,
            accounts=ledger.balances(db, user_id=user.id),
        )
    return pages.redirect(f"/wallet/tx/{answer.body['reference']}")


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
