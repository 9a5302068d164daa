"""What each money request looks like to the risk controls (wallet.screening), and the
refusal a customer gets when they block it.

An attempt is built from the request before any lock is taken; a request that does not
describe a valid operation (an unknown intent, a bad amount) builds none and is refused by
the operation itself, with its own error."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.core.errors import DomainError
from okpay.core.i18n import lazy_gettext
from okpay.core.money import check_currency, parse_amount
from okpay.identity import directory as identity_directory
from okpay.wallet import errors, intents, operations, risk_reasons, screening
from okpay.wallet.models import Operation, OperationStatus, OperationType, PaymentMethod

NEW_PAYOUT_ACCOUNT = timedelta(hours=72)


def transfer_attempt(
    session: Session,
    *,
    sender_id: int,
    recipient: str,
    amount: int,
    currency: str,
    in_batch: bool = False,
) -> screening.Attempt:
    return screening.Attempt(
        user_id=sender_id,
        operation="transfer",
        amount=amount,
        currency=currency,
        recipient=recipient,
        extra={"in_batch": in_batch},
    )


Checked = tuple[screening.Attempt | None, screening.Verdict | None]


def screen_batch(session: Session, *, sender_id: int, items: Sequence[Any]) -> list[Checked]:
    """Every line of a batch screened at once: (attempt, verdict) per line, (None, None)
    for a line the batch itself refuses (a bad amount or currency). Blocked lines are
    reported to wallet.screening.blocked as single attempts are."""
    from okpay.wallet.batch import MAX_BATCH

    if len(items) > MAX_BATCH:  # the batch refuses it whole
        return [(None, None)] * len(items)
    found = identity_directory.find_recipient_summaries(session, [i.recipient for i in items])
    attempts: list[screening.Attempt | None] = []
    for item in items:
        try:
            currency = check_currency(item.currency)
            amount = parse_amount(item.amount, currency)
        except DomainError:
            attempts.append(None)
            continue
        target = found.get(item.recipient)
        attempts.append(
            screening.Attempt(
                user_id=sender_id,
                operation="transfer",
                amount=amount,
                currency=currency,
                counterparty_user_id=target.id
                if target is not None and target.id != sender_id
                else None,
                extra={"in_batch": True},
            )
        )
    real = [a for a in attempts if a is not None]
    verdicts = iter(screening.screen_many(session, real) if real else [])
    out: list[tuple[screening.Attempt | None, screening.Verdict | None]] = []
    for attempt in attempts:
        if attempt is None:
            out.append((None, None))
            continue
        verdict = next(verdicts)
        if verdict.outcome is screening.Outcome.block:
            screening.blocked(session, attempt, verdict)
        out.append((attempt, verdict))
    return out


def is_new_payout_account(session: Session, *, user_id: int, method_id: int) -> bool:
    """A bank account added in the last 72 hours that no withdrawal has been paid to."""
    added = session.scalar(
        select(PaymentMethod.created_at).where(
            PaymentMethod.id == method_id, PaymentMethod.user_id == user_id
        )
    )
    if added is None or added <= clock.now() - NEW_PAYOUT_ACCOUNT:
        return False
    paid = session.scalar(
        select(Operation.id)
        .where(
            Operation.user_id == user_id,
            Operation.payment_method_id == method_id,
            Operation.type == OperationType.withdrawal.value,
            Operation.status == OperationStatus.completed.value,
        )
        .limit(1)
    )
    return paid is None


def withdrawal_attempt(
    session: Session, *, user_id: int, payment_method_id: int, amount: int, currency: str
) -> screening.Attempt:
    return screening.Attempt(
        user_id=user_id,
        operation="withdrawal",
        amount=amount,
        currency=currency,
        payment_method_id=payment_method_id,
        extra={
            "new_payout_account": is_new_payout_account(
                session, user_id=user_id, method_id=payment_method_id
            )
        },
    )


def payment_attempt(session: Session, *, payer_id: int, intent: str) -> screening.Attempt | None:
    found = intents.find_intent(session, intent)
    if found is None:
        return None
    return screening.Attempt(
        user_id=payer_id,
        operation="payment",
        amount=found.amount,
        currency=found.currency,
        merchant_id=found.merchant_id,
    )


def topup_attempt(
    *, user_id: int, payment_method_id: int, amount: int, currency: str
) -> screening.Attempt:
    return screening.Attempt(
        user_id=user_id,
        operation="card_topup",
        amount=amount,
        currency=currency,
        payment_method_id=payment_method_id,
    )


def moved(
    attempt: screening.Attempt,
    verdict: screening.Verdict,
    *,
    failed: bool = False,
    result: operations.TransferResult | None = None,
) -> screening.Moved:
    """What the counters learn of an attempt that went through (or of a failed top-up)."""
    counterparty = (
        (result.counterparty_user_id if result is not None else None)
        or attempt.counterparty_user_id
        or verdict.counterparty_user_id
    )
    return screening.Moved(
        user_id=attempt.user_id,
        operation=attempt.operation,
        amount=attempt.amount,
        currency=attempt.currency,
        counterparty_user_id=counterparty,
        failed=failed,
        near_limit=verdict.near_limit and not failed,
    )


def refusal(verdict: screening.Verdict) -> DomainError:
    """The error a blocked attempt answers with: why, in plain words, and what to do."""
    return risk_reasons.blocked_error(verdict.reason)


def review_in_batch(verdict: screening.Verdict) -> DomainError:
    return errors.RiskReviewInBatch(
        reason=lazy_gettext(risk_reasons.reason_key_text(verdict.reason))
    )
