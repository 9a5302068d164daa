"""Operations a risk control holds for review: created on hold with their funds held, then
released by a reviewer (they go ahead) or rejected (cancelled, funds released).

A held withdrawal is an ordinary pending withdrawal that has not asked for its payout yet
(wallet.withdrawals); a held transfer holds the sender's amount and fee and settles, on
release, exactly as the transfer would have: sender to recipient, fee to revenue."""

from __future__ import annotations

from sqlalchemy.orm import Session

from okpay.core import audit, clock
from okpay.core.money import check_currency
from okpay.identity import users as identity_users
from okpay.identity import validation as identity_validation
from okpay.wallet import (
    errors,
    ledger,
    operations,
    standing,
    transfers,
    usage,
    withdrawals,
)
from okpay.wallet.models import Hold, Operation, OperationStatus, OperationType, SystemAccount


def do_hold_transfer(
    session: Session, *, sender_id: int, recipient: str, amount: int, currency: str, note: str = ""
) -> tuple[int, str]:
    """Create a transfer on hold: the same checks as sending it, the amount and fee held on
    the sender's balance, nothing credited yet. Returns (id, reference)."""
    currency = check_currency(currency)
    if amount <= 0:
        raise ledger.InsufficientFunds()
    preview = transfers.preview_transfer(
        session, sender_id=sender_id, amount=amount, currency=currency
    )
    target = transfers.resolve_recipient(session, sender_id=sender_id, recipient=recipient)
    account_id = ledger.customer_account_id(
        session, user_id=sender_id, currency=currency, create=False
    )
    if account_id is None:
        raise ledger.InsufficientFunds()
    account = ledger.lock_accounts(session, [account_id])[account_id]
    total = amount + preview.fee
    if account.available < total:  # the refusal names the figures, as a transfer's does
        raise ledger.insufficient_funds(
            available=account.available, amount=amount, fee=preview.fee, currency=currency
        )
    op_id, reference = operations.new_operation(
        session,
        type=OperationType.transfer.value,
        status=OperationStatus.on_hold.value,
        user_id=sender_id,
        account_id=account_id,
        counterparty_user_id=target.id,
        currency=currency,
        amount=amount,
        fee=preview.fee,
        method="wallet",
        note=note[:140],
    )
    ledger.set_held(session, account, account.held + total)
    session.add(
        Hold(
            account_id=account_id,
            operation_id=op_id,
            amount=total,
            status="active",
            created_at=clock.now(),
        )
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
                "status": OperationStatus.on_hold.value,
                "currency": currency,
                "amount": -total,
                "fee": preview.fee,
                "counterparty": target.label,
            }
        ],
    )
    session.flush()
    usage.record_usage(
        session, user_id=sender_id, op_type="transfer", amount=amount, currency=currency
    )
    return op_id, reference


def _audit(session: Session, action: str, op: Operation, actor_user_id: int | None) -> None:
    audit.record(
        session,
        action,
        actor_user_id=actor_user_id,
        subject_user_id=op.user_id,
        object_type="operation",
        object_id=op.reference,
    )


def _check_sender(session: Session, op: Operation, action: str) -> None:
    """A release moves money out of the customer's account: refused while the account may
    not send (frozen after the hold, say by the customer's own emergency freeze, restricted,
    closed); the hold stays until the account may, or the payment is rejected."""
    if op.user_id is not None:
        standing.check_can(session, op.user_id, action)


def _held(session: Session, operation_id: int) -> Operation:
    op = operations.lock_operation(session, operation_id)
    if op.status != OperationStatus.on_hold.value:
        raise errors.OperationNotHeld()
    return op


def do_release_transfer(
    session: Session, *, operation_id: int, actor_user_id: int | None
) -> Operation:
    """Settle a held transfer now: the hold becomes postings, the recipient is credited."""
    op = _held(session, operation_id)
    _check_sender(session, op, "transfer")
    if (
        op.type != OperationType.transfer.value
        or op.account_id is None
        or op.counterparty_user_id is None
    ):
        raise errors.OperationNotHeld()
    dest_id = ledger.customer_account_id(
        session, user_id=op.counterparty_user_id, currency=op.currency, create=True
    )
    assert dest_id is not None
    fee_id = (
        ledger.system_account_id(session, SystemAccount.fee_revenue, op.currency)
        if op.fee
        else None
    )
    locked = ledger.lock_accounts(session, [op.account_id, dest_id, *([fee_id] if fee_id else [])])
    withdrawals.release_hold(session, op)
    lines = [ledger.Line(op.account_id, -op.amount), ledger.Line(dest_id, op.amount)]
    if op.fee and fee_id:
        lines += [ledger.Line(op.account_id, -op.fee), ledger.Line(fee_id, op.fee)]
    ledger.post(session, locked, operation_id=op.id, kind="transfer", lines=lines)
    sender = identity_users.get_user(session, op.user_id) if op.user_id else None
    sender_label = (
        identity_validation.counterparty_label(sender.name, sender.email) if sender else ""
    )
    operations.add_activity(
        session,
        [
            {
                "user_id": op.counterparty_user_id,
                "operation_id": op.id,
                "reference": op.reference,
                "type": "transfer",
                "direction": "in",
                "status": OperationStatus.completed.value,
                "currency": op.currency,
                "amount": op.amount,
                "fee": 0,
                "counterparty": sender_label,
            }
        ],
    )
    operations.set_status(session, op.id, OperationStatus.completed, loaded=op)
    _audit(session, "held_operation_released", op, actor_user_id)
    return op


def do_release_withdrawal(
    session: Session, *, operation_id: int, actor_user_id: int | None
) -> tuple[Operation, str]:
    """A held withdrawal goes ahead: it becomes pending; the payout is asked for after
    commit (wallet.flows.request_payout). Returns it and its bank account's token."""
    _check_sender(session, _held(session, operation_id), "withdraw")
    op, token = withdrawals.do_release_held_withdrawal(session, operation_id=operation_id)
    _audit(session, "held_operation_released", op, actor_user_id)
    return op, token


def do_reject(session: Session, *, operation_id: int, actor_user_id: int | None) -> Operation:
    """A reviewer rejected a held operation: cancelled, its funds released, audited."""
    op = _held(session, operation_id)
    withdrawals.release_hold(session, op)
    operations.set_status(
        session, op.id, OperationStatus.cancelled, failure_code="rejected_in_review", loaded=op
    )
    _audit(session, "held_operation_rejected", op, actor_user_id)
    return op


def do_release_held(
    session: Session, *, operation_id: int, actor_user_id: int | None
) -> tuple[int, str | None]:
    """Release inside the caller's unit of work: (operation id, the bank token a withdrawal's
    payout is then asked with, None for a transfer, which is settled here)."""
    op = session.get(Operation, operation_id)
    if op is None:
        raise errors.OperationNotHeld()
    if op.type == "withdrawal":
        released, token = do_release_withdrawal(
            session, operation_id=operation_id, actor_user_id=actor_user_id
        )
        return released.id, token
    do_release_transfer(session, operation_id=operation_id, actor_user_id=actor_user_id)
    return op.id, None
