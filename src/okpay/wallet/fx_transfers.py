"""Cross-currency transfers: quoting a rate (held a few minutes, spent once) and
transferring at it (rates themselves: wallet.fx)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from sqlalchemy import update
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.core.errors import DomainError, ValidationFailed
from okpay.core.i18n import N_
from okpay.core.money import check_currency
from okpay.db import table_of
from okpay.identity import validation as identity_validation
from okpay.wallet import fees, fx, ledger, operations, standing, transfers, usage
from okpay.wallet.models import FxQuote, OperationStatus, OperationType, SystemAccount


class QuoteInvalid(DomainError):
    code = "quote_invalid"
    status = 422
    message = N_("This exchange-rate quote cannot be used. Please ask for a new one.")


class QuoteExpired(DomainError):
    code = "quote_expired"
    status = 422
    message = N_("The quoted rate has expired. Please check the new rate and confirm again.")


class SameCurrency(DomainError):
    code = "same_currency"
    status = 422
    message = N_("Choose two different currencies to exchange.")


def do_quote_fx(
    session: Session, *, user_id: int, source_currency: str, target_currency: str, amount: int
) -> FxQuote:
    """Quote sending ``amount`` of ``source_currency`` as ``target_currency``: the rate with the
    spread, what arrives (rounded down), the cross-border fee; valid for a few minutes."""
    source_currency, target_currency = (
        check_currency(source_currency),
        check_currency(target_currency),
    )
    if source_currency == target_currency:
        raise SameCurrency(field="target_currency")
    at = fx.customer_rate(source_currency, target_currency)
    arrives = fx.convert_down(amount, source_currency, target_currency, at)
    if arrives <= 0:
        raise ValidationFailed(
            N_("That amount is too small to exchange."), code="amount_too_small", field="amount"
        )
    fee = fees.quote_fee(
        session,
        user_id=user_id,
        operation="transfer",
        method="wallet",
        amount=amount,
        currency=source_currency,
        cross_border=True,
    ).fee
    now = clock.now()
    quote = FxQuote(
        user_id=user_id,
        source_currency=source_currency,
        target_currency=target_currency,
        rate=str(at),
        source_amount=amount,
        target_amount=arrives,
        fee=fee,
        created_at=now,
        expires_at=now + timedelta(minutes=fx.QUOTE_MINUTES),
    )
    session.add(quote)
    session.flush()
    return quote


def find_quote(session: Session, *, user_id: int, quote_id: int) -> FxQuote | None:
    """The user's own quote (any state), without claiming it."""
    quote = session.get(FxQuote, quote_id)
    return quote if quote is not None and quote.user_id == user_id else None


def _claim_quote(session: Session, *, sender_id: int, quote_id: int) -> FxQuote:
    """The sender's unused, unexpired quote, marked used in this transaction.

    A conditional update claims it (``used_at IS NULL`` in its WHERE): on PostgreSQL a
    second transaction claiming the same quote waits for the first one's row lock and then
    finds it used (or, if the first rolled back, claims it itself), so exactly one use
    wins. The transfer's refusals after this roll the claim back with everything else."""
    now = clock.now()
    quotes = table_of(FxQuote)
    claimed = session.execute(
        update(quotes)
        .where(
            quotes.c.id == quote_id,
            quotes.c.user_id == sender_id,
            quotes.c.used_at.is_(None),
            quotes.c.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    quote = session.get(FxQuote, quote_id, populate_existing=True)
    if quote is None or quote.user_id != sender_id:
        raise QuoteInvalid(field="quote_id")
    if cast(Any, claimed).rowcount != 1:
        if quote.used_at is None and quote.expires_at <= now:
            raise QuoteExpired(field="quote_id")
        raise QuoteInvalid(field="quote_id")
    return quote


def do_transfer_fx(
    session: Session, *, sender_id: int, recipient: str, quote_id: int, note: str = ""
) -> operations.TransferResult:
    """Send money that arrives in another currency at a quoted rate: two balanced entries
    through OKPay's FX position (one per currency), plus the cross-border fee."""
    note = identity_validation.check_name(note, field="note", max_length=140)
    quote = _claim_quote(session, sender_id=sender_id, quote_id=quote_id)
    transfers.preview_transfer(  # before the recipient, as for any transfer (see wallet.recipients)
        session,
        sender_id=sender_id,
        amount=quote.source_amount,
        currency=quote.source_currency,
        fee=quote.fee,
    )
    target = transfers.resolve_recipient(session, sender_id=sender_id, recipient=recipient)
    src, tgt = quote.source_currency, quote.target_currency
    source_id = ledger.customer_account_id(session, user_id=sender_id, currency=src, create=False)
    if source_id is None:
        raise ledger.InsufficientFunds()
    dest_id = ledger.customer_account_id(session, user_id=target.id, currency=tgt)
    assert dest_id is not None
    fx_src = ledger.system_account_id(session, SystemAccount.fx_position, src)
    fx_tgt = ledger.system_account_id(session, SystemAccount.fx_position, tgt)
    ids = [source_id, dest_id, fx_src, fx_tgt]
    fee_id = (
        ledger.system_account_id(session, SystemAccount.fee_revenue, src) if quote.fee else None
    )
    locked = ledger.lock_accounts(session, ids + ([fee_id] if fee_id else []))
    me = standing.check_can(session, sender_id, "transfer")
    usage.check_limits(
        session,
        user_id=sender_id,
        op_type="transfer",
        amount=quote.source_amount,
        currency=src,
        level=me.verification_level,
    )
    if locked[source_id].available < quote.source_amount + quote.fee:
        raise ledger.insufficient_funds(
            available=locked[source_id].available,
            amount=quote.source_amount,
            fee=quote.fee,
            currency=src,
        )
    op_id, reference = operations.new_operation(
        session,
        type=OperationType.transfer.value,
        status=OperationStatus.completed.value,
        user_id=sender_id,
        account_id=source_id,
        counterparty_user_id=target.id,
        counterparty_account_id=dest_id,
        currency=src,
        amount=quote.source_amount,
        fee=quote.fee,
        target_currency=tgt,
        target_amount=quote.target_amount,
        fx_rate=quote.rate,
        method="wallet",
        note=note,
        completed_at=clock.now(),
        data={"quote_id": quote.id},
    )
    out_lines = [
        ledger.Line(source_id, -quote.source_amount),
        ledger.Line(fx_src, quote.source_amount),
    ]
    if quote.fee and fee_id:
        out_lines += [ledger.Line(source_id, -quote.fee), ledger.Line(fee_id, quote.fee)]
    ledger.post(session, locked, operation_id=op_id, kind="fx_out", lines=out_lines)
    ledger.post(
        session,
        locked,
        operation_id=op_id,
        kind="fx_in",
        lines=[
            ledger.Line(fx_tgt, -quote.target_amount),
            ledger.Line(dest_id, quote.target_amount),
        ],
    )
    operations.add_activity(
        session,
        [
            {
                "user_id": sender_id,
                "operation_id": op_id,
                "reference": reference,
                "type": "transfer",
                "direction": "out",
                "status": "completed",
                "currency": src,
                "amount": -(quote.source_amount + quote.fee),
                "fee": quote.fee,
                "counterparty": target.label,
                "note": note,
            },
            {
                "user_id": target.id,
                "operation_id": op_id,
                "reference": reference,
                "type": "transfer",
                "direction": "in",
                "status": "completed",
                "currency": tgt,
                "amount": quote.target_amount,
                "counterparty": me.label,
                "note": note,
            },
        ],
    )
    usage.record_usage(
        session, user_id=sender_id, op_type="transfer", amount=quote.source_amount, currency=src
    )
    return operations.TransferResult(
        op_id, reference, quote.source_amount, quote.fee, src, target.id
    )
