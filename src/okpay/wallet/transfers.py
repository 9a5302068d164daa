"""Transfers between customers: resolving and reviewing the recipient, previewing fee and
limits, and sending one transfer (a batch of one, see wallet.batch)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from okpay.core.errors import DomainError
from okpay.identity import directory as identity_directory
from okpay.wallet import batch, fees, ledger, operations, recipients, standing, usage


def resolve_recipient(
    session: Session, *, sender_id: int, recipient: str
) -> identity_directory.Recipient:
    """The user money would go to: someone else, who exists and can receive. The lookup
    counts against the sender's budget unless they have paid that person before (see
    wallet.recipients); callers check what does not depend on the recipient first."""
    return review_recipient(session, sender_id=sender_id, recipient=recipient)[0]


def review_recipient(
    session: Session, *, sender_id: int, recipient: str
) -> tuple[identity_directory.Recipient, str, bool]:
    """:func:`resolve_recipient`, how the review shows them (the full name if the sender
    has paid them before, else masked: "*伟", "J*** S.") and whether the sender has."""
    target = identity_directory.find_recipient_summary(session, recipient)
    known = target is not None and (
        target.id == sender_id
        or target.id in recipients.paid_before(session, sender_id=sender_id, user_ids=[target.id])
    )
    recipients.charge_lookups(sender_id, [recipient], free=[recipient] if known else [])
    target = recipients.check_recipient(target, sender_id=sender_id)
    return target, recipients.review_label(target, known=known), known


@dataclass(frozen=True)
class TransferPreview:
    fee: int
    discount: fees.Discount | None


def preview_transfer(
    session: Session,
    *,
    sender_id: int,
    amount: int,
    currency: str,
    cross_border: bool = False,
    fee: int | None = None,
) -> TransferPreview:
    """What a transfer would cost (``fee``: a quoted one), refused as it would be for the
    sender's standing, limits or balance (read without locks: the transfer checks again
    under them). Runs before the recipient is looked up, so that these answers never
    depend on who the recipient is."""
    me = standing.check_can(session, sender_id, "transfer")
    snapshot = usage.usage_snapshot(session, user_id=sender_id)
    usage.check_limits(
        session,
        user_id=sender_id,
        op_type="transfer",
        amount=amount,
        currency=currency,
        level=me.verification_level,
        snapshot=snapshot,
    )
    if fee is not None:
        preview = TransferPreview(fee, None)
    else:
        q = fees.quote_fee(
            session,
            user_id=sender_id,
            operation="transfer",
            method="wallet",
            amount=amount,
            currency=currency,
            cross_border=cross_border,
            snapshot=snapshot,
            created_at=me.created_at,
        )
        preview = TransferPreview(q.fee, q.discount)
    account = next(
        (a for a in ledger.balances(session, user_id=sender_id) if a.currency == currency), None
    )
    available = account.balance - account.held if account is not None else 0
    if available < amount + preview.fee:
        raise ledger.insufficient_funds(
            available=available, amount=amount, fee=preview.fee, currency=currency
        )
    return preview


def do_transfer(
    session: Session, *, sender_id: int, recipient: str, amount: int, currency: str, note: str = ""
) -> operations.TransferResult:
    """Send money to another OKPay user in the same currency; settles at once.

    The hot path of the wallet: a batch of one (see :func:`do_transfer_batch`), so a few
    statements: find the recipient, lock both balances (resolving their ids in the same
    query), read the sender's standing, limits and recent usage, then write the operation,
    its entry, postings, history rows and usage (one statement on PostgreSQL)."""
    (outcome,) = batch.do_transfer_batch(
        session,
        sender_id=sender_id,
        items=[batch.BatchItem(recipient=recipient, amount=amount, currency=currency, note=note)],
    )
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome
