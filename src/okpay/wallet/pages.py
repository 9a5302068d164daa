"""Wallet pages: home, payment methods, fees and limits, and what the other wallet page
modules share (page context, redirects, form errors): send_pages, funding_pages (top-up,
withdraw), history_pages (history, export, statement, detail), checkout_pages,
sandbox_pages and reconciliation_pages. Money forms carry an idempotency key generated when
the form is shown, so a double click or a reload never moves money twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from okpay.core.dbid import DbId
from okpay.core.errors import DomainError
from okpay.core.i18n import N_, gettext
from okpay.core.money import SUPPORTED_CURRENCIES, to_decimal_string
from okpay.core.security import new_token
from okpay.identity import stepup
from okpay.identity.access import CurrentUser
from okpay.wallet import (
    fees,
    fx,
    ledger,
    limits,
    statements,
)
from okpay.wallet import history as wallet_history
from okpay.wallet import methods as wallet_methods
from okpay.wallet import overrides as wallet_overrides
from okpay.wallet import usage as wallet_usage
from okpay.wallet.models import operation_status_label, type_label
from okpay.wallet.providers import get_provider
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.forms import form_error, undo_refused
from okpay.web.redirects import safe_next
from okpay.web.templating import render

router = APIRouter(prefix="/wallet", include_in_schema=False, dependencies=[Depends(csrf_protect)])


FormStr = Annotated[str, Form()]


OptStr = Annotated[str, Form()]


def redirect(url: str) -> RedirectResponse:
    """A 303 redirect (after a form post)."""
    return RedirectResponse(url, status_code=303)


def percent(bps: int) -> str:
    """Basis points as a percentage in the reader's locale ("0.1%")."""
    from decimal import Decimal

    from babel.numbers import format_percent

    from okpay.core.i18n import get_locale

    return str(format_percent(Decimal(bps) / 10_000, format="#,##0.##%", locale=get_locale()))


@dataclass(frozen=True)
class AmountView:
    """How a history line's amount reads: the text, its CSS class and a note."""

    text: str
    css: str  # pos | neg | waiting | void
    note: str = ""


def amount_view(amount: int, currency: str, status: str) -> AmountView:
    """A history amount as this party sees it. Only settled money gets a sign and a colour:
    a failed or cancelled line shows the amount it was for, struck through and said not to
    have moved; a pending one is neutral (not money in yet)."""
    from okpay.core.i18n import format_money

    if status in statements.NOT_COMPLETED:
        return AmountView(
            format_money(abs(amount), currency), "void", gettext("Did not complete: no money moved")
        )
    if status in statements.NOT_YET:
        note = gettext("Not in your balance yet") if amount > 0 else ""
        return AmountView(format_money(amount, currency), "waiting", note)
    if amount > 0:
        return AmountView("+" + format_money(amount, currency), "pos")
    return AmountView(format_money(amount, currency), "neg")


def page_context(**extra: Any) -> dict[str, Any]:
    """What every wallet template gets (labels, formatters, a new idempotency key) and ``extra``."""
    return {
        "currencies": SUPPORTED_CURRENCIES,
        "type_label": type_label,
        "status_label": operation_status_label,
        "decimal": to_decimal_string,
        "percent": percent,
        "amount_view": amount_view,
        "new_key": new_token(16),
        "fee_rule": fees.rule_for("withdrawal", "bank", "domestic"),
        **extra,
    }


def form_page_error(
    request: Request, db: DbSession, template: str, err: DomainError, **ctx: Any
) -> Response:
    """The form page again, showing ``err`` (with the wallet page context)."""
    return form_error(request, db, template, err, **page_context(**ctx))


# Refusals of a step-up code (wrong or used, expired, too many guesses): the code form is
# shown again with the error, not the edit form.
STEP_UP_CODE_ERRORS = frozenset({"invalid_code", "step_up_code_expired", "rate_limited"})


def step_up_answer(
    request: Request,
    db: DbSession,
    template: str,
    err: DomainError,
    *,
    otp: str,
    action: str,
    hidden: dict[str, str],
    channel: str,
    sent_to: str,
    **ctx: Any,
) -> Response | None:
    """The code form when ``err`` is about the second factor (one was asked for, or the code
    sent was wrong, expired or one guess too many); None otherwise (the caller shows ``err``
    its usual way). ``channel`` and ``sent_to`` came back from the code form."""
    shown: DomainError | None = err
    if isinstance(err, stepup.StepUpRequired):
        channel, sent_to = err.channel, err.sent_to or ""
        shown = err if otp else None
    elif otp and err.code in STEP_UP_CODE_ERRORS:
        pass
    else:
        return None
    return step_up_page(
        request,
        db,
        template,
        action=action,
        hidden=hidden,
        channel=channel,
        sent_to=sent_to,
        err=shown,
        **ctx,
    )


def step_up_page(
    request: Request,
    db: DbSession,
    template: str,
    *,
    action: str,
    hidden: dict[str, str],
    channel: str,
    sent_to: str | None,
    err: DomainError | None = None,
    **ctx: Any,
) -> Response:
    """A confirm that needs a second factor (identity.stepup): the page again as a code
    form that posts to ``action`` with the same ``hidden`` fields (the idempotency key of
    the review among them) plus ``otp``; ``err``: why the last code was refused."""
    if err is not None:
        undo_refused(db, err)
    channel = channel if channel in ("totp", "sms") else "totp"
    return render(
        request,
        template,
        **page_context(
            step="verify",
            step_up={
                "action": action,
                "hidden": hidden,
                "channel": channel,
                "sent_to": (sent_to or "")[:32],
            },
            error=err.translated() if err else None,
            error_code=err.code if err else None,
            error_field="otp" if err else None,
            **ctx,
        ),
    )


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
        **page_context(
            accounts=accounts,
            # The wallet's worth in yuan at the reference rates, for the total on the card.
            total_cny=sum(fx.to_cny(a.balance, a.currency) for a in accounts),
            recent=recent,
            chart=balance_chart(currency, points),
            chart_currency=currency,
            chart_currencies=currencies,
            chart_days=days,
            chart_periods=CHART_PERIODS,
            # After an assisted unlock: when money may leave again (wallet.standing refuses
            # it until then).
            cooling_off_until=user.outgoing_hold_until
            if user.outgoing_hold_until and user.outgoing_hold_until > clock.now()
            else None,
        ),
    )


@router.get("/methods")
def methods(request: Request, user: CurrentUser, db: DbSession) -> Response:
    return render(
        request,
        "wallet/methods.html",
        **page_context(methods=wallet_methods.list_payment_methods(db, user_id=user.id), form={}),
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
        return form_page_error(
            request,
            db,
            "wallet/methods.html",
            err,
            methods=wallet_methods.list_payment_methods(db, user_id=user.id),
            form={"holder_name": holder_name},
        )
    flash(request, gettext("Card added."), "success")
    return redirect(safe_next(request.query_params.get("next"), "/wallet/methods"))


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
        return form_page_error(
            request,
            db,
            "wallet/methods.html",
            err,
            methods=wallet_methods.list_payment_methods(db, user_id=user.id),
            form={"bank_name": bank_name, "holder_name": holder_name},
        )
    flash(request, gettext("Bank account added."), "success")
    return redirect("/wallet/methods")


@router.post("/methods/{method_id}/remove")
def remove_method(request: Request, user: CurrentUser, db: DbSession, method_id: DbId) -> Response:
    wallet_methods.do_remove_payment_method(db, user_id=user.id, method_id=method_id)
    flash(request, gettext("Removed."), "success")
    return redirect("/wallet/methods")


# What each verification level means (limits per level: wallet.limits).
LEVEL_MEANINGS = {
    0: N_("Not verified: your e-mail address is confirmed."),
    1: N_("Identity verified: we checked your ID document or passport and your address."),
    2: N_("Enhanced: also your income or the source of your funds."),
}


@router.get("/limits")
def limits_page(request: Request, user: CurrentUser, db: DbSession) -> Response:
    snapshot = wallet_usage.usage_snapshot(db, user_id=user.id)
    usage = [
        wallet_usage.limit_usage(
            db, user_id=user.id, op_type=t, level=user.verification_level, snapshot=snapshot
        )
        for t in ("topup", "withdrawal", "transfer", "payment")
    ]
    levels = [
        (level, LEVEL_MEANINGS[level],
         [(t, limits.limits_for(t, level)) for t in ("topup", "withdrawal", "transfer", "payment")])
        for level in sorted(LEVEL_MEANINGS)
    ]  # fmt: skip
    return render(
        request,
        "wallet/limits.html",
        **page_context(
            usage=usage,
            levels=levels,
            level_meaning=gettext(LEVEL_MEANINGS.get(user.verification_level, LEVEL_MEANINGS[0])),
            overrides=wallet_overrides.live_overrides(db, user_id=user.id),
        ),
    )


public = APIRouter(include_in_schema=False)


@public.get("/fees")
def fees_page(request: Request, db: DbSession) -> Response:
    """The public fee schedule, in the reader's language: the monthly free withdrawal
    allowance (and, signed in, what is left of it) and the promotions' dates."""
    user = getattr(request.state, "user", None)
    today = wallet_usage.beijing_today()
    left: int | None = None
    if user is not None:
        left, _allowance = fees.free_allowance_left(
            wallet_usage.usage_snapshot(db, user_id=user.id)
        )
    return render(
        request,
        "wallet/fees.html",
        **page_context(
            schedule=fees.SCHEDULE,
            discounts=[d for d in fees.DISCOUNTS if d.ends is None],
            promotions=fees.promotions(today),
            today=today,
            allowance_left=left,
        ),
    )
