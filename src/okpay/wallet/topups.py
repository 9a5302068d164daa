"""Top-up by card or bank transfer: begin (limits counted, operation pending), complete
or fail."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.core.errors import NotFound
from okpay.core.money import SUPPORTED_CURRENCIES, check_currency
from okpay.db import table_of
from okpay.settings import ReceivingAccount, get_settings
from okpay.wallet import (
    errors,
    fx,
    ledger,
    methods,
    operations,
    pg,
    references,
    standing,
    usage,
    withdrawals,
)
from okpay.wallet.models import Activity, Operation, OperationStatus, OperationType, SystemAccount


def do_begin_card_topup(
    session: Session, *, user_id: int, payment_method_id: int, amount: int, currency: str
) -> tuple[int, str, str]:
    """Record a pending card top-up before asking the provider: returns (id, reference, token)."""
    currency = check_currency(currency)
    method = methods.get_payment_method(
        session, user_id=user_id, method_id=payment_method_id, kind="card"
    )
    today = clock.now().astimezone(usage.BEIJING).date()
    if (
        method.exp_year is not None
        and method.exp_month is not None
        and ((method.exp_year, method.exp_month) < (today.year, today.month))
    ):
        raise errors.CardExpired(field="payment_method_id")
    op_id, reference = _begin_topup(
        session,
        user_id=user_id,
        amount=amount,
        currency=currency,
        method="card",
        payment_method_id=method.id,
        counterparty=f"{method.brand} •••• {method.last4}",
    )
    return op_id, reference, method.provider_token


def do_complete_topup(
    session: Session,
    *,
    operation_id: int,
    external_ref: str,
    clearing: SystemAccount = SystemAccount.card_clearing,
    amount: int | None = None,
) -> None:
    """Credit a pending top-up (card charged, or bank transfer received). One already
    settled is left as it is: webhooks and retries may repeat."""
    op: Operation | pg.PendingOperation
    if session.get_bind().dialect.name == "postgresql":  # operation and accounts together
        shards = {c: ledger.system_account_id(session, clearing, c) for c in SUPPORTED_CURRENCIES}
        found = pg.lock_pending(session, operation_id=operation_id, system_ids=shards)
        if found is None:
            raise NotFound()
        op, locked = found
        if op.status != OperationStatus.pending.value:
            return
        clearing_id = shards[op.currency]
        loaded = session.identity_map.get(session.identity_key(Operation, operation_id))
    else:
        op = loaded = operations.lock_operation(session, operation_id)
        if op.status != OperationStatus.pending.value:
            return
        assert op.account_id is not None
        clearing_id = ledger.system_account_id(session, clearing, op.currency)
        locked = ledger.lock_accounts(session, [op.account_id, clearing_id])
    assert op.account_id is not None
    credited = amount if amount is not None else op.amount
    checked = ledger.plan(
        locked, [ledger.Line(clearing_id, -credited), ledger.Line(op.account_id, credited)]
    )
    since = operations.rows_since(op.created_at)
    if credited != op.amount:
        session.execute(
            update(table_of(Activity))
            .where(*operations.activity_of(op.id, since))
            .values(amount=credited)
        )
    operations.set_status(
        session,
        op.id,
        OperationStatus.completed,
        loaded=cast(Operation | None, loaded),
        entry=("topup", checked),
        created_at=op.created_at,
        external_ref=external_ref,
        amount=credited,
    )


def do_fail_operation(
    session: Session, *, operation_id: int, failure_code: str, external_ref: str | None = None
) -> Operation:
    """Mark a pending operation failed, releasing any hold."""
    op = operations.lock_operation(session, operation_id)
    if op.status != OperationStatus.pending.value:
        return op
    withdrawals.release_hold(session, op)
    extra: dict[str, Any] = {"external_ref": external_ref} if external_ref else {}
    operations.set_status(
        session, op.id, OperationStatus.failed, failure_code=failure_code, loaded=op, **extra
    )
    return op


def _begin_topup(
    session: Session,
    *,
    user_id: int,
    amount: int,
    currency: str,
    method: str,
    payment_method_id: int | None = None,
    counterparty: str = "",
) -> tuple[int, str]:
    """Check and record a pending top-up (any method): operation, history row, usage."""
    me, snapshot, limits = usage.owner_state(session, user_id=user_id, op_type="topup")
    standing.check_standing(me, "topup", outgoing=False)
    usage.check_limits(
        session,
        user_id=user_id,
        op_type="topup",
        amount=amount,
        currency=currency,
        level=me.verification_level,
        snapshot=snapshot,
        limits=limits,
    )
    account_id = ledger.customer_account_id(session, user_id=user_id, currency=currency)
    assert account_id is not None
    if session.get_bind().dialect.name == "postgresql":  # the three writes in one statement
        now = clock.now()
        reference = references.new_reference(session)
        (created,) = pg.write_operations(
            session,
            user_id=user_id,
            type="topup",
            status="pending",
            method=method,
            kind="topup",
            operations=[
                pg.NewOperation(
                    reference=reference,
                    account_id=account_id,
                    currency=currency,
                    amount=amount,
                    plan=None,
                    activity=[pg.ActivityRow(user_id, "in", amount, 0, counterparty)],
                    payment_method_id=payment_method_id,
                )
            ],
            usage=pg.UsageRow(
                user_id, now.astimezone(usage.BEIJING).date(), fx.to_cny(amount, currency)
            ),
            now=now,
        )
        return created, reference
    op_id, reference = operations.new_operation(
        session,
        type=OperationType.topup.value,
        status=OperationStatus.pending.value,
        user_id=user_id,
        account_id=account_id,
        currency=currency,
        amount=amount,
        method=method,
        payment_method_id=payment_method_id,
    )
    operations.add_activity(
        session,
        [
            {
                "user_id": user_id,
                "operation_id": op_id,
                "reference": reference,
                "type": "topup",
                "direction": "in",
                "status": "pending",
                "currency": currency,
                "amount": amount,
                "counterparty": counterparty,
            }
        ],
    )
    usage.record_usage(session, user_id=user_id, op_type="topup", amount=amount, currency=currency)
    return op_id, reference


def receiving_accounts() -> dict[str, ReceivingAccount]:
    """Every currency OKPay takes bank-transfer top-ups in, with its receiving account."""
    return dict(get_settings().bank_receiving_accounts)


def receiving_account(currency: str) -> ReceivingAccount | None:
    """OKPay's bank account that takes top-ups in ``currency`` (settings), if there is one."""
    return get_settings().bank_receiving_accounts.get(currency.upper())


def do_begin_bank_topup(session: Session, *, user_id: int, amount: int, currency: str) -> Operation:
    """A pending top-up by bank transfer: the user sends money quoting the reference; the
    provider's webhook completes it. Refused in a currency OKPay has no receiving account for."""
    currency = check_currency(currency)
    if receiving_account(currency) is None:
        raise errors.BankTopupUnavailable(field="currency", currency=currency)
    op_id, _reference = _begin_topup(
        session, user_id=user_id, amount=amount, currency=currency, method="bank"
    )
    op = session.get(Operation, op_id)
    assert op is not None
    return op


def pending_bank_topups(session: Session, *, user_id: int, limit: int = 5) -> list[Operation]:
    """The user's bank-transfer top-ups still waiting for their money, newest first."""
    return list(
        session.scalars(
            select(Operation)
            .where(
                Operation.user_id == user_id,
                Operation.type == OperationType.topup.value,
                Operation.method == "bank",
                Operation.status == OperationStatus.pending.value,
            )
            .order_by(Operation.created_at.desc(), Operation.id.desc())
            .limit(limit)
        )
    )


def notify_bank_topup_arrived(
    session: Session,
    *,
    user_id: int,
    reference: str,
    amount: int,
    announced: int,
    currency: str,
) -> None:
    """E-mail the customer that their bank transfer arrived and what was credited (``amount``;
    ``announced``: what the top-up said it would be). Sent after commit by mail.send_email,
    so a rolled-back credit sends nothing."""
    from okpay.identity import users

    user = users.get_user(session, user_id)
    if user is None:
        return
    users.notify_user(
        session,
        user,
        "wallet_topup_arrived",
        {
            "name": user.display_name,
            "reference": reference,
            "amount": amount,
            "announced": announced if announced != amount else None,
            "currency": currency,
            "when": clock.now(),
            "link": f"{get_settings().base_url}/wallet/tx/{reference}",
        },
    )
