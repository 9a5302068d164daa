"""Wallet pages: home, top-up, send, withdraw, history, transaction detail, payment methods,
fees and limits. Money forms carry an idempotency key generated when the form is shown, so
a double click or a reload never moves money twice."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from starlette.responses import RedirectResponse, Response

from okpay.core.dbid import DbId, parse_id
from okpay.core.errors import DomainError
from okpay.core.i18n import gettext
from okpay.core.money import SUPPORTED_CURRENCIES, check_currency, parse_amount, to_decimal_string
from okpay.core.security import new_token
from okpay.identity.access import CurrentUser
from okpay.wallet import api as wallet_api
from okpay.wallet import (
    fees,
    flows,
    fx_transfers,
    intents,
    ledger,
    merchants,
    provider_events,
    reconciliation,
    schemas,
    statements,
    transfers,
)
from okpay.wallet import history as wallet_history
from okpay.wallet import methods as wallet_methods
from okpay.wallet import usage as wallet_usage
from okpay.wallet.models import Merchant, operation_status_label, type_label
from okpay.wallet.providers import get_provider
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.forms import form_error
from okpay.web.redirects import safe_next
from okpay.web.templating import render

router = APIRouter(prefix="/wallet", include_in_schema=False, dependencies=[Depends(csrf_protect)])

FormStr = Annotated[str, Form()]
OptStr = Annotated[str, Form()]


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def percent(bps: int) -> str:
    """Basis points as a percentage in the reader's locale ("0.1%")."""
    from decimal import Decimal

    from babel.numbers import format_percent

    from okpay.core.i18n import get_locale

    return str(format_percent(Decimal(bps) / 10_000, format="#,##0.##%", locale=get_locale()))


def _ctx(**extra: Any) -> dict[str, Any]:
    return {
        "currencies": SUPPORTED_CURRENCIES,
        "type_label": type_label,
        "status_label": operation_status_label,
        "decimal": to_decimal_string,
        "percent": percent,
        "new_key": new_token(16),
        "fee_rule": fees.rule_for("withdrawal", "bank", "domestic"),
        **extra,
    }


def _form_error(
    request: Request, db: DbSession, template: str, err: DomainError, **ctx: Any
) -> Response:
    return form_error(request, db, template, err, **_ctx(**ctx))


CHART_PERIODS = (30, 90, 365)


@router.get("")
def home(
    request: Request,
    user: CurrentUser,
    db: DbSession,
    chart_currency: str | None = None,
    days: int = CHART_PERIODS[0],
) -> Response:
    """Balances, the balance-over-time chart for one currency, and recent activity."""
    from okpay.core import clock
    from okpay.wallet.chart import balance_chart

    accounts = ledger.balances(db, user_id=user.id)
    recent = wallet_history.history(
        db, user_id=user.id, filters=wallet_history.HistoryFilter(), limit=8
    )
    currencies = [a.currency for a in accounts] or ["CNY"]
    currency = chart_currency if chart_currency in currencies else currencies[0]
    days = days if days in CHART_PERIODS else CHART_PERIODS[0]
    today = clock.now().astimezone(wallet_usage.BEIJING).date()
    points = statements.balance_history(
        db, user_id=user.id, currency=currency, start=today - timedelta(days=days - 1), end=today
    )
    return render(
        request,
        "wallet/home.html",
        **_ctx(
            accounts=accounts,
            recent=recent,
            chart=balance_chart(currency, points),
            chart_currency=currency,
            chart_currencies=currencies,
            chart_days=days,
            chart_periods=CHART_PERIODS,
        ),
    )


# ---------------------------------------------------------------------------------- top-up


@router.get("/topup")
def topup_form(request: Request, user: CurrentUser, db: DbSession) -> Response:
    methods = [
        m for m in wallet_methods.list_payment_methods(db, user_id=user.id) if m.kind == "card"
    ]
    return render(request, "wallet/topup.html", **_ctx(methods=methods, form={"currency": "CNY"}))


@router.post("/topup")
def topup(
    request: Request,
    user: CurrentUser,
    db: DbSession,
    source: FormStr,
    amount: FormStr,
    currency: FormStr,
    idempotency_key: FormStr,
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
        return _form_error(request, db, "wallet/topup.html", err, methods=methods, form=form)
    return _redirect(f"/wallet/tx/{answer.body['reference']}")


# ------------------------------------------------------------------------------------ send


@router.get("/send")
def send_form(request: Request, user: CurrentUser) -> Response:
    return render(request, "wallet/send.html", **_ctx(form={"currency": "CNY"}, step="edit"))


@router.post("/send/review")
def send_review(
    request: Request,
    user: CurrentUser,
    db: DbSession,
    recipient: FormStr,
    amount: FormStr,
    currency: FormStr,
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
        return _form_error(request, db, "wallet/send.html", err, form=form, step="edit")
    return render(
        request,
        "wallet/send.html",
        **_ctx(
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
    recipient: FormStr,
    amount: FormStr,
    currency: FormStr,
    idempotency_key: FormStr,
    note: Annotated[str, Form()] = "",
    quote_id: Annotated[str, Form()] = "",
) -> Response:
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
            )
        else:
            answer = flows.transfer(
                idem, sender_id=user.id, recipient=recipient, amount=minor, currency=cur, note=note
            )
    except DomainError as err:
        return _form_error(request, db, "wallet/send.html", err, form=form, step="edit")
    flash(request, gettext("Money sent."), "success")
    return _redirect(f"/wallet/tx/{answer.body['reference']}")


# -------------------------------------------------------------------------------- withdraw


@router.get("/withdraw")
def withdraw_form(request: Request, user: CurrentUser, db: DbSession) -> Response:
    banks = [
        m for m in wallet_methods.list_payment_methods(db, user_id=user.id) if m.kind == "bank"
    ]
    return render(
        request,
        "wallet/withdraw.html",
        **_ctx(
            banks=banks, form={"currency": "CNY"}, accounts=ledger.balances(db, user_id=user.id)
        ),
    )


@router.post("/withdraw")
def withdraw(
    request: Request,
    user: CurrentUser,
    db: DbSession,
    payment_method_id: FormStr,
    amount: FormStr,
    currency: FormStr,
    idempotency_key: FormStr,
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
        return _form_error(
            request,
            db,
            "wallet/withdraw.html",
            err,
            banks=banks,
            form=form,
            accounts=ledger.balances(db, user_id=user.id),
        )
    return _redirect(f"/wallet/tx/{answer.body['reference']}")


@router.post("/tx/{reference}/cancel")
def cancel(request: Request, user: CurrentUser, reference: str) -> Response:
    try:
        flows.cancel_withdrawal(user_id=user.id, reference=reference)
    except DomainError as err:
        flash(request, err.translated(), "warning")
        return _redirect(f"/wallet/tx/{reference}")
    flash(
        request,
        gettext("The withdrawal was cancelled and the money is back in your balance."),
        "success",
    )
    return _redirect(f"/wallet/tx/{reference}")


# ------------------------------------------------------------------------------- history


@router.get("/history")
def history(
    request: Request,
    user: CurrentUser,
    db: DbSession,
    query: wallet_api.HistoryParams,
    cursor: str | None = None,
) -> Response:
    params = query.params()
    try:
        rows = wallet_history.history(
            db,
            user_id=user.id,
            filters=query.filters(),
            limit=51,
            before=wallet_api.decode_cursor(cursor),
        )
    except DomainError as err:
        return _form_error(
            request, db, "wallet/history.html", err, rows=[], params=params, next_url=None
        )
    page, more = rows[:50], len(rows) > 50
    next_url = None
    if more and page:
        from urllib.parse import urlencode

        kept = {k: v for k, v in params.items() if v not in (None, "")}
        kept["cursor"] = wallet_api.encode_cursor(page[-1].created_at, page[-1].id)
        next_url = "/wallet/history?" + urlencode(kept)
    return render(
        request, "wallet/history.html", **_ctx(rows=page, params=params, next_url=next_url)
    )


@router.get("/history.csv")
def history_csv(user: CurrentUser, db: DbSession, query: wallet_api.HistoryParams) -> Response:
    """The filtered history as a CSV file."""
    return wallet_api.csv_response(
        statements.export_csv(db, user_id=user.id, filters=query.filters())
    )


@router.get("/statement")
def statement(
    request: Request,
    user: CurrentUser,
    db: DbSession,
    start: date | None = None,
    end: date | None = None,
) -> Response:
    """A printable statement for a date range (this month by default)."""
    from okpay.core import clock

    today = clock.now().astimezone(wallet_usage.BEIJING).date()
    start = start or today.replace(day=1)
    end = end or today
    if end < start:
        start, end = end, start
    lines = statements.statement(db, user_id=user.id, start=start, end=end)
    rows = wallet_history.history(
        db, user_id=user.id, filters=wallet_history.HistoryFilter(start=start, end=end), limit=500
    )
    return render(
        request,
        "wallet/statement.html",
        **_ctx(lines=lines, rows=rows, start=start, end=end, generated=clock.now()),
    )


@router.get("/tx/{reference}")
def detail(request: Request, user: CurrentUser, db: DbSession, reference: str) -> Response:
    op = wallet_history.get_operation_for_user(db, user_id=user.id, reference=reference)
    activity = wallet_history.activity_for(db, user_id=user.id, operation_id=op.id)
    from okpay.wallet.messages import failure_message
    from okpay.wallet.schemas import operation_out

    return render(
        request,
        "wallet/detail.html",
        **_ctx(
            op=op,
            activity=activity,
            view=operation_out(op, viewer_id=user.id, activity=activity),
            failure=failure_message(op.failure_code),
        ),
    )


# ------------------------------------------------------------------------- payment methods


@router.get("/methods")
def methods(request: Request, user: CurrentUser, db: DbSession) -> Response:
    return render(
        request,
        "wallet/methods.html",
        **_ctx(methods=wallet_methods.list_payment_methods(db, user_id=user.id), form={}),
    )


@router.post("/methods/card")
def add_card(
    request: Request,
    user: CurrentUser,
    db: DbSession,
    card_number: FormStr,
    expiry: FormStr,
    cvc: FormStr,
    holder_name: Annotated[str, Form()] = "",
) -> Response:
    try:
        month, _, year = expiry.replace(" ", "").partition("/")
        # isascii too: "²" counts as a digit to isdigit() but int() refuses it.
        if not (month.isascii() and year.isascii() and month.isdigit() and year.isdigit()):
            from okpay.core.errors import ValidationFailed
            from okpay.core.i18n import N_

            raise ValidationFailed(
                N_("Please enter the expiry date as MM/YY."),
                code="card_expiry_invalid",
                field="expiry",
            )
        full_year = int(year) + 2000 if len(year) == 2 else int(year)
        token = get_provider().tokenize_card(card_number, int(month), full_year, cvc.strip())
        wallet_methods.do_add_card(db, user_id=user.id, token=token, holder_name=holder_name)
    except DomainError as err:
        # The number typed is never sent back to the page.
        return _form_error(
            request,
            db,
            "wallet/methods.html",
            err,
            methods=wallet_methods.list_payment_methods(db, user_id=user.id),
            form={"holder_name": holder_name},
        )
    flash(request, gettext("Card added."), "success")
    return _redirect(safe_next(request.query_params.get("next"), "/wallet/methods"))


@router.post("/methods/bank")
def add_bank(
    request: Request,
    user: CurrentUser,
    db: DbSession,
    account_number: FormStr,
    bank_name: FormStr,
    holder_name: FormStr,
) -> Response:
    try:
        token = get_provider().register_bank_account(account_number)
        wallet_methods.do_add_bank_account(
            db,
            user_id=user.id,
            provider_token=token,
            account_number=account_number,
            bank_name=bank_name,
            holder_name=holder_name,
        )
    except DomainError as err:
        return _form_error(
            request,
            db,
            "wallet/methods.html",
            err,
            methods=wallet_methods.list_payment_methods(db, user_id=user.id),
            form={"bank_name": bank_name, "holder_name": holder_name},
        )
    flash(request, gettext("Bank account added."), "success")
    return _redirect("/wallet/methods")


@router.post("/methods/{method_id}/remove")
def remove_method(request: Request, user: CurrentUser, db: DbSession, method_id: DbId) -> Response:
    wallet_methods.do_remove_payment_method(db, user_id=user.id, method_id=method_id)
    flash(request, gettext("Removed."), "success")
    return _redirect("/wallet/methods")


# --------------------------------------------------------------------------- fees, limits


@router.get("/limits")
def limits_page(request: Request, user: CurrentUser, db: DbSession) -> Response:
    snapshot = wallet_usage.usage_snapshot(db, user_id=user.id)
    usage = [
        wallet_usage.limit_usage(
            db, user_id=user.id, op_type=t, level=user.verification_level, snapshot=snapshot
        )
        for t in ("topup", "withdrawal", "transfer", "payment")
    ]
    return render(request, "wallet/limits.html", **_ctx(usage=usage))


public = APIRouter(include_in_schema=False)
checkout = APIRouter(prefix="/pay", include_in_schema=False, dependencies=[Depends(csrf_protect)])


def _checkout(
    request: Request, db: DbSession, user_id: int, token: str, err: DomainError | None = None
) -> Response:
    """The checkout page of one payment intent, in whatever state it is."""
    intent = intents.find_intent(db, token)
    if intent is None:
        return _form_error(
            request, db, "wallet/checkout.html", intents.IntentNotFound(), intent=None
        )
    merchant = db.get(Merchant, intent.merchant_id)
    payment = intents.payment_of(db, intent)
    accounts = {a.currency: a for a in ledger.balances(db, user_id=user_id)}
    ctx = _ctx(
        intent=intent,
        merchant=merchant,
        status=intents.status_of(intent),
        payment=payment if payment is not None and payment.user_id == user_id else None,
        account=accounts.get(intent.currency),
    )
    if err is not None:
        return form_error(request, db, "wallet/checkout.html", err, **ctx)
    return render(request, "wallet/checkout.html", **ctx)


@checkout.get("/i/{token}")
def checkout_page(request: Request, user: CurrentUser, db: DbSession, token: str) -> Response:
    """A merchant's checkout: who is paid, for which order, how much (set by the merchant),
    then one confirmation; once paid, the way back to the shop."""
    return _checkout(request, db, user.id, token)


@checkout.post("/i/{token}")
def checkout_pay(
    request: Request, user: CurrentUser, db: DbSession, token: str, idempotency_key: FormStr
) -> Response:
    """Pay the intent: the form carries no amount, only the page's idempotency key."""
    try:
        idem = flows.idempotency(user.id, idempotency_key, "payment", {"intent": token})
        flows.payment(idem, payer_id=user.id, intent=token)
    except DomainError as err:
        db.rollback()
        return _checkout(request, db, user.id, token, err)
    flash(request, gettext("Paid."), "success")
    return _redirect(f"/pay/i/{token}")


@checkout.get("/{merchant_code}")
def old_checkout_link(request: Request, db: DbSession, merchant_code: str) -> Response:
    """Links that carried the amount themselves are no longer accepted."""
    return _form_error(request, db, "wallet/checkout.html", intents.IntentNotFound(), intent=None)


@public.get("/fees")
def fees_page(request: Request) -> Response:
    """The public fee schedule, in the reader's language."""
    return render(
        request, "wallet/fees.html", **_ctx(schedule=fees.SCHEDULE, discounts=fees.DISCOUNTS)
    )


dev = APIRouter(
    prefix="/dev/sandbox", include_in_schema=False, dependencies=[Depends(csrf_protect)]
)


@dev.get("")
def sandbox(request: Request, db: DbSession) -> Response:
    """Development only: play the payment provider for bank transfers and payouts."""
    return render(
        request,
        "wallet/dev_sandbox.html",
        **_ctx(pending=provider_events.pending_provider_operations(db), shop=_demo_shop(db)),
    )


def _demo_shop(db: DbSession) -> Merchant | None:
    from sqlalchemy import select

    return merchants.find_merchant(db, "demo-coffee") or db.scalar(
        select(Merchant).order_by(Merchant.id).limit(1)
    )


@dev.post("/checkout")
def sandbox_checkout(request: Request, db: DbSession, amount: FormStr) -> Response:
    """Development only: play the demo merchant's server and create a payment intent."""
    from okpay.core.ids import random_code
    from okpay.settings import get_settings

    shop = _demo_shop(db)
    if shop is None:
        return _redirect("/dev/sandbox")
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
        return _redirect("/dev/sandbox")
    return _redirect(f"/pay/i/{intent.token}")


@dev.post("/{reference}/{outcome}")
def sandbox_event(request: Request, reference: str, outcome: str, db: DbSession) -> Response:
    """Send the app the signed webhook the provider would send (through the same checks)."""
    import json
    import time

    op = provider_events.find_by_reference(db, reference)
    if op is None:
        flash(request, gettext("We could not find what you were looking for."), "warning")
        return _redirect("/dev/sandbox")
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
        return _redirect("/dev/sandbox")
    event["id"] = f"evt_{new_token(9)}"
    body = json.dumps(event).encode()
    provider = get_provider()
    verified = provider.verify_webhook(body, provider.sign(body, int(time.time())))
    result = flows.handle_provider_event(schemas.parse_provider_event(verified))
    flash(request, f"{event['type']}: {result.outcome}", "success")
    return _redirect("/dev/sandbox")


# ------------------------------------------------------------- reconciliation (staff pages)

staff = APIRouter(
    prefix="/agent/reconciliation",
    include_in_schema=False,
    dependencies=[Depends(wallet_api.require_staff), Depends(csrf_protect)],
)


def _reconciliation_ctx(**extra: Any) -> dict[str, Any]:
    return _ctx(
        kind_label=reconciliation.kind_label,
        exception_status_label=reconciliation.status_label,
        section="reconciliation",
        **extra,
    )


@staff.get("")
def reconciliation_list(
    request: Request,
    db: DbSession,
    status: Annotated[str, Query(max_length=10)] = "open",
    before: Annotated[int | None, Query(ge=1, le=2**53)] = None,
) -> Response:
    """Provider events that did not match the ledger, for supervisors and admins."""
    error = None
    try:
        rows, next_before = reconciliation.list_exceptions(db, status=status, before=before)
    except DomainError as err:
        error, status = err.translated(), "open"
        rows, next_before = reconciliation.list_exceptions(db, status=status)
    return render(
        request,
        "wallet/reconciliation.html",
        **_reconciliation_ctx(
            rows=rows,
            refs=reconciliation.operation_references(db, rows),
            status=status,
            statuses=reconciliation.STATUSES,
            next_before=next_before,
            open_count=reconciliation.open_count(db),
            error=error,
        ),
    )


@staff.get("/{exception_id}")
def reconciliation_detail(
    request: Request, db: DbSession, exception_id: Annotated[int, Path(ge=1, le=2**53)]
) -> Response:
    row = reconciliation.get_exception(db, exception_id)
    return render(
        request,
        "wallet/reconciliation_detail.html",
        **_reconciliation_ctx(
            row=row, refs=reconciliation.operation_references(db, [row]), form={}, error=None
        ),
    )


@staff.post("/{exception_id}/resolve")
def reconciliation_resolve(
    request: Request,
    db: DbSession,
    exception_id: Annotated[int, Path(ge=1, le=2**53)],
    note: Annotated[str, Form()] = "",
) -> Response:
    user = request.state.user
    try:
        reconciliation.do_resolve(db, exception_id=exception_id, note=note, actor_user_id=user.id)
    except DomainError as err:
        db.rollback()
        row = reconciliation.get_exception(db, exception_id)
        return render(
            request,
            "wallet/reconciliation_detail.html",
            status_code=err.status,
            **_reconciliation_ctx(
                row=row,
                refs=reconciliation.operation_references(db, [row]),
                form={"note": note},
                error=err.translated(),
            ),
        )
    flash(request, gettext("The exception is resolved."), "success")
    return _redirect(f"/agent/reconciliation/{exception_id}")
