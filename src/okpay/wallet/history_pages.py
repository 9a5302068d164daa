"""Wallet pages for what happened: the history (filtered, paged), its CSV export, a
printable statement and one transaction's detail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from babel.numbers import format_decimal
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from okpay.core.errors import DomainError
from okpay.core.i18n import get_locale
from okpay.identity.access import CurrentUser
from okpay.wallet import history as wallet_history
from okpay.wallet import history_api as wallet_api
from okpay.wallet import pages, statements, topups
from okpay.wallet import usage as wallet_usage
from okpay.wallet.models import FxQuote, Operation
from okpay.web.deps import ReadSession, csrf_protect
from okpay.web.templating import render

router = APIRouter(prefix="/wallet", include_in_schema=False, dependencies=[Depends(csrf_protect)])


@router.get("/history")
def history(
    request: Request,
    user: CurrentUser,
    db: ReadSession,
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
        return pages.form_page_error(
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
        request,
        "wallet/history.html",
        **pages.page_context(rows=page, params=params, next_url=next_url),
    )


@router.get("/history.csv")
def history_csv(user: CurrentUser, db: ReadSession, query: wallet_api.HistoryParams) -> Response:
    """The filtered history as a CSV file."""
    return wallet_api.csv_response(
        statements.export_csv(db, user_id=user.id, filters=query.filters())
    )


@router.get("/statement")
def statement(
    request: Request,
    user: CurrentUser,
    db: ReadSession,
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
        **pages.page_context(lines=lines, rows=rows, start=start, end=end, generated=clock.now()),
    )


@router.get("/tx/{reference}")
def detail(request: Request, user: CurrentUser, db: ReadSession, reference: str) -> Response:
    op = wallet_history.get_operation_for_user(db, user_id=user.id, reference=reference)
    activity = wallet_history.activity_for(db, user_id=user.id, operation_id=op.id)
    from okpay.wallet import risk_reasons
    from okpay.wallet.messages import failure_message
    from okpay.wallet.schemas import operation_out

    # A held operation (or one a review rejected): why, in plain words, and where to follow it.
    review = (
        risk_reasons.review_of(db, user_id=user.id, reference=op.reference)
        if op.status == "on_hold" or op.failure_code == "rejected_in_review"
        else None
    )
    # A pending bank top-up: where to send the money (OKPay's account in that currency).
    receiving = (
        topups.receiving_account(op.currency)
        if op.type == "topup" and op.method == "bank" and op.status == "pending"
        else None
    )
    return render(
        request,
        "wallet/detail.html",
        **pages.page_context(
            op=op,
            activity=activity,
            view=operation_out(op, viewer_id=user.id, activity=activity),
            failure=failure_message(op.failure_code),
            review=review,
            review_reason=risk_reasons.reason_text(review.reason if review else None),
            review_next=risk_reasons.next_step_text("hold"),
            receiving=receiving,
            fx=fx_receipt(db, op),
        ),
    )


@dataclass(frozen=True)
class FxReceipt:
    """A cross-currency transfer's rate and both sides, for its receipt."""

    source_currency: str
    source_amount: int
    target_currency: str
    target_amount: int
    rate: str  # target units per source unit, as quoted (spread included)


def fx_receipt(db: ReadSession, op: Operation) -> FxReceipt | None:
    """The receipt lines of a transfer into another currency; None for any other operation."""
    if op.target_currency is None or op.target_amount is None:
        return None
    quote_id = (op.data or {}).get("quote_id")
    quote = db.get(FxQuote, quote_id) if isinstance(quote_id, int) else None
    if quote is not None:
        rate = Decimal(quote.rate)
    else:  # what arrived for what was sent, in major units
        from okpay.core.money import currency_exponent

        rate = Decimal(op.target_amount).scaleb(-currency_exponent(op.target_currency)) / Decimal(
            op.amount
        ).scaleb(-currency_exponent(op.currency))
    shown = format_decimal(
        rate.quantize(Decimal("0.0001")), format="#,##0.0000", locale=get_locale()
    )
    return FxReceipt(op.currency, op.amount, op.target_currency, op.target_amount, str(shown))
