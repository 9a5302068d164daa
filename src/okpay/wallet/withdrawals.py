"""Withdrawal to a card or bank account: begin (funds held), settle, mark the payout in
flight, cancel; holds are released when a withdrawal fails or is cancelled."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core import audit, clock
from okpay.core.money import check_currency
from okpay.wallet import errors, fees, history, ledger, methods, operations, standing, usage
from okpay.wallet.models import (
    Hold,
    Operation,
    OperationStatus,
    OperationType,
    PaymentMethod,
    SystemAccount,
)

# What the review page promises about arrival: the provider gives no time of its own, so
# this is the bank payout's usual time in working days (docs/wallet.md).
ARRIVAL_WORKING_DAYS = (1, 2)


@dataclass(frozen=True)
class WithdrawalPreview:
    """What a withdrawal would do, for the customer to confirm: the amount that arrives in
    the bank, the fee (``free_amount``: the part inside this month's free allowance, with
    ``free_left_cny`` of the allowance left before it; ``discount``: the one applied), the
    total taken from the balance and the bank account it goes to."""

    amount: int
    currency: str
    fee: int
    base_fee: int
    discount: fees.Discount | None
    free_amount: int
    free_left_cny: int
    free_monthly_cny: int
    available: int
    bank_name: str
    last4: str
    arrival_working_days: tuple[int, int] = ARRIVAL_WORKING_DAYS

    @property
    def total(self) -> int:
        return self.amount + self.fee


def check_withdrawal(
    session: Session,
    *,
    me: standing.Standing,
    user_id: int,
    amount: int,
    currency: str,
    available: int,
    snapshot: usage.UsageSnapshot,
) -> fees.FeeQuote:
    """Limits, fee and funds for a withdrawal by a customer whose standing allows it; the
    fee quote. The review (read without locks) and the withdrawal (under the balance's
    lock) both call it, so the review refuses exactly what the confirm would."""
    usage.check_limits(
        session,
        user_id=user_id,
        op_type="withdrawal",
        amount=amount,
        currency=currency,
        level=me.verification_level,
        snapshot=snapshot,
    )
    quote = fees.quote_fee(
        session,
        user_id=user_id,
        operation="withdrawal",
        method="bank",
        amount=amount,
        currency=currency,
        snapshot=snapshot,
        created_at=me.created_at,
    )
    if available < amount + quote.fee:
        raise ledger.insufficient_funds(
            available=available, amount=amount, fee=quote.fee, currency=currency
        )
    return quote


def preview_withdrawal(
    session: Session, *, user_id: int, payment_method_id: int, amount: int, currency: str
) -> WithdrawalPreview:
    """What a withdrawal would cost and where it would go, refused as it would be for the
    bank account, the customer's standing, limits or available balance (read without
    locks: the withdrawal checks again under them). Nothing changes."""
    currency = check_currency(currency)
    method = methods.get_payment_method(
        session, user_id=user_id, method_id=payment_method_id, kind="bank"
    )
    account = next(
        (a for a in ledger.balances(session, user_id=user_id) if a.currency == currency), None
    )
    available = account.balance - account.held if account is not None else 0
    me = standing.check_can(session, user_id, "withdraw")
    snapshot = usage.usage_snapshot(session, user_id=user_id)
    quote = check_withdrawal(
        session,
        me=me,
        user_id=user_id,
        amount=amount,
        currency=currency,
        available=available,
        snapshot=snapshot,
    )
    free_monthly = quote.rule.free_monthly_cny if quote.rule else 0
    return WithdrawalPreview(
        amount=amount,
        currency=currency,
        fee=quote.fee,
        base_fee=quote.base_fee,
        discount=quote.discount,
        free_amount=quote.free_amount,
        free_left_cny=max(0, free_monthly - snapshot.month("withdrawal")),
        free_monthly_cny=free_monthly,
        available=available,
        bank_name=method.bank_name or "",
        last4=method.last4 or "",
    )


def do_begin_withdrawal(
    session: Session,
    *,
    user_id: int,
    payment_method_id: int,
    amount: int,
    currency: str,
    on_hold: bool = False,
) -> tuple[int, str, str]:
    """Hold amount + fee and record a pending withdrawal; returns (id, reference, bank token).
    ``on_hold``: a risk control holds it for review, so no payout is asked for until a
    reviewer releases it (:func:`do_release_held_withdrawal`)."""
    status = OperationStatus.on_hold if on_hold else OperationStatus.pending
    currency = check_currency(currency)
    method = methods.get_payment_method(
        session, user_id=user_id, method_id=payment_method_id, kind="bank"
    )
    account_id = ledger.customer_account_id(
        session, user_id=user_id, currency=currency, create=False
    )
    if account_id is None:
        raise ledger.insufficient_funds(available=0, amount=amount, fee=0, currency=currency)
    locked = ledger.lock_accounts(session, [account_id])
    me = standing.check_can(session, user_id, "withdraw")
    account = locked[account_id]
    fee = check_withdrawal(
        session,
        me=me,
        user_id=user_id,
        amount=amount,
        currency=currency,
        available=account.available,
        snapshot=usage.usage_snapshot(session, user_id=user_id),
    ).fee
    op_id, reference = operations.new_operation(
        session,
        type=OperationType.withdrawal.value,
        status=status.value,
        user_id=user_id,
        account_id=account_id,
        currency=currency,
        amount=amount,
        fee=fee,
        method="bank",
        payment_method_id=method.id,
    )
    ledger.set_held(session, account, account.held + amount + fee)
    session.add(
        Hold(
            account_id=account_id,
            operation_id=op_id,
            amount=amount + fee,
            status="active",
            created_at=clock.now(),
        )
    )
    operations.add_activity(
        session,
        [
            {
                "user_id": user_id,
                "operation_id": op_id,
                "reference": reference,
                "type": "withdrawal",
                "direction": "out",
                "status": status.value,
                "currency": currency,
                "amount": -(amount + fee),
                "fee": fee,
                "counterparty": f"{method.bank_name} •••• {method.last4}",
            }
        ],
    )
    session.flush()
    usage.record_usage(
        session, user_id=user_id, op_type="withdrawal", amount=amount, currency=currency
    )
    return op_id, reference, method.provider_token


def do_settle_withdrawal(
    session: Session, *, operation_id: int, external_ref: str | None = None
) -> Operation:
    """The provider paid out: capture the hold into postings (customer → payouts, fees)."""
    op = operations.lock_operation(session, operation_id)
    if op.status != OperationStatus.pending.value:
        return op
    assert op.account_id is not None
    payouts_id = ledger.system_account_id(session, SystemAccount.payouts, op.currency)
    fee_id = (
        ledger.system_account_id(session, SystemAccount.fee_revenue, op.currency)
        if op.fee
        else None
    )
    locked = ledger.lock_accounts(
        session, [op.account_id, payouts_id, *([fee_id] if fee_id else [])]
    )
    hold = _active_hold(session, op.id)
    account = locked[op.account_id]
    ledger.set_held(session, account, account.held - hold.amount)
    ledger.post(
        session,
        locked,
        operation_id=op.id,
        kind="withdrawal",
        lines=[ledger.Line(op.account_id, -op.amount), ledger.Line(payouts_id, op.amount)],
    )
    if op.fee and fee_id:
        ledger.post(
            session,
            locked,
            operation_id=op.id,
            kind="fee",
            lines=[ledger.Line(op.account_id, -op.fee), ledger.Line(fee_id, op.fee)],
        )
    hold.status, hold.closed_at = "captured", clock.now()
    extra: dict[str, Any] = {"external_ref": external_ref} if external_ref else {}
    operations.set_status(session, op.id, OperationStatus.completed, loaded=op, **extra)
    return op


def do_release_held_withdrawal(session: Session, *, operation_id: int) -> tuple[Operation, str]:
    """A reviewer released a held withdrawal: it becomes pending (its hold stays) and the
    payout is asked for after commit. Returns the operation and the bank account's token."""
    op = operations.lock_operation(session, operation_id)
    if op.type != OperationType.withdrawal.value or op.status != OperationStatus.on_hold.value:
        raise errors.OperationNotHeld()
    method = session.get(PaymentMethod, op.payment_method_id) if op.payment_method_id else None
    if method is None:
        raise errors.OperationNotHeld()
    operations.set_status(session, op.id, OperationStatus.pending, loaded=op)
    return op, method.provider_token


def payout_in_flight(op: Operation) -> bool:
    """The provider told us the payout is with the bank: it can no longer be cancelled."""
    return (op.data or {}).get("payout") == "in_flight"


def check_cancel_withdrawal(session: Session, *, user_id: int, reference: str) -> tuple[int, str]:
    """(id, payout reference) of a withdrawal its customer may ask the provider to cancel;
    the refusal otherwise. Nothing changes here: the hold is released only once the
    provider confirms (see :func:`do_cancel_withdrawal`, wallet.flows.cancel_withdrawal)."""
    op = history.get_operation_for_user(session, user_id=user_id, reference=reference)
    if op.type != OperationType.withdrawal.value or op.user_id != user_id:
        raise errors.OperationNotCancellable()
    if op.status != OperationStatus.pending.value:
        raise errors.OperationNotCancellable()
    if payout_in_flight(op):
        raise errors.PayoutInFlight()
    if not op.external_ref:  # the provider call that creates the payout has not returned
        raise errors.PayoutNotReady()
    return op.id, op.external_ref


def do_mark_payout_in_flight(session: Session, *, operation_id: int) -> Operation:
    """The provider says the payout is with the bank (payout.processing, or a refused
    cancel): a pending withdrawal keeps its hold and can no longer be cancelled."""
    op = operations.lock_operation(session, operation_id)
    if op.status == OperationStatus.pending.value and not payout_in_flight(op):
        op.data = {**(op.data or {}), "payout": "in_flight"}
        op.updated_at = clock.now()
        session.flush()
    return op


def do_cancel_withdrawal(session: Session, *, user_id: int, reference: str) -> Operation:
    """Release the hold of a pending withdrawal whose payout the provider has confirmed
    cancelled. Call it only after the provider said so (wallet.flows.cancel_withdrawal):
    the operation is returned as it is, whatever its status, and the caller checks it
    (already cancelled: another request won; completed: the provider paid it)."""
    op = history.get_operation_for_user(session, user_id=user_id, reference=reference)
    if op.type != OperationType.withdrawal.value or op.user_id != user_id:
        raise errors.OperationNotCancellable()
    op = operations.lock_operation(session, op.id)
    if op.status == OperationStatus.pending.value:
        do_cancel_locked_withdrawal(session, op=op, actor_user_id=user_id)
    return op


def do_cancel_locked_withdrawal(
    session: Session, *, op: Operation, actor_user_id: int | None, by: str = "customer"
) -> None:
    """Release the hold and mark the (locked, pending) withdrawal cancelled, audited."""
    release_hold(session, op)
    operations.set_status(session, op.id, OperationStatus.cancelled, loaded=op)
    audit.record(
        session,
        "withdrawal_cancelled",
        actor_user_id=actor_user_id,
        subject_user_id=op.user_id,
        object_type="operation",
        object_id=op.reference,
        by=by,
    )


def release_hold(session: Session, op: Operation) -> None:
    """Release the operation's active hold on its balance, if any."""
    hold = session.scalar(select(Hold).where(Hold.operation_id == op.id, Hold.status == "active"))
    if hold is None:
        return
    locked = ledger.lock_accounts(session, [hold.account_id])
    account = locked[hold.account_id]
    ledger.set_held(session, account, account.held - hold.amount)
    hold.status, hold.closed_at = "released", clock.now()


def _active_hold(session: Session, operation_id: int) -> Hold:
    hold = session.scalar(
        select(Hold).where(Hold.operation_id == operation_id, Hold.status == "active")
    )
    if hold is None:
        raise LookupError(f"operation {operation_id} has no active hold")
    return hold
