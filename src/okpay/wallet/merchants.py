"""Merchants and refunds: creating merchants, paying a merchant's order, refunding it."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from okpay.core import audit, clock
from okpay.core.errors import DomainError, NotFound, ValidationFailed
from okpay.core.i18n import N_
from okpay.core.money import check_currency
from okpay.identity import validation as identity_validation
from okpay.wallet import ledger, operations, provider_events, standing, usage
from okpay.wallet.models import Merchant, Operation, OperationStatus, OperationType


class MerchantNotFound(NotFound):
    code = "merchant_not_found"
    message = N_("We could not find that merchant.")


class OrderAlreadyPaid(DomainError):
    code = "order_already_paid"
    status = 409
    message = N_("This order has already been paid.")


class RefundTooLarge(DomainError):
    code = "refund_too_large"
    status = 422
    message = N_("A refund cannot be more than what is left of the payment: %(left)s.")


class NotRefundable(DomainError):
    code = "not_refundable"
    status = 409
    message = N_("Only completed payments can be refunded.")


def do_create_merchant(
    session: Session,
    *,
    code: str,
    name: str,
    owner_user_id: int | None,
    actor_user_id: int | None = None,
) -> Merchant:
    """A merchant customers can pay (operators create them)."""
    code = (code or "").strip().lower()
    if not code or not all(ch.isalnum() or ch == "-" for ch in code) or len(code) > 40:
        raise ValidationFailed(
            N_("Use letters, digits and hyphens for the merchant code."),
            code="merchant_code_invalid",
            field="code",
        )
    if session.scalar(select(Merchant.id).where(Merchant.code == code)):
        raise ValidationFailed(
            N_("That merchant code is taken."), code="merchant_code_taken", field="code"
        )
    merchant = Merchant(
        code=code,
        name=identity_validation.check_person_name(name, max_length=120),
        owner_user_id=owner_user_id,
        created_at=clock.now(),
    )
    session.add(merchant)
    session.flush()
    audit.record(
        session,
        "merchant_created",
        actor_user_id=actor_user_id,
        object_type="merchant",
        object_id=merchant.id,
        code=code,
    )
    return merchant


def find_merchant(session: Session, code: str) -> Merchant | None:
    return session.scalar(select(Merchant).where(Merchant.code == (code or "").strip().lower()))


def get_merchant(session: Session, code: str) -> Merchant:
    merchant = session.scalar(select(Merchant).where(Merchant.code == (code or "").strip().lower()))
    if merchant is None:
        raise MerchantNotFound(field="merchant")
    return merchant


def check_order_id(order_id: str) -> str:
    """A merchant's order number: printable text, at most 64 characters, not empty."""
    order_id = identity_validation.check_name(order_id, field="order_id", max_length=64)
    if not order_id:
        raise ValidationFailed(
            N_("An order number is needed."), code="order_id_required", field="order_id"
        )
    return order_id


def order_is_paid(session: Session, *, merchant_id: int, order_id: str) -> bool:
    return bool(
        session.scalar(
            select(Operation.id).where(
                Operation.merchant_id == merchant_id, Operation.order_id == order_id
            )
        )
    )


def pay_merchant_order(
    session: Session,
    *,
    payer_id: int,
    merchant: Merchant,
    order_id: str,
    amount: int,
    currency: str,
) -> operations.TransferResult:
    """Move ``amount`` from the payer to the merchant for an order: once per order, settles
    at once. The amount must come from the merchant (a payment intent, see
    wallet.intents), never from the payer."""
    currency = check_currency(currency)
    order_id = check_order_id(order_id)
    if order_is_paid(session, merchant_id=merchant.id, order_id=order_id):
        raise OrderAlreadyPaid(field="order_id")
    source_id = ledger.customer_account_id(
        session, user_id=payer_id, currency=currency, create=False
    )
    if source_id is None:
        raise ledger.InsufficientFunds()
    target_id = ledger.merchant_account_id(session, merchant_id=merchant.id, currency=currency)
    locked = ledger.lock_accounts(session, [source_id, target_id])
    me = standing.check_can(session, payer_id, "pay")
    usage.check_limits(
        session,
        user_id=payer_id,
        op_type="payment",
        amount=amount,
        currency=currency,
        level=me.verification_level,
    )
    op_id, reference = operations.new_operation(
        session,
        type=OperationType.payment.value,
        status=OperationStatus.completed.value,
        user_id=payer_id,
        account_id=source_id,
        counterparty_account_id=target_id,
        merchant_id=merchant.id,
        order_id=order_id,
        currency=currency,
        amount=amount,
        method="wallet",
        note=order_id,
        completed_at=clock.now(),
    )
    ledger.post(
        session,
        locked,
        operation_id=op_id,
        kind="payment",
        lines=[ledger.Line(source_id, -amount), ledger.Line(target_id, amount)],
    )
    operations.add_activity(
        session,
        [
            {
                "user_id": payer_id,
                "operation_id": op_id,
                "reference": reference,
                "type": "payment",
                "direction": "out",
                "status": "completed",
                "currency": currency,
                "amount": -amount,
                "counterparty": merchant.name,
                "note": order_id,
            }
        ],
    )
    usage.record_usage(
        session, user_id=payer_id, op_type="payment", amount=amount, currency=currency
    )
    return operations.TransferResult(op_id, reference, amount, 0, currency)


def refunded_total(session: Session, payment_id: int) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(Operation.amount), 0)).where(
                Operation.original_operation_id == payment_id,
                Operation.type == OperationType.refund.value,
                Operation.status == OperationStatus.completed.value,
            )
        )
        or 0
    )


def do_refund(
    session: Session,
    *,
    payment_reference: str,
    amount: int | None,
    actor_user_id: int | None,
    reason: str = "",
) -> operations.TransferResult:
    """Refund a payment in full or in part: a new operation whose entry reverses the money
    from the merchant to the customer, linked to the original; never more than was paid."""
    payment = provider_events.find_by_reference(session, payment_reference)
    if payment is None or payment.type != OperationType.payment.value:
        raise NotFound()
    payment = operations.lock_operation(session, payment.id)  # one refund at a time per payment
    if payment.status not in (OperationStatus.completed.value, OperationStatus.reversed.value):
        raise NotRefundable()
    left = payment.amount - refunded_total(session, payment.id)
    amount = left if amount is None else amount
    if amount <= 0 or amount > left:
        raise RefundTooLarge(left=usage.LazyMoney(left, payment.currency), field="amount")
    assert payment.account_id is not None and payment.counterparty_account_id is not None
    locked = ledger.lock_accounts(session, [payment.account_id, payment.counterparty_account_id])
    merchant = session.get(Merchant, payment.merchant_id)
    op_id, reference = operations.new_operation(
        session,
        type=OperationType.refund.value,
        status=OperationStatus.completed.value,
        user_id=payment.user_id,
        account_id=payment.account_id,
        counterparty_account_id=payment.counterparty_account_id,
        merchant_id=payment.merchant_id,
        currency=payment.currency,
        amount=amount,
        method="wallet",
        original_operation_id=payment.id,
        note=identity_validation.check_name(reason, field="reason", max_length=140),
        completed_at=clock.now(),
    )
    ledger.post(
        session,
        locked,
        operation_id=op_id,
        kind="refund",
        lines=[
            ledger.Line(payment.counterparty_account_id, -amount),
            ledger.Line(payment.account_id, amount),
        ],
    )
    assert payment.user_id is not None
    operations.add_activity(
        session,
        [
            {
                "user_id": payment.user_id,
                "operation_id": op_id,
                "reference": reference,
                "type": "refund",
                "direction": "in",
                "status": "completed",
                "currency": payment.currency,
                "amount": amount,
                "counterparty": merchant.name if merchant else "",
                "note": f"{payment.reference} {reason}".strip()[:140],
            }
        ],
    )
    if amount == left:
        operations.set_status(session, payment.id, OperationStatus.reversed)
    audit.record(
        session,
        "payment_refunded",
        actor_user_id=actor_user_id,
        subject_user_id=payment.user_id,
        object_type="operation",
        object_id=payment.reference,
        refund=reference,
        amount=amount,
    )
    return operations.TransferResult(op_id, reference, amount, 0, payment.currency)


def merchant_for_owner(session: Session, *, user_id: int, payment_reference: str) -> Operation:
    """A payment to a merchant the user owns; anything else is NotFound."""
    op = provider_events.find_by_reference(session, payment_reference)
    if op is None or op.merchant_id is None:
        raise NotFound()
    merchant = session.get(Merchant, op.merchant_id)
    if merchant is None or merchant.owner_user_id != user_id:
        raise NotFound()
    return op
